// losses.wgsl: per-batch loss and metrics accumulated on the GPU, and loss → output gradients.
//
// Bindings (group 0), by variable name:
//   0 predictions       read        {{ dtype }}  [batch, width]  the model's outputs ŷ
//   1 targets           read        {{ dtype }}  [batch, width]  the expected outputs y
//   2 grad_predictions  read_write  {{ dtype }}  [batch, width]  *_gradient: dL/dŷ
//   3 statistics        read_write  f32          [8]             running sums: train 0..3, val 4..7
//   4 epoch_result      read_write  f32          [8]             finish_epoch: the epoch's means
//   5 params            uniform     Params
// Params: count = batch * width; batch = rows; width = row length; slot = 0 (training) or 4
//   (validation/evaluate); accuracy = 0 none, 1 binary (ŷ > 0.5 == y > 0.5, mean over the row),
//   2 categorical (argmax ŷ == argmax y); train_count/val_count = samples (finish_epoch only).
// *_value: ONE workgroup of `workgroup_size` (a power of two) invocations, grid (1, 1, 1). Each
//   lane sums a strided share of (loss, accuracy, |ŷ - y| / width), a tree reduction in workgroup
//   memory follows, and lane 0 adds (L · batch, correct rows, Σ per-row MAE) to
//   statistics[slot .. slot + 2]: sample-weighted sums, so an epoch's mean is sum / samples.
// *_gradient: one invocation per element, workgroup `workgroup_size`, grid folded over x and y.
// finish_epoch: one workgroup; epoch_result = statistics / (train_count, val_count); then zeroes
//   statistics for the next epoch.
// Losses match Keras: probabilities are clipped to [EPSILON, 1 - EPSILON] and the gradient is
// that of the clipped expression (0 where the clip is active).
//   mean_squared:              L = mean((ŷ - y)²)                      dL/dŷ = 2(ŷ - y) / count
//   mean_absolute:             L = mean(|ŷ - y|)                       dL/dŷ = sign(ŷ - y) / count
//   binary_crossentropy:       L = mean(-(y log p + (1 - y) log(1 - p)))  p = clip(ŷ)
//   categorical_crossentropy:  L = Σ(-y log p) / batch                  dL/dŷ = -y / p / batch
//   softmax_crossentropy_gradient: dL/dz = (ŷ - y) / batch, the gradient through a SoftMax
//     layer into its inputs z (valid when each row of y sums to 1).

struct Params {
    count: u32,
    batch: u32,
    width: u32,
    slot: u32,
    accuracy: u32,
    train_count: u32,
    val_count: u32,
}

@group(0) @binding(0) var<storage, read> predictions: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> targets: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> grad_predictions: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(4) var<storage, read_write> epoch_result: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

const EPSILON: f32 = 1e-7;
override workgroup_size: u32 = 256;
var<workgroup> partial_sums: array<vec3<f32>, workgroup_size>;

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

fn clip(p: f32) -> f32 {
    return clamp(p, EPSILON, 1.0 - EPSILON);
}

fn inside_clip(p: f32) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

// This lane's share of (correct rows, Σ |ŷ - y| / width) for the metrics.
fn metric_share(lane: u32) -> vec2<f32> {
    var share = vec2<f32>(0.0);
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
            matches += select(0.0, 1.0, (p > 0.5) == (y > 0.5));
            if (p > f32(predictions[best_prediction])) { best_prediction = i; }
            if (y > f32(targets[best_target])) { best_target = i; }
        }
        let width = f32(params.width);
        if (params.accuracy == 1u) {
            share.x += matches / width;
        } else if (params.accuracy == 2u) {
            share.x += select(0.0, 1.0, best_prediction == best_target);
        }
        share.y += absolute / width;
    }
    return share;
}

// Reduces every lane's (loss share, metric shares) and adds the batch's sums to statistics.
// `loss_share` sums to the batch loss times `loss_scale`. Call from all lanes (has barriers).
fn accumulate(lane: u32, loss_share: f32, loss_scale: f32) {
    partial_sums[lane] = vec3<f32>(loss_share, metric_share(lane));
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        let total = partial_sums[0];
        statistics[params.slot] += total.x * loss_scale;
        statistics[params.slot + 1u] += total.y;
        statistics[params.slot + 2u] += total.z;
    }
}

@compute @workgroup_size(workgroup_size)
fn finish_epoch(@builtin(local_invocation_index) lane: u32) {
    if (lane < 8u) {
        let count = select(params.val_count, params.train_count, lane < 4u);
        epoch_result[lane] = statistics[lane] / f32(max(count, 1u));
        statistics[lane] = 0.0;
    }
}

@compute @workgroup_size(workgroup_size)
fn mean_squared_value(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        let difference = f32(predictions[i] - targets[i]);
        share += difference * difference;
    }
    accumulate(lane, share, 1.0 / f32(params.width));
}

@compute @workgroup_size(workgroup_size)
fn mean_squared_gradient(@builtin(workgroup_id) group: vec3<u32>,
                         @builtin(num_workgroups) groups: vec3<u32>,
                         @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    grad_predictions[i] = {{ dtype }}(2.0 * f32(predictions[i] - targets[i]) / f32(params.count));
}

@compute @workgroup_size(workgroup_size)
fn mean_absolute_value(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        share += abs(f32(predictions[i] - targets[i]));
    }
    accumulate(lane, share, 1.0 / f32(params.width));
}

@compute @workgroup_size(workgroup_size)
fn mean_absolute_gradient(@builtin(workgroup_id) group: vec3<u32>,
                          @builtin(num_workgroups) groups: vec3<u32>,
                          @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    grad_predictions[i] = {{ dtype }}(sign(f32(predictions[i] - targets[i])) / f32(params.count));
}

@compute @workgroup_size(workgroup_size)
fn binary_crossentropy_value(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        let p = clip(f32(predictions[i]));
        let y = f32(targets[i]);
        share -= y * log(p) + (1.0 - y) * log(1.0 - p);
    }
    accumulate(lane, share, 1.0 / f32(params.width));
}

@compute @workgroup_size(workgroup_size)
fn binary_crossentropy_gradient(@builtin(workgroup_id) group: vec3<u32>,
                                @builtin(num_workgroups) groups: vec3<u32>,
                                @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let p = f32(predictions[i]);
    let y = f32(targets[i]);
    let gradient = (p - y) / (p * (1.0 - p)) / f32(params.count);
    grad_predictions[i] = {{ dtype }}(select(0.0, gradient, inside_clip(p)));
}

@compute @workgroup_size(workgroup_size)
fn categorical_crossentropy_value(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        share -= f32(targets[i]) * log(clip(f32(predictions[i])));
    }
    accumulate(lane, share, 1.0);
}

@compute @workgroup_size(workgroup_size)
fn categorical_crossentropy_gradient(@builtin(workgroup_id) group: vec3<u32>,
                                     @builtin(num_workgroups) groups: vec3<u32>,
                                     @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let p = f32(predictions[i]);
    let gradient = -f32(targets[i]) / p / f32(params.batch);
    grad_predictions[i] = {{ dtype }}(select(0.0, gradient, inside_clip(p)));
}

@compute @workgroup_size(workgroup_size)
fn softmax_crossentropy_gradient(@builtin(workgroup_id) group: vec3<u32>,
                                 @builtin(num_workgroups) groups: vec3<u32>,
                                 @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    grad_predictions[i] = {{ dtype }}(f32(predictions[i] - targets[i]) / f32(params.batch));
}
