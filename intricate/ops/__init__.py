"""GPU operations that layers and the engine record into programs, each beside its .wgsl in
shaders/ops/: ``gemm`` (tiled and subgroup kernels, tuning), ``gather`` (batches from the
resident dataset), ``statistics`` (the loss/metric sums layout)."""
