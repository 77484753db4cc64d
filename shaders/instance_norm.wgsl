// instance_norm.wgsl: instance norm + affine + LeakyReLU, fused, with its backward pass.
//
// y = act(a), a = gamma * (x - mean) * rstd + beta, act(a) = a where a >= 0, SLOPE * a elsewhere;
// mean and rstd = 1 / sqrt(var + eps) (biased variance) of each (n, c) plane of PLANE voxels.
//
// Bindings (group 0), NCDHW tensors seen as [planes][PLANE]:
//   0 x     : array<f32>  the block's input (the convolution's output)
//   1 stats : array<f32>  [planes][2]: mean, rstd (STEP 0's output, read by the others)
//   2 gamma : array<f32>  [planes]: scale of each plane (per channel, or per sample and channel)
//   3 beta  : array<f32>  [planes]: shift
//   4 dy    : array<f32>  gradient of y (STEPs 2 and 3)
//   5 sums  : array<f32>  [planes][2]: sum of g * z, sum of g, g = dy * act'(a), z = (x - mean) * rstd
//                         (STEP 2's output, read by STEP 3)
//   6 out   : array<f32>  STEP 0: the statistics; 1: y; 2: the sums; 3: dx
//   7 info  : array<u32>  PLANE, planes, workgroups along grid x, bits of eps, bits of SLOPE
// STEP (baked in): 0 statistics, 1 forward, 2 gradient sums, 3 input gradient (gradients of gamma
//   and beta are the plane sums of STEP 2: sum of g * z and sum of g).
// Tiling: one workgroup of 64 invocations per plane walks it with stride 64 (so the plane's
//   scalars are read once per invocation, not once per voxel); the sums of STEPs 0 and 2 are
//   reduced in workgroup memory. The statistics use sums shifted by the plane's first value, which
//   keeps the variance accurate when the mean is large next to the spread.

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> info: array<u32>;

const STEP: u32 = {{ step }}u;

var<workgroup> red0: array<f32, 64>;
var<workgroup> red1: array<f32, 64>;

// Sums a and b over the workgroup; every invocation gets the totals.
fn reduce2(lid: u32, a: f32, b: f32) -> vec2<f32> {
    red0[lid] = a;
    red1[lid] = b;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if lid < s {
            red0[lid] = red0[lid] + red0[lid + s];
            red1[lid] = red1[lid] + red1[lid + s];
        }
        workgroupBarrier();
    }
    return vec2<f32>(red0[0], red1[0]);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // Keep every binding in the pipeline layout, whichever step this is.
    if lid >= 64u {
        out[0] = x[0] + stats[0] + gamma[0] + beta[0] + dy[0] + sums[0] + f32(info[0]);
    }
    let PLANE = info[0];
    let PLANES = info[1];
    let GX = info[2];
    let EPS = bitcast<f32>(info[3]);
    let SLOPE = bitcast<f32>(info[4]);
    // Workgroups past the last plane (the grid is a rectangle) walk nothing and write nothing;
    // they still take part in the reductions, which keeps every barrier in uniform control flow.
    let live = wg.y * GX + wg.x < PLANES;
    let plane = select(0u, wg.y * GX + wg.x, live);
    let walk = select(0u, PLANE, live);
    let base = plane * PLANE;
    let count = f32(PLANE);

    if STEP == 0u {
        let shift = x[base];
        var s1 = 0.0;
        var s2 = 0.0;
        for (var i = lid; i < walk; i += 64u) {
            let d = x[base + i] - shift;
            s1 += d;
            s2 += d * d;
        }
        let t = reduce2(lid, s1, s2);
        if live && lid == 0u {
            let m = t.x / count;
            let variance = max(t.y / count - m * m, 0.0);
            out[2u * plane] = shift + m;
            out[2u * plane + 1u] = inverseSqrt(variance + EPS);
        }
        return;
    }

    let mean = stats[2u * plane];
    let rstd = stats[2u * plane + 1u];
    let g = gamma[plane];
    let b = beta[plane];
    let scale = g * rstd;
    let offset = b - mean * scale;

    if STEP == 1u {
        for (var i = lid; i < walk; i += 64u) {
            let a = x[base + i] * scale + offset;
            out[base + i] = select(SLOPE * a, a, a >= 0.0);
        }
        return;
    }

    if STEP == 2u {
        var sgz = 0.0;
        var sg = 0.0;
        for (var i = lid; i < walk; i += 64u) {
            let v = x[base + i];
            let a = v * scale + offset;
            let gr = dy[base + i] * select(SLOPE, 1.0, a > 0.0);
            sgz += gr * (v - mean) * rstd;
            sg += gr;
        }
        let t = reduce2(lid, sgz, sg);
        if live && lid == 0u {
            out[2u * plane] = t.x;
            out[2u * plane + 1u] = t.y;
        }
        return;
    }

    // STEP 3: dx = gamma * rstd / M * (M * g - sum g - z * sum g z).
    let total_gz = sums[2u * plane];
    let total_g = sums[2u * plane + 1u];
    let c = scale / count;
    for (var i = lid; i < walk; i += 64u) {
        let v = x[base + i];
        let a = v * scale + offset;
        let gr = dy[base + i] * select(SLOPE, 1.0, a > 0.0);
        let z = (v - mean) * rstd;
        out[base + i] = c * (count * gr - total_g - z * total_gz);
    }
}
