// layers/dropout.wgsl: inverted dropout (Keras', PyTorch's) in a training step, forward beside
// backward. Each element is kept with probability 1 - rate, and a kept one is multiplied by
// scale = 1 / (1 - rate), computed on the host (PyTorch's way: WGSL's division may be 2.5 ulps
// off, a product is rounded once, so kept values are the same on every GPU). The keep mask is drawn from a counter-based hash of (the layer's
// seed, the step, count, the element index): no random state but a step counter, which the
// forward advances on the GPU, so the host does nothing per step and reads nothing back. The
// backward draws the same mask again from the counter the forward used (it stores no mask).
//
// Bindings (group 0), by variable name:
//   0 inputs        read        {{ dtype }}  [count]       forward only: x
//   1 grad_outputs  read        {{ dtype }}  [count]       backward only: dE/dO
//   2 outputs       read_write  {{ dtype }}  [count]       forward only: y
//   3 grad_inputs   read_write  {{ dtype }}  [count]       backward only: dE/dI
//   4 steps         read_write  u32          [workgroups]  the step counter, one word per
//                   workgroup: the forward's lane 0 reads its word and writes it + 1 (no other
//                   invocation touches it: no race); the backward only reads it (step - 1)
//   5 params        uniform     Params
// Params: count (elements), threshold (an element is kept when its hash >= threshold =
//   round(rate · 2^32)), seed_low and seed_high (the layer's 64-bit seed),
//   scale (1 / (1 - rate), {{ accumulate }}).
// forward, backward: workgroup `workgroup_size` (1-D, the same for both: a workgroup's counter
//   word covers the same elements in each); one invocation per element, grid folded over x and y.
//   Loop bound: no loops, whatever the size.
// Types: y and dE/dI are computed in {{ accumulate }} and rounded to {{ dtype }} once, as stored.
// NumPy: keep = hash(seed, step, count, i) >= threshold; y = np.where(keep, x * scale, 0);
//   dE/dI = np.where(keep, dE/dO * scale, 0).

struct Params {
    count: u32,
    threshold: u32,
    seed_low: u32,
    seed_high: u32,
    scale: {{ accumulate }},
}

@group(0) @binding(0) var<storage, read> inputs: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> outputs: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<{{ dtype }}>;
@group(0) @binding(4) var<storage, read_write> steps: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;

override workgroup_size: u32 = 256;
var<workgroup> workgroup_step: u32;

// A 32-bit integer hash with low bias ("lowbias32", Chris Wellons' hash-prospector): a
// bijection whose every output bit depends on every input bit.
fn mixed(value: u32) -> u32 {
    var x = value;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

// Whether element i is kept at `step`: the index is hashed in two rounds keyed by a hash of
// the seed, the step and the count (a step of another batch size draws another stream).
fn kept(i: u32, step: u32) -> bool {
    let key = mixed(mixed(mixed(step ^ params.seed_high) ^ params.seed_low) + params.count);
    return mixed(mixed(i ^ key) + mixed(key ^ 0x9e3779b9u)) >= params.threshold;
}

@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let workgroup = group.x + group.y * groups.x;
    let counted = workgroup < arrayLength(&steps);  // past the last element's group: none
    if (lane == 0u && counted) {
        workgroup_step = steps[workgroup];
    }
    workgroupBarrier();
    let step = workgroup_step;
    if (lane == 0u && counted) {
        steps[workgroup] = step + 1u;  // lane 0 alone reads and writes this word
    }
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let x = {{ accumulate }}(inputs[i]);
    outputs[i] = {{ dtype }}(select({{ accumulate }}(0.0), x * params.scale,
                                    kept(i, step)));
}

@compute @workgroup_size(workgroup_size)
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let step = steps[group.x + group.y * groups.x] - 1u;  // the step the forward drew
    let gradient = {{ accumulate }}(grad_outputs[i]);
    grad_inputs[i] = {{ dtype }}(select({{ accumulate }}(0.0),
                                        gradient * params.scale, kept(i, step)));
}

{% include "gpu/grid.wgsl" %}
