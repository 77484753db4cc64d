//! Checkpoints: everything needed to continue a run exactly where it stopped, in one file
//! (`checkpoint.bin` in the run folder) written atomically.
//!
//! Layout: magic `METAKDCK`, a little-endian `u64` header length, the JSON [`CheckpointHeader`],
//! then the network's weights (burnpack), the network optimiser's state and the strategy's
//! state, with the lengths the header gives.

use super::TrainError;
use crate::atomic_file;
use crate::model::decode::guarded;
use crate::model::MetaKdNet;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use std::path::Path;

const MAGIC: &[u8; 8] = b"METAKDCK";

/// File name of the checkpoint inside a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointHeader {
    /// The next network iteration to run.
    pub iteration: u64,
    pub method: String,
    /// Byte lengths of the network, optimiser and strategy sections.
    pub sections: [u64; 3],
}

/// A checkpoint read back.
pub struct Checkpoint {
    pub iteration: u64,
    pub net: MetaKdNet,
    pub optim: ModuleOptimizer,
    pub strategy_state: Vec<u8>,
}

/// Writes a checkpoint of the run's state before iteration `iteration`.
pub fn save(
    path: &Path,
    iteration: u64,
    method: &str,
    net: &MetaKdNet,
    optim: &ModuleOptimizer,
    strategy_state: &[u8],
) -> Result<(), TrainError> {
    let fail = |what: &str, e: String| TrainError::Checkpoint(format!("{what}: {e}"));
    let net_bytes = net
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| fail("network weights", e.to_string()))?;
    let optim_bytes = optim
        .into_bytes()
        .map_err(|e| fail("optimiser state", e.to_string()))?;
    let header = CheckpointHeader {
        iteration,
        method: method.to_string(),
        sections: [
            net_bytes.len() as u64,
            optim_bytes.len() as u64,
            strategy_state.len() as u64,
        ],
    };
    let json = serde_json::to_vec(&header).expect("checkpoint header serialises");
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&net_bytes);
    out.extend_from_slice(&optim_bytes);
    out.extend_from_slice(strategy_state);
    atomic_file::write(path, &out).map_err(|e| TrainError::Io {
        path: path.to_path_buf(),
        message: format!("cannot write the checkpoint: {e}"),
    })
}

/// Reads a checkpoint into `net` (a freshly built network of the run's configuration) and
/// `optim` (a fresh optimiser of the run's kind).
pub fn load(path: &Path, net: MetaKdNet, optim: ModuleOptimizer) -> Result<Checkpoint, TrainError> {
    let bad = |reason: String| TrainError::Io {
        path: path.to_path_buf(),
        message: format!("not a usable checkpoint ({reason}); start a new run instead of resuming"),
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("wrong signature".into()));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
    let json_end = 16usize
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header".into()))?;
    let header: CheckpointHeader =
        serde_json::from_slice(&bytes[16..json_end]).map_err(|e| bad(e.to_string()))?;
    let mut sections = Vec::new();
    let mut at = json_end;
    for len in header.sections {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| at.checked_add(l))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("truncated".into()))?;
        sections.push(bytes[at..end].to_vec());
        at = end;
    }
    let net = guarded(|| {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(sections[0].clone()))
            .map_err(|e| e.to_string())?;
        net.try_load_record(record).map_err(|e| e.to_string())
    })
    .map_err(bad)?;
    let optim = guarded(|| {
        optim
            .from_bytes(Bytes::from_bytes_vec(sections[1].clone()))
            .map_err(|e| e.to_string())
    })
    .map_err(bad)?;
    Ok(Checkpoint {
        iteration: header.iteration,
        net,
        optim,
        strategy_state: sections.pop().unwrap_or_default(),
    })
}
