//! Checkpoints in burn's record format, written so that nothing is ever half-written: each
//! checkpoint is a directory `epoch-NNNN/` (`model.bpk`, `optimizer.bpk`, `state.json`) built
//! under a temporary name and renamed into place, then the `latest` file (also temp + rename)
//! points at it. The two newest checkpoints are kept.
//!
//! - Temporary names are `.NAME.tmp-PID-NANOS-COUNTER-RANDOM`, created with `create_new` (a
//!   file) or `create_dir` (a directory): never an existing path, never a predictable one.
//! - What a killed run left behind (those temporary names, whose process is gone) is removed by
//!   [`clean_stale`], which [`crate::fit`] calls at every start.
//! - `latest` must name a checkpoint directory inside the checkpoint directory (`epoch-NNNN`):
//!   `..`, separators, absolute paths and symbolic links are errors.
//! - A model whose weights are not all finite is never saved ([`TrainError::NonFiniteWeights`]),
//!   so `latest` always points at the last good checkpoint.
//! - The state records the run's hyper-parameters; [`check_resume`] compares them with the
//!   resuming run's before any weights are loaded.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::error::BoxedError;
use crate::metrics::EpochMetrics;

/// How many checkpoints stay on disk.
pub const KEEP: usize = 2;

/// The file naming the newest checkpoint.
pub const POINTER: &str = "latest";

/// What marks a temporary name: `.NAME.tmp-PID-...`.
const TMP_MARK: &str = ".tmp-";

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
    /// The hyper-parameters that shape the model and its training, `(name, value)` in the
    /// caller's order (see [`crate::TrainerConfig::hyper_parameters`]). Empty in checkpoints
    /// written before they were recorded.
    #[serde(default)]
    pub hyper_parameters: Vec<(String, String)>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.{name}.tmp-{pid}-{nanos}-{counter}-{random}`: the pid lets [`clean_stale`] tell a dead
/// run's leftovers from a live one's; the rest makes the name unpredictable and unique.
fn temp_name(name: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    // std's RandomState is seeded from the OS's random source.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        ".{name}{TMP_MARK}{}-{nanos:x}-{counter}-{random:016x}",
        std::process::id()
    )
}

/// The pid in a temporary name made by [`temp_name`], if `file_name` is exactly one
/// (`.NAME.tmp-PID-HEX-COUNTER-16 HEX DIGITS`): nothing else in a directory matches.
fn temp_owner(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?;
    let (name, after) = rest.rsplit_once(TMP_MARK)?;
    let parts: Vec<&str> = after.split('-').collect();
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts[..] {
        [pid, nanos, counter, random]
            if !name.is_empty()
                && digits(pid)
                && hex(nanos)
                && digits(counter)
                && random.len() == 16
                && hex(random) =>
        {
            pid.parse().ok()
        }
        _ => None,
    }
}

/// Best effort: makes a rename in `dir` durable (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Test hooks: where a checkpoint write can be held so a test can kill the process midway.
#[doc(hidden)]
pub mod testing {
    use std::path::Path;
    use std::sync::OnceLock;

    /// A point inside a checkpoint write.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Stage {
        /// The checkpoint's files are written into its temporary directory, not yet renamed.
        CheckpointFilesWritten,
        /// A file's temporary copy is written and synced, not yet renamed (`path`: the copy).
        TempFileWritten,
    }

    static HOOK: OnceLock<fn(Stage, &Path)> = OnceLock::new();

    /// Calls `hook(stage, path)` at each stage of every later write in this process (once
    /// per process; later calls are ignored).
    pub fn set_hook(hook: fn(Stage, &Path)) {
        let _ = HOOK.set(hook);
    }

    pub(crate) fn at(stage: Stage, path: &Path) {
        if let Some(hook) = HOOK.get() {
            hook(stage, path);
        }
    }
}

/// Writes `bytes` to `path` through a new temporary file in the same directory (created with
/// `create_new` under an unpredictable name), synced and renamed into place.
pub fn write_atomically(path: &Path, bytes: &[u8], what: &'static str) -> Result<(), TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| TrainError::file(what, dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(temp_name(name));
    let mut created = false;
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        created = true;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        testing::at(testing::Stage::TempFileWritten, &tmp);
        fs::rename(&tmp, path)?;
        sync_dir(dir);
        Ok::<_, std::io::Error>(())
    })();
    result.map_err(|e| {
        if created {
            let _ = fs::remove_file(&tmp);
        }
        TrainError::file(what, path, e)
    })
}

/// Checks that `dir` can be created and written: creates it, then creates (`create_new`) and
/// removes a probe file in it. `what` names the directory in the error (e.g. `--out`).
pub fn probe_writable(dir: &Path, what: &'static str) -> Result<(), TrainError> {
    fs::create_dir_all(dir)
        .map_err(|source| TrainError::file(what, dir, IoCause::new("cannot be created", source)))?;
    let probe = dir.join(temp_name("write-probe"));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"probe"));
    let _ = fs::remove_file(&probe);
    written.map_err(|source| TrainError::file(what, dir, IoCause::new("not writable", source)))
}

/// An I/O error with what was being done: `not writable: Permission denied (os error 13)`.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
struct IoCause {
    doing: &'static str,
    #[source]
    source: std::io::Error,
}

impl IoCause {
    fn new(doing: &'static str, source: std::io::Error) -> Self {
        Self { doing, source }
    }
}

/// Whether process `pid` is gone: `Some` where `/proc` tells, `None` elsewhere.
fn process_gone(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| !proc.join(pid.to_string()).exists())
}

/// Removes what killed runs left in `dir`: temporary checkpoint directories and temporary
/// files (`.NAME.tmp-PID-...`, see the module docs) whose process is gone. Where the system
/// cannot tell (no `/proc`), those older than an hour count as stale; a live pid's are kept
/// unless older than a day (the pid was reused). This process's own are never touched.
/// Returns what was removed; a missing `dir` removes nothing.
pub fn clean_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_owner(&name) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .unwrap_or(Duration::ZERO);
        let stale = match process_gone(pid) {
            Some(true) => true,
            Some(false) => age > Duration::from_secs(24 * 3600),
            None => age > Duration::from_secs(3600),
        };
        if !stale {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let gone = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

fn checkpoint_name(epochs_done: usize) -> String {
    format!("epoch-{epochs_done:04}")
}

/// Whether `name` is a checkpoint directory's name: `epoch-` and digits only.
fn is_checkpoint_name(name: &str) -> bool {
    name.strip_prefix("epoch-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Counts a module's float weights that are NaN or ±inf, on the device; one readback.
struct NonFinite {
    count: Option<Tensor<1, Int>>,
    total: usize,
}

impl ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let w = param.val();
        self.total += w.shape().num_elements();
        let bad = w.is_finite().bool_not().int().sum();
        self.count = Some(match self.count.take() {
            Some(c) => c + bad,
            None => bad,
        });
    }
}

/// `(non-finite, total)` weights of `model`.
pub fn count_non_finite<M: Module>(model: &M) -> (usize, usize) {
    let mut visitor = NonFinite {
        count: None,
        total: 0,
    };
    model.visit(&mut visitor);
    let bad = visitor
        .count
        .map_or(0, |c| c.into_scalar::<i64>().max(0) as usize);
    (bad, visitor.total)
}

/// Saves model, optimiser and state as checkpoint `dir/epoch-NNNN`, points `latest` at it
/// and prunes all but the [`KEEP`] newest; returns its path.
///
/// A model with a NaN or infinite weight is not saved: [`TrainError::NonFiniteWeights`], and
/// `latest` keeps pointing at the last good checkpoint.
pub fn save<M: Module>(
    dir: &Path,
    model: &M,
    optim: &ModuleOptimizer,
    state: &TrainingState,
) -> Result<PathBuf, TrainError> {
    let name = checkpoint_name(state.epochs_done);
    let (non_finite, total) = count_non_finite(model);
    if non_finite > 0 {
        let last_good = match latest(dir) {
            Ok(Some(p)) => p.display().to_string(),
            Ok(None) => "none".to_string(),
            Err(e) => format!("none usable ({e})"),
        };
        return Err(TrainError::NonFiniteWeights {
            non_finite,
            total,
            epoch: state.epochs_done.saturating_sub(1),
            name,
            last_good,
        });
    }
    let final_dir = dir.join(&name);
    let err = |e: BoxedError| TrainError::file("checkpoint", &final_dir, e);
    fs::create_dir_all(dir).map_err(|e| err(e.into()))?;
    let tmp = dir.join(temp_name(&name));
    // `create_dir`, not `create_dir_all`: fails if the name exists, so the directory is ours.
    fs::create_dir(&tmp).map_err(|e| err(e.into()))?;
    let written = (|| -> Result<(), TrainError> {
        model
            .clone()
            .save_file(tmp.join("model.bpk"))
            .map_err(|e| err(e.into()))?;
        optim
            .to_record()
            .save(tmp.join("optimizer.bpk"))
            .map_err(|e| err(e.into()))?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| err(e.into()))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.join("state.json"))
            .map_err(|e| err(e.into()))?;
        f.write_all(&json)
            .and_then(|()| f.sync_all())
            .map_err(|e| err(e.into()))?;
        testing::at(testing::Stage::CheckpointFilesWritten, &tmp);
        if final_dir.exists() {
            // A checkpoint of the same epoch that `latest` does not point at (a killed run
            // renamed it in but never updated the pointer): replaced.
            fs::remove_dir_all(&final_dir).map_err(|e| err(e.into()))?;
        }
        fs::rename(&tmp, &final_dir).map_err(|e| err(e.into()))?;
        sync_dir(dir);
        Ok(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    write_atomically(&dir.join(POINTER), name.as_bytes(), "checkpoint pointer")?;
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
///
/// The pointer must hold the plain name of a checkpoint directory in `dir` (`epoch-NNNN`);
/// anything else (`..`, a separator, an absolute path, a symbolic link, a missing directory)
/// is an error naming the pointer file and what it holds.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>, TrainError> {
    let pointer = dir.join(POINTER);
    let bad = |reason: String| TrainError::file("checkpoint pointer", &pointer, reason);
    let mut text = Vec::new();
    match fs::File::open(&pointer) {
        // A pointer is a dozen bytes: read at most 256 of them.
        Ok(f) => f
            .take(256)
            .read_to_end(&mut text)
            .map_err(|e| bad(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let name = String::from_utf8_lossy(&text);
    let name = name.trim();
    if !is_checkpoint_name(name) {
        let shown: String = name.chars().take(64).collect();
        return Err(bad(format!(
            "expected the name of a checkpoint directory in {} (`epoch-NNNN`: no path, no \
             `..`), got `{}`",
            dir.display(),
            shown.escape_debug()
        )));
    }
    let path = dir.join(name);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => Ok(Some(path)),
        Ok(_) => Err(bad(format!(
            "points at {}, which is not a directory",
            path.display()
        ))),
        Err(_) => Err(bad(format!(
            "points at {} which does not exist",
            path.display()
        ))),
    }
}

/// Reads the training state of checkpoint `path` (its `state.json`), without its weights.
pub fn read_state(path: &Path) -> Result<TrainingState, TrainError> {
    let state_file = path.join("state.json");
    let text =
        fs::read(&state_file).map_err(|e| TrainError::file("checkpoint state", &state_file, e))?;
    serde_json::from_slice(&text).map_err(|e| TrainError::file("checkpoint state", &state_file, e))
}

/// Checks that a run with `seed` and `hyper_parameters` may resume from checkpoint `path`
/// whose state is `state`: every hyper-parameter the same, in both directions (one the
/// checkpoint has and this run lacks is a mismatch too), then the same seed. A checkpoint that
/// records no hyper-parameters (written before they were recorded) is checked on the seed
/// only. The error ([`TrainError::ResumeMismatch`]) names the first that differs.
pub fn check_resume(
    path: &Path,
    state: &TrainingState,
    seed: u64,
    hyper_parameters: &[(String, String)],
) -> Result<(), TrainError> {
    let seed_check = || {
        if state.seed == seed {
            return Ok(());
        }
        Err(TrainError::ResumeMismatch {
            name: "seed".into(),
            recorded: state.seed.to_string(),
            given: seed.to_string(),
            checkpoint: path.to_path_buf(),
        })
    };
    if state.hyper_parameters.is_empty() {
        return seed_check();
    }
    let find = |list: &[(String, String)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    };
    let nothing = || "nothing".to_string();
    for (name, given) in hyper_parameters {
        let recorded = find(&state.hyper_parameters, name);
        if recorded.as_ref() != Some(given) {
            return Err(TrainError::ResumeMismatch {
                name: name.clone(),
                recorded: recorded.unwrap_or_else(nothing),
                given: given.clone(),
                checkpoint: path.to_path_buf(),
            });
        }
    }
    for (name, recorded) in &state.hyper_parameters {
        if find(hyper_parameters, name).is_none() {
            return Err(TrainError::ResumeMismatch {
                name: name.clone(),
                recorded: recorded.clone(),
                given: nothing(),
                checkpoint: path.to_path_buf(),
            });
        }
    }
    seed_check()
}

/// The checkpoint a run would resume from in `dir` (via `latest`) and its state, after
/// [`check_resume`]; `None` when `dir` has no checkpoint. Loads no weights: callers can refuse
/// a mismatched resume before any expensive setup.
pub fn resume_point(
    dir: &Path,
    seed: u64,
    hyper_parameters: &[(String, String)],
) -> Result<Option<(PathBuf, TrainingState)>, TrainError> {
    let Some(path) = latest(dir)? else {
        return Ok(None);
    };
    let state = read_state(&path)?;
    check_resume(&path, &state, seed, hyper_parameters)?;
    Ok(Some((path, state)))
}

/// Loads checkpoint `path` into `model` and `optim` (which give the structure).
pub fn load<M: Module>(
    path: &Path,
    model: M,
    optim: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, TrainingState), TrainError> {
    let state = read_state(path)?;
    let model_file = path.join("model.bpk");
    let model = model
        .try_load_file(&model_file)
        .map_err(|e| TrainError::file("checkpoint model", &model_file, e))?;
    let optim_file = path.join("optimizer.bpk");
    let record = OptimizerRecord::load(&optim_file)
        .map_err(|e| TrainError::file("checkpoint optimizer", &optim_file, e))?;
    let optim = optim.load_record(record);
    Ok((model, optim, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_and_carry_the_pid() {
        let a = temp_name("epoch-0001");
        let b = temp_name("epoch-0001");
        assert_ne!(a, b);
        assert!(a.starts_with(".epoch-0001.tmp-"), "{a}");
        assert_eq!(temp_owner(&a), Some(std::process::id()));
        assert_eq!(temp_owner("epoch-0001"), None);
        assert_eq!(temp_owner(".latest.tmp-x"), None);
        assert_eq!(temp_owner(".latest.tmp-12-ab-0-0123"), None);
        assert_eq!(temp_owner(".latest.tmp-12-ab-0-0123456789abcdef"), Some(12));
    }

    #[test]
    fn the_pointer_must_name_a_checkpoint_inside_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("checkpoints");
        fs::create_dir_all(dir.join("epoch-0001")).unwrap();
        fs::create_dir_all(root.path().join("elsewhere")).unwrap();
        assert_eq!(latest(&dir).unwrap(), None, "no pointer, no checkpoint");
        fs::write(dir.join("latest"), "epoch-0001\n").unwrap();
        assert_eq!(latest(&dir).unwrap(), Some(dir.join("epoch-0001")));
        let outside = root.path().join("elsewhere");
        for bad in [
            "../elsewhere",
            "..",
            "epoch-0001/../../elsewhere",
            outside.to_str().unwrap(),
            "epoch-",
            "",
        ] {
            fs::write(dir.join("latest"), bad).unwrap();
            let err = latest(&dir).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "checkpoint pointer `{}`",
                    dir.join("latest").display()
                )) && err.contains("expected the name of a checkpoint directory")
                    && err.contains(&format!("got `{bad}`")),
                "{bad}: {err}"
            );
        }
        fs::write(dir.join("latest"), "epoch-0002").unwrap();
        let err = latest(&dir).unwrap_err().to_string();
        assert!(err.contains("epoch-0002 which does not exist"), "{err}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, dir.join("epoch-0003")).unwrap();
            fs::write(dir.join("latest"), "epoch-0003").unwrap();
            let err = latest(&dir).unwrap_err().to_string();
            assert!(err.contains("which is not a directory"), "{err}");
        }
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // A pid no process has: above the kernel's pid_max (at most 2^22).
        let dead = format!(".epoch-0002.tmp-{}-1-0-0123456789abcdef", u32::MAX - 1);
        fs::create_dir_all(dir.path().join(&dead).join("inner")).unwrap();
        let dead_file = format!(".metrics.csv.tmp-{}-1-0-0123456789abcdef", u32::MAX - 1);
        fs::write(dir.path().join(&dead_file), "x").unwrap();
        let mine = temp_name("epoch-0003");
        fs::create_dir(dir.path().join(&mine)).unwrap();
        fs::create_dir(dir.path().join("epoch-0001")).unwrap();
        fs::write(dir.path().join(".hidden"), "not ours").unwrap();
        let mut removed = clean_stale(dir.path());
        removed.sort();
        if process_gone(1).is_some() {
            assert_eq!(
                removed,
                [dir.path().join(&dead), dir.path().join(&dead_file)]
            );
        }
        assert!(dir.path().join(&mine).is_dir(), "this process's own stay");
        assert!(dir.path().join("epoch-0001").is_dir());
        assert!(dir.path().join(".hidden").is_file());
    }

    #[test]
    fn an_unwritable_directory_is_found_by_the_probe() {
        let dir = tempfile::tempdir().unwrap();
        probe_writable(&dir.path().join("new/sub"), "--out").unwrap();
        assert!(dir.path().join("new/sub").is_dir());
        assert_eq!(fs::read_dir(dir.path().join("new/sub")).unwrap().count(), 0);
        // A file where a directory should be: fails even for root.
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = probe_writable(&file.join("out"), "--out")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "--out `{}`: cannot be created",
                file.join("out").display()
            )),
            "{err}"
        );
    }
}
