// losses.wgsl: per-batch loss and metrics summed on the GPU, and the loss → output gradient,
// for the loss named by the template key `loss` (one of the element functions below).
//
// Bindings (group 0), by variable name:
//   0 predictions       read        {{ dtype }}  [batch, width]  the model's outputs ŷ
//   1 targets           read        {{ dtype }}  [batch, width]  the expected outputs y
//   2 grad_predictions  read_write  {{ dtype }}  [batch, width]  dL/dŷ (gradient entries)
//   3 statistics        read_write  {{ accumulate }}  [8]       running sums, laid out as
//                                                     intricate/ops/statistics.py says
//   4 params            uniform     Params
//   5 partials          read_write  {{ accumulate }}  [groups, 4]  each workgroup's sums
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
    mean_factor: {{ accumulate }},
    gradient_scale: {{ accumulate }},
    rows_per_group: u32,
    groups: u32,
    cooperative: u32,
}

@group(0) @binding(0) var<storage, read> predictions: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> targets: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> grad_predictions: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> statistics: array<{{ accumulate }}>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<{{ accumulate }}>>;
{% if dtype == "f16" %}@group(0) @binding(6) var<storage, read> loss_scaling: array<u32>;{% endif %}

override workgroup_size: u32 = 256;
var<workgroup> best_values: array<vec2<{{ accumulate }}>, workgroup_size>;  // (ŷ, y) maxima of a row
var<workgroup> best_indices: array<vec2<u32>, workgroup_size>;  // and where they are

// What turns a gradient term into the dL/dŷ stored: gradient_scale, times the loss scale in
// mixed_float16 training (so small gradients survive f16; the optimizer divides it out).
fn gradient_factor() -> {{ accumulate }} {
    return params.gradient_scale{% if dtype == "f16" %} * bitcast<f32>(loss_scaling[0]){% endif %};
}

// The categorical-correct rows among rows [first, end): a row per lane.
fn categorical_by_lanes(lane: u32, first: u32, end: u32) -> {{ accumulate }} {
    var correct: {{ accumulate }} = 0.0;
    for (var row = first + lane; row < end; row += workgroup_size) {
        let start = row * params.width;
        var best_prediction = start;
        var best_target = start;
        for (var i = start + 1u; i < start + params.width; i++) {
            if ({{ accumulate }}(predictions[i]) > {{ accumulate }}(predictions[best_prediction])) { best_prediction = i; }
            if ({{ accumulate }}(targets[i]) > {{ accumulate }}(targets[best_target])) { best_target = i; }
        }
        correct += select({{ accumulate }}(0.0), 1.0, best_prediction == best_target);
    }
    return correct;
}

// The same, the whole workgroup per row (first maximum on ties, as the row-per-lane scan).
// Call from all lanes with uniform first and end (has barriers); the count is lane 0's.
fn categorical_by_workgroup(lane: u32, first: u32, end: u32) -> {{ accumulate }} {
    var correct: {{ accumulate }} = 0.0;
    for (var row = first; row < end; row++) {
        let start = row * params.width;
        var best = vec2<{{ accumulate }}>({{ accumulate }}(predictions[start]), {{ accumulate }}(targets[start]));
        var at = vec2<u32>(0u);
        for (var j = lane; j < params.width; j += workgroup_size) {
            let value = vec2<{{ accumulate }}>({{ accumulate }}(predictions[start + j]), {{ accumulate }}(targets[start + j]));
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
        correct += select({{ accumulate }}(0.0), 1.0, best_indices[0].x == best_indices[0].y);
        workgroupBarrier();  // before the next row overwrites them
    }
    return correct;
}

fn add_to_statistics(total: vec4<{{ accumulate }}>) {
    statistics[params.slot] += total.x;
    statistics[params.slot + 1u] += total.y;
    statistics[params.slot + 2u] += total.z;
    statistics[params.slot + 3u] += total.w;
}

{% macro group_sums(name, gradient) %}
// Workgroup `group`'s statistics sums over its rows, the total lane 0's
{%- if gradient %}; also dL/dŷ{% endif %}.
fn {{ name }}(group: u32, lane: u32) -> vec4<{{ accumulate }}> {
    let first = min(group * params.rows_per_group, params.batch);
    let end = min(first + params.rows_per_group, params.batch);
    var share = vec4<{{ accumulate }}>(0.0);
    for (var i = first * params.width + lane; i < end * params.width; i += workgroup_size) {
        let p = {{ accumulate }}(predictions[i]);
        let y = {{ accumulate }}(targets[i]);
        let terms = {{ loss }}(p, y);
        share.x += terms.x;
        share.y += select({{ accumulate }}(0.0), 1.0, select({{ accumulate }}(0.0), 1.0, p > 0.5) == y);
        share.z += abs(p - y);
{%- if gradient %}
        grad_predictions[i] = {{ dtype }}(terms.y * gradient_factor());
{%- endif %}
    }
    share = vec4<{{ accumulate }}>(share.x * params.mean_factor, share.yz / {{ accumulate }}(params.width), 0.0);
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
{% endmacro %}
{{ group_sums("group_sums", False) }}
{{ group_sums("group_sums_and_gradient", True) }}
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
    var share = vec4<{{ accumulate }}>(0.0);
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
        var target_sum: {{ accumulate }} = 0.0;
        for (var i = start; i < start + params.width; i++) {
            target_sum += {{ accumulate }}(targets[i]);
        }
        for (var i = start; i < start + params.width; i++) {
            let terms = softmax_crossentropy({{ accumulate }}(predictions[i]), {{ accumulate }}(targets[i]), target_sum);
            grad_predictions[i] = {{ dtype }}(terms.y * gradient_factor());
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
    var target_sum: {{ accumulate }} = 0.0;
    if (row < params.batch) {
        for (var j = lane; j < params.width; j += workgroup_size) {
            target_sum += {{ accumulate }}(targets[start + j]);
        }
    }
    let total = reduce(lane, vec4<{{ accumulate }}>(target_sum, 0.0, 0.0, 0.0)).x;
    if (row >= params.batch) { return; }
    for (var j = lane; j < params.width; j += workgroup_size) {
        let i = start + j;
        let terms = softmax_crossentropy({{ accumulate }}(predictions[i]), {{ accumulate }}(targets[i]), total);
        grad_predictions[i] = {{ dtype }}(terms.y * gradient_factor());
    }
}

{% include "loss_terms.wgsl" %}
{% include "workgroup_sum.wgsl" %}
{% include "gpu/math.wgsl" %}
