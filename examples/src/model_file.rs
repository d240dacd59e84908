//! Saving and restoring a trained model with burn's recorder (a burnpack file), the way the
//! book's `saver.save` / `saver.restore` survive a process restart: the file is written to a
//! temporary name and renamed, so a crash never leaves half a model, and restoring a file that
//! is missing, corrupt or of another model is an error naming the file.

use std::path::Path;

use anyhow::Context;
use burn::module::Module;

/// Writes `model`'s parameters to `path` (burnpack, temp + rename), creating the directory;
/// temporary files a killed run left beside it are removed first.
pub fn save_model<M: Module>(model: &M, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        rnn_train::checkpoint::clean_stale(dir);
    }
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .with_context(|| format!("encoding the model for {}", path.display()))?;
    rnn_train::checkpoint::write_atomically(path, &bytes, "model")?;
    Ok(())
}

/// Loads the parameters in `path` into `fresh` (a model of the same structure, on the device
/// wanted). `what` names the file's role in errors (`--model`).
pub fn restore_model<M: Module>(fresh: M, path: &Path, what: &str) -> anyhow::Result<M> {
    anyhow::ensure!(
        path.is_file(),
        "{what} {}: no such file (train one first: `cargo run -p examples --bin forecast`)",
        path.display()
    );
    fresh.try_load_file(path).map_err(|e| {
        anyhow::anyhow!(
            "{what} {}: not a model of this kind, or a damaged file: {e}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::series_model::{ProjectedRnn, SeriesModel, dropout_stack};

    #[test]
    fn a_saved_model_predicts_the_same_after_restore() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m").join("model.bpk");
        let device = rnn_core::device::default_device().unwrap();
        device.seed(1);
        let model = ProjectedRnn::new(12, &device).unwrap();
        // What a killed save left (a dead pid's temporary) goes at the next save.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let stale = format!(".model.bpk.tmp-{}-1-0-0123456789abcdef", u32::MAX - 1);
        std::fs::write(path.parent().unwrap().join(stale), b"half a model").unwrap();
        save_model(&model, &path).unwrap();
        device.seed(2);
        let fresh = ProjectedRnn::new(12, &device).unwrap();
        let x = Tensor::<3>::random([2, 6, 1], Distribution::Normal(0.0, 1.0), &device);
        let before = fresh.predict(x.clone()).unwrap();
        let restored = restore_model(fresh, &path, "--model").unwrap();
        let want = model.predict(x.clone()).unwrap();
        let got = restored.predict(x).unwrap();
        got.clone().into_data().assert_eq(&want.into_data(), true);
        assert!(
            (got - before).abs().max().into_scalar::<f32>() > 1e-3,
            "the fresh model differed before the restore"
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["model.bpk"], "no temporary file is left behind");
    }

    #[test]
    fn missing_corrupt_and_foreign_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let device = rnn_core::device::default_device().unwrap();
        let fresh = || ProjectedRnn::new(12, &device).unwrap();

        let missing = dir.path().join("none.bpk");
        let err = restore_model(fresh(), &missing, "--model").unwrap_err();
        assert!(err.to_string().contains("none.bpk: no such file"), "{err}");

        let corrupt = dir.path().join("corrupt.bpk");
        std::fs::write(&corrupt, b"not a burnpack file at all").unwrap();
        let err = restore_model(fresh(), &corrupt, "--model").unwrap_err();
        assert!(
            err.to_string().contains("corrupt.bpk: not a model"),
            "{err}"
        );

        let good = dir.path().join("good.bpk");
        save_model(&fresh(), &good).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let truncated = dir.path().join("truncated.bpk");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let err = restore_model(fresh(), &truncated, "--model").unwrap_err();
        assert!(err.to_string().contains("truncated.bpk"), "{err}");

        let other = dir.path().join("dropout.bpk");
        save_model(&dropout_stack(3, 12, 0.5, &device).unwrap(), &other).unwrap();
        let err = restore_model(fresh(), &other, "--model").unwrap_err();
        assert!(
            err.to_string().contains("dropout.bpk: not a model"),
            "{err}"
        );

        let wider = dir.path().join("wider.bpk");
        save_model(&ProjectedRnn::new(20, &device).unwrap(), &wider).unwrap();
        let err = restore_model(fresh(), &wider, "--model").unwrap_err();
        assert!(err.to_string().contains("wider.bpk"), "{err}");
    }
}
