// layers/softmax.wgsl: SoftMax over each row, forward beside backward. Followed by
// CategoricalCrossEntropy, the backward is skipped: the loss writes the fused gradient
// (see intricate/engine/plan.py and losses.wgsl's softmax_crossentropy).
//
// Bindings (group 0), by variable name:
//   0 inputs        read        {{ dtype }}  [rows, width]  forward only
//   1 grad_outputs  read        {{ dtype }}  [rows, width]  backward only: dE/dO
//   2 outputs       read_write  {{ dtype }}  [rows, width]  written by forward, read by backward
//   3 grad_inputs   read_write  {{ dtype }}  [rows, width]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count = rows * width elements, width = row length.
// forward, backward: workgroup `workgroup_size` (1-D); one invocation per row, grid folded over
//   x and y; it loops 3 · width (forward) or 2 · width (backward) times.
// forward_wide, backward_wide: ONE workgroup per row (grid folded over x and y); lanes stride over
//   the row and reduce its max, Σ exp and Σ dE/dO · o in workgroup memory: each lane loops
//   3 · ceil(width / workgroup_size) + 2 · log2(workgroup_size) times at most.
// Types: the maxima, exponentials and sums are {{ accumulate }} (f32 for mixed_float16's f16 rows,
//   whose elements convert exactly); each result is rounded to {{ dtype }} once, as stored. With
//   f16 rows the exponentials are computed again for the division instead of being read back
//   from outputs, where they were rounded to f16 (rounding twice costs up to 2^-10 relative).
// Loop bound (llvmpipe stops loops after 65535 iterations per invocation): SoftMax (layers/
//   activations.py) takes the wide entries when 3 · width exceeds intricate/ops/loops.py's
//   LOOP_BOUND, so every row up to about LOOP_BOUND · workgroup_size / 3 wide stays within it.
// NumPy: o = np.exp(x - x.max(1, keepdims=True)); o /= o.sum(1, keepdims=True);
//   dE/dI = o * (dE/dO - (dE/dO * o).sum(1, keepdims=True)).

struct Params {
    count: u32,
    width: u32,
}

// Bindings: layers/activation_io.wgsl (included at the end).

override workgroup_size: u32 = 256;
var<workgroup> row_partials: array<{{ accumulate }}, workgroup_size>;

// SoftMax over each row: o_j = exp(x_j - max x) / Σ_k exp(x_k - max x).
// Backward: dE/dI_j = o_j * (dE/dO_j - Σ_k dE/dO_k * o_k).
@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let row = invocation(group, groups, lane);
    if (row * params.width >= params.count) { return; }
    let start = row * params.width;
    var largest = {{ accumulate }}(inputs[start]);
    for (var j = 1u; j < params.width; j++) {
        largest = max(largest, {{ accumulate }}(inputs[start + j]));
    }
    var total: {{ accumulate }} = 0.0;
    for (var j = 0u; j < params.width; j++) {
        let e = exponential({{ accumulate }}(inputs[start + j]) - largest);
{% if dtype == accumulate %}
        outputs[start + j] = e;
{% endif %}
        total += e;
    }
    for (var j = 0u; j < params.width; j++) {
        outputs[start + j] = normalized(start + j, largest, total);
    }
}

@compute @workgroup_size(workgroup_size)
fn backward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let row = invocation(group, groups, lane);
    if (row * params.width >= params.count) { return; }
    let start = row * params.width;
    var dot: {{ accumulate }} = 0.0;
    for (var j = 0u; j < params.width; j++) {
        dot += {{ accumulate }}(grad_outputs[start + j]) * {{ accumulate }}(outputs[start + j]);
    }
    for (var j = 0u; j < params.width; j++) {
        grad_inputs[start + j] = softmax_gradient(start + j, dot);
    }
}

// Element i's output o_i = e_i / total, e_i = exp(x_i - largest): read back from outputs when
// they hold e_i unrounded ({{ dtype }} is {{ accumulate }}), else computed again.
fn normalized(i: u32, largest: {{ accumulate }}, total: {{ accumulate }}) -> {{ dtype }} {
{% if dtype == accumulate %}
    return outputs[i] / total;
{% else %}
    return {{ dtype }}(exponential({{ accumulate }}(inputs[i]) - largest) / total);
{% endif %}
}

// Element i's dE/dI = o_i (dE/dO_i - dot), dot = Σ_k dE/dO_k o_k, in {{ accumulate }}.
fn softmax_gradient(i: u32, dot: {{ accumulate }}) -> {{ dtype }} {
    return {{ dtype }}({{ accumulate }}(outputs[i]) * ({{ accumulate }}(grad_outputs[i]) - dot));
}

// The workgroup's max (maximum) or sum of every lane's value, returned to every lane. Call from
// all lanes with a uniform `maximum` (has barriers).
fn reduce_row(lane: u32, value: {{ accumulate }}, maximum: bool) -> {{ accumulate }} {
    row_partials[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            let mine = row_partials[lane];
            let other = row_partials[lane + stride];
            row_partials[lane] = select(mine + other, max(mine, other), maximum);
        }
        workgroupBarrier();
    }
    let result = row_partials[0];
    workgroupBarrier();  // every lane has read it before the next reduction writes
    return result;
}

// The workgroup's row (uniform): its start and width, width 0 past the last row (folded grid).
fn wide_row(group: vec3<u32>, groups: vec3<u32>) -> vec2<u32> {
    let row = group.x + group.y * groups.x;
    let inside = row < params.count / params.width;
    return select(vec2<u32>(0u), vec2<u32>(row * params.width, params.width), inside);
}

@compute @workgroup_size(workgroup_size)
fn forward_wide(@builtin(workgroup_id) group: vec3<u32>,
                @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let row = wide_row(group, groups);
    let start = row.x;
    // an element of the row: a lane without elements keeps it
    var largest = {{ accumulate }}(inputs[start]);
    for (var j = lane; j < row.y; j += workgroup_size) {
        largest = max(largest, {{ accumulate }}(inputs[start + j]));
    }
    largest = reduce_row(lane, largest, true);
    var total: {{ accumulate }} = 0.0;
    for (var j = lane; j < row.y; j += workgroup_size) {
        let e = exponential({{ accumulate }}(inputs[start + j]) - largest);
{% if dtype == accumulate %}
        outputs[start + j] = e;
{% endif %}
        total += e;
    }
    total = reduce_row(lane, total, false);
    for (var j = lane; j < row.y; j += workgroup_size) {  // the lane's own elements: no barrier
        outputs[start + j] = normalized(start + j, largest, total);
    }
}

@compute @workgroup_size(workgroup_size)
fn backward_wide(@builtin(workgroup_id) group: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let row = wide_row(group, groups);
    let start = row.x;
    var dot: {{ accumulate }} = 0.0;
    for (var j = lane; j < row.y; j += workgroup_size) {
        dot += {{ accumulate }}(grad_outputs[start + j]) * {{ accumulate }}(outputs[start + j]);
    }
    dot = reduce_row(lane, dot, false);
    for (var j = lane; j < row.y; j += workgroup_size) {
        grad_inputs[start + j] = softmax_gradient(start + j, dot);
    }
}

{% include "layers/activation_io.wgsl" %}
{% include "gpu/grid.wgsl" %}
{% include "gpu/math.wgsl" %}
