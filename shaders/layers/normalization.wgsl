// layers/normalization.wgsl: BatchNormalization over the channels (the last axis) of x viewed as
// [rows, channels] (rows = batch · H · W for NHWC images, batch for flat data), forward beside
// backward. A training step normalises with the batch's statistics and updates the moving ones;
// inference normalises with the moving ones. Every sum over rows is split in parts of at most
// part_rows rows (a value per part and channel), then the parts are reduced by one workgroup
// per channel, so no invocation loops over more than part_rows rows or parts / workgroup_size
// parts, however many rows there are.
//
// Bindings (group 0), by variable name:
//   0 inputs           read        {{ dtype }}       [rows, channels]  x
//   1 grad_outputs     read        {{ dtype }}       [rows, channels]  dE/dy
//   2 gamma            read        {{ dtype }}       [channels]  (scale only)
//   3 beta             read        {{ dtype }}       [channels]  (center only)
//   4 mean             read_write  {{ accumulate }}  [channels]  the batch's (training) or the
//                                                    moving mean (inference: read only)
//   5 variance         read_write  {{ accumulate }}  [channels]  likewise, biased variance
//   6 moving_mean      read_write  {{ accumulate }}  [channels]  state, updated by a training step
//   7 moving_variance  read_write  {{ accumulate }}  [channels]  state, likewise
//   8 partial_first    read_write  {{ accumulate }}  [parts, channels]  each part's mean (forward)
//                                                    or Σ dE/dy (backward)
//   9 partial_second   read_write  {{ accumulate }}  [parts, channels]  each part's Σ (x - its
//                                                    mean)² (forward) or Σ dE/dy · x̂ (backward)
//  10 channel_sums     read_write  {{ accumulate }}  [2, channels]  Σ dE/dy, Σ dE/dy · x̂
//  11 outputs          read_write  {{ dtype }}       [rows, channels]  y, or f(y) with a
//                                                    fused activation f
//  12 grad_inputs      read_write  {{ dtype }}       [rows, channels]  dE/dx, or dE/dx · g'
//                                                    with the activation g below fused
//  16 pre_activations  read_write  {{ dtype }}       [rows, channels]  y (inputs_kept only)
//  17 activation_inputs  read      {{ dtype }}       [rows, channels]  g's inputs, whose
//                                                    outputs are x (derivative_reads_inputs)
//  13 grad_gamma       read_write  {{ accumulate }}  [channels]  (scale only)
//  14 grad_beta        read_write  {{ accumulate }}  [channels]  (center only)
//  15 params           uniform     Params
// Params: rows, channels, part_rows (rows per part), parts = ceil(rows / part_rows), count =
//   rows · channels, through_batch (1: the forward normalised by the batch's statistics, and
//   dE/dx flows through them; 0: by the moving ones, constants), epsilon, momentum
//   ({{ accumulate }}).
// Template: scale (gamma exists), center (beta exists); activation, the element-wise activation
//   normalize applies as it stores (intricate/engine/plan.py fuses the one after the layer;
//   "identity" alone), inputs_kept (its derivative reads y: stored too); derivative, the
//   activation below the layer whose derivative grad_inputs_of applies ("identity" alone),
//   derivative_reads_inputs (it reads that activation's inputs). Formulas from
//   layers/activations.wgsl, alpha in Params.
// Entries, in a training step's order; workgroup `workgroup_size` (1-D: 256 for the part and
//   element kernels, 64 for the merges, as intricate/layers/normalization.py dispatches them),
//   grids folded over x and y:
//   statistics_parts  an invocation per (part, channel): the part's mean, then Σ (x - mean)²;
//                     loops 2 · part_rows times.
//   statistics        a workgroup per channel: Chan's merge of the parts into the batch mean
//                     and biased variance (no E[x²] - E[x]² cancellation), and the moving
//                     statistics' update; each lane loops 2 · ceil(parts / workgroup_size) +
//                     2 · log2(workgroup_size) times.
//   normalize         an invocation per element (training and inference); no loop.
//   gradient_parts    an invocation per (part, channel): Σ dE/dy and Σ dE/dy · x̂ over the part;
//                     loops part_rows times.
//   gradient_sums     a workgroup per channel: the parts' sums, dE/dgamma = Σ dE/dy · x̂ and
//                     dE/dbeta = Σ dE/dy; loops as statistics does.
//   grad_inputs_of    an invocation per element; no loop.
// The backward differentiates the forward that was recorded: after an inference forward (mean
//   and variance bound to the moving statistics) the same entries give dE/dgamma, dE/dbeta and,
//   with through_batch 0, dE/dx = gamma / sqrt(variance + eps) · dE/dy.
// Types: every statistic and sum is {{ accumulate }} (f32 for mixed_float16's f16 data); y and
//   dE/dx are rounded to {{ dtype }} once, as stored.
// NumPy (x, dy [rows, channels]): mean = x.mean(0); variance = ((x - mean)**2).mean(0);
//   moving = momentum · moving + (1 - momentum) · batch; x̂ = (x - mean) / sqrt(variance + eps);
//   y = gamma · x̂ + beta; dgamma = (dy · x̂).sum(0); dbeta = dy.sum(0);
//   dx = gamma / sqrt(variance + eps) · (dy - dy.mean(0) - x̂ · (dy · x̂).mean(0)).

struct Params {
    rows: u32,
    channels: u32,
    part_rows: u32,
    parts: u32,
    count: u32,
    through_batch: u32,
    epsilon: {{ accumulate }},
    momentum: {{ accumulate }},
    alpha: {{ accumulate }},
}

@group(0) @binding(0) var<storage, read> inputs: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<{{ dtype }}>;
{% if scale %}
@group(0) @binding(2) var<storage, read> gamma: array<{{ dtype }}>;
@group(0) @binding(13) var<storage, read_write> grad_gamma: array<{{ accumulate }}>;
{% endif %}
{% if center %}
@group(0) @binding(3) var<storage, read> beta: array<{{ dtype }}>;
@group(0) @binding(14) var<storage, read_write> grad_beta: array<{{ accumulate }}>;
{% endif %}
@group(0) @binding(4) var<storage, read_write> mean: array<{{ accumulate }}>;
@group(0) @binding(5) var<storage, read_write> variance: array<{{ accumulate }}>;
@group(0) @binding(6) var<storage, read_write> moving_mean: array<{{ accumulate }}>;
@group(0) @binding(7) var<storage, read_write> moving_variance: array<{{ accumulate }}>;
@group(0) @binding(8) var<storage, read_write> partial_first: array<{{ accumulate }}>;
@group(0) @binding(9) var<storage, read_write> partial_second: array<{{ accumulate }}>;
@group(0) @binding(10) var<storage, read_write> channel_sums: array<{{ accumulate }}>;
@group(0) @binding(11) var<storage, read_write> outputs: array<{{ dtype }}>;
@group(0) @binding(12) var<storage, read_write> grad_inputs: array<{{ dtype }}>;
@group(0) @binding(15) var<uniform> params: Params;
{% if inputs_kept %}
@group(0) @binding(16) var<storage, read_write> pre_activations: array<{{ dtype }}>;
{% endif %}
{% if derivative_reads_inputs %}
@group(0) @binding(17) var<storage, read> activation_inputs: array<{{ dtype }}>;
{% endif %}

override workgroup_size: u32 = 256;
var<workgroup> lane_sums: array<{{ accumulate }}, workgroup_size>;

// Rows [first, first + count) of part `part`: every part holds part_rows but the last.
fn part_span(part: u32) -> vec2<u32> {
    let first = part * params.part_rows;
    return vec2<u32>(first, min(params.part_rows, params.rows - first));
}

fn scale_of(channel: u32) -> {{ accumulate }} {
{% if scale %}
    return {{ accumulate }}(gamma[channel]);
{% else %}
    return 1.0;
{% endif %}
}

fn shift_of(channel: u32) -> {{ accumulate }} {
{% if center %}
    return {{ accumulate }}(beta[channel]);
{% else %}
    return 0.0;
{% endif %}
}

// 1 / sqrt(variance + eps): f32's inverseSqrt (2 ulps; a third cheaper than 1 / sqrt on lavapipe),
// f64's from its sqrt, as optimizers.wgsl takes it.
fn inverse_std(channel: u32) -> {{ accumulate }} {
{% if accumulate == "f64" %}
    return 1.0 / sqrt(variance[channel] + params.epsilon);
{% else %}
    return inverseSqrt(variance[channel] + params.epsilon);
{% endif %}
}

// The workgroup's sum of every lane's value, returned to every lane (has barriers: call from
// all lanes).
fn workgroup_sum(lane: u32, value: {{ accumulate }}) -> {{ accumulate }} {
    lane_sums[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            lane_sums[lane] += lane_sums[lane + stride];
        }
        workgroupBarrier();
    }
    let total = lane_sums[0];
    workgroupBarrier();  // every lane has read it before the next sum writes
    return total;
}

// A merge's workgroup: its channel and the parts it merges (uniform), none for a workgroup past
// the last channel (folded grid).
fn merged_channel(group: vec3<u32>, groups: vec3<u32>) -> vec2<u32> {
    let channel = group.x + group.y * groups.x;
    return vec2<u32>(channel, select(0u, params.parts, channel < params.channels));
}

// x̂ of element `at` of `channel`: (x - mean) / sqrt(variance + eps).
fn normalized(at: u32, channel: u32) -> {{ accumulate }} {
    return ({{ accumulate }}(inputs[at]) - mean[channel]) * inverse_std(channel);
}

@compute @workgroup_size(workgroup_size)
fn statistics_parts(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.parts * params.channels) { return; }
    let channel = i % params.channels;
    let span = part_span(i / params.channels);
    var total: {{ accumulate }} = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        total += {{ accumulate }}(inputs[row * params.channels + channel]);
    }
    let part_mean = total / {{ accumulate }}(span.y);
    var squares: {{ accumulate }} = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        let centered = {{ accumulate }}(inputs[row * params.channels + channel]) - part_mean;
        squares += centered * centered;
    }
    partial_first[i] = part_mean;
    partial_second[i] = squares;
}

@compute @workgroup_size(workgroup_size)
fn statistics(@builtin(workgroup_id) group: vec3<u32>,
              @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lane: u32) {
    let merged = merged_channel(group, groups);
    let channel = merged.x;
    let parts = merged.y;
    var weighted: {{ accumulate }} = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        let rows = {{ accumulate }}(part_span(part).y);
        weighted += rows * partial_first[part * params.channels + channel];
    }
    let batch_mean = workgroup_sum(lane, weighted) / {{ accumulate }}(params.rows);
    var squares: {{ accumulate }} = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        let at = part * params.channels + channel;
        let offset = partial_first[at] - batch_mean;
        squares += partial_second[at] + {{ accumulate }}(part_span(part).y) * offset * offset;
    }
    let batch_variance = workgroup_sum(lane, squares) / {{ accumulate }}(params.rows);
    if (lane == 0u && parts > 0u) {
        mean[channel] = batch_mean;
        variance[channel] = batch_variance;
        let keep = params.momentum;
        moving_mean[channel] = keep * moving_mean[channel] + (1.0 - keep) * batch_mean;
        moving_variance[channel] = keep * moving_variance[channel] + (1.0 - keep) * batch_variance;
    }
}

@compute @workgroup_size(workgroup_size)
fn normalize(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    let value = scale_of(channel) * normalized(i, channel) + shift_of(channel);
{% if inputs_kept %}
    pre_activations[i] = {{ dtype }}(value);
{% endif %}
    outputs[i] = {{ dtype }}({{ activation }}(value, params.alpha));
}

@compute @workgroup_size(workgroup_size)
fn gradient_parts(@builtin(workgroup_id) group: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.parts * params.channels) { return; }
    let channel = i % params.channels;
    let span = part_span(i / params.channels);
    let centre = mean[channel];
    let spread = inverse_std(channel);
    var gradients: {{ accumulate }} = 0.0;
    var products: {{ accumulate }} = 0.0;
    for (var row = span.x; row < span.x + span.y; row++) {
        let at = row * params.channels + channel;
        let gradient = {{ accumulate }}(grad_outputs[at]);
        gradients += gradient;
        products += gradient * ({{ accumulate }}(inputs[at]) - centre) * spread;
    }
    partial_first[i] = gradients;
    partial_second[i] = products;
}

@compute @workgroup_size(workgroup_size)
fn gradient_sums(@builtin(workgroup_id) group: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let merged = merged_channel(group, groups);
    let channel = merged.x;
    let parts = merged.y;
    var gradients: {{ accumulate }} = 0.0;
    var products: {{ accumulate }} = 0.0;
    for (var part = lane; part < parts; part += workgroup_size) {
        gradients += partial_first[part * params.channels + channel];
        products += partial_second[part * params.channels + channel];
    }
    gradients = workgroup_sum(lane, gradients);
    products = workgroup_sum(lane, products);
    if (lane == 0u && parts > 0u) {
        channel_sums[channel] = gradients;
        channel_sums[params.channels + channel] = products;
{% if scale %}
        grad_gamma[channel] = products;
{% endif %}
{% if center %}
        grad_beta[channel] = gradients;
{% endif %}
    }
}

@compute @workgroup_size(workgroup_size)
fn grad_inputs_of(@builtin(workgroup_id) group: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    // The batch statistics' share: 0 after an inference forward, whose statistics are constants.
    let share = {{ accumulate }}(params.through_batch) / {{ accumulate }}(params.rows);
    let mean_gradient = channel_sums[channel] * share;
    let mean_product = channel_sums[params.channels + channel] * share;
    let gradient = {{ accumulate }}(grad_outputs[i]);
    let below = {{ accumulate }}(inputs[i]);  // the outputs of the activation below, if fused
{% if derivative_reads_inputs %}
    let before = {{ accumulate }}(activation_inputs[i]);
{% else %}
    let before = below;  // its derivative reads only its outputs
{% endif %}
    grad_inputs[i] = {{ dtype }}(scale_of(channel) * inverse_std(channel)
        * (gradient - mean_gradient - normalized(i, channel) * mean_product)
        * {{ derivative }}_derivative(before, below, params.alpha));
}

{% include "layers/activations.wgsl" %}
{% include "gpu/grid.wgsl" %}
