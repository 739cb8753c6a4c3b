// engine/loss_scale.wgsl: dynamic loss scaling of mixed_float16 training on the GPU (Keras'
// LossScaleOptimizer rules; intricate/engine/loss_scale.py records both entries every step).
// The loss gradient is multiplied by the scale (losses.wgsl), so small f16 gradients don't
// flush to 0; `check` ORs "some f32 gradient is inf or NaN" into the state's flag; the optimizer
// (optimizers.wgsl) skips the whole step on the flag and otherwise divides each gradient by the
// scale; then `update` adapts the scale and clears the flag.
//
// Bindings (group 0), by variable name:
//   0 gradients   read        f32    [count]  the model's flat f32 gradient buffer (scaled)
//   1 state       read_write  State  the loss-scale state (below; losses.wgsl and
//                                    optimizers.wgsl read it as array<u32>)
//   2 statistics  read_write  f32    [SIZE]   fit's running sums (intricate/ops/statistics.py)
//   3 params      uniform     Params
// State (4 words): scale (f32), finite_steps in a row (u32), skipped steps in all (u32), found
//   (atomic u32 flag: a gradient of this step is not finite).
// Params: count = gradient elements; growth_interval = finite steps in a row that double the
//   scale (2000); minimum_scale = the scale's floor (1); scale_at, skipped_at = where the
//   statistics keep the scale and the epoch's skipped steps.
// check: workgroup `workgroup_size` (1-D), one invocation per gradient, grid folded over x and y.
//   Loop bound: no loops, whatever the parameter count (llvmpipe stops loops at 65535).
// update: one invocation, grid (1, 1, 1). Loop bound: no loops.
// NumPy:
//   check:  found |= not np.isfinite(gradients).all()
//   update: if found: scale = max(scale / 2, minimum_scale); finite_steps = 0; skipped += 1;
//                     statistics[skipped_at] += 1
//           else: finite_steps += 1; if finite_steps == growth_interval: finite_steps = 0 and
//                 scale *= 2 unless that overflows f32 (TensorFlow's rule)
//           statistics[scale_at] = scale; found = 0

struct State {
    scale: f32,
    finite_steps: u32,
    skipped: u32,
    found: atomic<u32>,
}

struct Params {
    count: u32,
    growth_interval: u32,
    minimum_scale: f32,
    scale_at: u32,
    skipped_at: u32,
}

@group(0) @binding(0) var<storage, read> gradients: array<f32>;
@group(0) @binding(1) var<storage, read_write> state: State;
@group(0) @binding(2) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

override workgroup_size: u32 = 256;

const EXPONENT_BITS: u32 = 0x7f800000u;  // all set: inf or NaN (bits, not x != x: no fast-math)

fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & EXPONENT_BITS) != EXPONENT_BITS;
}

@compute @workgroup_size(workgroup_size)
fn check(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    if (!finite(gradients[i])) {
        atomicOr(&state.found, 1u);  // only non-finite elements touch the flag
    }
}

@compute @workgroup_size(1)
fn update() {
    if (atomicLoad(&state.found) != 0u) {
        state.scale = max(state.scale * 0.5, params.minimum_scale);
        state.finite_steps = 0u;
        state.skipped += 1u;
        statistics[params.skipped_at] += 1.0;
    } else {
        state.finite_steps += 1u;
        if (state.finite_steps >= params.growth_interval) {
            state.finite_steps = 0u;
            let doubled = state.scale * 2.0;
            state.scale = select(state.scale, doubled, finite(doubled));
        }
    }
    statistics[params.scale_at] = state.scale;
    atomicStore(&state.found, 0u);
}

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

