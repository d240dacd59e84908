//! Checkpoints in burn's record format, written so that nothing is ever half-written: each
//! checkpoint is a directory `epoch-NNNN/` (`model.bpk`, `optimizer.bpk`, `state.json`) built
//! under a temporary name and renamed into place, then the `latest` file (also temp + rename)
//! points at it. The two newest checkpoints are kept.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::metrics::EpochMetrics;

/// How many checkpoints stay on disk.
pub const KEEP: usize = 2;

/// Where a run is in its schedule, saved with each checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimiser steps taken.
    pub global_step: usize,
    /// The run's seed.
    pub seed: u64,
    /// Every completed epoch's metrics.
    pub history: Vec<EpochMetrics>,
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and renamed.
pub fn write_atomically(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| TrainError::file(what, dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        TrainError::file(what, path, e)
    })
}

fn checkpoint_name(epochs_done: usize) -> String {
    format!("epoch-{epochs_done:04}")
}

/// Saves model, optimiser and state as checkpoint `dir/epoch-NNNN`; returns its path.
pub fn save<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &TrainingState,
) -> Result<PathBuf, TrainError> {
    let name = checkpoint_name(state.epochs_done);
    let final_dir = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let err = |e: &dyn std::fmt::Display| TrainError::file("checkpoint", &final_dir, e);
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| err(&e))?;
    let written = (|| -> Result<(), TrainError> {
        model
            .clone()
            .save_file(tmp.join("model.bpk"))
            .map_err(|e| err(&e))?;
        optim
            .to_record()
            .save(tmp.join("optimizer.bpk"))
            .map_err(|e| err(&e))?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| err(&e))?;
        write_atomically(&tmp.join("state.json"), &json, "checkpoint")?;
        if final_dir.exists() {
            fs::remove_dir_all(&final_dir).map_err(|e| err(&e))?;
        }
        fs::rename(&tmp, &final_dir).map_err(|e| err(&e))
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    write_atomically(&dir.join("latest"), name.as_bytes(), "checkpoint pointer")?;
    prune(dir, state.epochs_done);
    Ok(final_dir)
}

/// Removes all but the [`KEEP`] newest checkpoints (never the one just written).
fn prune(dir: &Path, newest: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(n) = name
            .strip_prefix("epoch-")
            .and_then(|n| n.parse::<usize>().ok())
            && n + KEEP <= newest
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The checkpoint `latest` points at, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>, TrainError> {
    let pointer = dir.join("latest");
    match fs::read_to_string(&pointer) {
        Ok(name) => {
            let path = dir.join(name.trim());
            if path.is_dir() {
                Ok(Some(path))
            } else {
                Err(TrainError::file(
                    "checkpoint",
                    &pointer,
                    format!("points at {} which does not exist", path.display()),
                ))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TrainError::file("checkpoint pointer", pointer, e)),
    }
}

/// Loads checkpoint `path` into `model` and `optim` (which give the structure).
pub fn load<M: Module>(
    path: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainingState), TrainError> {
    let model_file = path.join("model.bpk");
    let model = model
        .try_load_file(&model_file)
        .map_err(|e| TrainError::file("checkpoint model", &model_file, e))?;
    let optim_file = path.join("optimizer.bpk");
    let record = OptimizerRecord::load(&optim_file)
        .map_err(|e| TrainError::file("checkpoint optimizer", &optim_file, e))?;
    let optim = optim.load_record(record);
    let state_file = path.join("state.json");
    let text =
        fs::read(&state_file).map_err(|e| TrainError::file("checkpoint state", &state_file, e))?;
    let state = serde_json::from_slice(&text)
        .map_err(|e| TrainError::file("checkpoint state", &state_file, e))?;
    Ok((model, optim, state))
}
