// ops/gather.wgsl: assembling a mini-batch on the GPU from the resident dataset.
//
// Bindings (group 0), by variable name (each only where its template flag keeps it):
//   0 indices     read        u32        [samples or rows]  sample numbers (`indexed`)
//   1 cursor_in   read        u32        the batch's first position in `indices` (`cursor`)
//   2 source_x    read        X          [samples, x_width]  the whole training inputs
//   3 source_y    read        Y          [samples, y_width]  the whole training targets
//   4 batch_x     read_write  X          [rows, x_width]
//   5 batch_y     read_write  Y          [rows, y_width]
//   6 cursor_out  read_write  u32        cursor_in + rows: the next batch's cursor (`cursor`)
//   7 params      uniform     Params
// Params: rows, x_width, y_width (in elements).
// Template: dtype; x_lanes, y_lanes (1, 2 or 4, dividing the width): elements moved as one
//   (X = vecN<dtype> for N = x_lanes, or dtype for 1), so a 784-float row moves in 196 16-byte
//   loads; indexed: samples come from `indices` (else they are consecutive); cursor: the batch
//   starts at position cursor_in (an epoch's step k reads the word step k - 1 wrote: fit swaps
//   the two words' bindings every step, so a recorded step gathers each batch in turn).
// gather_rows: one invocation per chunk of a batch row, x's and y's chunks side by side;
//   2^row_shift lanes per row, so a workgroup copies 2^(log2(workgroup_size) - row_shift) narrow
//   rows (shifts and masks, no u32 division per element: slow on a CPU); grid
//   (ceil(chunks / 2^row_shift), row groups folded over y and z).
//   NumPy: order = indices[cursor:cursor + rows] if indexed else arange(cursor, cursor + rows);
//          batch_x = source_x[order]; batch_y = source_y[order]; cursor_out = cursor + rows
// Loop bound: no loops (one chunk per invocation), whatever the data size.


struct Params {
    rows: u32,
    x_width: u32,
    y_width: u32,
}


@group(0) @binding(1) var<storage, read> cursor_in: u32;
@group(0) @binding(2) var<storage, read> source_x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> source_y: array<f32>;
@group(0) @binding(4) var<storage, read_write> batch_x: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> batch_y: array<f32>;
@group(0) @binding(6) var<storage, read_write> cursor_out: u32;
@group(0) @binding(7) var<uniform> params: Params;

override workgroup_size: u32 = 256;
override row_shift: u32 = 8;  // log2 of the lanes per batch row (at most log2(workgroup_size))

@compute @workgroup_size(workgroup_size)
fn gather_rows(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let row_lanes = 1u << row_shift;
    let column = group.x * row_lanes + (lane & (row_lanes - 1u));
    let row = (group.y + group.z * groups.y) * (workgroup_size >> row_shift) + (lane >> row_shift);
    var first = 0u;

    first = cursor_in;
    if (lane == 0u && all(group == vec3<u32>(0u))) {
        cursor_out = first + params.rows;
    }

    if (row >= params.rows) {
        return;
    }

    let sample = first + row;

    let x_chunks = params.x_width / 4u;  // a power of two: a shift
    let y_chunks = params.y_width / 1u;
    if (column < x_chunks) {
        batch_x[row * x_chunks + column] = source_x[sample * x_chunks + column];
    }
    if (column < y_chunks) {
        batch_y[row * y_chunks + column] = source_y[sample * y_chunks + column];
    }
}
