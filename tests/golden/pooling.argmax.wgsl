// layers/pooling.wgsl: 2-D pooling of NHWC images, forward beside backward: MaxPool2D,
// AvgPool2D and GlobalAveragePooling2D (intricate/layers/pooling.py). GlobalAveragePooling2D is
// an average pool whose one window is the whole image: average_forward and average_backward
// serve it, and images whose one-window loop would pass LOOP_BOUND sum in two passes
// (global_partial_sums, then global_average) so that no invocation loops past the bound.
//
// Bindings (group 0), by variable name (each entry binds the ones it uses):
//   0 inputs        read        f32        [batch, height * width * channels]  forwards
//   1 grad_outputs  read        f32        [batch, out_height * out_width * channels]
//   2 outputs       read_write  f32        [batch, out_height * out_width * channels]
//   3 argmax        read_write  u32                [batch, out_height * out_width * channels]
//                   max_forward writes it when the template value `argmax` is true (training),
//                   max_backward reads it: the cell h * width + w of each window's maximum.
//   4 grad_inputs   read_write  f32        [batch, height * width * channels]  backwards
//   5 partials      read_write  f32   [batch, parts * channels]  global_* only
//   6 params        uniform     Params
// Params: count = the invocations' elements (outputs for the forwards, inputs for the
//   backwards, batch * parts * channels for global_partial_sums, batch * channels for
//   global_average); the input's height, width, channels; out_height, out_width; the window's
//   pool_height, pool_width, stride_height, stride_width; pad_top, pad_left: the padding above
//   and left of the image (TF's "same" puts an odd cell of padding at the bottom/right: half
//   the total rounded down goes first; PyTorch's int padding is as wide below and right as
//   above and left); parts and part_cells (the global
//   average's partial sums per channel, of part_cells cells each; 0 elsewhere); count_padding
//   (1: average_* divide by the window's cells inside the padded image, PyTorch's
//   count_include_pad, the padding as wide below/right as above/left; 0: by its real cells).
// Template: argmax (max_forward keeps each window's argmax for max_backward).
// Workgroup `workgroup_size` (1-D); one invocation per element of count, grid folded over x and y.
// Loop bound (llvmpipe stops loops after 65535 iterations per invocation, all loops counted):
//   the forwards loop pool_height · (pool_width + 1) times (a window's rows, then its cells),
//   the backwards at most as often (over the windows that hold a cell); layers/pooling.py
//   refuses windows past LOOP_BOUND that way, and averages a whole image past it in parts:
//   global_partial_sums loops part_cells <= LOOP_BOUND times, global_average parts times.
// Padding cells take no part: a max ignores them, an average divides by the real cells only
//   (Keras/TF) unless count_padding; every window holds at least one real cell.
// Types: maxima are compared and averages summed in f32 (f32 for f16 data), each
//   result rounded to f32 once, as stored.
// NumPy (x: [batch, height, width, channels], windows over axes 1 and 2):
//   max_forward      y = x[window].max(), argmax = the first maximal cell in row-major order
//                    (the first NaN if the window holds one: NaN propagates, as in PyTorch)
//   max_backward     dx[cell] = Σ over the windows whose argmax is cell of dy[window]
//   average_forward  y = x[window].sum() / divisor(window): its real cells (count_padding:
//                    its cells inside the padded image)
//   average_backward dx[cell] = Σ over the windows holding cell of dy[window] / divisor(window)
//   global_*         y[n, c] = x[n, :, :, c].mean()

struct Params {
    count: u32,
    height: u32,
    width: u32,
    channels: u32,
    out_height: u32,
    out_width: u32,
    pool_height: u32,
    pool_width: u32,
    stride_height: u32,
    stride_width: u32,
    pad_top: u32,
    pad_left: u32,
    parts: u32,
    part_cells: u32,
    count_padding: u32,
}

@group(0) @binding(0) var<storage, read> inputs: array<f32>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> outputs: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad_inputs: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

override workgroup_size: u32 = 256;

// A window's real cells: rows [first.x, end.x) and columns [first.y, end.y) of the image.
struct Window {
    first: vec2<u32>,
    end: vec2<u32>,
}

// Element i of [batch, rows, columns, channels] as (sample, row, column, channel).
fn position(i: u32, rows: u32, columns: u32) -> vec4<u32> {
    let pixel = i / params.channels;
    return vec4<u32>(pixel / (columns * rows), (pixel / columns) % rows, pixel % columns,
                     i % params.channels);
}

// The real cells of the window at (out row, out column): padding clipped off.
fn window_at(row: u32, column: u32) -> Window {
    let top = i32(row * params.stride_height) - i32(params.pad_top);
    let left = i32(column * params.stride_width) - i32(params.pad_left);
    let first = vec2<i32>(max(top, 0), max(left, 0));
    let end = vec2<i32>(min(top + i32(params.pool_height), i32(params.height)),
                        min(left + i32(params.pool_width), i32(params.width)));
    return Window(vec2<u32>(first), vec2<u32>(end));
}

// The windows holding input cell (row, column): out rows [first.x, end.x), columns [first.y,
// end.y). Window o starts at o * stride - pad, so it holds the cell when
// o * stride - pad <= cell < o * stride - pad + pool.
fn windows_holding(row: u32, column: u32) -> Window {
    let shifted = vec2<i32>(i32(row + params.pad_top), i32(column + params.pad_left));
    let pool = vec2<i32>(i32(params.pool_height), i32(params.pool_width));
    let stride = vec2<i32>(i32(params.stride_height), i32(params.stride_width));
    let reach = shifted - pool + vec2<i32>(1);  // the first window start that still holds it
    let first = max((max(reach, vec2<i32>(0)) + stride - vec2<i32>(1)) / stride, vec2<i32>(0));
    let end = min(shifted / stride + vec2<i32>(1),
                  vec2<i32>(i32(params.out_height), i32(params.out_width)));
    return Window(vec2<u32>(first), vec2<u32>(max(end, first)));
}

fn input_index(sample: u32, row: u32, column: u32, channel: u32) -> u32 {
    return ((sample * params.height + row) * params.width + column) * params.channels + channel;
}

fn output_index(sample: u32, row: u32, column: u32, channel: u32) -> u32 {
    return ((sample * params.out_height + row) * params.out_width + column) * params.channels
        + channel;
}

fn real_cells(window: Window) -> u32 {
    return (window.end.x - window.first.x) * (window.end.y - window.first.y);
}

// What the average of the window at (out row, out column) divides by (see the header).
fn divisor(row: u32, column: u32) -> f32 {
    if (params.count_padding == 0u) {
        return f32(real_cells(window_at(row, column)));
    }
    let top = i32(row * params.stride_height) - i32(params.pad_top);
    let left = i32(column * params.stride_width) - i32(params.pad_left);
    let rows = min(top + i32(params.pool_height), i32(params.height + params.pad_top)) - top;
    let columns = min(left + i32(params.pool_width), i32(params.width + params.pad_left)) - left;
    return f32(rows * columns);
}

// NaN, tested on the bits of its f32 value (an f64 NaN converts to an f32 NaN): compilers fold
// x != x to false.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(f32(x)) & 0x7fffffffu) > 0x7f800000u;
}

@compute @workgroup_size(workgroup_size)
fn max_forward(@builtin(workgroup_id) group: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let at = position(i, params.out_height, params.out_width);
    let window = window_at(at.y, at.z);
    var best = f32(inputs[input_index(at.x, window.first.x, window.first.y, at.w)]);
    var best_cell = window.first.x * params.width + window.first.y;
    var found_nan = is_nan(best);
    for (var row = window.first.x; row < window.end.x; row++) {
        for (var column = window.first.y; column < window.end.y; column++) {
            let value = f32(inputs[input_index(at.x, row, column, at.w)]);
            if (!found_nan && (value > best || is_nan(value))) {  // the first maximum stays
                best = value;
                best_cell = row * params.width + column;
                found_nan = is_nan(value);
            }
        }
    }
    outputs[i] = f32(best);

    argmax[i] = best_cell;

}

@compute @workgroup_size(workgroup_size)
fn max_backward(@builtin(workgroup_id) group: vec3<u32>,
                @builtin(num_workgroups) groups: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let at = position(i, params.height, params.width);
    let cell = at.y * params.width + at.z;
    let windows = windows_holding(at.y, at.z);
    var total: f32 = 0.0;
    for (var row = windows.first.x; row < windows.end.x; row++) {
        for (var column = windows.first.y; column < windows.end.y; column++) {
            let o = output_index(at.x, row, column, at.w);
            if (argmax[o] == cell) {
                total += f32(grad_outputs[o]);
            }
        }
    }
    grad_inputs[i] = f32(total);
}

@compute @workgroup_size(workgroup_size)
fn average_forward(@builtin(workgroup_id) group: vec3<u32>,
                   @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let at = position(i, params.out_height, params.out_width);
    let window = window_at(at.y, at.z);
    var total: f32 = 0.0;
    for (var row = window.first.x; row < window.end.x; row++) {
        for (var column = window.first.y; column < window.end.y; column++) {
            total += f32(inputs[input_index(at.x, row, column, at.w)]);
        }
    }
    outputs[i] = f32(total / divisor(at.y, at.z));
}

@compute @workgroup_size(workgroup_size)
fn average_backward(@builtin(workgroup_id) group: vec3<u32>,
                    @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let at = position(i, params.height, params.width);
    let windows = windows_holding(at.y, at.z);
    var total: f32 = 0.0;
    for (var row = windows.first.x; row < windows.end.x; row++) {
        for (var column = windows.first.y; column < windows.end.y; column++) {
            let dy = f32(grad_outputs[output_index(at.x, row, column, at.w)]);
            total += dy / divisor(row, column);
        }
    }
    grad_inputs[i] = f32(total);
}

// partials[n, part, c] = Σ of image n's cells [part · part_cells, (part + 1) · part_cells) of
// channel c (cells in row-major order, the last part shorter).
@compute @workgroup_size(workgroup_size)
fn global_partial_sums(@builtin(workgroup_id) group: vec3<u32>,
                       @builtin(num_workgroups) groups: vec3<u32>,
                       @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    let part = (i / params.channels) % params.parts;
    let sample = i / (params.channels * params.parts);
    let cells = params.height * params.width;
    let first = part * params.part_cells;
    let end = min(first + params.part_cells, cells);
    let base = sample * cells * params.channels + channel;
    var total: f32 = 0.0;
    for (var cell = first; cell < end; cell++) {
        total += f32(inputs[base + cell * params.channels]);
    }
    partials[i] = total;
}

// outputs[n, c] = Σ_part partials[n, part, c] / (height · width).
@compute @workgroup_size(workgroup_size)
fn global_average(@builtin(workgroup_id) group: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = invocation(group, groups, lane);
    if (i >= params.count) { return; }
    let channel = i % params.channels;
    let sample = i / params.channels;
    var total: f32 = 0.0;
    for (var part = 0u; part < params.parts; part++) {
        total += partials[(sample * params.parts + part) * params.channels + channel];
    }
    outputs[i] = f32(total / f32(params.height * params.width));
}

// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}

