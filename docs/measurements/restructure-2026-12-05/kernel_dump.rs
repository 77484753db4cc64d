// Temporary: dumps generated WGSL sources for many specs (not committed).
use engine::ops::kernels::{IgemmSpec, WgradSpec};
#[test]
fn dump_kernel_sources() {
    let mut out = String::new();
    for bwd in [false, true] { for ks in [1u32, 3] { for stride in [1u32, 2] { for pad in [0u32, 1] {
    for class in [[0u32,0,0],[1,0,1],[0,1,1]] { for tm in [1u32, 5, 8] { for bn in [4u32, 8, 16] { for sg in [false, true] {
        let spec = IgemmSpec { bwd, nb: 2, ck: 8, cn: 16, src: [8,8,8], dst: [8,8,8], ks, stride, pad, class, tm, bn, subgroup_weights: sg };
        out.push_str(&spec.source());
    }}}}}}}}
    for ks in [1u32, 3] { for stride in [1u32, 2] { for pad in [0u32,1] { for tco in [4u32, 8, 16] { for qb in [1u32, 2] { for sg in [false, true] { for unroll in [0u32, 4] {
        let spec = WgradSpec { nb: 2, ci: 8, co: 16, src: [8,8,8], out: [8,8,8], ks, stride, pad, tco, qb, rps: 4, subgroup_dy: sg, unroll };
        out.push_str(&spec.source());
    }}}}}}}
    std::fs::write(std::env::var("DUMP").unwrap(), out).unwrap();
}
