//! A PyTorch model in rnn-core: loads the `state_dict` of an `nn.RNN`/`nn.LSTM`/`nn.GRU`
//! (multi-layer, bidirectional) and of an optional following `nn.Linear` from a `.pt`/`.pth`
//! or `.safetensors` file, runs one batch `[B, T, I]` and prints the outputs `[B, T, O]`.
//!
//! In Python: `torch.save(model.state_dict(), "model.pt")`. Then:
//! `cargo run -p examples --bin from_pytorch -- model.pt [--prefix rnn.] [--head fc.]`
//!
//! The module's kind and sizes come from the keys and shapes (`--prefix` names where its keys
//! start; by default the one prefix before `weight_ih_l0`); `nn.RNN`'s nonlinearity is not in
//! the file (`--nonlinearity`). The batch is random normal (`--seed`), or a `[B, T, I]` tensor
//! of the file (`--inputs KEY`); `--expect KEY` prints the largest difference from a tensor of
//! the file (say, PyTorch's outputs saved beside the weights). `--export PATH` writes the
//! imported model back as a safetensors state_dict that PyTorch's `load_state_dict` takes.

use std::path::PathBuf;

use anyhow::{Context, bail};
use burn::nn::Linear;
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use rnn_core::pytorch::{StateDict, TorchCell, TorchRnn, TorchRnnKind};
use rnn_core::{Activation, RnnState, dynamic_rnn, stack_bidirectional_dynamic_rnn};

/// Runs a PyTorch recurrent model's weights in rnn-core.
#[derive(Parser)]
struct Args {
    /// The state_dict file: `torch.save(model.state_dict(), PATH)` or a safetensors file.
    file: PathBuf,
    /// Where the recurrent module's keys start (`rnn.` for `rnn.weight_ih_l0`; `""` for a bare
    /// `nn.LSTM`) [default: the only prefix before `weight_ih_l0` in the file].
    #[arg(long)]
    prefix: Option<String>,
    /// Prefix of an `nn.Linear` applied to every step's output (`fc.` for `fc.weight`).
    #[arg(long)]
    head: Option<String>,
    /// `nn.RNN`'s nonlinearity, which the state_dict does not hold.
    #[arg(long, default_value = "tanh", value_parser = ["tanh", "relu"])]
    nonlinearity: String,
    /// B, the sequences in the random batch.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch: u32,
    /// T, the steps of each random sequence.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    steps: u32,
    /// Seed of the random batch.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Take the batch from this key of the file (`[B, T, I]`) instead.
    #[arg(long)]
    inputs: Option<String>,
    /// Compare the outputs with this key of the file and print the largest difference.
    #[arg(long)]
    expect: Option<String>,
    /// Write the imported model back as a safetensors state_dict (PyTorch's names and layout).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Device: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE or the first].
    #[arg(long)]
    device: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let device = examples::device(args.device.as_deref())?;
    device.seed(args.seed);
    let dict = StateDict::load(&args.file)?;
    let prefix = match &args.prefix {
        Some(p) => p.clone(),
        None => only_prefix(&dict)?,
    };
    let info = dict.detect(&prefix)?;
    println!(
        "{}: nn.{}(input_size={}, hidden_size={}, num_layers={}, bias={}, bidirectional={}) \
         under prefix {prefix:?}",
        args.file.display(),
        info.kind.module_name(),
        info.input_size,
        info.hidden_size,
        info.num_layers,
        info.bias,
        info.bidirectional,
    );
    let head = args
        .head
        .as_deref()
        .map(|h| dict.import_linear(h, &device))
        .transpose()?;
    if let Some(head) = &head {
        let [d, o] = head.weight.dims();
        println!(
            "head: nn.Linear({d}, {o}) under prefix {:?}",
            args.head.as_deref().unwrap_or("")
        );
    }
    let x = match &args.inputs {
        Some(key) => dict.tensor::<3>(key, &device)?,
        None => Tensor::random(
            [args.batch as usize, args.steps as usize, info.input_size],
            Distribution::Normal(0.0, 1.0),
            &device,
        ),
    };
    println!(
        "inputs {:?} ({})",
        x.dims(),
        args.inputs
            .as_deref()
            .map_or(format!("random normal, seed {}", args.seed), |k| format!(
                "`{k}` of the file"
            ))
    );
    let job = Job {
        prefix: &prefix,
        head: head.as_ref(),
        head_prefix: args.head.as_deref(),
        export: args.export.as_ref(),
        x,
    };
    let outputs = match info.kind {
        TorchRnnKind::Rnn => {
            let activation = match args.nonlinearity.as_str() {
                "relu" => Activation::Relu,
                _ => Activation::Tanh,
            };
            job.run(dict.import_rnn(&prefix, activation, &device)?)?
        }
        TorchRnnKind::Lstm => job.run(dict.import_lstm(&prefix, &device)?)?,
        TorchRnnKind::Gru => job.run(dict.import_gru(&prefix, &device)?)?,
    };
    println!("outputs {:?}:\n{outputs}", outputs.dims());
    if let Some(key) = &args.expect {
        let expected = dict.tensor::<3>(key, &device)?;
        if expected.dims() != outputs.dims() {
            bail!(
                "--expect {key}: expected a tensor of the outputs' shape {:?}, got {:?}",
                outputs.dims(),
                expected.dims()
            );
        }
        let diff: f32 = (outputs - expected).abs().max().into_scalar();
        println!("max |outputs - {key}| = {diff:.3e}");
    }
    Ok(())
}

/// The single prefix `P` of the file's `P` + `weight_ih_l0` keys.
fn only_prefix(dict: &StateDict) -> anyhow::Result<String> {
    let prefixes: Vec<&str> = dict
        .keys()
        .filter_map(|k| k.strip_suffix("weight_ih_l0"))
        .collect();
    match prefixes[..] {
        [p] => Ok(p.to_string()),
        [] => bail!(
            "expected a recurrent module's `weight_ih_l0` in the file, got none among {} keys \
             ({}); is it a state_dict of nn.RNN, nn.LSTM or nn.GRU?",
            dict.len(),
            dict.keys().take(8).collect::<Vec<_>>().join(", ")
        ),
        _ => bail!(
            "expected one recurrent module, got {} ({}): choose one with --prefix",
            prefixes.len(),
            prefixes
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

struct Job<'a> {
    prefix: &'a str,
    head: Option<&'a Linear>,
    head_prefix: Option<&'a str>,
    export: Option<&'a PathBuf>,
    x: Tensor<3>,
}

impl Job<'_> {
    /// Runs `rnn` (and the head) over the batch: `[B, T, I] -> [B, T, O]`; exports if asked.
    fn run<C: TorchCell + Clone>(self, rnn: TorchRnn<C>) -> anyhow::Result<Tensor<3>> {
        let (outputs, states) = if rnn.is_bidirectional() {
            bidirectional(&rnn, self.x)?
        } else {
            let multi = rnn.clone().into_multi()?;
            dynamic_rnn(&multi, self.x, None, None)?
        };
        let shapes: Vec<_> = states.iter().map(|s| s.tensors()[0].dims()).collect();
        println!(
            "final states: {} (one per layer{}), each {:?}",
            states.len(),
            if rnn.is_bidirectional() {
                " and direction"
            } else {
                ""
            },
            shapes[0]
        );
        if let Some(path) = self.export {
            let mut out = StateDict::new();
            out.insert_rnn(self.prefix, &rnn)?;
            if let (Some(h), Some(p)) = (self.head, self.head_prefix) {
                out.insert_linear(p, h);
            }
            out.save_safetensors(path)?;
            println!("wrote {} ({} tensors)", path.display(), out.len());
        }
        Ok(match self.head {
            Some(h) => h.forward(outputs),
            None => outputs,
        })
    }
}

/// rnn-core's `stack_bidirectional_dynamic_rnn`: each layer runs its forward cell over the
/// sequence and its backward cell over it reversed, the backward outputs re-aligned to input
/// time; the next layer reads both, `[B, T, 2H]`. States: forward then backward, layer by
/// layer (PyTorch's `h_n` order).
fn bidirectional<C: TorchCell>(
    rnn: &TorchRnn<C>,
    x: Tensor<3>,
) -> anyhow::Result<(Tensor<3>, Vec<C::State>)> {
    let (out, fw, bw) = stack_bidirectional_dynamic_rnn(&rnn.fw, &rnn.bw, x, None, None, None)
        .context("bidirectional layers")?;
    let states = fw.into_iter().zip(bw).flat_map(|(f, b)| [f, b]).collect();
    Ok((out, states))
}
