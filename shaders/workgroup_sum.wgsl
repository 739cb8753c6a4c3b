// workgroup_sum.wgsl: the tree reduction of four sums over a workgroup's lanes, written once.
// A library, no entry points: losses.wgsl (a batch's statistics) and engine/tiny_fit.wgsl (a
// whole fit in one workgroup) include it.
// Bindings: none; workgroup memory: partial_sums, one vec4 per lane. Params: none. The includer
// declares `override workgroup_size` (a power of two) and calls reduce from uniform control flow
// (it has barriers). Loop bound: log2(workgroup_size) iterations.
// NumPy: value.sum(axis=0) over the lanes' values (in a tree order).

var<workgroup> partial_sums: array<vec4<{{ accumulate }}>, workgroup_size>;

// Tree reduction of every lane's value; the total is lane 0's. Call from all lanes.
fn reduce(lane: u32, value: vec4<{{ accumulate }}>) -> vec4<{{ accumulate }}> {
    partial_sums[lane] = value;
    workgroupBarrier();
    for (var stride = workgroup_size / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial_sums[lane] += partial_sums[lane + stride];
        }
        workgroupBarrier();
    }
    return partial_sums[0];
}
