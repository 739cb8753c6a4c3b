// plot/chart.wgsl: every mark of a chart (intricate/plot/): rectangles, data line segments,
// bitmap-font text, data markers and a decision surface, drawn as one instanced render pass.
//
// Bindings (group 0), by variable name:
//   0 frame     uniform  Frame                      the target and the data -> pixel mapping
//   1 shapes    read     Shape  [instances]         one mark per instance (scene.py packs them)
//   2 font      read     u32    [95 glyphs * rows]  row r of glyph for character c at
//                                                   (c - 32) * rows + r, bit 4 - column
// Template: glyph_rows, the font's rows per glyph (intricate/plot/font.py's HEIGHT);
//   palette_size, the surface's class colours (scene.py's PALETTE_SIZE).
//   3 surface   read     f32    [rows, columns, outputs]  predictions on a grid, row 0 at the
//                                                   top (decision_surface; one 0 otherwise)
// Frame: size (target pixels), plot (the plot area in pixels: left, top, right, bottom),
//   palette (class colours of the surface).
// Points (segments, markers) come as fractions of the plot area: (0, 0) its bottom left, (1, 1)
//   its top right; the host maps data to them in float64 (log axes included).
// Shape: a, b (geometry by kind, below), color (RGBA in [0, 1]), kind in b.w:
//   0 rectangle   a = pixels (left, top, right, bottom)
//   1 segment     a = points (x0, y0, x1, y1); b.x = width in pixels; clipped to the plot area
//   2 glyph       a = (left, top) in pixels, scale (pixels per font pixel), character code
//   3 marker      a.xy = point; b.x = radius, b.y = outline width (pixels); clipped
//   4 surface     a = pixels (left, top, right, bottom); b.x = columns, b.y = rows,
//                 b.z = outputs; color.x = the threshold for one output
// Draw: 6 vertices (two triangles) per instance, vertex index v, instance index i; the quad
//   covers the mark plus a pixel of antialiasing. Blending: source over, into rgba8unorm.
// Fragment NumPy (a segment of width w): alpha = clip(w / 2 + 0.5 - distance(pixel, segment), 0, 1)
// Loop bound: the surface's argmax loops over outputs (<= MAX_OUTPUTS, checked by the host).

const RECTANGLE: u32 = 0u;
const SEGMENT: u32 = 1u;
const GLYPH: u32 = 2u;
const MARKER: u32 = 3u;
const SURFACE: u32 = 4u;
const GLYPH_WIDTH: f32 = 5.0;
const GLYPH_ROWS: u32 = {{ glyph_rows }}u;

struct Frame {
    size: vec2<f32>,
    plot: vec4<f32>,
    palette: array<vec4<f32>, {{ palette_size }}>,
}

struct Shape {
    a: vec4<f32>,
    b: vec4<f32>,
    color: vec4<f32>,
}

struct Varyings {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(flat) instance: u32,
}

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> shapes: array<Shape>;
@group(0) @binding(2) var<storage, read> font: array<u32>;
@group(0) @binding(3) var<storage, read> surface: array<f32>;

// A point's position in pixels (y grows downwards, as in the target).
fn to_pixels(point: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(mix(frame.plot.x, frame.plot.z, point.x),
                     mix(frame.plot.w, frame.plot.y, point.y));
}

// The pixel rectangle (left, top, right, bottom) a mark may cover.
fn bounds(shape: Shape, kind: u32) -> vec4<f32> {
    if (kind == SEGMENT) {
        let p0 = to_pixels(shape.a.xy);
        let p1 = to_pixels(shape.a.zw);
        let pad = shape.b.x * 0.5 + 1.0;
        return vec4<f32>(min(p0, p1) - pad, max(p0, p1) + pad);
    }
    if (kind == GLYPH) {
        return vec4<f32>(shape.a.xy, shape.a.xy + vec2<f32>(GLYPH_WIDTH, f32(GLYPH_ROWS)) * shape.a.z);
    }
    if (kind == MARKER) {
        let center = to_pixels(shape.a.xy);
        let pad = shape.b.x + 1.0;
        return vec4<f32>(center - pad, center + pad);
    }
    return shape.a;  // rectangle, surface
}

@vertex
fn vertex_main(@builtin(vertex_index) vertex: u32, @builtin(instance_index) instance: u32)
        -> Varyings {
    let shape = shapes[instance];
    let box = bounds(shape, u32(shape.b.w));
    let corner = vec2<f32>(f32(vertex == 1u || vertex == 4u || vertex == 5u),
                           f32(vertex == 2u || vertex == 3u || vertex == 5u));
    let pixel = mix(box.xy, box.zw, corner);
    var out: Varyings;
    out.position = vec4<f32>(pixel.x / frame.size.x * 2.0 - 1.0, 1.0 - pixel.y / frame.size.y * 2.0,
                             0.0, 1.0);
    out.instance = instance;
    return out;
}

fn segment_coverage(shape: Shape, pixel: vec2<f32>) -> f32 {
    let p0 = to_pixels(shape.a.xy);
    let p1 = to_pixels(shape.a.zw);
    let along = p1 - p0;
    let length_squared = max(dot(along, along), 1e-12);
    let t = clamp(dot(pixel - p0, along) / length_squared, 0.0, 1.0);
    let distance_to_line = length(pixel - (p0 + along * t));
    return clamp(shape.b.x * 0.5 + 0.5 - distance_to_line, 0.0, 1.0);
}

fn glyph_coverage(shape: Shape, pixel: vec2<f32>) -> f32 {
    let cell = vec2<i32>(floor((pixel - shape.a.xy) / shape.a.z));
    if (cell.x < 0 || cell.y < 0 || cell.x >= 5 || cell.y >= i32(GLYPH_ROWS)) {
        return 0.0;
    }
    let code = u32(shape.a.w);
    if (code < 32u || code > 126u) {
        return 0.0;
    }
    let bits = font[(code - 32u) * GLYPH_ROWS + u32(cell.y)];
    return f32((bits >> (4u - u32(cell.x))) & 1u);
}

// The prediction grid's outputs at a pixel, interpolated bilinearly between cell centres.
fn surface_value(shape: Shape, pixel: vec2<f32>, output: u32) -> f32 {
    let columns = u32(shape.b.x);
    let rows = u32(shape.b.y);
    let outputs = u32(shape.b.z);
    let cell = (pixel - shape.a.xy) / (shape.a.zw - shape.a.xy) * vec2<f32>(f32(columns), f32(rows))
        - 0.5;
    let top_left = clamp(vec2<i32>(floor(cell)), vec2<i32>(0), vec2<i32>(i32(columns) - 1, i32(rows) - 1));
    let right = u32(min(top_left.x + 1, i32(columns) - 1));
    let below = u32(min(top_left.y + 1, i32(rows) - 1));
    let weight = clamp(cell - vec2<f32>(top_left), vec2<f32>(0.0), vec2<f32>(1.0));
    let x0 = u32(top_left.x);
    let y0 = u32(top_left.y);
    let upper = mix(surface[(y0 * columns + x0) * outputs + output],
                    surface[(y0 * columns + right) * outputs + output], weight.x);
    let lower = mix(surface[(below * columns + x0) * outputs + output],
                    surface[(below * columns + right) * outputs + output], weight.x);
    return mix(upper, lower, weight.y);
}

// The class a pixel falls in and how sure the model is (0 on a boundary, 1 far from it).
fn surface_color(shape: Shape, pixel: vec2<f32>) -> vec4<f32> {
    let outputs = u32(shape.b.z);
    var chosen = 0u;
    var confidence = 0.0;
    if (outputs == 1u) {
        let threshold = shape.color.x;
        let value = surface_value(shape, pixel, 0u);
        chosen = u32(value > threshold);
        confidence = clamp(abs(value - threshold) * 2.0, 0.0, 1.0);
    } else {
        var best = surface_value(shape, pixel, 0u);
        var second = -3.4e38;
        for (var output = 1u; output < outputs; output++) {
            let value = surface_value(shape, pixel, output);
            if (value > best) {
                second = best;
                best = value;
                chosen = output;
            } else {
                second = max(second, value);
            }
        }
        confidence = clamp((best - second) * 2.0, 0.0, 1.0);
    }
    let color = frame.palette[chosen % {{ palette_size }}u];
    return vec4<f32>(mix(vec3<f32>(1.0), color.rgb, 0.3 + 0.45 * confidence), 1.0);
}

@fragment
fn fragment_main(varyings: Varyings) -> @location(0) vec4<f32> {
    let shape = shapes[varyings.instance];
    let kind = u32(shape.b.w);
    let pixel = varyings.position.xy;
    if (kind == SEGMENT || kind == MARKER) {
        if (pixel.x < frame.plot.x || pixel.x > frame.plot.z || pixel.y < frame.plot.y
                || pixel.y > frame.plot.w) {
            discard;
        }
    }
    var color = shape.color;
    if (kind == SEGMENT) {
        color.a *= segment_coverage(shape, pixel);
    } else if (kind == GLYPH) {
        color.a *= glyph_coverage(shape, pixel);
    } else if (kind == MARKER) {
        let distance_to_center = length(pixel - to_pixels(shape.a.xy));
        let radius = shape.b.x;
        let outline = shape.b.y;
        let inside = clamp(radius - outline + 0.5 - distance_to_center, 0.0, 1.0);
        color = vec4<f32>(mix(vec3<f32>(0.1), color.rgb, inside),
                          color.a * clamp(radius + 0.5 - distance_to_center, 0.0, 1.0));
    } else if (kind == SURFACE) {
        color = surface_color(shape, pixel);
    }
    if (color.a <= 0.0) {
        discard;
    }
    return color;
}
