// losses.wgsl: loss values (reduced on the GPU) and loss → output gradients, per loss.
//
// Bindings (group 0), by variable name:
//   0 predictions       read        {{ dtype }}  [batch, width]  the model's outputs ŷ
//   1 targets           read        {{ dtype }}  [batch, width]  the expected outputs y
//   2 grad_predictions  read_write  {{ dtype }}  [batch, width]  *_gradient: dL/dŷ
//   3 loss              read_write  f32          [1]             *_value: the scalar loss L
//   4 params            uniform     Params
// Params: count = batch * width, batch = rows (the mean over samples divides by it).
// *_value: ONE workgroup of `workgroup_size` (a power of two) invocations, grid (1, 1, 1):
//   each lane sums a strided share, then a tree reduction in workgroup memory.
// *_gradient: one invocation per element, workgroup `workgroup_size`, grid folded over x and y.
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
}

@group(0) @binding(0) var<storage, read> predictions: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> targets: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> grad_predictions: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

const EPSILON: f32 = 1e-7;
override workgroup_size: u32 = 256;
var<workgroup> partial_sums: array<f32, workgroup_size>;

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

fn clip(p: f32) -> f32 {
    return clamp(p, EPSILON, 1.0 - EPSILON);
}

fn inside_clip(p: f32) -> bool {
    return p >= EPSILON && p <= 1.0 - EPSILON;
}

// Sums every lane's share into loss[0] = total / divisor. Call from all lanes (has barriers).
fn store_reduced(lane: u32, share: f32, divisor: f32) {
    partial_sums[lane] = share;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        loss[0] = partial_sums[0] / divisor;
    }
}

@compute @workgroup_size(workgroup_size)
fn mean_squared_value(@builtin(local_invocation_index) lane: u32) {
    var share = 0.0;
    for (var i = lane; i < params.count; i += workgroup_size) {
        let difference = f32(predictions[i] - targets[i]);
        share += difference * difference;
    }
    store_reduced(lane, share, f32(params.count));
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
    store_reduced(lane, share, f32(params.count));
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
    store_reduced(lane, share, f32(params.count));
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
    store_reduced(lane, share, f32(params.batch));
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
