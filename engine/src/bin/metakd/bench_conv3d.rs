//! `metakd bench conv3d`: our WGSL conv3d kernels against burn's conv3d on the same wgpu device in
//! the same run, for the network's 3x3x3 layer shapes (batch 1, stride 1, padding 1).
//!
//! Times are medians of several runs after a warm-up, each ended by a device sync; GFLOP/s count
//! 2 * voxels * C_in * C_out * 27 per operation (the same for both gradients).

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
}

struct Layer {
    ci: usize,
    co: usize,
    size: usize,
}

fn layers(quick: bool) -> Vec<Layer> {
    let l = |ci, co, size| Layer { ci, co, size };
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
    let rows = match engine::compute::device(Compute::Wgpu).and_then(|d| measure(&args, &d)) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print(&rows, args.json);
    ExitCode::SUCCESS
}

/// Every layer's three operations, ours and (unless `--ours-only`) burn's.
fn measure(args: &Args, device: &Device) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for layer in layers(args.quick) {
        let s = layer.size;
        let name = format!("{}->{}@{}", layer.ci, layer.co, s);
        let flop = 2.0 * (s * s * s) as f64 * (layer.ci * layer.co * 27) as f64;
        let dist = Distribution::Uniform(-1.0, 1.0);
        let x = Tensor::<5>::random([1, layer.ci, s, s, s], dist, device);
        let w = Tensor::<5>::random([layer.co, layer.ci, 3, 3, 3], dist, device);
        let dy = Tensor::<5>::random([1, layer.co, s, s, s], dist, device);
        let opt = Conv3dOptions::new(1, 1);
        let burn_opt = ConvOptions::new([1; 3], [1; 3], [1; 3], 1);
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
                ops::conv3d_weight_grad(x.clone(), dy.clone(), 3, opt)
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

/// The rows as a table, or as the JSON array the issue specifies.
fn print(rows: &[Row], json: bool) {
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
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        println!(
            "{:<14} {:<12} {:>10} {:>10} {:>10} {:>10} {:>8}",
            "layer", "op", "ours ms", "GFLOP/s", "burn ms", "GFLOP/s", "speedup"
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
            println!(
                "{:<14} {:<12} {:>10.1} {:>10.1} {:>10} {:>10} {:>8}",
                r.layer,
                r.op,
                r.ours_ms,
                r.gflop / (r.ours_ms / 1e3),
                bms,
                bg,
                sp
            );
        }
    }
}
