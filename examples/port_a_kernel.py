"""Port a WGSL kernel from elsewhere: a naive matrix multiplication written the way the WebGPU
compute samples write it (matrix sizes stored in the storage buffer ahead of the numbers, one
invocation per output cell, an 8x8 workgroup), verified against NumPy, then timed against
intricate's tiled GEMM through the same Kernel API. See shaders/README.md, "Porting a kernel".

    python examples/port_a_kernel.py [--size 128]
"""

import argparse
import asyncio

import numpy as np

from intricate.kernels import Kernel, catalog

# As such samples write it: the JavaScript side packs [rows, columns, ...numbers] into one
# Float32Array per matrix and dispatches ceil(rows / 8) x ceil(columns / 8) workgroups.
NAIVE_MATMUL = """
struct Matrix {
    size: vec2f,          // rows, columns (floats, as the host packed them)
    numbers: array<f32>,  // row-major
}

@group(0) @binding(0) var<storage, read> left: Matrix;
@group(0) @binding(1) var<storage, read> right: Matrix;
@group(0) @binding(2) var<storage, read_write> product: Matrix;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) cell: vec3u) {
    let rows = u32(left.size.x);
    let inner = u32(left.size.y);
    let columns = u32(right.size.y);
    // The grid is rounded up to whole workgroups: cells past the edge do nothing.
    if (cell.x >= rows || cell.y >= columns) {
        return;
    }
    product.size = vec2f(f32(rows), f32(columns));
    var sum = 0.0;
    for (var k = 0u; k < inner; k++) {
        sum += left.numbers[cell.x * inner + k] * right.numbers[k * columns + cell.y];
    }
    product.numbers[cell.x * columns + cell.y] = sum;
}
"""


def packed(matrix: np.ndarray) -> np.ndarray:
    """A matrix as the samples' host code packs it: its two sizes, then its numbers."""
    return np.concatenate([np.float32(matrix.shape), matrix.ravel()]).astype(np.float32)


def reference(left: np.ndarray, right: np.ndarray) -> dict[str, np.ndarray]:
    """The same layout computed by NumPy (check() passes float64 copies of the inputs)."""
    rows, inner = int(left[0]), int(left[1])
    columns = int(right[1])
    a = left[2:].reshape(rows, inner)
    b = right[2:].reshape(inner, columns)
    return {"product": np.concatenate([[rows, columns], (a @ b).ravel()])}


def launch(rows: int, columns: int) -> tuple[int, int]:
    """The samples' dispatch: x over rows, y over columns, 8 each per workgroup."""
    return (-(-rows // 8), -(-columns // 8))


async def main(size: int) -> None:
    rng = np.random.default_rng(0)
    kernel = Kernel(NAIVE_MATMUL)
    print(kernel)

    # 1. Verify, at sizes that don't divide the workgroup (a wrong index shows up here).
    rows, inner, columns = 37, 19, 45
    a = rng.standard_normal((rows, inner), np.float32)
    b = rng.standard_normal((inner, columns), np.float32)
    report = await kernel.check(reference, rtol=1e-4, atol=1e-5, grid=launch(rows, columns),
                                left=packed(a), right=packed(b),
                                shapes={"product": (2 + rows * columns,)})
    print(report)

    # 2. Time it against our tiled GEMM at size³, run through the same Kernel API from the
    #    catalog that `intricate bench` uses (its template, grid and Params as the engine's).
    a = rng.random((size, size), np.float32)
    b = rng.random((size, size), np.float32)
    flops = 2 * size ** 3
    naive = await kernel.time(flops=flops, repeat=10, grid=launch(size, size), left=packed(a),
                              right=packed(b), shapes={"product": (2 + size * size,)})
    print(f"naive  {naive}")
    ours = catalog.ENTRIES["gemm.tiled"]
    case = ours.setup(kernel.device, size, rng)
    tiled = Kernel(ours.shader, ours.entry, device=kernel.device, template=case.template,
                   constants=case.constants)
    ours_report = await tiled.check(ours.reference, rtol=ours.rtol, atol=ours.atol,
                                    grid=case.grid, shapes=case.shapes, **case.inputs)
    timed = await tiled.time(flops=case.flops, repeat=10, grid=case.grid, shapes=case.shapes,
                             **case.inputs)
    print(f"tiled  {timed}")
    print(f"at {size}³ the ported naive kernel takes {naive.median / timed.median:.2f}x the "
          f"time of intricate's tiled GEMM ({naive.method} timing)")
    assert report.passed, "the ported kernel disagrees with NumPy"
    assert ours_report.passed, "the tiled GEMM disagrees with NumPy"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="m = n = k of the timed GEMMs")
    asyncio.run(main(parser.parse_args().size))
