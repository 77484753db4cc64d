//! Correctness of the WGSL 3D-convolution kernels (`engine::ops`) on the wgpu device (lavapipe in
//! CI) and of the CPU path on burn's Flex backend: forward, input-gradient and weight-gradient
//! against a plain f64 CPU reference and against burn's NdArray conv3d, through the autodiff
//! path, plus a finite-difference check.
//!
//! Tolerance: |ours - f64 reference| <= 1e-5 + 2e-6 * T, with T the number of products summed
//! into one output (uniform data in [-1, 1]); f32 accumulation error grows like sqrt(T) * 6e-8,
//! so this is loose for rounding and tight for any missing or extra term (each of size ~0.25).
#![allow(deprecated)] // NdArray: burn's reference CPU backend in 0.22.

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use engine::ops::reference::{self, Geometry};
use engine::ops::{self, Conv3dOptions, Tuning};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn gpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice)
}

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn tensor(data: &[f32], shape: [usize; 5], device: &Device) -> Tensor<5> {
    Tensor::<5>::from_data(TensorData::new(data.to_vec(), shape), device)
}

fn values(t: Tensor<5>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("f32 data")
}

fn compare(what: &str, got: &[f32], want: &[f64], terms: usize) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let tol = 1e-5 + 2e-6 * terms as f64;
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol,
            "{what}: element {i}: got {g}, want {w} (error {err:e} > {tol:e})"
        );
        worst = worst.max(err);
    }
}

struct Case {
    g: Geometry,
    x: Vec<f32>,
    w: Vec<f32>,
    dy: Vec<f32>,
}

impl Case {
    fn new(
        n: usize,
        ci: usize,
        co: usize,
        input: [usize; 3],
        k: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        let g = Geometry {
            n,
            ci,
            co,
            input,
            k,
            stride,
            padding,
        };
        let [od, oh, ow] = g.output();
        let seed =
            (n * 1000 + ci * 100 + co * 10 + k + stride * 7 + padding * 13 + input[0]) as u64;
        Self {
            x: random(n * ci * input.iter().product::<usize>(), seed),
            w: random(co * ci * k * k * k, seed + 1),
            dy: random(n * co * od * oh * ow, seed + 2),
            g,
        }
    }

    fn shapes(&self) -> ([usize; 5], [usize; 5], [usize; 5]) {
        let g = &self.g;
        let [d, h, w] = g.input;
        let [od, oh, ow] = g.output();
        (
            [g.n, g.ci, d, h, w],
            [g.co, g.ci, g.k, g.k, g.k],
            [g.n, g.co, od, oh, ow],
        )
    }

    fn options(&self) -> Conv3dOptions {
        Conv3dOptions::new(self.g.stride, self.g.padding)
    }

    /// Our three primitives on `device`.
    fn run(&self, device: &Device) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (xs, ws, ys) = self.shapes();
        let x = tensor(&self.x, xs, device);
        let w = tensor(&self.w, ws, device);
        let dy = tensor(&self.dy, ys, device);
        let y = ops::conv3d(x.clone(), w.clone(), None, self.options());
        let dx = ops::conv3d_input_grad(dy.clone(), w, self.g.input, self.options());
        let dw = ops::conv3d_weight_grad(x, dy, self.g.k, self.options());
        (values(y), values(dx), values(dw))
    }

    /// Our three primitives on `device` against the f64 reference.
    fn check_on(&self, device: &Device) {
        let g = &self.g;
        let name = format!("{g:?} on {device:?}");
        let (y, dx, dw) = self.run(device);
        let k3 = g.k * g.k * g.k;
        compare(
            &format!("forward {name}"),
            &y,
            &reference::forward(g, &self.x, &self.w),
            g.ci * k3,
        );
        compare(
            &format!("input-grad {name}"),
            &dx,
            &reference::input_grad(g, &self.dy, &self.w),
            g.co * k3,
        );
        let [od, oh, ow] = g.output();
        compare(
            &format!("weight-grad {name}"),
            &dw,
            &reference::weight_grad(g, &self.x, &self.dy),
            g.n * od * oh * ow,
        );
    }
}

/// Serialises the tests that choose the kernel tuning (a process-wide setting).
static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `cases` with both kernel tunings: lavapipe's (shared values through the subgroup; what
/// CI's lavapipe takes by default) and the GPUs' (workgroup-uniform loads), then restores the
/// default.
fn with_each_tuning(cases: impl Fn(&Device)) {
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    for tuning in [Tuning::Lavapipe, Tuning::Gpu] {
        ops::set_tuning(tuning);
        cases(&gpu());
    }
    ops::set_tuning(Tuning::Auto);
}

/// Holds the tuning lock with the default (automatic) tuning, for the tests that do not choose
/// one: without it they would run under whatever tuning a parallel test set.
fn default_tuning() -> std::sync::MutexGuard<'static, ()> {
    let guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    ops::set_tuning(Tuning::Auto);
    guard
}

/// Every kernel size / stride / padding combination the model can use, odd sizes, batch 1 and 3,
/// with both kernel tunings.
#[test]
fn kernel_stride_padding_grid() {
    with_each_tuning(kernel_stride_padding_cases);
}

/// The same grid on the CPU path (Flex).
#[test]
fn cpu_path_kernel_stride_padding_grid() {
    kernel_stride_padding_cases(&Device::flex());
}

fn kernel_stride_padding_cases(device: &Device) {
    for (k, s, p) in [
        (1, 1, 0),
        (1, 2, 0),
        (2, 1, 0),
        (2, 1, 1),
        (2, 2, 0),
        (2, 2, 1),
        (3, 1, 0),
        (3, 1, 1),
        (3, 1, 2),
        (3, 2, 0),
        (3, 2, 1),
        (3, 2, 2),
    ] {
        for (n, input) in [(1, [5, 6, 7]), (3, [4, 5, 3])] {
            Case::new(n, 3, 5, input, k, s, p).check_on(device);
        }
    }
}

/// Channel counts 1..100 including primes and counts that are not multiples of any tile size,
/// with both kernel tunings.
#[test]
fn channel_counts() {
    with_each_tuning(channel_count_cases);
}

/// The same channel counts on the CPU path (Flex).
#[test]
fn cpu_path_channel_counts() {
    channel_count_cases(&Device::flex());
}

fn channel_count_cases(device: &Device) {
    for (ci, co) in [
        (1, 1),
        (1, 4),
        (4, 16),
        (16, 4),
        (7, 13),
        (16, 16),
        (17, 31),
        (32, 33),
        (70, 3),
        (3, 70),
        (64, 64),
        (100, 7),
        (7, 100),
    ] {
        Case::new(1, ci, co, [5, 4, 6], 3, 1, 1).check_on(device);
    }
    for (ci, co) in [(13, 29), (70, 70)] {
        Case::new(1, ci, co, [5, 5, 5], 3, 2, 1).check_on(device);
    }
}

/// Larger spatial extent along W than the register block, odd and even.
#[test]
fn long_rows() {
    let _tuning = default_tuning();
    for device in [gpu(), Device::flex()] {
        Case::new(1, 4, 16, [3, 4, 19], 3, 1, 1).check_on(&device);
        Case::new(2, 8, 8, [4, 3, 20], 3, 2, 1).check_on(&device);
        Case::new(1, 5, 6, [3, 5, 17], 1, 1, 0).check_on(&device);
    }
}

/// The CPU path's register-tile kernels: the row kernel (multiples of 8 output channels; stride 1,
/// and stride 2 on output rows of 8 voxels or more with AVX-512) and the direct kernel (stride
/// 2, shorter rows or no AVX-512), rows of whole tiles plus a remainder, and through the
/// stride-1 input gradient (8 input channels).
#[test]
fn cpu_path_register_tile_kernels() {
    let cpu = Device::flex();
    Case::new(1, 3, 8, [3, 4, 29], 3, 1, 1).check_on(&cpu);
    Case::new(1, 16, 16, [2, 3, 27], 3, 1, 1).check_on(&cpu);
    Case::new(1, 4, 16, [3, 5, 30], 3, 2, 1).check_on(&cpu);
    Case::new(1, 4, 16, [3, 5, 70], 3, 2, 1).check_on(&cpu);
    Case::new(2, 8, 3, [3, 2, 26], 3, 1, 1).check_on(&cpu);
    Case::new(1, 1, 8, [4, 4, 24], 3, 1, 0).check_on(&cpu);
}

/// Our API on NdArray (burn's conv3d) agrees with ours on wgpu.
#[test]
fn agrees_with_burn_ndarray() {
    let _tuning = default_tuning();
    for (n, ci, co, input, k, s, p) in [
        (1, 4, 16, [6, 5, 7], 3, 1, 1),
        (3, 5, 3, [5, 5, 5], 3, 2, 1),
        (2, 6, 4, [4, 6, 5], 1, 2, 0),
        (1, 8, 4, [3, 4, 5], 2, 2, 0),
    ] {
        let case = Case::new(n, ci, co, input, k, s, p);
        let ours = case.run(&gpu());
        let burn = case.run(&Device::ndarray());
        let terms = (ci.max(co) * k * k * k).max(n * 200);
        let f = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
        compare("forward vs ndarray", &ours.0, &f(&burn.0), terms);
        compare("input-grad vs ndarray", &ours.1, &f(&burn.1), terms);
        compare("weight-grad vs ndarray", &ours.2, &f(&burn.2), terms);
    }
}

/// Gradients through autodiff (conv3d with bias, then the upsampling) match burn's NdArray autodiff
/// of burn's own conv3d / conv_transpose3d, on the wgpu device and on the CPU path.
#[test]
fn autodiff_matches_burn() {
    let _tuning = default_tuning();
    autodiff_matches_burn_on(&gpu());
    autodiff_matches_burn_on(&Device::flex());
}

fn autodiff_matches_burn_on(device: &Device) {
    use burn::tensor::module::{conv3d as burn_conv3d, conv_transpose3d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    let (n, ci, cm, co) = (2, 3, 5, 4);
    let xv = random(n * ci * 5 * 4 * 6, 1);
    let wv = random(cm * ci * 27, 2);
    let bv = random(cm, 3);
    let uv = random(cm * co * 8, 4);
    let ubv = random(co, 5);
    let rv = random(n * co * 10 * 8 * 12, 6);
    let run = |device: &Device, ours: bool| {
        let x = tensor(&xv, [n, ci, 5, 4, 6], device).require_grad();
        let w = tensor(&wv, [cm, ci, 3, 3, 3], device).require_grad();
        let b = Tensor::<1>::from_data(TensorData::new(bv.clone(), [cm]), device).require_grad();
        let u = tensor(&uv, [cm, co, 2, 2, 2], device).require_grad();
        let ub = Tensor::<1>::from_data(TensorData::new(ubv.clone(), [co]), device).require_grad();
        let r = tensor(&rv, [n, co, 10, 8, 12], device);
        let (h, y) = if ours {
            let h = ops::conv3d(
                x.clone(),
                w.clone(),
                Some(b.clone()),
                Conv3dOptions::new(1, 1),
            );
            let y = ops::conv_transpose3d_up2(h.clone(), u.clone(), Some(ub.clone()));
            (h, y)
        } else {
            let h = burn_conv3d(
                x.clone(),
                w.clone(),
                Some(b.clone()),
                ConvOptions::new([1; 3], [1; 3], [1; 3], 1),
            );
            let opt = ConvTransposeOptions::new([2; 3], [0; 3], [0; 3], [1; 3], 1);
            let y = conv_transpose3d(h.clone(), u.clone(), Some(ub.clone()), opt);
            (h, y)
        };
        let _ = h;
        let loss = (y.clone() * r).sum();
        let grads = loss.backward();
        let g5 = |t: &Tensor<5>| values(t.grad(&grads).expect("gradient"));
        let g1 = |t: &Tensor<1>| {
            t.grad(&grads)
                .expect("gradient")
                .into_data()
                .to_vec::<f32>()
                .unwrap()
        };
        (values(y), g5(&x), g5(&w), g1(&b), g5(&u), g1(&ub))
    };
    let ours = run(&device.clone().autodiff(), true);
    let burn = run(&Device::ndarray().autodiff(), false);
    let f = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
    compare("upsampled output", &ours.0, &f(&burn.0), 500);
    compare("dL/dx", &ours.1, &f(&burn.1), 500);
    compare("dL/dw", &ours.2, &f(&burn.2), 5000);
    compare("dL/db", &ours.3, &f(&burn.3), 5000);
    compare("dL/du", &ours.4, &f(&burn.4), 5000);
    compare("dL/dub", &ours.5, &f(&burn.5), 5000);
}

/// Central finite differences of L = sum(conv3d(x, w) * r) at a tiny size, computed with our
/// forward kernel on the device, against our autodiff gradients (L is linear in x and w, so the
/// difference quotient is exact up to f32 rounding of L).
#[test]
fn finite_difference() {
    let _tuning = default_tuning();
    let device = gpu();
    let g = Geometry {
        n: 1,
        ci: 2,
        co: 3,
        input: [4, 3, 5],
        k: 3,
        stride: 2,
        padding: 1,
    };
    let [od, oh, ow] = g.output();
    let xv = random(2 * 60, 11);
    let wv = random(3 * 2 * 27, 12);
    let rv = random(3 * od * oh * ow, 13);
    let opt = Conv3dOptions::new(2, 1);
    let loss = |xv: &[f32], wv: &[f32]| -> f64 {
        let y = ops::conv3d(
            tensor(xv, [1, 2, 4, 3, 5], &device),
            tensor(wv, [3, 2, 3, 3, 3], &device),
            None,
            opt,
        );
        values(y)
            .iter()
            .zip(&rv)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum()
    };
    let ad = device.clone().autodiff();
    let x = tensor(&xv, [1, 2, 4, 3, 5], &ad).require_grad();
    let w = tensor(&wv, [3, 2, 3, 3, 3], &ad).require_grad();
    let y = ops::conv3d(x.clone(), w.clone(), None, opt);
    let grads = (y * tensor(&rv, [1, 3, od, oh, ow], &ad)).sum().backward();
    let gx = values(x.grad(&grads).unwrap());
    let gw = values(w.grad(&grads).unwrap());
    let eps = 0.05f32;
    for i in [0, 7, 33, 59, 60, 101, 119] {
        let (mut p, mut m) = (xv.clone(), xv.clone());
        p[i] += eps;
        m[i] -= eps;
        let fd = (loss(&p, &wv) - loss(&m, &wv)) / (2.0 * eps as f64);
        assert!(
            (fd - gx[i] as f64).abs() < 2e-3,
            "dL/dx[{i}]: fd {fd} vs {}",
            gx[i]
        );
    }
    for i in [0, 13, 26, 53, 80, 161] {
        let (mut p, mut m) = (wv.clone(), wv.clone());
        p[i] += eps;
        m[i] -= eps;
        let fd = (loss(&xv, &p) - loss(&xv, &m)) / (2.0 * eps as f64);
        assert!(
            (fd - gw[i] as f64).abs() < 2e-3,
            "dL/dw[{i}]: fd {fd} vs {}",
            gw[i]
        );
    }
}
