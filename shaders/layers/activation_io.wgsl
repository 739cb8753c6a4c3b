// layers/activation_io.wgsl: the bindings of an activation layer's kernels (the element-wise
// ones of layers/activation.wgsl and SoftMax's of layers/softmax.wgsl), included at their end.
// Bindings (group 0), by variable name: 0 inputs (read), 1 grad_outputs (read: dE/dO),
// 2 outputs (read_write: written forward, read backward), 3 grad_inputs (read_write: dE/dI),
// all {{ dtype }} [rows, width]; 4 params, the including file's Params. Workgroup and grid: the
// including kernel's. NumPy: none (declarations only).

@group(0) @binding(0) var<storage, read> inputs: array<{{ dtype }}>;
@group(0) @binding(1) var<storage, read> grad_outputs: array<{{ dtype }}>;
@group(0) @binding(2) var<storage, read_write> outputs: array<{{ dtype }}>;
@group(0) @binding(3) var<storage, read_write> grad_inputs: array<{{ dtype }}>;
@group(0) @binding(4) var<uniform> params: Params;
