//! WGSL sources for the 3D-convolution kernels in `shaders/`, specialised per shape.
//!
//! The structural constants (kernel size, stride, padding, parity class, tile sizes) are baked into
//! the shader text, and the register-blocked inner blocks (window loads, FMAs, stores) are
//! generated here fully unrolled, so that naga/LLVM (lavapipe) or the GPU driver see straight-line
//! code and keep every accumulator in a register. Sizes and channel counts are read at run time
//! from a small `info` buffer, so one compiled variant serves every shape with the same
//! structural constants (lavapipe takes seconds to compile one). This module is plain Rust (no
//! GPU): the launch code lives in `cube.rs`.

use std::fmt::Write;

/// The implicit-GEMM template (forward and input-gradient).
pub const IGEMM_WGSL: &str = include_str!("../../../shaders/conv3d_igemm.wgsl");
/// The weight-gradient template.
pub const WGRAD_WGSL: &str = include_str!("../../../shaders/conv3d_wgrad.wgsl");

/// Invocations per workgroup of every kernel here.
pub const WORKGROUP: u32 = 64;
/// Largest workgroup count along one grid dimension.
const MAX_GRID: u32 = 65535;

/// One launch of `conv3d_igemm.wgsl`: forward, or one parity class of the input-gradient.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IgemmSpec {
    /// Input-gradient (gather) mode instead of forward.
    pub bwd: bool,
    pub nb: u32,
    /// Reduction channels (forward: C_in; input-grad: C_out).
    pub ck: u32,
    /// Destination channels (forward: C_out; input-grad: C_in).
    pub cn: u32,
    /// Source spatial size (forward: input; input-grad: output of the convolution).
    pub src: [u32; 3],
    /// Destination spatial size.
    pub dst: [u32; 3],
    pub ks: u32,
    pub stride: u32,
    pub pad: u32,
    /// Parity class (input-grad with stride 2), else zeros.
    pub class: [u32; 3],
    /// Voxels along W per invocation.
    pub tm: u32,
    /// Destination channels per workgroup (and per invocation).
    pub bn: u32,
    /// Weights fetched through the subgroup (one per-lane load serves 8 weights; needs
    /// subgroups of at least 8 invocations) instead of workgroup-uniform `vec4` loads.
    pub subgroup_weights: bool,
}

impl IgemmSpec {
    fn step(&self) -> u32 {
        if self.bwd && self.stride == 2 {
            2
        } else {
            1
        }
    }

    /// Destination voxels of this launch along d, h, w.
    pub fn class_dims(&self) -> [u32; 3] {
        let step = self.step();
        std::array::from_fn(|a| {
            if self.dst[a] > self.class[a] {
                (self.dst[a] - self.class[a]).div_ceil(step)
            } else {
                0
            }
        })
    }

    fn rows(&self) -> u32 {
        let j = self.class_dims();
        self.nb * j[0] * j[1] * j[2].div_ceil(self.tm)
    }

    /// Workgroups (x, y, z); `None` when the launch has no destination voxel.
    pub fn grid(&self) -> Option<(u32, u32, u32)> {
        let groups = self.rows().div_ceil(WORKGROUP);
        if groups == 0 {
            return None;
        }
        let (gx, gz) = split_grid(groups);
        Some((gx, self.cn.div_ceil(self.bn), gz))
    }

    /// First tap and tap step along an axis whose class coordinate is `r`.
    fn taps(&self, r: u32) -> (u32, u32) {
        if self.bwd && self.stride == 2 {
            ((r + self.pad) % 2, 2)
        } else {
            (0, 1)
        }
    }

    /// The sizes the kernel reads from its `info` binding, in the order the shader expects.
    pub fn info(&self) -> Vec<u32> {
        let j = self.class_dims();
        let (gx, _, _) = self.grid().unwrap_or((1, 1, 1));
        let mut info = vec![self.nb, self.ck, self.cn];
        info.extend(self.src);
        info.extend(self.dst);
        info.extend(j);
        info.push(gx);
        info
    }

    /// What the compiled source depends on: the structural fields, not the sizes.
    pub fn key(&self) -> String {
        format!(
            "igemm bwd={} ks={} s={} p={} class={:?} tm={} bn={} sgw={}",
            self.bwd,
            self.ks,
            self.stride,
            self.pad,
            self.class,
            self.tm,
            self.bn,
            self.subgroup_weights
        )
    }

    /// The complete WGSL source (sizes excluded: they come from [`IgemmSpec::info`]).
    pub fn source(&self) -> String {
        let (kd0, kstep) = self.taps(self.class[0]);
        let (kh0, _) = self.taps(self.class[1]);
        let (tm, bn, ks) = (self.tm, self.bn, self.ks);
        let layout = self.w_layout();
        let a = if self.bwd { 1 } else { self.stride as i64 };
        let wbase = format!("(i32(jw0) * {a} + ({}))", layout.c0);
        let mut vars: Vec<(&str, String)> = vec![
            ("step", self.step().to_string()),
            ("rd", self.class[0].to_string()),
            ("rh", self.class[1].to_string()),
            ("rw", self.class[2].to_string()),
            ("ks", ks.to_string()),
            ("stride", self.stride.to_string()),
            ("pad", self.pad.to_string()),
            ("bwd", self.bwd.to_string()),
            ("kd0", kd0.to_string()),
            ("kh0", kh0.to_string()),
            ("kstep", kstep.to_string()),
            ("tm", tm.to_string()),
            ("bn", bn.to_string()),
            ("decl", self.declarations(&layout, &wbase)),
            ("wbase", wbase),
            ("okdecl", Self::valid_flags(&layout)),
            ("body", self.tap_body(&layout)),
            ("store", self.store()),
        ];
        // Subgroups without a live row leave at once (lavapipe then skips them); the others keep
        // every lane, which the broadcasts need.
        let (wt_type, wt_first, lane_builtin, leave) = if self.subgroup_weights {
            (
                "array<f32>",
                "wt[0]",
                ", @builtin(subgroup_invocation_id) lane: u32",
                "    if subgroupAll(!live) { return; }",
            )
        } else {
            ("array<vec4<f32>>", "wt[0].x", "", "")
        };
        vars.push(("wt_type", wt_type.to_string()));
        vars.push(("wt_first", wt_first.to_string()));
        vars.push(("lane_builtin", lane_builtin.to_string()));
        vars.push(("leave", leave.to_string()));
        fill(IGEMM_WGSL, &vars)
    }

    /// Along W, source position = A · jw0 + `constpart(i, kw)` (forward: A = S; input-gradient:
    /// A = 1): the taps that contribute, and the offsets the tile reads.
    fn w_layout(&self) -> WLayout {
        let (s, p) = (self.stride as i64, self.pad as i64);
        let rw = self.class[2] as i64;
        let step = self.step() as i64;
        let bwd = self.bwd;
        let mut taps = Vec::new();
        for kw in 0..self.ks as i64 {
            let ok = if bwd {
                (rw + p - kw).rem_euclid(s) == 0
            } else {
                true
            };
            if ok {
                taps.push(kw);
            }
        }
        let constpart = move |i: i64, kw: i64| -> i64 {
            if bwd {
                (i * step + rw + p - kw).div_euclid(s)
            } else {
                i * s - p + kw
            }
        };
        let mut c0 = i64::MAX;
        for i in 0..self.tm as i64 {
            for &kw in &taps {
                c0 = c0.min(constpart(i, kw));
            }
        }
        if c0 == i64::MAX {
            c0 = 0;
        }
        let mut used = std::collections::BTreeSet::new();
        let mut offset = Vec::new();
        for i in 0..self.tm as i64 {
            let row: Vec<i64> = taps.iter().map(|&kw| constpart(i, kw) - c0).collect();
            used.extend(row.iter().copied());
            offset.push(row);
        }
        WLayout {
            taps,
            c0,
            used,
            offset,
        }
    }

    /// The accumulators and the W-range test of every offset the tile reads.
    fn declarations(&self, layout: &WLayout, wbase: &str) -> String {
        let mut decl = String::new();
        for i in 0..self.tm {
            for jn in 0..self.bn {
                let _ = writeln!(decl, "    var a{i}_{jn}: f32 = 0.0;");
            }
        }
        for e in &layout.used {
            let _ = writeln!(
                decl,
                "    let wv{e} = {wbase} + {e} >= 0 && {wbase} + {e} < SW;"
            );
        }
        decl
    }

    /// Per row: whether each offset's source voxel is valid.
    fn valid_flags(layout: &WLayout) -> String {
        let mut okdecl = String::new();
        for e in &layout.used {
            let _ = writeln!(okdecl, "            let ok{e} = rowok && wv{e};");
        }
        okdecl
    }

    /// The inner loop body: the source values, each tap's weights, the multiply-adds.
    fn tap_body(&self, layout: &WLayout) -> String {
        let bn = self.bn;
        let mut body = String::new();
        for e in &layout.used {
            let _ = writeln!(
                body,
                "                let v{e} = select(0.0, src[u32(select(0, p + {e}, ok{e}))], ok{e});"
            );
        }
        for (t, &kw) in layout.taps.iter().enumerate() {
            let _ = writeln!(
                body,
                "                let wb{kw} = ((tapbase + {kw}u) * CK + ci) * CNP + co0;"
            );
            self.weight_loads(&mut body, kw);
            for (i, row) in layout.offset.iter().enumerate() {
                let e = row[t];
                for jn in 0..bn {
                    let _ = writeln!(
                        body,
                        "                a{i}_{jn} = a{i}_{jn} + v{e} * w{kw}_{jn};"
                    );
                }
            }
        }
        body
    }

    /// The `bn` weights of tap `kw` as `w{kw}_{jn}`.
    fn weight_loads(&self, body: &mut String, kw: i64) {
        let bn = self.bn;
        if self.subgroup_weights {
            // Lane l of the subgroup loads weight l of each group of 8 channels; every lane
            // reads the group's weights from the lanes that loaded them.
            for q8 in 0..bn.div_ceil(8) {
                let _ = writeln!(
                    body,
                    "                let m{kw}q{q8} = wt[min(wb{kw} + {}u + (lane & 7u), WLAST)];",
                    q8 * 8
                );
            }
            for jn in 0..bn {
                let _ = writeln!(
                    body,
                    "                let w{kw}_{jn} = subgroupBroadcast(m{kw}q{}, {}u);",
                    jn / 8,
                    jn % 8
                );
            }
        } else {
            // Weights as vec4 loads (rows padded to a multiple of 4 channels on the host):
            // one workgroup-uniform transaction on a GPU.
            for q4 in 0..bn.div_ceil(4) {
                let _ = writeln!(
                    body,
                    "                let w{kw}q{q4} = wt[min(wb{kw} / 4u + {q4}u, WLAST4)];"
                );
            }
            for jn in 0..bn {
                let lane = ["x", "y", "z", "w"][(jn % 4) as usize];
                let _ = writeln!(
                    body,
                    "                let w{kw}_{jn} = w{kw}q{}.{lane};",
                    jn / 4
                );
            }
        }
    }

    /// Writes the tile's outputs that lie inside the output.
    fn store(&self) -> String {
        let mut store = String::new();
        for i in 0..self.tm {
            let _ = writeln!(store, "        if jw0 + {i}u < JW {{");
            for jn in 0..self.bn {
                let _ = writeln!(
                    store,
                    "            if co0 + {jn}u < CN {{ dst[obase + (co0 + {jn}u) * DVOL + (jw0 + {i}u) * STEP + RW] = a{i}_{jn}; }}"
                );
            }
            let _ = writeln!(store, "        }}");
        }
        store
    }
}

/// Where a tile's W taps read, relative to its first source position.
struct WLayout {
    /// The kernel taps along W that contribute (all of them forward).
    taps: Vec<i64>,
    /// The smallest source offset, which `wbase` includes.
    c0: i64,
    /// Every offset (minus `c0`) the tile reads.
    used: std::collections::BTreeSet<i64>,
    /// `offset[i][t]`: the offset row `i` reads for tap `taps[t]`.
    offset: Vec<Vec<i64>>,
}

/// One launch of `conv3d_wgrad.wgsl`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WgradSpec {
    pub nb: u32,
    pub ci: u32,
    pub co: u32,
    /// Input spatial size.
    pub src: [u32; 3],
    /// Output spatial size.
    pub out: [u32; 3],
    pub ks: u32,
    pub stride: u32,
    pub pad: u32,
    /// Output channels per invocation.
    pub tco: u32,
    /// Input-channel columns per invocation (they share every dy load).
    pub qb: u32,
    /// Output rows (n, od, oh) per split.
    pub rps: u32,
    /// dy values fetched through the subgroup (one per-lane load serves 8 output channels;
    /// needs `tco <= 8` and subgroups of at least 8) instead of workgroup-uniform loads.
    pub subgroup_dy: bool,
    /// Output voxels per iteration of the walk along W (the rest one at a time).
    pub unroll: u32,
}

impl WgradSpec {
    /// Number of splits (grid z) = partial sums the host adds up.
    pub fn splits(&self) -> u32 {
        (self.nb * self.out[0] * self.out[1]).div_ceil(self.rps)
    }

    /// Workgroups (x, y, z).
    pub fn grid(&self) -> (u32, u32, u32) {
        let columns = self.ci.div_ceil(self.qb) * self.ks * self.ks;
        (
            columns.div_ceil(WORKGROUP),
            self.co.div_ceil(self.tco),
            self.splits(),
        )
    }

    /// The sizes the kernel reads from its `info` binding, in the order the shader expects.
    pub fn info(&self) -> Vec<u32> {
        let mut info = vec![self.nb, self.ci, self.co];
        info.extend(self.src);
        info.extend(self.out);
        info.push(self.rps);
        info
    }

    /// What the compiled source depends on: the structural fields, not the sizes.
    pub fn key(&self) -> String {
        format!(
            "wgrad ks={} s={} p={} tco={} qb={} sgdy={} unroll={}",
            self.ks, self.stride, self.pad, self.tco, self.qb, self.subgroup_dy, self.unroll
        )
    }

    /// The complete WGSL source (sizes excluded: they come from [`WgradSpec::info`]).
    pub fn source(&self) -> String {
        let body = self.walk_step("ow", "");
        let unrolled: String = (0..self.unroll)
            .map(|u| self.walk_step(&format!("(ow + {u}u)"), &format!("_{u}")))
            .collect();
        let mut vars: Vec<(&str, String)> = vec![
            ("ks", self.ks.to_string()),
            ("stride", self.stride.to_string()),
            ("pad", self.pad.to_string()),
            ("tco", self.tco.to_string()),
            ("qb", self.qb.to_string()),
            ("decl", self.declarations()),
            ("pre", self.preload()),
            ("unroll", self.unroll.to_string()),
            ("unrolled", unrolled),
            ("body", body),
            ("store", self.store()),
        ];
        let (lane_builtin, leave) = if self.subgroup_dy {
            (
                ", @builtin(subgroup_invocation_id) lane: u32",
                "    if subgroupAll(!live) { return; }",
            )
        } else {
            ("", "    if !live { return; }")
        };
        vars.push(("lane_builtin", lane_builtin.to_string()));
        vars.push(("leave", leave.to_string()));
        fill(WGRAD_WGSL, &vars)
    }

    /// The accumulators and the sliding input window of every column.
    fn declarations(&self) -> String {
        let ks = self.ks as i64;
        let mut decl = String::new();
        for b in 0..self.qb {
            for c in 0..self.tco {
                for k in 0..ks {
                    let _ = writeln!(decl, "    var a{b}_{c}_{k}: f32 = 0.0;");
                }
            }
            for k in 0..ks {
                let _ = writeln!(decl, "    var v{b}_{k}: f32 = 0.0;");
            }
        }
        decl
    }

    /// The input value of column `b` at W position `pos` (0 outside the row).
    fn load(b: u32, pos: String) -> String {
        format!(
            "select(0.0, x[u32(select(0, xrow{b} + {pos}, rowok{b} && {pos} >= 0 && {pos} < SW))], rowok{b} && {pos} >= 0 && {pos} < SW)"
        )
    }

    /// Window v_k holds input position ow*S - P + k. Before the walk, preload the entries that
    /// the first shift keeps: v_m = position (m - S) - P for m >= S.
    fn preload(&self) -> String {
        let (ks, s) = (self.ks as i64, self.stride as i64);
        let mut pre = String::new();
        for b in 0..self.qb {
            let _ = writeln!(pre, "        let rowok{b} = rowok && ci + {b}u * CIH < CI;");
            let _ = writeln!(pre, "        let xrow{b} = xrow + i32({b}u * CIH * SVOL);");
            for m in s..ks {
                let pos = format!("({} - P)", m - s);
                let _ = writeln!(pre, "        v{b}_{m} = {};", Self::load(b, pos));
            }
        }
        pre
    }

    /// One output voxel `ow` of the walk; `tag` keeps the names of unrolled copies apart.
    fn walk_step(&self, ow: &str, tag: &str) -> String {
        let (ks, s, tco, qb) = (self.ks as i64, self.stride as i64, self.tco, self.qb);
        let mut body = String::new();
        let first_new = (ks - s).max(0);
        for b in 0..qb {
            for k in 0..ks {
                if k + s < ks {
                    let _ = writeln!(body, "            v{b}_{k} = v{b}_{};", k + s);
                }
            }
            for k in first_new..ks {
                let pos = format!("(i32({ow}) * S - P + {k})");
                let _ = writeln!(body, "            v{b}_{k} = {};", Self::load(b, pos));
            }
        }
        if self.subgroup_dy {
            for q8 in 0..tco.div_ceil(8) {
                let _ = writeln!(
                    body,
                    "            let gl{q8}{tag} = dy[min(gbase + ({}u + (lane & 7u)) * OVOL + {ow}, DYLAST)];",
                    q8 * 8
                );
            }
        }
        for c in 0..tco {
            if self.subgroup_dy {
                let _ = writeln!(
                    body,
                    "            let g{c}{tag} = subgroupBroadcast(gl{}{tag}, {}u);",
                    c / 8,
                    c % 8
                );
            } else {
                let _ = writeln!(
                    body,
                    "            let g{c}{tag} = dy[min(gbase + {c}u * OVOL + {ow}, DYLAST)];"
                );
            }
            for b in 0..qb {
                for k in 0..ks {
                    let _ = writeln!(
                        body,
                        "            a{b}_{c}_{k} = a{b}_{c}_{k} + g{c}{tag} * v{b}_{k};"
                    );
                }
            }
        }
        body
    }

    /// Writes each column's partial sums of this split.
    fn store(&self) -> String {
        let ks = self.ks as i64;
        let mut store = String::new();
        for b in 0..self.qb {
            let _ = writeln!(store, "    if live && ci + {b}u * CIH < CI {{");
            for c in 0..self.tco {
                let _ = writeln!(store, "        if co0 + {c}u < CO {{");
                for k in 0..ks {
                    let _ = writeln!(
                        store,
                        "            part[((wg.z * CO + co0 + {c}u) * Q + q + {b}u * CIH * KS * KS) * KS + {k}u] = a{b}_{c}_{k};"
                    );
                }
                let _ = writeln!(store, "        }}");
            }
            let _ = writeln!(store, "    }}");
        }
        store
    }
}

/// Split a workgroup count over grid x and z (each at most 65535).
fn split_grid(groups: u32) -> (u32, u32) {
    if groups <= MAX_GRID {
        (groups, 1)
    } else {
        let gz = groups.div_ceil(MAX_GRID);
        (groups.div_ceil(gz), gz)
    }
}

/// Replace every `{{ name }}` placeholder; panics on a placeholder left unfilled (a bug here).
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{ {name} }}}}"), value);
    }
    assert!(
        !out.contains("{{"),
        "unfilled placeholder in a conv3d shader template"
    );
    out
}

/// Tile choice for the implicit-GEMM kernel: (voxels per invocation, channels per workgroup),
/// for destination rows of `row` voxels.
///
/// Measured on lavapipe (16->16 @40^3, forward): (8, 8) beat (2, 16), (4, 16), (4, 8) and
/// (1, 16) by 1.3-3x, and (8, 16) was not faster; more voxels per invocation amortise the
/// weight loads. Rows that 8 does not divide take the size in 5..=8 that leaves the fewest
/// idle voxels at the row's end (a 10-voxel row: 5, not 8 with 6 idle). With subgroup weights
/// (`subgroup_weights`) a weight costs an eighth of a load, and 16 channels per invocation
/// were faster where the layer has more than 8.
pub fn igemm_tile(cn: u32, row: u32, subgroup_weights: bool) -> (u32, u32) {
    let bn = match cn {
        0..=4 => 4,
        9.. if subgroup_weights => 16,
        _ => 8,
    };
    let longest = if subgroup_weights { 10 } else { 8 };
    let idle = |tm: u32| row.div_ceil(tm) * tm - row;
    let tm = (5..=longest)
        .rev()
        .min_by_key(|&tm| idle(tm))
        .unwrap_or(longest);
    (tm, bn)
}

/// Destination channels rounded up to a multiple of 4 (the packed weight row length).
pub fn padded_channels(cn: u32) -> u32 {
    cn.div_ceil(4) * 4
}

/// Tile choice for the weight-gradient kernel: (output channels per invocation, input-channel
/// columns per invocation, rows per split). With dy through the subgroup (`subgroup_dy`, on
/// lavapipe) a dy value costs an eighth of a load, so an invocation takes 16 output channels,
/// and the rows are split into fewer, longer runs (about 32 workgroups in all, enough for the
/// CPU's cores: every split adds a partial sum to add up); on a GPU, 8 channels and about 512
/// workgroups.
pub fn wgrad_tile(ci: u32, co: u32, ks: u32, rows: u32, subgroup_dy: bool) -> (u32, u32, u32) {
    let (most_channels, workgroups) = if subgroup_dy { (16, 32) } else { (8, 512) };
    let tco = co.clamp(1, most_channels);
    let qb = if ci >= 2 { 2 } else { 1 };
    let groups = (ci.div_ceil(qb) * ks * ks).div_ceil(WORKGROUP) * co.div_ceil(tco);
    let splits = (workgroups / groups.max(1)).clamp(1, rows.max(1));
    (tco, qb, rows.max(1).div_ceil(splits))
}

/// Output voxels per iteration of the weight-gradient's walk along a row of `row` voxels, with
/// dy through the subgroup (fewer lane-masked loop updates per multiply-add on lavapipe): 4 or
/// 5, whichever leaves fewer voxels to the one-at-a-time remainder (10-voxel rows: 5). One
/// voxel at a time on GPUs.
pub fn wgrad_unroll(row: u32, subgroup_dy: bool) -> u32 {
    if subgroup_dy {
        [4, 5].into_iter().min_by_key(|u| row % u).unwrap_or(4)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_completely() {
        for bwd in [false, true] {
            for stride in [1, 2] {
                let spec = IgemmSpec {
                    bwd,
                    nb: 2,
                    ck: 5,
                    cn: 7,
                    src: [5, 6, 7],
                    dst: [5, 6, 7],
                    ks: 3,
                    stride,
                    pad: 1,
                    class: [1, 0, 1],
                    tm: 4,
                    bn: 7,
                    subgroup_weights: stride == 2,
                };
                let src = spec.source();
                assert!(src.contains("fn main"));
            }
        }
        let w = WgradSpec {
            nb: 1,
            ci: 3,
            co: 5,
            src: [4, 4, 4],
            out: [2, 2, 2],
            ks: 3,
            stride: 2,
            pad: 1,
            tco: 5,
            qb: 2,
            rps: 2,
            subgroup_dy: true,
            unroll: 3,
        };
        assert!(w.source().contains("fn main"));
    }
}
