// engine/tiny_fit.wgsl: many training steps of a tiny Dense model in ONE workgroup, whole epochs
// per dispatch (intricate/engine/tiny.py decides which fits qualify and records the dispatch).
// Every step: gather the batch by the epoch's permutation → each Dense layer's forward with its
// element-wise activation → the loss, metrics and dL/dŷ through the last activation → each
// layer's dW, db and dX (times the derivative of the activation below) → the optimizer's update;
// after an epoch's last step its statistics row goes to the log, as finish_epoch writes it.
// Parameters, gradients, optimizer state and activations live in workgroup memory for the whole
// dispatch (loaded at its start, stored at its end); phases are separated by workgroupBarrier.
//
// Bindings (group 0), by variable name:
//    0 source_x       read        {{ dtype }}  [samples, inputs]   the resident training inputs
//    1 source_y       read        {{ dtype }}  [samples, outputs]  and targets
//    2 orders         read        u32  [epochs, samples]  each epoch's permutation (shuffled only)
//    3 parameters     read_write  {{ accumulate }}  [count]  θ, the model's flat parameters
//    4 gradients      read_write  {{ accumulate }}  [count]  the last step's dL/dθ, stored at the end
//    5 first_moment   read_write  {{ accumulate }}  [count]  velocity / m / Σg² (moments >= 1)
//    6 second_moment  read_write  {{ accumulate }}  [count]  v (moments == 2)
//    7 step_in        read_write  u32  [1]  Adam's updates done (t), kept as optimizers.wgsl
//    8 step_out       read_write  u32  [1]  keeps it, both equal after the dispatch (Adam only)
//    9 statistics     read_write  {{ accumulate }}  [SIZE]  the running sums (ops/statistics.py's
//                                              layout); the TRAINING slot is added to
//   10 epoch_log      read_write  {{ accumulate }}  [epochs, SIZE]  one row of means per epoch
//   11 cursor         read_write  u32  [4]  (next step, steps in this window, first log row, -):
//                                           each dispatch runs the next steps_per_dispatch steps
//                                           of the window and advances word 0
//   12 params         uniform     Params
// Params: samples; batch_size (rows of a full batch); steps_per_epoch; steps_per_dispatch (the
//   loop bound below); shuffled (0: batches in sample order, orders unused); accuracy (losses.wgsl's
//   flags: 1 binary, 2 categorical); mean_factor, full_scale, last_scale (losses.py's mean_factor
//   and gradient_scale for a full and for the epoch's last batch, rounded from float64); the
//   optimizer's hyperparameters, as optimizers.wgsl takes them.
// Template: layers = ((inputs, outputs, kernel offset, bias offset, activation, alpha,
//   inputs_kept), ...) per Dense layer and the activation after it ("identity" for none);
//   parameter_count; batch_size; moments (0-2); optimizer (an optimizer_rules.wgsl rule: sgd,
//   momentum, nesterov, adagrad, adam, adamw); loss (a loss_terms.wgsl function); softmax (a
//   SoftMax after the last layer, whose gradient categorical_crossentropy fuses: the last
//   layer's activation is then "identity"); slot, size (ops/statistics.py's SLOT and SIZE).
// Workgroup `workgroup_size` lanes (1-D), grid (1, 1, 1): one workgroup does everything.
// Loop bound (llvmpipe stops loops after 65535 iterations per invocation, all loops together):
//   a lane iterates at most tiny.py's step_trips per step, plus the loads and stores of the
//   dispatch; steps_per_dispatch keeps the total within intricate/ops/loops.py's LOOP_BOUND.
// NumPy (tests/test_tiny_fit.py's reference): per step, x = X[order[batch]], o_l = f_l(o_{l-1} @
//   W_l + b_l) (the last: softmax with `softmax`); d = dL/dŷ · f'(last) (or (ŷ·Σy - y) / batch); dW_l = o_{l-1}ᵀ d, db_l = d.sum(0),
//   d ← (d @ W_lᵀ) · f'_{l-1}; θ ← rule(θ, g); sums += losses.wgsl's batch sums;
//   epoch end: log[row] = sums / samples (statistics.epoch_means), sums = 0.

struct Params {
    samples: u32,
    batch_size: u32,
    steps_per_epoch: u32,
    steps_per_dispatch: u32,
    shuffled: u32,
    accuracy: u32,
    mean_factor: {{ accumulate }},
    full_scale: {{ accumulate }},
    last_scale: {{ accumulate }},
    learning_rate: {{ accumulate }},
    momentum: {{ accumulate }},
    beta_1: {{ accumulate }},
    beta_2: {{ accumulate }},
    epsilon: {{ accumulate }},
    weight_decay: {{ accumulate }},
    one_minus_beta_1: {{ accumulate }},
    one_minus_beta_2: {{ accumulate }},
    log_beta_1: {{ accumulate }},
    log_beta_2: {{ accumulate }},
}

@group(0) @binding(0) var<storage, read> source_x: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> source_y: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read> orders: array<u32>;
@group(0) @binding(3) var<storage, read_write> parameters: array<{{ accumulate }}>;
@group(0) @binding(4) var<storage, read_write> gradients: array<{{ accumulate }}>;
{% if moments >= 1 %}@group(0) @binding(5) var<storage, read_write> first_moment: array<{{ accumulate }}>;{% endif %}
{% if moments >= 2 %}@group(0) @binding(6) var<storage, read_write> second_moment: array<{{ accumulate }}>;{% endif %}
{% if optimizer in ("adam", "adamw") %}@group(0) @binding(7) var<storage, read_write> step_in: array<u32>;
@group(0) @binding(8) var<storage, read_write> step_out: array<u32>;{% endif %}
@group(0) @binding(9) var<storage, read_write> statistics: array<{{ accumulate }}>;
@group(0) @binding(10) var<storage, read_write> epoch_log: array<{{ accumulate }}>;
@group(0) @binding(11) var<storage, read_write> cursor: array<u32>;
@group(0) @binding(12) var<uniform> params: Params;

override workgroup_size: u32 = 64;
const PARAMETERS: u32 = {{ parameter_count }}u;
const ROWS: u32 = {{ batch_size }}u;
{% set last = layers[-1] %}
const INPUTS: u32 = {{ layers[0][0] }}u;
const OUTPUTS: u32 = {{ last[1] }}u;
const SIZE: u32 = {{ size }}u;  // the statistics layout's (intricate/ops/statistics.py)
const SLOT: u32 = {{ slot }}u;

var<workgroup> theta: array<{{ accumulate }}, PARAMETERS>;
var<workgroup> grad: array<{{ accumulate }}, PARAMETERS>;
{% if moments >= 1 %}var<workgroup> moment_1: array<{{ accumulate }}, PARAMETERS>;{% endif %}
{% if moments >= 2 %}var<workgroup> moment_2: array<{{ accumulate }}, PARAMETERS>;{% endif %}
var<workgroup> batch_inputs: array<{{ accumulate }}, ROWS * INPUTS>;
var<workgroup> batch_targets: array<{{ accumulate }}, ROWS * OUTPUTS>;
{% for ins, outs, kernel_at, bias_at, activation, alpha, inputs_kept in layers %}
// layer {{ loop.index0 }}: x (kept when its activation's derivative reads it), o = f(x), dE/dx
var<workgroup> pre_{{ loop.index0 }}: array<{{ accumulate }}, {{ outs * batch_size if inputs_kept else 1 }}u>;
var<workgroup> out_{{ loop.index0 }}: array<{{ accumulate }}, {{ outs * batch_size }}u>;
var<workgroup> delta_{{ loop.index0 }}: array<{{ accumulate }}, {{ outs * batch_size }}u>;
{% endfor %}
var<workgroup> header: array<u32, 4>;

// The optimizer's update of parameter i from grad[i] (Adam's t: updates done, this one counted).
fn update(i: u32, t: u32) {
{% if optimizer == "sgd" %}
    theta[i] = sgd_rule(theta[i], grad[i]);
{% elif optimizer in ("momentum", "nesterov", "adagrad") %}
    let updated = {{ optimizer }}_rule(theta[i], grad[i], moment_1[i]);
    theta[i] = updated.x;
    moment_1[i] = updated.y;
{% else %}
    let updated = adam_rule(theta[i], grad[i], moment_1[i], moment_2[i], {{ accumulate }}(t),
                            {{ "params.learning_rate * params.weight_decay" if optimizer == "adamw" else "0.0" }});
    theta[i] = updated.x;
    moment_1[i] = updated.y;
    moment_2[i] = updated.z;
{% endif %}
}

@compute @workgroup_size(workgroup_size)
fn train(@builtin(local_invocation_index) lane: u32) {
    for (var i = lane; i < PARAMETERS; i += workgroup_size) {
        theta[i] = parameters[i];
{%- if moments >= 1 %}
        moment_1[i] = first_moment[i];
{%- endif %}
{%- if moments >= 2 %}
        moment_2[i] = second_moment[i];
{%- endif %}
    }
    if (lane == 0u) {
        header = array<u32, 4>(cursor[0], cursor[1], cursor[2],
                               {{ "step_in[0]" if optimizer in ("adam", "adamw") else "0u" }});
    }
    let words = workgroupUniformLoad(&header);  // a barrier: theta is loaded too
    let first = words[0];
    let end = min(words[1], first + params.steps_per_dispatch);
    var t = words[3];
    // The running sums, lane 0's (the others' stay unused).
    var sums = vec4<{{ accumulate }}>(0.0);
    if (lane == 0u) {
        sums = vec4<{{ accumulate }}>(statistics[0], statistics[1], statistics[2], statistics[3]);
    }
    for (var step = first; step < end; step++) {
        let epoch = step / params.steps_per_epoch;
        let batch = step % params.steps_per_epoch;
        let start = batch * params.batch_size;
        let rows = min(params.batch_size, params.samples - start);
        let order_at = epoch * params.samples + start;
        // Gather: batch row r is sample orders[epoch, start + r] (start + r unshuffled).
        for (var e = lane; e < rows * INPUTS; e += workgroup_size) {
            let r = e / INPUTS;
            let sample = select(start + r, orders[order_at + r], params.shuffled != 0u);
            batch_inputs[e] = {{ accumulate }}(source_x[sample * INPUTS + e % INPUTS]);
        }
        for (var e = lane; e < rows * OUTPUTS; e += workgroup_size) {
            let r = e / OUTPUTS;
            let sample = select(start + r, orders[order_at + r], params.shuffled != 0u);
            batch_targets[e] = {{ accumulate }}(source_y[sample * OUTPUTS + e % OUTPUTS]);
        }
        workgroupBarrier();
{% for ins, outs, kernel_at, bias_at, activation, alpha, inputs_kept in layers %}
{% set source = "batch_inputs" if loop.first else "out_" ~ (loop.index0 - 1) %}
        // layer {{ loop.index0 }} forward: o = f(x·W + b)
        for (var e = lane; e < rows * {{ outs }}u; e += workgroup_size) {
            let r = e / {{ outs }}u;
            let j = e % {{ outs }}u;
            var acc: {{ accumulate }} = 0.0;
            for (var k = 0u; k < {{ ins }}u; k++) {
                acc += {{ source }}[r * {{ ins }}u + k] * theta[{{ kernel_at }}u + k * {{ outs }}u + j];
            }
            let x = acc + theta[{{ bias_at }}u + j];
{%- if inputs_kept %}
            pre_{{ loop.index0 }}[e] = x;
{%- endif %}
            out_{{ loop.index0 }}[e] = {{ activation }}(x, {{ alpha }});
        }
        workgroupBarrier();
{% endfor %}
{% set top = layers | length - 1 %}
{% if softmax %}
        // SoftMax over each row of the logits, in place, a row per lane (layers/softmax.wgsl's
        // forward): o_j = exp(x_j - max x) / Σ_k exp(x_k - max x).
        for (var r = lane; r < rows; r += workgroup_size) {
            let start = r * OUTPUTS;
            var largest = out_{{ top }}[start];
            for (var j = 1u; j < OUTPUTS; j++) {
                largest = max(largest, out_{{ top }}[start + j]);
            }
            var total: {{ accumulate }} = 0.0;
            for (var j = 0u; j < OUTPUTS; j++) {
                let e = exponential(out_{{ top }}[start + j] - largest);
                out_{{ top }}[start + j] = e;
                total += e;
            }
            for (var j = 0u; j < OUTPUTS; j++) {
                out_{{ top }}[start + j] = out_{{ top }}[start + j] / total;
            }
        }
        workgroupBarrier();
{% endif %}
        // The loss: the batch's sums (as losses.wgsl's group_sums) and dE/dx of the last layer.
        let scale = select(params.full_scale, params.last_scale, batch + 1u == params.steps_per_epoch);
        var share = vec4<{{ accumulate }}>(0.0);
        for (var e = lane; e < rows * OUTPUTS; e += workgroup_size) {
            let p = out_{{ top }}[e];
            let y = batch_targets[e];
            let terms = {{ loss }}(p, y);
            share.x += terms.x;
            share.y += select({{ accumulate }}(0.0), 1.0, select({{ accumulate }}(0.0), 1.0, p > 0.5) == y);
            share.z += abs(p - y);
{% if softmax %}
            // Through the SoftMax (losses.wgsl's softmax_statistics_and_gradient): (ŷ·Σy - y)
            // with Σy the row's target sum, times 1 / batch.
            let row_start = (e / OUTPUTS) * OUTPUTS;
            var target_sum: {{ accumulate }} = 0.0;
            for (var j = 0u; j < OUTPUTS; j++) {
                target_sum += batch_targets[row_start + j];
            }
            delta_{{ top }}[e] = softmax_crossentropy(p, y, target_sum).y * scale;
{% else %}
            let x = {{ "pre_" ~ top ~ "[e]" if last[6] else "p" }};
            delta_{{ top }}[e] = terms.y * scale * {{ last[4] }}_derivative(x, p, {{ last[5] }});
{% endif %}
        }
        share = vec4<{{ accumulate }}>(share.x * params.mean_factor, share.yz / {{ accumulate }}(OUTPUTS), 0.0);
        share.y = select(0.0, share.y, (params.accuracy & 1u) != 0u);
        if ((params.accuracy & 2u) != 0u) {  // argmax ŷ == argmax y, a row per lane
            for (var r = lane; r < rows; r += workgroup_size) {
                var best_prediction = 0u;
                var best_target = 0u;
                for (var j = 1u; j < OUTPUTS; j++) {
                    if (out_{{ top }}[r * OUTPUTS + j] > out_{{ top }}[r * OUTPUTS + best_prediction]) { best_prediction = j; }
                    if (batch_targets[r * OUTPUTS + j] > batch_targets[r * OUTPUTS + best_target]) { best_target = j; }
                }
                share.w += select({{ accumulate }}(0.0), 1.0, best_prediction == best_target);
            }
        }
        let total = reduce(lane, share);  // its barriers also end the loss phase
        sums += total;
{% for i in range(top, -1, -1) %}
{% set ins, outs, kernel_at, bias_at = layers[i][0], layers[i][1], layers[i][2], layers[i][3] %}
{% set source = "batch_inputs" if i == 0 else "out_" ~ (i - 1) %}
        // layer {{ i }} backward: dW = xᵀ·d, db = Σ d{% if i > 0 %}, and the layer below's d = (d·Wᵀ) f'{% endif %}
        for (var e = lane; e < {{ ins * outs + outs }}u; e += workgroup_size) {
            var acc: {{ accumulate }} = 0.0;
            if (e < {{ ins * outs }}u) {
                let k = e / {{ outs }}u;
                let j = e % {{ outs }}u;
                for (var r = 0u; r < rows; r++) {
                    acc += {{ source }}[r * {{ ins }}u + k] * delta_{{ i }}[r * {{ outs }}u + j];
                }
                grad[{{ kernel_at }}u + e] = acc;
            } else {
                let j = e - {{ ins * outs }}u;
                for (var r = 0u; r < rows; r++) {
                    acc += delta_{{ i }}[r * {{ outs }}u + j];
                }
                grad[{{ bias_at }}u + j] = acc;
            }
        }
{% if i > 0 %}
        for (var e = lane; e < rows * {{ ins }}u; e += workgroup_size) {
            let r = e / {{ ins }}u;
            let k = e % {{ ins }}u;
            var acc: {{ accumulate }} = 0.0;
            for (var j = 0u; j < {{ outs }}u; j++) {
                acc += delta_{{ i }}[r * {{ outs }}u + j] * theta[{{ kernel_at }}u + k * {{ outs }}u + j];
            }
            let o = out_{{ i - 1 }}[e];
            let x = {{ "pre_" ~ (i - 1) ~ "[e]" if layers[i - 1][6] else "o" }};
            delta_{{ i - 1 }}[e] = acc * {{ layers[i - 1][4] }}_derivative(x, o, {{ layers[i - 1][5] }});
        }
{% endif %}
        workgroupBarrier();
{% endfor %}
        t += 1u;
        for (var i = lane; i < PARAMETERS; i += workgroup_size) {
            update(i, t);
        }
        workgroupBarrier();
        if (batch + 1u == params.steps_per_epoch && lane == 0u) {
            // statistics.epoch_means: the TRAINING slot over the samples, no validation (0 / 1),
            // no loss scaling; then the sums start again.
            let row = (words[2] + epoch) * SIZE;
            let count = {{ accumulate }}(max(params.samples, 1u));
            epoch_log[row] = sums.x / count;
            epoch_log[row + 1u] = sums.y / count;
            epoch_log[row + 2u] = sums.z / count;
            epoch_log[row + 3u] = sums.w / count;
            for (var f = SLOT; f < SIZE; f++) {
                epoch_log[row + f] = 0.0;
            }
            sums = vec4<{{ accumulate }}>(0.0);
        }
    }
    for (var i = lane; i < PARAMETERS; i += workgroup_size) {
        parameters[i] = theta[i];
        gradients[i] = grad[i];
{%- if moments >= 1 %}
        first_moment[i] = moment_1[i];
{%- endif %}
{%- if moments >= 2 %}
        second_moment[i] = moment_2[i];
{%- endif %}
    }
    if (lane == 0u) {
        statistics[0] = sums.x;
        statistics[1] = sums.y;
        statistics[2] = sums.z;
        statistics[3] = sums.w;
        cursor[0] = end;
{%- if optimizer in ("adam", "adamw") %}
        step_in[0] = t;
        step_out[0] = t;
{%- endif %}
    }
}

{% include "loss_terms.wgsl" %}
{% include "workgroup_sum.wgsl" %}
{% include "optimizer_rules.wgsl" %}
{% include "layers/activations.wgsl" %}
