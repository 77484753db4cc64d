//! `metakd bench conv3d`: our conv3d kernels against burn's conv3d on the same device in the
//! same run. On wgpu (the default) our WGSL kernels for the network's 3x3x3 layer shapes (batch
//! 1, stride 1, padding 1); with `--compute cpu` our channels-last CPU path against burn's Flex
//! for every convolution of the `desktop` network as one inference batch runs it, next to the
//! machine's matrix-product peak measured in the same run.
//!
//! Times are medians of several runs after a warm-up, each ended by a device sync; GFLOP/s count
//! 2 * output voxels * C_in * C_out * k^3 per operation (the same for both gradients).

use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::Dispatch;
use burn::tensor::{Device, Distribution, Tensor};
use engine::compute::Compute;
use engine::ops::{self, Conv3dOptions, Tuning};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Smaller volumes (same channel counts at 40^3 / 20^3 / 10^3), a few minutes on lavapipe.
    #[arg(long)]
    quick: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Skip burn's kernels (only ours).
    #[arg(long)]
    ours_only: bool,
    /// Which measured kernel choices to take: `auto` (lavapipe's on lavapipe, the GPUs'
    /// elsewhere), `gpu` or `lavapipe` (see docs/conv3d.md).
    #[arg(long, value_parser = ["auto", "gpu", "lavapipe"], default_value = "auto")]
    tuning: String,
    /// Where to run: `wgpu` (our WGSL kernels) or `cpu` (our CPU path against burn's Flex, on
    /// the `desktop` network's layers).
    #[arg(long, value_parser = ["wgpu", "cpu"], default_value = "wgpu")]
    compute: String,
}

/// One convolution: batch, channels, input size (cube), kernel, stride, padding.
struct Layer {
    n: usize,
    ci: usize,
    co: usize,
    size: usize,
    k: usize,
    stride: usize,
    pad: usize,
}

impl Layer {
    fn new(ci: usize, co: usize, size: usize) -> Layer {
        Layer {
            n: 1,
            ci,
            co,
            size,
            k: 3,
            stride: 1,
            pad: 1,
        }
    }

    fn output(&self) -> usize {
        (self.size + 2 * self.pad - self.k) / self.stride + 1
    }

    fn name(&self) -> String {
        let mut name = format!("{}->{}@{}", self.ci, self.co, self.size);
        if self.n > 1 || self.k != 3 || self.stride != 1 || self.pad != 1 {
            name = format!("{}x{name} k{}s{}p{}", self.n, self.k, self.stride, self.pad);
        }
        name
    }
}

/// Every convolution of the `desktop` network (channels 8-16-32-64, shared encoder, concat
/// fusion) in one inference batch of four 48^3 windows: the encoder sees 16 single-modality
/// volumes, the decoder 4. Each 2x2x2 upsampling from `c_in` to `c_out` channels is the input
/// gradient of the k2s2 layer `c_out -> c_in` listed before its level (its forward and weight
/// gradient are the upsampling's two gradients in training).
fn desktop_layers() -> Vec<Layer> {
    let l = |n, ci, co, size, k, stride| Layer {
        n,
        ci,
        co,
        size,
        k,
        stride,
        pad: k / 2,
    };
    let up = |n, ci, co, size| Layer {
        pad: 0,
        ..l(n, ci, co, size, 2, 2)
    };
    vec![
        l(16, 1, 8, 48, 3, 1),
        l(16, 8, 16, 48, 3, 2),
        l(16, 16, 32, 24, 3, 2),
        l(16, 32, 64, 12, 3, 2),
        up(4, 32, 256, 12),
        l(4, 128, 32, 12, 1, 1),
        l(4, 32, 32, 12, 3, 1),
        up(4, 16, 32, 24),
        l(4, 64, 16, 24, 1, 1),
        l(4, 16, 16, 24, 3, 1),
        up(4, 8, 16, 48),
        l(4, 32, 8, 48, 1, 1),
        l(4, 8, 8, 48, 3, 1),
    ]
}

fn layers(quick: bool) -> Vec<Layer> {
    let l = Layer::new;
    if quick {
        vec![
            l(4, 16, 40),
            l(16, 16, 40),
            l(32, 32, 20),
            l(64, 64, 10),
            l(128, 128, 10),
        ]
    } else {
        vec![
            l(4, 16, 80),
            l(16, 16, 80),
            l(32, 32, 40),
            l(64, 64, 20),
            l(128, 128, 10),
            l(4, 16, 128),
            l(16, 16, 128),
        ]
    }
}

/// Median wall time in ms of `f` (each run synced), after one warm-up run.
fn time(device: &Device, budget_s: f64, mut f: impl FnMut() -> Tensor<5>) -> Result<f64, String> {
    let sync = |t: Tensor<5>| {
        drop(t);
        device
            .sync()
            .map_err(|e| format!("the wgpu device failed during the benchmark: {e:?}"))
    };
    sync(f())?;
    let mut runs = Vec::new();
    let start = Instant::now();
    while runs.len() < 3 || (runs.len() < 15 && start.elapsed().as_secs_f64() < budget_s) {
        let t0 = Instant::now();
        sync(f())?;
        runs.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    runs.sort_by(|a, b| a.total_cmp(b));
    Ok(runs[runs.len() / 2])
}

struct Row {
    layer: String,
    op: &'static str,
    ours_ms: f64,
    burn_ms: Option<f64>,
    gflop: f64,
}

pub fn run(args: Args) -> ExitCode {
    ops::set_tuning(match args.tuning.as_str() {
        "gpu" => Tuning::Gpu,
        "lavapipe" => Tuning::Lavapipe,
        _ => Tuning::Auto,
    });
    let cpu = args.compute == "cpu";
    let compute = if cpu { Compute::Cpu } else { Compute::Wgpu };
    let rows = match engine::compute::device(compute).and_then(|d| measure(&args, &d)) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let peak = cpu.then(matmul_peak_gflops);
    print(&rows, args.json, peak);
    ExitCode::SUCCESS
}

/// The CPU's attainable f32 peak as this machine reaches it: a 2048^3 matrix product on the
/// `gemm` crate (AVX2 / AVX-512 micro-kernels) on every core rayon uses, best of 5.
fn matmul_peak_gflops() -> f64 {
    let n = 2048;
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0.0f32; n * n];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = Instant::now();
        // SAFETY: three n x n column-major matrices, each of n * n values.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                n as isize,
                1,
                false,
                a.as_ptr(),
                n as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// Every layer's three operations, ours and (unless `--ours-only`) burn's.
fn measure(args: &Args, device: &Device) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let list = if args.compute == "cpu" {
        desktop_layers()
    } else {
        layers(args.quick)
    };
    for layer in list {
        let (s, o, k, n) = (layer.size, layer.output(), layer.k, layer.n);
        let name = layer.name();
        let flop = 2.0 * (n * o * o * o) as f64 * (layer.ci * layer.co * k * k * k) as f64;
        let dist = Distribution::Uniform(-1.0, 1.0);
        let x = Tensor::<5>::random([n, layer.ci, s, s, s], dist, device);
        let w = Tensor::<5>::random([layer.co, layer.ci, k, k, k], dist, device);
        let dy = Tensor::<5>::random([n, layer.co, o, o, o], dist, device);
        let (stride, pad) = (layer.stride, layer.pad);
        let opt = Conv3dOptions::new(stride, pad);
        let burn_opt = ConvOptions::new([stride; 3], [pad; 3], [1; 3], 1);
        let budget = if args.quick { 2.0 } else { 5.0 };
        if !args.json {
            eprintln!("{name} ...");
        }

        let ours = [
            time(device, budget, || {
                ops::conv3d(x.clone(), w.clone(), None, opt)
            })?,
            time(device, budget, || {
                ops::conv3d_input_grad(dy.clone(), w.clone(), [s; 3], opt)
            })?,
            time(device, budget, || {
                ops::conv3d_weight_grad(x.clone(), dy.clone(), k, opt)
            })?,
        ];
        let burn: [Option<f64>; 3] = if args.ours_only {
            [None; 3]
        } else {
            let prim = |t: &Tensor<5>| t.clone().into_dispatch();
            [
                Some(time(device, budget, || {
                    Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv3d(
                        prim(&x),
                        prim(&w),
                        None,
                        burn_opt.clone(),
                    ))
                })?),
                Some(time(device, budget, || {
                    Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv3d_x_backward(
                        prim(&x),
                        prim(&w),
                        prim(&dy),
                        burn_opt.clone(),
                    ))
                })?),
                Some(time(device, budget, || {
                    Tensor::from_dispatch(
                        <Dispatch as ModuleOps<Dispatch>>::conv3d_weight_backward(
                            prim(&x),
                            prim(&w),
                            prim(&dy),
                            burn_opt.clone(),
                        ),
                    )
                })?),
            ]
        };
        for (i, op) in ["forward", "input_grad", "weight_grad"]
            .into_iter()
            .enumerate()
        {
            rows.push(Row {
                layer: name.clone(),
                op,
                ours_ms: ours[i],
                burn_ms: burn[i],
                gflop: flop / 1e9,
            });
        }
    }

    Ok(rows)
}

/// The rows as a table, or as the JSON array the issue specifies; with the CPU's measured
/// matrix-product peak (`peak`, GFLOP/s) each row's share of it.
fn print(rows: &[Row], json: bool, peak: Option<f64>) {
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "layer": r.layer,
                    "op": r.op,
                    "ours_ms": r.ours_ms,
                    "ours_gflops": r.gflop / (r.ours_ms / 1e3),
                    "burn_ms": r.burn_ms,
                    "burn_gflops": r.burn_ms.map(|b| r.gflop / (b / 1e3)),
                    "speedup": r.burn_ms.map(|b| b / r.ours_ms),
                    "ours_share_of_peak": peak.map(|p| r.gflop / (r.ours_ms / 1e3) / p),
                    "peak_gflops": peak,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        println!(
            "{:<22} {:<12} {:>10} {:>10} {:>7} {:>10} {:>10} {:>8}",
            "layer", "op", "ours ms", "GFLOP/s", "% peak", "burn ms", "GFLOP/s", "speedup"
        );
        for r in rows {
            let (bms, bg, sp) = match r.burn_ms {
                Some(b) => (
                    format!("{b:.1}"),
                    format!("{:.1}", r.gflop / (b / 1e3)),
                    format!("{:.1}x", b / r.ours_ms),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let gflops = r.gflop / (r.ours_ms / 1e3);
            let share = peak.map_or("-".into(), |p| format!("{:.0}", 100.0 * gflops / p));
            println!(
                "{:<22} {:<12} {:>10.1} {:>10.1} {:>7} {:>10} {:>10} {:>8}",
                r.layer, r.op, r.ours_ms, gflops, share, bms, bg, sp
            );
        }
        if let Some(p) = peak {
            println!("peak: {p:.1} GFLOP/s (2048^3 f32 matrix product on the gemm crate, all rayon threads, best of 5)");
        }
    }
}
