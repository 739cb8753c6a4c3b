enable f16; // losses.wgsl: per-batch loss and metrics summed on the GPU, and the loss → output gradient,
// for the loss named by the template key `loss` (one of the element functions below).
//
// Bindings (group 0), by variable name:
//   0 predictions       read        f16  [batch, width]  the model's outputs ŷ
//   1 targets           read        f16  [batch, width]  the expected outputs y
//   2 grad_predictions  read_write  f16  [batch, width]  dL/dŷ (gradient entries)
//   3 statistics        read_write  f32  [8]       running sums, laid out as
//                                                     intricate/ops/statistics.py says
//   4 params            uniform     Params
//   5 partials          read_write  f32  [groups, 4]  each workgroup's sums
//   6 loss_scaling      read        u32          [4]       dtype f16 (mixed_float16) only: the
//                                                     loss-scale state (engine/loss_scale.wgsl);
//                                                     dL/dŷ is multiplied by its scale (word 0's
//                                                     f32 bits), the loss value is not
// Params: count = batch * width; batch = rows; width = row length; slot = where the batch
//   adds (statistics.TRAINING or .VALIDATION); accuracy = flags: 1 binary (Keras': mean over
//   the row of (ŷ > 0.5) == y, so a soft y never matches), 2 categorical (argmax ŷ == argmax y,
//   first maximum on ties), 3 both; mean_factor turns Σ loss terms into L · batch;
//   gradient_scale turns a gradient term into dL/dŷ; rows_per_group, groups, cooperative: how
//   the statistics are split over workgroups (below).
// Statistics: workgroup g sums rows [g · rows_per_group, (g + 1) · rows_per_group) into
//   (L · batch, binary-correct rows, Σ per-row MAE, categorical-correct rows) (sample-weighted
//   sums, so an epoch's mean is sum / samples); lanes stride over the group's elements, and the
//   categorical argmax takes a row per lane (cooperative = 0) or the whole workgroup per row, a
//   (value, index) reduction in workgroup memory (cooperative = 1, wide rows). Then a tree
//   reduction, and lane 0 adds the sums to statistics[slot .. slot + 3] (statistics_only,
//   statistics_and_gradient: ONE workgroup, grid (1, 1, 1)) or writes them to partials[g]
//   (partial_statistics, partial_statistics_and_gradient: `groups` workgroups, grid folded over x
//   and y), which finish_statistics (ONE workgroup) adds up in a fixed order. The
//   *_and_gradient entries also write dL/dŷ for the group's elements.
// Workgroup `workgroup_size` (W = 256 lanes, 1-D) for every entry; grids as said above.
// NumPy (intricate/kernels/reference.py's statistics_sums): a group's sums are
//   (L · rows, ((ŷ > 0.5) == y).mean(1).sum(), abs(ŷ - y).mean(1).sum(),
//   (ŷ.argmax(1) == y.argmax(1)).sum()) over its rows (an accuracy not asked for adds 0);
//   statistics[slot:slot + 4] += those sums; partials[g] = group g's sums;
//   finish_statistics: statistics[slot:slot + 4] += partials.sum(0).
// Loop bound (llvmpipe stops loops after 65535 iterations per invocation): a lane iterates
//   ceil(rows_per_group · width / W) + (cooperative ? rows_per_group · (ceil(width / W) + log2 W)
//   : ceil(rows_per_group / W) · width) + log2 W times (W = workgroup_size), and
//   finish_statistics ceil(groups / W) + log2 W: losses.py's statistics_plan keeps both within
//   intricate/ops/loops.py's LOOP_BOUND (one row wider than about LOOP_BOUND · W / 2 exceeds it).
// softmax_statistics_and_gradient: statistics_only's sums (template loss categorical_crossentropy)
//   and dL/dz (below) in ONE workgroup: lanes own rows for the gradient, 2 · width iterations per
//   row they own (losses.py keeps the total within LOOP_BOUND).
// softmax_gradient: dL/dz alone, ONE workgroup per row (grid folded over x and y); lanes stride
//   over the row (ceil(width / workgroup_size) iterations each) and reduce Σy in workgroup memory.
// Element functions (loss_terms.wgsl, included) return (loss term, gradient term); Keras'
// definitions, probabilities clipped to [EPSILON, 1 - EPSILON] with the gradient of the clipped
// expression (0 where it clips):
//   mean_squared:             L = mean((ŷ - y)²)                 dL/dŷ = 2(ŷ - y) / count
//   mean_absolute:            L = mean(|ŷ - y|)                  dL/dŷ = sign(ŷ - y) / count
//   binary_crossentropy:      L = mean(-(y log p + (1 - y) log(1 - p)))  p = clip(ŷ)
//   categorical_crossentropy: L = Σ(-y log p) / batch            dL/dŷ = -y / p / batch
//   softmax_crossentropy:     L as categorical_crossentropy, and dL/dz = (ŷ·Σy - y) / batch
//     (Σy the row's target sum), the gradient through a SoftMax layer into its inputs z: the
//     SoftMax backward of -y / ŷ / batch, exact for any y (rows need not sum to 1).

struct Params {
    count: u32,
    batch: u32,
    width: u32,
    slot: u32,
    accuracy: u32,
    mean_factor: f32,
    gradient_scale: f32,
    rows_per_group: u32,
    groups: u32,
    cooperative: u32,
}

@group(0) @binding(0) var<storage, read> predictions: array<f16>;
@group(0) @binding(1) var<storage, read> targets: array<f16>;
@group(0) @binding(2) var<storage, read_write> grad_predictions: array<f16>;
@group(0) @binding(3) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> loss_scaling: array<u32>;

override workgroup_size: u32 = 256;
var<workgroup> best_values: array<vec2<f32>, workgroup_size>;  // (ŷ, y) maxima of a row
var<workgroup> best_indices: array<vec2<u32>, workgroup_size>;  // and where they are

// What turns a gradient term into the dL/dŷ stored: gradient_scale, times the loss scale in
// mixed_float16 training (so small gradients survive f16; the optimizer divides it out).
fn gradient_factor() -> f32 {
    return params.gradient_scale * bitcast<f32>(loss_scaling[0]);
}

// The categorical-correct rows among rows [first, end): a row per lane.
fn categorical_by_lanes(lane: u32, first: u32, end: u32) -> f32 {
    var correct: f32 = 0.0;
    for (var row = first + lane; row < end; row += workgroup_size) {
        let start = row * params.width;
        var best_prediction = start;
        var best_target = start;
        for (var i = start + 1u; i < start + params.width; i++) {
            if (f32(predictions[i]) > f32(predictions[best_prediction])) { best_prediction = i; }
            if (f32(targets[i]) > f32(targets[best_target])) { best_target = i; }
        }
        correct += select(f32(0.0), 1.0, best_prediction == best_target);
    }
    return correct;
}

// The same, the whole workgroup per row (first maximum on ties, as the row-per-lane scan).
// Call from all lanes with uniform first and end (has barriers); the count is lane 0's.
fn categorical_by_workgroup(lane: u32, first: u32, end: u32) -> f32 {
    var correct: f32 = 0.0;
    for (var row = first; row < end; row++) {
        let start = row * params.width;
        var best = vec2<f32>(f32(predictions[start]), f32(targets[start]));
        var at = vec2<u32>(0u);
        for (var j = lane; j < params.width; j += workgroup_size) {
            let value = vec2<f32>(f32(predictions[start + j]), f32(targets[start + j]));
            if (value.x > best.x) { best.x = value.x; at.x = j; }
            if (value.y > best.y) { best.y = value.y; at.y = j; }
        }
        best_values[lane] = best;
        best_indices[lane] = at;
        workgroupBarrier();
        for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
            if (lane < stride) {
                let other = best_values[lane + stride];
                let other_at = best_indices[lane + stride];
                let mine = best_values[lane];
                let mine_at = best_indices[lane];
                let take = other > mine | (other == mine & other_at < mine_at);
                best_values[lane] = select(mine, other, take);
                best_indices[lane] = select(mine_at, other_at, take);
            }
            workgroupBarrier();
        }
        correct += select(f32(0.0), 1.0, best_indices[0].x == best_indices[0].y);
        workgroupBarrier();  // before the next row overwrites them
    }
    return correct;
}

fn add_to_statistics(total: vec4<f32>) {
    statistics[params.slot] += total.x;
    statistics[params.slot + 1u] += total.y;
    statistics[params.slot + 2u] += total.z;
    statistics[params.slot + 3u] += total.w;
}



// Workgroup `group`'s statistics sums over its rows, the total lane 0's.
fn group_sums(group: u32, lane: u32) -> vec4<f32> {
    let first = min(group * params.rows_per_group, params.batch);
    let end = min(first + params.rows_per_group, params.batch);
    var share = vec4<f32>(0.0);
    for (var i = first * params.width + lane; i < end * params.width; i += workgroup_size) {
        let p = f32(predictions[i]);
        let y = f32(targets[i]);
        let terms = mean_squared(p, y);
        share.x += terms.x;
        share.y += select(f32(0.0), 1.0, select(f32(0.0), 1.0, p > 0.5) == y);
        share.z += abs(p - y);
    }
    share = vec4<f32>(share.x * params.mean_factor, share.yz / f32(params.width), 0.0);
    share.y = select(0.0, share.y, (params.accuracy & 1u) != 0u);
    if ((params.accuracy & 2u) != 0u) {
        if (params.cooperative != 0u) {
            share.w = categorical_by_workgroup(lane, first, end);
            share.w = select(0.0, share.w, lane == 0u);
        } else {
            share.w = categorical_by_lanes(lane, first, end);
        }
    }
    return reduce(lane, share);
}


// Workgroup `group`'s statistics sums over its rows, the total lane 0's; also dL/dŷ.
fn group_sums_and_gradient(group: u32, lane: u32) -> vec4<f32> {
    let first = min(group * params.rows_per_group, params.batch);
    let end = min(first + params.rows_per_group, params.batch);
    var share = vec4<f32>(0.0);
    for (var i = first * params.width + lane; i < end * params.width; i += workgroup_size) {
        let p = f32(predictions[i]);
        let y = f32(targets[i]);
        let terms = mean_squared(p, y);
        share.x += terms.x;
        share.y += select(f32(0.0), 1.0, select(f32(0.0), 1.0, p > 0.5) == y);
        share.z += abs(p - y);
        grad_predictions[i] = f16(terms.y * gradient_factor());
    }
    share = vec4<f32>(share.x * params.mean_factor, share.yz / f32(params.width), 0.0);
    share.y = select(0.0, share.y, (params.accuracy & 1u) != 0u);
    if ((params.accuracy & 2u) != 0u) {
        if (params.cooperative != 0u) {
            share.w = categorical_by_workgroup(lane, first, end);
            share.w = select(0.0, share.w, lane == 0u);
        } else {
            share.w = categorical_by_lanes(lane, first, end);
        }
    }
    return reduce(lane, share);
}

@compute @workgroup_size(workgroup_size)
fn statistics_only(@builtin(local_invocation_index) lane: u32) {
    let total = group_sums(0u, lane);
    if (lane == 0u) { add_to_statistics(total); }
}

@compute @workgroup_size(workgroup_size)
fn statistics_and_gradient(@builtin(local_invocation_index) lane: u32) {
    let total = group_sums_and_gradient(0u, lane);
    if (lane == 0u) { add_to_statistics(total); }
}

@compute @workgroup_size(workgroup_size)
fn partial_statistics(@builtin(workgroup_id) group: vec3<u32>,
                      @builtin(num_workgroups) groups: vec3<u32>,
                      @builtin(local_invocation_index) lane: u32) {
    let g = group.x + group.y * groups.x;  // past `groups` (a folded grid): rows past the batch
    let total = group_sums(g, lane);
    if (lane == 0u && g < params.groups) { partials[g] = total; }
}

@compute @workgroup_size(workgroup_size)
fn partial_statistics_and_gradient(@builtin(workgroup_id) group: vec3<u32>,
                                   @builtin(num_workgroups) groups: vec3<u32>,
                                   @builtin(local_invocation_index) lane: u32) {
    let g = group.x + group.y * groups.x;
    let total = group_sums_and_gradient(g, lane);
    if (lane == 0u && g < params.groups) { partials[g] = total; }
}

@compute @workgroup_size(workgroup_size)
fn finish_statistics(@builtin(local_invocation_index) lane: u32) {
    var share = vec4<f32>(0.0);
    for (var g = lane; g < params.groups; g += workgroup_size) {
        share += partials[g];
    }
    let total = reduce(lane, share);
    if (lane == 0u) { add_to_statistics(total); }
}

@compute @workgroup_size(workgroup_size)
fn softmax_statistics_and_gradient(@builtin(local_invocation_index) lane: u32) {
    let total = group_sums(0u, lane);
    for (var row = lane; row < params.batch; row += workgroup_size) {
        let start = row * params.width;
        var target_sum: f32 = 0.0;
        for (var i = start; i < start + params.width; i++) {
            target_sum += f32(targets[i]);
        }
        for (var i = start; i < start + params.width; i++) {
            let terms = softmax_crossentropy(f32(predictions[i]), f32(targets[i]), target_sum);
            grad_predictions[i] = f16(terms.y * gradient_factor());
        }
    }
    if (lane == 0u) { add_to_statistics(total); }
}

@compute @workgroup_size(workgroup_size)
fn softmax_gradient(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let row = group.x + group.y * groups.x;  // uniform over the workgroup: barriers stay legal
    let start = row * params.width;
    var target_sum: f32 = 0.0;
    if (row < params.batch) {
        for (var j = lane; j < params.width; j += workgroup_size) {
            target_sum += f32(targets[start + j]);
        }
    }
    let total = reduce(lane, vec4<f32>(target_sum, 0.0, 0.0, 0.0)).x;
    if (row >= params.batch) { return; }
    for (var j = lane; j < params.width; j += workgroup_size) {
        let i = start + j;
        let terms = softmax_crossentropy(f32(predictions[i]), f32(targets[i]), total);
        grad_predictions[i] = f16(terms.y * gradient_factor());
    }
}

// loss_terms.wgsl: each loss's element function, written once: (loss term, gradient term) of
// one prediction p and target y, in f32 (Keras' definitions; the formulas are in
// losses.wgsl's header). A library of functions, no entry points: losses.wgsl (the batch
// statistics and dL/dŷ) and engine/tiny_fit.wgsl (a whole fit in one workgroup) include it.
// Bindings: none. Params: none. Workgroup and grid: the including kernel's. The includer also
// includes gpu/math.wgsl (logarithm), once.
// NumPy: tests/reference.py's losses.

const EPSILON: f32 = 1e-7;

// Keras' clip into [ε, 1 - ε]; with f32 sums a NaN or ±inf p (an overflow upstream, e.g. an
// f16 logit) stays, so the loss shows it (NaN, ±inf) rather than the plausible -log ε of a
// clamped NaN. Tested on the bits: compilers fold p != p and p - p to constants.
fn clip(p: f32) -> f32 {
    let clipped = clamp(p, EPSILON, 1.0 - EPSILON);
    return select(clipped, p, (bitcast<u32>(p) & 0x7f800000u) == 0x7f800000u);
}

fn inside_clip(p: f32) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

fn mean_squared(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>((p - y) * (p - y), 2.0 * (p - y));
}

fn mean_absolute(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(abs(p - y), sign(p - y));
}

fn binary_crossentropy(p: f32, y: f32) -> vec2<f32> {
    let q = clip(p);
    let gradient = select(0.0, (p - y) / (p * (1.0 - p)), inside_clip(p));
    return vec2<f32>(-(y * logarithm(q) + (1.0 - y) * logarithm(1.0 - q)), gradient);
}

fn categorical_crossentropy(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(-y * logarithm(clip(p)), select(0.0, -y / p, inside_clip(p)));
}

fn softmax_crossentropy(p: f32, y: f32, target_sum: f32) -> vec2<f32> {
    return vec2<f32>(-y * logarithm(clip(p)), p * target_sum - y);
}

// workgroup_sum.wgsl: the tree reduction of four sums over a workgroup's lanes, written once.
// A library, no entry points: losses.wgsl (a batch's statistics) and engine/tiny_fit.wgsl (a
// whole fit in one workgroup) include it.
// Bindings: none; workgroup memory: partial_sums, one vec4 per lane. Params: none. The includer
// declares `override workgroup_size` (a power of two) and calls reduce from uniform control flow
// (it has barriers). Loop bound: log2(workgroup_size) iterations.
// NumPy: value.sum(axis=0) over the lanes' values (in a tree order).

var<workgroup> partial_sums: array<vec4<f32>, workgroup_size>;

// Tree reduction of every lane's value; the total is lane 0's. Call from all lanes.
fn reduce(lane: u32, value: vec4<f32>) -> vec4<f32> {
    partial_sums[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    return partial_sums[0];
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


