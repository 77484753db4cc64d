// conv3d_wgrad.wgsl: 3D convolution weight-gradient, split-K implicit GEMM.
//
// Bindings (group 0):
//   0 x    : array<f32>, read       NCDHW [NB][CI][SD][SH][SW]  (convolution input)
//   1 dy   : array<f32>, read       NCDHW [NB][CO][OD][OH][OW]  (gradient of the output)
//   2 part : array<f32>, read_write [Z][CO][CI][KS][KS][KS]     (one partial sum per split z;
//                                    the host sums over z, which yields [CO][CI][KS][KS][KS])
//   3 info : array<u32>             the sizes (see the top of main); only kernel size, stride,
//                                    padding and TCO are baked into the source
// GEMM view: M = CO, N = CI x taps, K = output voxels (NB*OD*OH*OW), split into Z chunks of
//   whole output rows (grid z).
// Tiling: an invocation owns QB (ci, kd, kh) columns -- channels ci, ci + CIH, ... with the same
//   kd, kh (64 invocations per workgroup, grid x) -- and a tile of TCO output channels (grid y); it
//   keeps QB x TCO x KS accumulators (all kw taps) in registers. It walks its rows of dy voxel by
//   voxel: the dy values are workgroup-uniform loads (TCO per voxel, shared by the QB columns),
//   the input values come from one sliding window along W per column (KS registers, S new loads
//   per voxel), so each voxel costs QB*S input loads + TCO dy loads for QB*TCO*KS FMAs.
//   The unrolled window and FMA block are generated on the host (the body placeholder).
//   Subgroup variant (for lavapipe, where every storage load is done lane by lane): lane l of each
//   subgroup (size >= 8) loads the dy value of channel co0 + l and subgroupBroadcast hands it to
//   every lane, so a voxel's TCO <= 8 dy values cost one load. Every lane of a subgroup with a
//   live column then runs the loops (dead ones on column 0, without storing).

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> info: array<u32>;

// Structural constants, baked into the source (one compiled variant per combination).
const KS: u32 = {{ ks }}u;
const S: i32 = {{ stride }};
const P: i32 = {{ pad }};
const TCO: u32 = {{ tco }}u;
const QB: u32 = {{ qb }}u;
// Output voxels per iteration of the walk along W (the remainder goes one at a time).
const UNROLL: u32 = {{ unroll }}u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32{{ lane_builtin }}) {
    if lid >= 64u { part[0] = x[0] + dy[0]; }
    // Sizes, read at run time (info: NB, CI, CO, SD, SH, SW, OD, OH, OW, RPS).
    let NB = info[0];
    let CI = info[1];
    let CO = info[2];
    let SD = i32(info[3]);
    let SH = i32(info[4]);
    let SW = i32(info[5]);
    let OD = info[6];
    let OH = info[7];
    let OW = info[8];
    let RPS = info[9];     // output rows (n, od, oh) per split
    let Q = CI * KS * KS;
    // An invocation owns QB columns: input channels ci, ci + CIH, ... (same kd, kh).
    let CIH = (CI + QB - 1u) / QB;
    let SVOL = u32(SD * SH * SW);
    let OVOL = OD * OH * OW;
    let NROWS = NB * OD * OH;
    let DYLAST = NB * CO * OVOL - 1u;
    let q = wg.x * 64u + lid;
    let live = q < CIH * KS * KS;
    // Invocations without a column leave at once (no barrier follows), so lavapipe skips
    // the loops for groups of 8 of them.
{{ leave }}
    let qq = select(0u, q, live);
    let kh = qq % KS;
    let kd = (qq / KS) % KS;
    let ci = qq / (KS * KS);
    let co0 = wg.y * TCO;
    let r0 = wg.z * RPS;
    let r1 = min(r0 + RPS, NROWS);

{{ decl }}

    for (var r = r0; r < r1; r += 1u) {
        let oh = r % OH;
        let t = r / OH;
        let od = t % OD;
        let n = t / OD;
        let sd = i32(od) * S - P + i32(kd);
        let sh = i32(oh) * S - P + i32(kh);
        let rowok = sd >= 0 && sd < SD && sh >= 0 && sh < SH;
        let xrow = i32((n * CI + ci) * SVOL) + (sd * SH + sh) * SW;
        let gbase = (n * CO + co0) * OVOL + (od * OH + oh) * OW;
{{ pre }}
        var ow = 0u;
        for (; ow + UNROLL <= OW; ow += UNROLL) {
{{ unrolled }}
        }
        for (; ow < OW; ow += 1u) {
{{ body }}
        }
    }

{{ store }}
}
