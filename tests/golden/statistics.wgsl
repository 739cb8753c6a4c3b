// ops/statistics.wgsl: an epoch's means from the running sums that losses.wgsl accumulates.
// The layout (intricate/ops/statistics.py): two slots of SLOT = 4 floats, training then
// validation, each (loss, binary_accuracy, mae, categorical_accuracy), then the loss scale and the
// epoch's skipped steps (mixed_float16 fits; kept as they are, not means); SIZE = 10 floats.
//
// Bindings (group 0), by variable name:
//   0 statistics    read_write  f32  [SIZE]  the sums; zeroed for the next epoch
//   1 epoch_result  read_write  f32  [SIZE]  the means
//   2 params        uniform     Params
// Params: train_count, val_count = samples summed into each half.
// finish_epoch: one workgroup of SIZE invocations, grid (1, 1, 1). Loop bound: no loops.
//   NumPy: epoch_result = statistics / ([train_count] * SLOT + [val_count] * SLOT + [1] * 2);
//          statistics[:] = 0

struct Params {
    train_count: u32,
    val_count: u32,
}

@group(0) @binding(0) var<storage, read_write> statistics: array<f32>;
@group(0) @binding(1) var<storage, read_write> epoch_result: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(10)
fn finish_epoch(@builtin(local_invocation_index) lane: u32) {
    let count = select(select(params.val_count, params.train_count, lane < 4u), 1u,
                       lane >= 2u * 4u);
    epoch_result[lane] = statistics[lane] / f32(max(count, 1u));
    statistics[lane] = 0.0;
}
