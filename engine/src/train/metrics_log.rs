//! A run's `metrics.jsonl`: one JSON object per network iteration ([`StepMetrics`]) and one
//! per validation ([`ValidationMetrics`]), appended as the run goes and read back typed.

use super::TrainError;
use std::io::Write;
use std::path::Path;

/// One network iteration's numbers (also one line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepMetrics {
    pub iteration: u64,
    pub loss: f32,
    pub dice_loss: f32,
    pub bce_loss: f32,
    /// The strategy's extra term before its weight (MetaKD's distillation), if any.
    #[serde(default)]
    pub kd_loss: Option<f32>,
    pub learning_rate: f64,
    /// FLAIR, T1, T1ce, T2.
    #[serde(default)]
    pub modality_weights: Option<[f32; 4]>,
    /// LCKD's elected teachers, e.g. `FLAIR+T1ce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teachers: Option<String>,
    /// The modalities the batch kept, e.g. `FLAIR+T1ce` (GMD: the step's subsets, e.g.
    /// `T1 | FLAIR+T2`).
    pub subset: String,
    /// Wall time of this iteration (meta round included).
    pub seconds: f64,
}

/// Patch-level validation Dice (WT, TC, ET) with all modalities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidationMetrics {
    pub iteration: u64,
    pub val_dice: [f32; 3],
}

pub fn append_line(path: &Path, value: &impl serde::Serialize) -> Result<(), TrainError> {
    let io = |e: std::io::Error| TrainError::Io {
        path: path.to_path_buf(),
        message: format!("cannot append metrics: {e}"),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut line = serde_json::to_vec(value).expect("metrics serialise");
    line.push(b'\n');
    file.write_all(&line).map_err(io)
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum MetricsLine {
    Step(StepMetrics),
    Validation(ValidationMetrics),
}

/// Every line of a run's `metrics.jsonl`, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsLog {
    pub steps: Vec<StepMetrics>,
    pub validations: Vec<ValidationMetrics>,
}

/// Reads a `metrics.jsonl`; a missing file is an empty log, a line that is not a metrics
/// object is an error naming the file and the line.
pub fn read_metrics(path: &Path) -> Result<MetricsLog, TrainError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(TrainError::Io {
                path: path.to_path_buf(),
                message: format!("cannot read the metrics: {e}"),
            })
        }
    };
    let mut log = MetricsLog::default();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<MetricsLine>(line) {
            Ok(MetricsLine::Step(step)) => log.steps.push(step),
            Ok(MetricsLine::Validation(v)) => log.validations.push(v),
            Err(e) => {
                return Err(TrainError::Io {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {} is not a metrics line ({e}); the file was edited or damaged: \
                         delete the run folder to train it again",
                        number + 1
                    ),
                })
            }
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let step = StepMetrics {
            iteration: 3,
            loss: 0.5,
            dice_loss: 0.25,
            bce_loss: 0.25,
            kd_loss: None,
            learning_rate: 1e-3,
            modality_weights: Some([0.1, 0.2, 0.3, 0.4]),
            teachers: Some("FLAIR+T1ce".into()),
            subset: "T1".into(),
            seconds: 0.75,
        };
        let validation = ValidationMetrics {
            iteration: 3,
            val_dice: [0.5, 0.25, 0.125],
        };
        append_line(&path, &step).unwrap();
        append_line(&path, &validation).unwrap();
        let log = read_metrics(&path).unwrap();
        assert_eq!(log.steps, vec![step]);
        assert_eq!(log.validations, vec![validation]);
        std::fs::write(&path, "{\"iteration\": 1}\n").unwrap();
        let err = read_metrics(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 1"),
            "{err}"
        );
        assert_eq!(
            read_metrics(&dir.path().join("none")).unwrap(),
            MetricsLog::default()
        );
    }
}
