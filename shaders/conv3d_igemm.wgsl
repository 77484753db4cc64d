// conv3d_igemm.wgsl: implicit-GEMM 3D convolution, forward and input-gradient (gather form).
//
// Bindings (group 0):
//   0 src : array<f32>, read       NCDHW [NB][CK][SD][SH][SW]  (forward: x; input-grad: dy)
//   1 wt  : array<vec4<f32>>, read [tap = (kd*KS+kh)*KS+kw][CK][CNP]  (packed on the host,
//                                    CNP = CN rounded up to a multiple of 4, zero padded);
//                                    array<f32> in the subgroup variant (same packing)
//   2 dst : array<f32>, read_write NCDHW [NB][CN][DD][DH][DW]  (forward: y; input-grad: dx)
//   3 info: array<u32>             the sizes (see the top of main)
// GEMM view: M = destination voxels, N = CN destination channels, K = CK channels x taps.
//   Forward      : src_coord = dst_coord * S - P + k.
//   Input-grad   : src_coord = (dst_coord + P - k) / S, only where divisible. For S = 2 the
//                  destination is split into 8 parity classes (one launch each, class baked in as
//                  RD/RH/RW with STEP = 2); in a class only the taps of matching parity contribute,
//                  so no multiply is wasted on structural zeros and no scatter is needed.
// Tiling: a workgroup of 64 invocations covers 64 rows of TM consecutive destination voxels along
//   W (one (n, d, h) row segment each) x BN destination channels (grid y walks the CN tiles; grid x
//   the row segments). Each invocation keeps TM x BN accumulators in registers (register block).
//   Along W the TM voxels share a sliding window of source values: per (kd, kh, ci) it loads the
//   window once (TM + KS - 1 values at stride 1) and reuses each for every kw tap and all BN
//   channels. Weights are read as vec4 with workgroup-uniform indices (one broadcast load serves all 64
//   invocations on a GPU: a single cached transaction). On lavapipe every storage load is done
//   lane by lane with a bounds check, uniform or not, so the subgroup variant (SGW) instead has
//   lane l of each subgroup (size >= 8) load weight l of a group of 8 consecutive destination
//   channels and hands it to every lane with subgroupBroadcast: 8 weights for the price of one
//   per-lane load, where the vec4 form pays one per-lane load per 4.
//   The unrolled window loads and FMA block are generated on the host (the body placeholder). Only
//   structural constants (kernel, stride, padding, parity class, tile) are baked in; sizes and
//   channel counts come from `info` at run time, so one compiled variant serves every shape.

@group(0) @binding(0) var<storage, read_write> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> wt: {{ wt_type }};
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read_write> info: array<u32>;

// Structural constants, baked into the source (one compiled variant per combination).
const STEP: u32 = {{ step }}u;
const RD: u32 = {{ rd }}u;
const RH: u32 = {{ rh }}u;
const RW: u32 = {{ rw }}u;
const KS: u32 = {{ ks }}u;
const S: i32 = {{ stride }};
const P: i32 = {{ pad }};
const BWD: bool = {{ bwd }};
// Taps along d and h visited by this launch: KD0, KD0 + KSTEP, ... < KS (same for h).
const KD0: u32 = {{ kd0 }}u;
const KH0: u32 = {{ kh0 }}u;
const KSTEP: u32 = {{ kstep }}u;
const TM: u32 = {{ tm }}u;
const BN: u32 = {{ bn }}u;

// Source coordinate along d or h for destination class coordinate j and tap k (may be out of range).
fn src_coord(j: u32, r: u32, k: u32) -> i32 {
    let c = i32(j * STEP + r);
    if BWD {
        let t = c + P - i32(k);
        // t is a multiple of S for the taps this launch visits; negative t is rejected by the caller.
        return select(-1, t / S, t >= 0);
    }
    return c * S - P + i32(k);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32{{ lane_builtin }}) {
    // Keep all three bindings in the pipeline layout even when a launch visits no tap.
    if lid >= 64u { dst[0] = src[0] + {{ wt_first }}; }
    // Sizes, read at run time (info: NB, CK, CN, SD, SH, SW, DD, DH, DW, JD, JH, JW, GX).
    let NB = info[0];
    let CK = info[1];
    let CN = info[2];
    let SD = i32(info[3]);
    let SH = i32(info[4]);
    let SW = i32(info[5]);
    let DD = info[6];
    let DH = info[7];
    let DW = info[8];
    // Class grid: destination voxels of this launch (all voxels, or one parity class).
    let JD = info[9];
    let JH = info[10];
    let JW = info[11];
    // Workgroups along grid x (the rest spill into grid z; a grid dimension holds at most 65535).
    let GX = info[12];
    let SVOL = u32(SD * SH * SW);
    let DVOL = DD * DH * DW;
    // Packed weight rows hold CNP = CN rounded up to a multiple of 4 (zero padded).
    let CNP = (CN + 3u) / 4u * 4u;
    let WLAST4 = KS * KS * KS * CK * CNP / 4u - 1u;
    let WLAST = KS * KS * KS * CK * CNP - 1u;
    let WSEG = (JW + TM - 1u) / TM;
    let ROWS = NB * JD * JH * WSEG;
    let row = (wg.z * GX + wg.x) * 64u + lid;
    let live = row < ROWS;
{{ leave }}
    let rr = select(0u, row, live);
    let seg = rr % WSEG;
    let t1 = rr / WSEG;
    let jh = t1 % JH;
    let t2 = t1 / JH;
    let jd = t2 % JD;
    let n = t2 / JD;
    let jw0 = seg * TM;
    let co0 = wg.y * BN;
    let xbase = n * CK * SVOL;

{{ decl }}

    for (var kd = KD0; kd < KS; kd += KSTEP) {
        let sd = src_coord(jd, RD, kd);
        for (var kh = KH0; kh < KS; kh += KSTEP) {
            let sh = src_coord(jh, RH, kh);
            let rowok = live && sd >= 0 && sd < SD && sh >= 0 && sh < SH;
            let rowbase = i32(xbase) + (sd * SH + sh) * SW + {{ wbase }};
            let tapbase = (kd * KS + kh) * KS;
{{ okdecl }}
            for (var ci = 0u; ci < CK; ci += 1u) {
                let p = rowbase + i32(ci * SVOL);
{{ body }}
            }
        }
    }

    if live {
        let obase = n * CN * DVOL + ((jd * STEP + RD) * DH + (jh * STEP + RH)) * DW;
{{ store }}
    }
}
