// gpu/grid.wgsl: the linear index of an invocation in a 1-D kernel whose grid was folded over x
// and y (intricate/gpu/program.py: fold_grid keeps each dimension within 65535 workgroups).
// Included at the end of a kernel file that declares `override workgroup_size: u32`.
// Bindings: none. Params: none. Callers skip indices past their logical size.
// NumPy: index = (group.x + group.y * groups.x) * workgroup_size + lane

fn invocation(group: vec3<u32>, groups: vec3<u32>, lane: u32) -> u32 {
    return (group.x + group.y * groups.x) * workgroup_size + lane;
}
