// losses.wgsl: per-batch loss and metrics summed on the GPU, and the loss → output gradient,
// for the loss named by the template key `loss` (one of the element functions below).
//
// Bindings (group 0), by variable name:
//   0 predictions       read        f32  [batch, width]  the model's outputs ŷ
//   1 targets           read        f32  [batch, width]  the expected outputs y
//   2 grad_predictions  read_write  f32  [batch, width]  dL/dŷ (gradient entries)
//   3 statistics        read_write  f32          [8]             running sums, laid out as
//                                                     intricate/ops/statistics.py says
//   4 params            uniform     Params
// Params: count = batch * width; batch = rows; width = row length; slot = where the batch
//   adds (statistics.TRAINING or .VALIDATION); accuracy = flags: 1 binary (Keras': mean over
//   the row of (ŷ > 0.5) == y, so a soft y never matches), 2 categorical (argmax ŷ == argmax y,
//   first maximum on ties), 3 both; loss_scale turns Σ loss terms into L · batch;
//   gradient_scale turns a gradient term into dL/dŷ.
// statistics_only, statistics_and_gradient: ONE workgroup of `workgroup_size` (a power of two)
//   invocations, grid (1, 1, 1). Each lane sums a strided share of (loss, metrics), a tree
//   reduction in workgroup memory follows, and lane 0 adds (L · batch, binary-correct rows,
//   Σ per-row MAE, categorical-correct rows) to statistics[slot .. slot + 3]: sample-weighted
//   sums, so an epoch's mean is sum / samples. statistics_and_gradient also writes dL/dŷ (one
//   dispatch per step).
// gradient: one invocation per element, workgroup `workgroup_size`, grid folded over x and y
//   (for outputs too large for one workgroup to write).
// softmax_statistics_and_gradient: as statistics_and_gradient for SoftMax + categorical
//   cross-entropy (template loss = categorical_crossentropy), writing dL/dz (below); lanes own
//   rows, each lane loops 2 · width times per row it owns (the caller keeps that bounded).
// softmax_gradient: dL/dz alone, ONE workgroup per row (grid folded over x and y); lanes stride
//   over the row (ceil(width / workgroup_size) iterations each) and reduce Σy in workgroup memory.
// Element functions return (loss term, gradient term); Keras' definitions, probabilities clipped
// to [EPSILON, 1 - EPSILON] with the gradient of the clipped expression (0 where it clips):
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
    loss_scale: f32,
    gradient_scale: f32,
}

@group(0) @binding(0) var<storage, read> predictions: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad_predictions: array<f32>;
@group(0) @binding(3) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const EPSILON: f32 = 1e-7;
override workgroup_size: u32 = 256;
var<workgroup> partial_sums: array<vec4<f32>, workgroup_size>;

fn clip(p: f32) -> f32 {
    return clamp(p, EPSILON, 1.0 - EPSILON);
}

fn inside_clip(p: f32) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

// This lane's share of (binary-correct rows, Σ |ŷ - y| / width, categorical-correct rows).
fn metric_share(lane: u32) -> vec3<f32> {
    var share = vec3<f32>(0.0);
    for (var row = lane; row < params.batch; row += workgroup_size) {
        let start = row * params.width;
        var best_prediction = start;
        var best_target = start;
        var matches = 0.0;
        var absolute = 0.0;
        for (var i = start; i < start + params.width; i++) {
            let p = f32(predictions[i]);
            let y = f32(targets[i]);
            absolute += abs(p - y);
            matches += select(0.0, 1.0, select(0.0, 1.0, p > 0.5) == y);
            if (p > f32(predictions[best_prediction])) { best_prediction = i; }
            if (y > f32(targets[best_target])) { best_target = i; }
        }
        let width = f32(params.width);
        if ((params.accuracy & 1u) != 0u) {
            share.x += matches / width;
        }
        if ((params.accuracy & 2u) != 0u) {
            share.z += select(0.0, 1.0, best_prediction == best_target);
        }
        share.y += absolute / width;
    }
    return share;
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
    return vec2<f32>(-(y * log(q) + (1.0 - y) * log(1.0 - q)), gradient);
}

fn categorical_crossentropy(p: f32, y: f32) -> vec2<f32> {
    return vec2<f32>(-y * log(clip(p)), select(0.0, -y / p, inside_clip(p)));
}

fn softmax_crossentropy(p: f32, y: f32, target_sum: f32) -> vec2<f32> {
    return vec2<f32>(-y * log(clip(p)), p * target_sum - y);
}

// Sums every lane's (loss share, metric shares) and adds the batch's sums to statistics.
// Call from all lanes (has barriers).
fn accumulate(lane: u32, loss_share: f32) {
    partial_sums[lane] = vec4<f32>(loss_share * params.loss_scale, metric_share(lane));
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        let total = partial_sums[0];
        statistics[params.slot] += total.x;
        statistics[params.slot + 1u] += total.y;
        statistics[params.slot + 2u] += total.z;
        statistics[params.slot + 3u] += total.w;
    }
}

@compute @workgroup_size(workgroup_size)
fn statistics_only(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        share += categorical_crossentropy(f32(predictions[i]), f32(targets[i])).x;
    }
    accumulate(lane, share);
}

@compute @workgroup_size(workgroup_size)
fn statistics_and_gradient(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        let terms = categorical_crossentropy(f32(predictions[i]), f32(targets[i]));
        share += terms.x;
        grad_predictions[i] = f32(terms.y * params.gradient_scale);
    }
    accumulate(lane, share);
}

@compute @workgroup_size(workgroup_size)
fn gradient(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let terms = categorical_crossentropy(f32(predictions[i]), f32(targets[i]));
    grad_predictions[i] = f32(terms.y * params.gradient_scale);
}

@compute @workgroup_size(workgroup_size)
fn softmax_statistics_and_gradient(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var row = lane; row < params.batch; row += workgroup_size) {
        let start = row * params.width;
        var target_sum = 0.0;
        for (var i = start; i < start + params.width; i++) {
            target_sum += f32(targets[i]);
        }
        for (var i = start; i < start + params.width; i++) {
            let terms = softmax_crossentropy(f32(predictions[i]), f32(targets[i]), target_sum);
            share += terms.x;
            grad_predictions[i] = f32(terms.y * params.gradient_scale);
        }
    }
    accumulate(lane, share);
}

@compute @workgroup_size(workgroup_size)
fn softmax_gradient(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let row = group.x + group.y * groups.x;  // uniform over the workgroup: barriers stay legal
    let start = row * params.width;
    var target_sum = 0.0;
    if (row < params.batch) {
        for (var j = lane; j < params.width; j += workgroup_size) {
            target_sum += f32(targets[start + j]);
        }
    }
    partial_sums[lane] = vec4<f32>(target_sum, 0.0, 0.0, 0.0);
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    if (row >= params.batch) { return; }
    let total = partial_sums[0].x;
    for (var j = lane; j < params.width; j += workgroup_size) {
        let i = start + j;
        let terms = softmax_crossentropy(f32(predictions[i]), f32(targets[i]), total);
        grad_predictions[i] = f32(terms.y * params.gradient_scale);
    }
}

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

