//! What the runs' `metrics.jsonl` say about the methods: MetaKD's modality weights over time,
//! LCKD's elected teachers whenever they change, and seconds per iteration per method.

use super::arms::Arm;
use crate::train::config::Method;
use crate::train::StepMetrics;

/// One run's arm, seed and step lines.
pub struct RunSteps {
    pub arm: Arm,
    pub seed: u64,
    pub steps: Vec<StepMetrics>,
}

/// MetaKD's weights every `every` iterations and LCKD's teachers when they change, as the
/// CSV texts `metakd_weights.csv` and `lckd_teachers.csv`.
pub fn strategy_logs(runs: &[RunSteps], every: u64) -> (String, String) {
    let mut weights = String::from("arm,seed,iteration,flair,t1,t1ce,t2\n");
    let mut teachers = String::from("seed,iteration,teachers\n");
    for run in runs {
        let seed = run.seed;
        let mut last = String::new();
        for step in &run.steps {
            let iteration = step.iteration;
            match run.arm.method {
                Method::Metakd if iteration.is_multiple_of(every) => {
                    if let Some(w) = step.modality_weights {
                        let w: Vec<String> = w.iter().map(|v| format!("{v:.4}")).collect();
                        let arm = run.arm.name();
                        weights.push_str(&format!("{arm},{seed},{iteration},{}\n", w.join(",")));
                    }
                }
                Method::Lckd => {
                    let t = step.teachers.clone().unwrap_or_default();
                    if t != last {
                        teachers.push_str(&format!("{seed},{iteration},{t}\n"));
                        last = t;
                    }
                }
                _ => {}
            }
        }
    }
    (weights, teachers)
}

/// Seconds per iteration of each arm over all its runs (median, mean, max) as Markdown.
pub fn iteration_costs(runs: &[RunSteps]) -> String {
    let mut out = String::from(
        "| method | iterations | median s | mean s | max s |\n|---|---:|---:|---:|---:|\n",
    );
    let mut arms: Vec<Arm> = runs.iter().map(|r| r.arm).collect();
    arms.dedup();
    for arm in arms {
        let mut seconds: Vec<f64> = runs
            .iter()
            .filter(|r| r.arm == arm)
            .flat_map(|r| r.steps.iter().map(|s| s.seconds))
            .collect();
        if seconds.is_empty() {
            continue;
        }
        seconds.sort_by(f64::total_cmp);
        let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |\n",
            arm.name(),
            seconds.len(),
            seconds[seconds.len() / 2],
            mean,
            seconds[seconds.len() - 1]
        ));
    }
    out
}
