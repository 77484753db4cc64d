//! [`Conv3dBackend`] for burn's cubecl backend: launches the WGSL kernels of `kernels.rs`.
//!
//! Inputs are made contiguous (NCDHW), weights are repacked to `[tap][K-side][N-side]` with burn's
//! own permute (tiny tensors), outputs are allocated with `client.empty` and written completely by
//! the kernels. Weight-gradient partial sums are added with burn's `sum_dim`.

use super::kernels::{
    igemm_tile, padded_channels, wgrad_tile, wgrad_unroll, IgemmSpec, WgradSpec, WORKGROUP,
};
use super::tuning::lavapipe_tuned;
use super::Conv3dBackend;
use burn::backend::ops::FloatTensorOps;
use burn::backend::wgpu::{
    into_contiguous, CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate,
};
use burn::backend::{FloatDType, TensorMetadata};
use burn::tensor::Shape;
use cubecl::prelude::{CubeCount, CubeDim, KernelId};
use cubecl::server::KernelArguments;

/// One launch's kernel. cubecl asks for the WGSL only when it compiles a key it has not seen,
/// so the text is generated once per variant, not on every launch.
enum Wgsl {
    Igemm(IgemmSpec),
    Wgrad(WgradSpec),
}

impl KernelSource for Wgsl {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(match self {
            Wgsl::Igemm(spec) => spec.source(),
            Wgsl::Wgrad(spec) => spec.source(),
        })
    }

    fn id(&self) -> KernelId {
        let key = match self {
            Wgsl::Igemm(spec) => spec.key(),
            Wgsl::Wgrad(spec) => spec.key(),
        };
        KernelId::new::<Self>().info(key)
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

fn dims5(t: &CubeTensor) -> [usize; 5] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3], s[4]]
}

/// A size as the kernels' `u32`. The model sends only tensors under 2³² values here
/// (`ops::indexable`), so every size fits.
fn u(v: usize) -> u32 {
    u32::try_from(v).expect("conv3d: size exceeds u32")
}

/// Allocate a contiguous f32 tensor on `like`'s device.
fn empty(like: &CubeTensor, shape: Vec<usize>) -> CubeTensor {
    let n: usize = shape.iter().product();
    let handle = like.client.empty(n.max(1) * 4);
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape),
        handle,
        like.dtype,
    )
}

/// Launch `kernel` over `grid` with the bindings `src`, `wt`, `dst` and the sizes `info`.
fn launch(
    src: &CubeTensor,
    wt: &CubeTensor,
    dst: &CubeTensor,
    info: &[u32],
    kernel: Wgsl,
    grid: (u32, u32, u32),
) {
    let info = src.client.create_from_slice(bytemuck::cast_slice(info));
    src.client.launch(
        Box::new(SourceKernel::new(kernel, CubeDim::new_1d(WORKGROUP))),
        CubeCount::Static(grid.0, grid.1, grid.2),
        KernelArguments::new().with_buffers(vec![
            src.handle.clone().binding(),
            wt.handle.clone().binding(),
            dst.handle.clone().binding(),
            info.binding(),
        ]),
    );
}

/// Pad the last (destination-channel) axis of packed weights to a multiple of 4 with zeros.
fn pad_channels(wt: CubeTensor) -> CubeTensor {
    let s = dims5(&wt);
    let cnp = padded_channels(u(s[4])) as usize;
    if cnp == s[4] {
        return wt;
    }
    let zeros = CubeBackend::float_zeros(
        Shape::from(vec![s[0], s[1], s[2], s[3], cnp - s[4]]),
        &wt.device,
        FloatDType::F32,
    );
    into_contiguous(CubeBackend::float_cat(vec![wt, zeros], 4))
}

/// Run the implicit-GEMM kernel over all parity classes into a fresh `[nb, cn, dst]` tensor.
/// `wt` is the packed weight `[kd][kh][kw][reduction channel][destination channel]`.
fn igemm(
    src: CubeTensor,
    wt: CubeTensor,
    bwd: bool,
    dst: [usize; 3],
    stride: usize,
    pad: usize,
) -> CubeTensor {
    let [ks, _, _, _, cn] = dims5(&wt);
    let wt = pad_channels(wt);
    let s = dims5(&src);
    let out = empty(&src, vec![s[0], cn, dst[0], dst[1], dst[2]]);
    let row = if bwd && stride == 2 {
        dst[2].div_ceil(2)
    } else {
        dst[2]
    };
    let subgroup_weights = lavapipe_tuned(&src);
    let (tm, bn) = igemm_tile(u(cn), u(row), subgroup_weights);
    let classes: Vec<[u32; 3]> = if bwd && stride == 2 {
        (0..8)
            .map(|c| [(c >> 2) & 1, (c >> 1) & 1, c & 1])
            .collect()
    } else {
        vec![[0, 0, 0]]
    };
    for class in classes {
        let spec = IgemmSpec {
            bwd,
            nb: u(s[0]),
            ck: u(s[1]),
            cn: u(cn),
            src: [u(s[2]), u(s[3]), u(s[4])],
            dst: [u(dst[0]), u(dst[1]), u(dst[2])],
            ks: u(ks),
            stride: u(stride),
            pad: u(pad),
            class,
            tm,
            bn,
            subgroup_weights,
        };
        if let Some(grid) = spec.grid() {
            launch(&src, &wt, &out, &spec.info(), Wgsl::Igemm(spec), grid);
        }
    }
    out
}

impl Conv3dBackend for CubeBackend {
    fn conv3d_forward(
        x: CubeTensor,
        weight: CubeTensor,
        stride: usize,
        padding: usize,
    ) -> CubeTensor {
        let x = into_contiguous(x);
        let k = dims5(&weight)[2];
        // [co][ci][kd][kh][kw] -> [kd][kh][kw][ci][co]
        let wt = into_contiguous(CubeBackend::float_permute(weight, &[2, 3, 4, 1, 0]));
        let s = dims5(&x);
        let o = |n: usize| (n + 2 * padding - k) / stride + 1;
        igemm(x, wt, false, [o(s[2]), o(s[3]), o(s[4])], stride, padding)
    }

    fn conv3d_input_grad(
        dy: CubeTensor,
        weight: CubeTensor,
        input: [usize; 3],
        stride: usize,
        padding: usize,
    ) -> CubeTensor {
        let dy = into_contiguous(dy);
        // [co][ci][kd][kh][kw] -> [kd][kh][kw][co][ci]
        let wt = into_contiguous(CubeBackend::float_permute(weight, &[2, 3, 4, 0, 1]));
        igemm(dy, wt, true, input, stride, padding)
    }

    fn conv3d_weight_grad(
        x: CubeTensor,
        dy: CubeTensor,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> CubeTensor {
        let x = into_contiguous(x);
        let dy = into_contiguous(dy);
        let s = dims5(&x);
        let o = dims5(&dy);
        let rows = u(o[0] * o[2] * o[3]);
        let subgroup_dy = lavapipe_tuned(&x);
        let (tco, qb, rps) = wgrad_tile(u(s[1]), u(o[1]), u(kernel), rows, subgroup_dy);
        let spec = WgradSpec {
            nb: u(s[0]),
            ci: u(s[1]),
            co: u(o[1]),
            src: [u(s[2]), u(s[3]), u(s[4])],
            out: [u(o[2]), u(o[3]), u(o[4])],
            ks: u(kernel),
            stride: u(stride),
            pad: u(padding),
            tco,
            qb,
            rps,
            subgroup_dy,
            unroll: wgrad_unroll(u(o[4]), subgroup_dy),
        };
        let z = spec.splits() as usize;
        let k3 = kernel * kernel * kernel;
        let part = empty(&x, vec![z, o[1] * s[1] * k3]);
        let (info, grid) = (spec.info(), spec.grid());
        launch(&x, &dy, &part, &info, Wgsl::Wgrad(spec), grid);
        let summed = if z > 1 {
            CubeBackend::float_sum_dim(part, 0)
        } else {
            part
        };
        CubeBackend::float_reshape(
            summed,
            Shape::from(vec![o[1], s[1], kernel, kernel, kernel]),
        )
    }
}
