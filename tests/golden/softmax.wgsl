// layers/softmax.wgsl: SoftMax over each row, forward beside backward. Followed by
// CategoricalCrossEntropy, the backward is skipped: the loss writes the fused gradient
// (see intricate/engine/plan.py and losses.wgsl's softmax_crossentropy).
//
// Bindings (group 0), by variable name:
//   0 inputs        read        f32  [rows, width]  forward only
//   1 grad_outputs  read        f32  [rows, width]  backward only: dE/dO
//   2 outputs       read_write  f32  [rows, width]  written by forward, read by backward
//   3 grad_inputs   read_write  f32  [rows, width]  backward only: dE/dI
//   4 params        uniform     Params
// Params: count = rows * width elements, width = row length.
// forward, backward: workgroup `workgroup_size` (1-D); one invocation per row, grid folded over
//   x and y; it loops 3 · width (forward) or 2 · width (backward) times.
// forward_wide, backward_wide: ONE workgroup per row (grid folded over x and y); lanes stride over
//   the row and reduce its max, Σ exp and Σ dE/dO · o in workgroup memory: each lane loops
//   3 · ceil(width / workgroup_size) + 2 · log2(workgroup_size) times at most.
// Types: the maxima, exponentials and sums are f32 (f32 for mixed_float16's f16 rows,
//   whose elements convert exactly); each result is rounded to f32 once, as stored. With
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
var<workgroup> row_partials: array<f32, workgroup_size>;

// SoftMax over each row: o_j = exp(x_j - max x) / Σ_k exp(x_k - max x).
// Backward: dE/dI_j = o_j * (dE/dO_j - Σ_k dE/dO_k * o_k).
@compute @workgroup_size(workgroup_size)
fn forward(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let row = invocation(group, groups, lane);
    if (row * params.width >= params.count) { return; }
    let start = row * params.width;
    var largest = f32(inputs[start]);
    for (var j = 1u; j < params.width; j++) {
        largest = max(largest, f32(inputs[start + j]));
    }
    var total: f32 = 0.0;
    for (var j = 0u; j < params.width; j++) {
        let e = exponential(f32(inputs[start + j]) - largest);

        outputs[start + j] = e;

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
    var dot: f32 = 0.0;
    for (var j = 0u; j < params.width; j++) {
        dot += f32(grad_outputs[start + j]) * f32(outputs[start + j]);
    }
    for (var j = 0u; j < params.width; j++) {
        grad_inputs[start + j] = softmax_gradient(start + j, dot);
    }
}

// Element i's output o_i = e_i / total, e_i = exp(x_i - largest): read back from outputs when
// they hold e_i unrounded (f32 is f32), else computed again.
fn normalized(i: u32, largest: f32, total: f32) -> f32 {

    return outputs[i] / total;

}

// Element i's dE/dI = o_i (dE/dO_i - dot), dot = Σ_k dE/dO_k o_k, in f32.
fn softmax_gradient(i: u32, dot: f32) -> f32 {
    return f32(f32(outputs[i]) * (f32(grad_outputs[i]) - dot));
}

// The workgroup's max (maximum) or sum of every lane's value, returned to every lane. Call from
// all lanes with a uniform `maximum` (has barriers).
fn reduce_row(lane: u32, value: f32, maximum: bool) -> f32 {
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
    var largest = f32(inputs[start]);
    for (var j = lane; j < row.y; j += workgroup_size) {
        largest = max(largest, f32(inputs[start + j]));
    }
    largest = reduce_row(lane, largest, true);
    var total: f32 = 0.0;
    for (var j = lane; j < row.y; j += workgroup_size) {
        let e = exponential(f32(inputs[start + j]) - largest);

        outputs[start + j] = e;

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
    var dot: f32 = 0.0;
    for (var j = lane; j < row.y; j += workgroup_size) {
        dot += f32(grad_outputs[start + j]) * f32(outputs[start + j]);
    }
    dot = reduce_row(lane, dot, false);
    for (var j = lane; j < row.y; j += workgroup_size) {
        grad_inputs[start + j] = softmax_gradient(start + j, dot);
    }
}

// layers/activation_io.wgsl: the bindings of an activation layer's kernels (the element-wise
// ones of layers/activation.wgsl and SoftMax's of layers/softmax.wgsl), included at their end.
// Bindings (group 0), by variable name: 0 inputs (read), 1 grad_outputs (read: dE/dO),
// 2 outputs (read_write: written forward, read backward), 3 grad_inputs (read_write: dE/dI),
// all f32 [rows, width]; 4 params, the including file's Params. Workgroup and grid: the
// including kernel's. NumPy: none (declarations only).

@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

// gpu/math.wgsl: exponential(x) and logarithm(x) in the kernel's accumulate type
// (f32): the builtins exp and log for f32, gpu/float64.wgsl's for f64 (the
// builtins are undefined on f64, see there). Kernels call these, never exp or log, so one
// template serves every dtype. Functions only: bindings, params, workgroup and grid are the
// including kernel's. NumPy: np.exp, np.log.


fn exponential(x: f32) -> f32 {
    return exp(x);
}

fn logarithm(x: f32) -> f32 {
    return log(x);
}


