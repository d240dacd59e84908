//! Up-front memory checks: a run whose weights and activations would not fit is refused before
//! it allocates anything, with the memory it would need, instead of aborting deep inside burn.
//!
//! The estimate counts f32s: the parameters four times (weights, gradients, Adam's two
//! moments; once for inference), the larger of the activations the training step keeps for
//! backward and the evaluation batch's, and the data set. It is meant to catch sizes that are
//! off by an order of magnitude, not to budget the last MiB: against the peak RSS of `cargo
//! xtask mnist --epochs 1 --train-limit 1500` it gave 80 MB for 121 MiB measured (the book's
//! run: the process itself dominates), 565 MB for 529 MiB (`--hidden 1024 --layers 2`) and
//! 680 MB for 482 MiB (`--cell lstm --hidden 512 --layers 2`). The limit is the machine's available memory (Linux:
//! `MemAvailable` of `/proc/meminfo`), or [`FALLBACK_LIMIT_GIB`] where the system does not say;
//! `cargo xtask mnist --max-memory-gib` sets it by hand. The same host limit applies on wgpu,
//! where a discrete GPU usually has less.

use crate::TrainError;

/// The limit where the available memory is unknown (no `/proc/meminfo`), in GiB.
pub const FALLBACK_LIMIT_GIB: f64 = 16.0;

const GIB: f64 = (1u64 << 30) as f64;

/// What a run needs, by part, in bytes (`u128`: a size like 2^32 neurons squared does not
/// overflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Parameters and what the optimiser keeps per parameter.
    pub parameters: u128,
    /// Activations of the largest step (training or evaluation).
    pub activations: u128,
    /// The data set held in memory.
    pub data: u128,
}

impl Estimate {
    /// `parameter_count` f32 parameters (`copies` of each: 4 for Adam training, 1 for
    /// inference), `activation_floats` f32 activations, `data_bytes` of data.
    pub fn new(
        parameter_count: u128,
        copies: u128,
        activation_floats: u128,
        data_bytes: u128,
    ) -> Self {
        Self {
            parameters: parameter_count.saturating_mul(copies).saturating_mul(4),
            activations: activation_floats.saturating_mul(4),
            data: data_bytes,
        }
    }

    /// All of it, in bytes.
    pub fn total(&self) -> u128 {
        self.parameters
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }
}

/// `bytes` in GiB, for messages.
pub fn gib(bytes: u128) -> f64 {
    bytes as f64 / GIB
}

/// `bytes` in GiB as text: `75.4`, or `2.75e11` past a million.
fn show_gib(bytes: u128) -> String {
    let g = gib(bytes);
    if g < 1e6 {
        format!("{g:.1}")
    } else {
        format!("{g:.2e}")
    }
}

/// The machine's available memory in bytes (Linux `MemAvailable`), if the system says.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The limit a run is checked against, in bytes, and where it comes from: `max_gib` when
/// given (a flag), else the available memory, else [`FALLBACK_LIMIT_GIB`].
pub fn limit(max_gib: Option<f64>, flag: &str) -> (u128, String) {
    if let Some(g) = max_gib {
        return ((g * GIB) as u128, format!("the limit {flag} {g}"));
    }
    match available_bytes() {
        Some(b) => (
            b as u128,
            format!(
                "this machine's available memory ({:.1} GiB)",
                gib(b as u128)
            ),
        ),
        None => (
            (FALLBACK_LIMIT_GIB * GIB) as u128,
            format!("the limit where available memory is unknown ({FALLBACK_LIMIT_GIB} GiB)"),
        ),
    }
}

/// Refuses a run (`what`, e.g. `--hidden 8192 --layers 32`) whose `estimate` exceeds `limit`
/// (from [`limit`]) with [`TrainError::TooLarge`]; `lower` says which flags make it smaller.
pub fn check(
    what: &str,
    estimate: &Estimate,
    (limit, limit_from): &(u128, String),
    lower: &str,
) -> Result<(), TrainError> {
    let total = estimate.total();
    if total <= *limit {
        return Ok(());
    }
    Err(TrainError::TooLarge {
        what: what.to_string(),
        need: format!(
            "{} GiB ({} GiB of parameters and optimiser state, {} GiB of activations, {:.2} GiB \
             of data)",
            show_gib(total),
            show_gib(estimate.parameters),
            show_gib(estimate.activations),
            gib(estimate.data)
        ),
        limit: limit_from.clone(),
        lower: lower.to_string(),
    })
}

/// Parameters of `n_layers` recurrent layers of `n_neurons` with `gates` weight blocks each
/// (basic 1, GRU 3, LSTM 4) over `n_inputs` inputs: `gates * H * (I_k + H + 1)` per layer.
pub fn recurrent_parameters(n_inputs: u128, n_layers: u128, n_neurons: u128, gates: u128) -> u128 {
    let h = n_neurons;
    let first = gates
        .saturating_mul(h)
        .saturating_mul(n_inputs.saturating_add(h).saturating_add(1));
    let rest = gates
        .saturating_mul(h)
        .saturating_mul(h.saturating_mul(2).saturating_add(1))
        .saturating_mul(n_layers.saturating_sub(1));
    first.saturating_add(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_over_the_limit_is_refused_with_what_it_needs() {
        let e = Estimate::new(1 << 28, 4, 1 << 28, 1 << 30); // 4 + 1 + 1 GiB
        assert_eq!(e.total(), 6 << 30);
        let limit = (5u128 << 30, "the limit --max-memory-gib 5".to_string());
        let err = check("--hidden 9", &e, &limit, "--hidden").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--hidden 9 needs about 6.0 GiB (4.0 GiB of parameters and optimiser state, \
             1.0 GiB of activations, 1.00 GiB of data), more than the limit --max-memory-gib 5: \
             refused before starting; lower --hidden"
        );
        assert!(check("x", &e, &(6 << 30, String::new()), "").is_ok());
        // Sizes whose squares overflow u64 saturate instead of wrapping to a small number.
        let huge = Estimate::new(u128::MAX / 2, 4, 0, 0);
        assert_eq!(huge.total(), u128::MAX);
        let err = check("--neurons 4294967295", &huge, &limit, "--neurons").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--neurons 4294967295 needs about 3.17e29 GiB ("),
            "{err}"
        );
    }

    #[test]
    fn the_default_limit_is_the_available_memory_or_the_fallback() {
        let (bytes, from) = limit(None, "--max-memory-gib");
        match available_bytes() {
            Some(b) => {
                assert_eq!(bytes, b as u128);
                assert!(
                    from.starts_with("this machine's available memory"),
                    "{from}"
                );
            }
            None => assert_eq!(bytes, 16 << 30),
        }
        assert_eq!(limit(Some(2.0), "--max-memory-gib").0, 2 << 30);
    }
}
