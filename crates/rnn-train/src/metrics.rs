//! Per-epoch metrics, printed like the seed and written as CSV and JSON.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::checkpoint::write_atomically;

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, from 0 as the seed counts.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Accuracy on the epoch's last training batch (what the seed prints).
    pub train_batch_accuracy: f64,
    /// Accuracy over the whole epoch's training batches.
    pub train_accuracy: f64,
    /// Accuracy on the evaluation set, the model in evaluation mode; for a regression task,
    /// its evaluation figure instead ([`crate::Task::evaluation_name`]: the forecaster's MSE).
    pub test_accuracy: f64,
    /// Wall time of the epoch's training, in seconds (evaluation excluded).
    pub train_seconds: f64,
    /// Wall time of the evaluation, in seconds.
    pub eval_seconds: f64,
}

impl EpochMetrics {
    /// The seed's line: `0 Train accuracy: 0.94 Test accuracy: 0.93`.
    pub fn seed_line(&self) -> String {
        format!(
            "{} Train accuracy: {:.4} Test accuracy: {:.4}",
            self.epoch, self.train_batch_accuracy, self.test_accuracy
        )
    }
}

/// Writes `history` to `dir/metrics.csv` and `dir/metrics.json`, each atomically.
pub fn write_metrics(dir: &Path, history: &[EpochMetrics]) -> Result<(), TrainError> {
    let mut csv = String::from(
        "epoch,train_loss,train_batch_accuracy,train_accuracy,test_accuracy,train_seconds,eval_seconds\n",
    );
    for m in history {
        csv.push_str(&format!(
            "{},{},{},{},{},{:.3},{:.3}\n",
            m.epoch,
            m.train_loss,
            m.train_batch_accuracy,
            m.train_accuracy,
            m.test_accuracy,
            m.train_seconds,
            m.eval_seconds
        ));
    }
    write_atomically(&dir.join("metrics.csv"), csv.as_bytes(), "metrics")?;
    let json = serde_json::to_vec_pretty(history)
        .map_err(|e| TrainError::file("metrics", dir.join("metrics.json"), e))?;
    write_atomically(&dir.join("metrics.json"), &json, "metrics")
}
