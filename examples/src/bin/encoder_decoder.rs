//! Sequence to sequence on the chapter's series: an encoder reads a window of 20 values, its
//! final state starts a decoder that emits the next 10 (teacher forcing in training: each step
//! reads the true previous value; at test time its own outputs are fed back, through
//! `rnn_core::Decoder`). Beside it, the book's one-step forecaster (a relu `BasicRNNCell` with an
//! `OutputProjectionWrapper`), trained in the same run with the same budget (iterations, batch,
//! Adam), forecasts 10 steps by feeding its predictions back into its 20-value window 10 times.
//!
//! Prints the MSE over the 10 future steps on unseen windows of both, of the untrained
//! encoder-decoder and of repeating the last seen value, and draws both forecasts against the
//! truth for a few windows into `--out/encoder_decoder.png`.
//!
//! Run: `cargo run -p examples --bin encoder_decoder [-- --iterations 1500]`

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use examples::generate::grow;
use examples::plot::{BLUE, GREEN, Panel, RED, Series, Style, figure};
use examples::series_model::ProjectedRnn;
use examples::series_training::{SeriesTraining, train_series};
use rnn_core::{
    Activation, BasicRnnCell, BasicRnnCellConfig, Decoder, OutputProjectionWrapper,
    OutputProjectionWrapperConfig, dynamic_rnn,
};
use rnn_data::TimeSeries;
use rnn_data::time_series::RESOLUTION;
use rnn_train::{Steps, adam_tf1, mse_over_steps};

/// An encoder-decoder against the iterated one-step forecaster, 10 steps ahead.
#[derive(Parser)]
struct Args {
    /// Training iterations (each model; one batch each).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
    /// Windows per batch.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Units of each relu cell (encoder, decoder, forecaster).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    neurons: u32,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 0.001)]
    lr: f64,
    /// Unseen windows in the evaluation.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    eval_windows: u32,
    /// Seed of the weights and of the training and evaluation windows.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the figure goes.
    #[arg(long, default_value = "target/examples/encoder_decoder")]
    out: PathBuf,
    /// Backend: flex, ndarray or wgpu (as compiled in) [default: BURN_DEVICE, else the build's].
    #[arg(long)]
    device: Option<String>,
}

/// Values the encoder reads.
const N_IN: usize = 20;
/// Values the decoder emits.
const N_OUT: usize = 10;
/// Windows drawn in the figure.
const N_SHOWN: usize = 3;

/// Encoder `[B, 20, 1] -> state [B, H]`; decoder from that state, `[B, 10, 1]`.
#[derive(Module, Debug)]
struct EncoderDecoder {
    /// Relu cell `1 -> H`.
    encoder: BasicRnnCell,
    /// Relu cell `1 -> H` projected to 1 output per step.
    decoder: OutputProjectionWrapper<BasicRnnCell>,
}

impl EncoderDecoder {
    fn new(n_neurons: usize, device: &Device) -> anyhow::Result<Self> {
        let relu = || {
            BasicRnnCellConfig::new(1, n_neurons)
                .with_activation(Activation::Relu)
                .init(device)
        };
        Ok(Self {
            encoder: relu()?,
            decoder: OutputProjectionWrapperConfig::new(1).init(relu()?, device)?,
        })
    }

    /// The encoder's final state for `past [B, 20, 1]`.
    fn encode(&self, past: Tensor<3>) -> anyhow::Result<Tensor<2>> {
        Ok(dynamic_rnn(&self.encoder, past, None, None)?.1)
    }

    /// Training: teacher forcing, step k reads the true value before it. `past [B, 20, 1]`,
    /// `future [B, 10, 1]` -> predictions `[B, 10, 1]`.
    fn teacher_forced(&self, past: Tensor<3>, future: Tensor<3>) -> anyhow::Result<Tensor<3>> {
        let state = self.encode(past.clone())?;
        let last = past.narrow(1, N_IN - 1, 1);
        let inputs = Tensor::cat(vec![last, future.narrow(1, 0, N_OUT - 1)], 1);
        let decoded = Decoder::teacher_forced(inputs, N_OUT).run(&self.decoder, Some(state))?;
        Ok(decoded.outputs)
    }

    /// Test time: step 0 reads the last seen value, every later step the decoder's own
    /// previous output. `past [B, 20, 1]` -> predictions `[B, 10, 1]`.
    fn forecast(&self, past: Tensor<3>) -> anyhow::Result<Tensor<3>> {
        let [b, _, _] = past.dims();
        let state = self.encode(past.clone())?;
        let last = past.narrow(1, N_IN - 1, 1).reshape([b, 1]);
        let decoded = Decoder::greedy(last, N_OUT)
            .with_feedback(|y| y.clone())
            .run(&self.decoder, Some(state))?;
        Ok(decoded.outputs)
    }
}

/// `batch` windows of 30 consecutive values: past `[B, 20, 1]`, future `[B, 10, 1]`, and the
/// window starts.
struct Windows {
    past: Vec<f32>,
    future: Vec<f32>,
    starts: Vec<f64>,
    batch: usize,
}

impl Windows {
    fn draw(series: &mut TimeSeries, batch: usize) -> anyhow::Result<Self> {
        let n = N_IN + N_OUT;
        let w = series.next_windows(batch, n - 1)?;
        let (mut past, mut future) = (Vec::new(), Vec::new());
        for b in 0..batch {
            let mut values = w.inputs[b * (n - 1)..(b + 1) * (n - 1)].to_vec();
            values.push(w.targets[(b + 1) * (n - 1) - 1]);
            past.extend_from_slice(&values[..N_IN]);
            future.extend_from_slice(&values[N_IN..]);
        }
        Ok(Self {
            past,
            future,
            starts: w.starts,
            batch,
        })
    }

    fn tensors(&self, device: &Device) -> (Tensor<3>, Tensor<3>) {
        let past = TensorData::new(self.past.clone(), [self.batch, N_IN, 1]);
        let future = TensorData::new(self.future.clone(), [self.batch, N_OUT, 1]);
        (
            Tensor::from_data(past, device),
            Tensor::from_data(future, device),
        )
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr: expected a finite number > 0, got {}",
        args.lr
    );
    let neurons = args.neurons as usize;
    let batch_size = args.batch_size as usize;
    // Three relu cells of the forecaster's size.
    let estimate = examples::memory::series_estimate(3, args.neurons, batch_size, N_IN + N_OUT);
    examples::memory::check(
        &format!("--neurons {} --batch-size {batch_size}", args.neurons),
        &estimate,
        &examples::memory::limit(None, ""),
        "--neurons or --batch-size",
    )?;
    let device = examples::device(args.device.as_deref())?;
    examples::check_out_dir(&args.out)?;
    let train_device = device.clone().autodiff();
    train_device.seed(args.seed);
    println!(
        "on {}: relu cells of {neurons} units, {} iterations of batches of {batch_size}, Adam {}",
        rnn_core::device::device_name(&device),
        args.iterations,
        args.lr
    );

    let untrained = EncoderDecoder::new(neurons, &train_device)?;
    let start = std::time::Instant::now();
    let seq2seq = train_encoder_decoder(untrained.clone(), &args, &train_device)?;
    println!(
        "encoder-decoder trained in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    let mut config = SeriesTraining::book(args.lr, args.out.join("forecaster"));
    config.iterations = args.iterations as usize;
    config.batch_size = batch_size;
    config.seed = args.seed;
    let start = std::time::Instant::now();
    let forecaster = train_series(
        ProjectedRnn::new(neurons, &train_device)?,
        &config,
        &train_device,
        |_, _| {},
    )?;
    println!(
        "one-step forecaster trained in {:.1} s (its one-step MSE on unseen windows: {:.4})",
        start.elapsed().as_secs_f64(),
        forecaster.eval_mse
    );

    // Unseen windows: another seed than training's.
    let test = Windows::draw(
        &mut TimeSeries::new(args.seed ^ 0x7e57),
        args.eval_windows as usize,
    )?;
    let (past, future) = test.tensors(&device);
    let seq2seq_pred = seq2seq.valid().forecast(past.clone())?;
    let untrained_pred = untrained.valid().forecast(past.clone())?;
    let seeds: Vec<Vec<f32>> = test.past.chunks(N_IN).map(<[f32]>::to_vec).collect();
    let grown = grow(&forecaster.model.valid(), &seeds, N_IN, N_OUT, &device)?;
    let iterated: Vec<f32> = grown.iter().flat_map(|s| s[N_IN..].to_vec()).collect();
    let iterated_pred = Tensor::<3>::from_data(
        TensorData::new(iterated.clone(), [test.batch, N_OUT, 1]),
        &device,
    );
    let last_value = past.narrow(1, N_IN - 1, 1).repeat_dim(1, N_OUT);
    let mse = |pred: Tensor<3>| -> anyhow::Result<f32> {
        Ok(mse_over_steps(pred, future.clone(), &Steps::All)?.into_scalar::<f32>())
    };
    println!(
        "MSE over the {N_OUT} future steps, {} unseen windows:",
        test.batch
    );
    let seq2seq_host = host(&seq2seq_pred)?;
    for (name, pred) in [
        ("encoder-decoder", seq2seq_pred),
        ("iterated one-step forecaster", iterated_pred),
        ("last value repeated", last_value),
        ("untrained encoder-decoder", untrained_pred),
    ] {
        println!("  {name}: {:.5}", mse(pred)?);
    }

    let path = args.out.join("encoder_decoder.png");
    draw(&path, &test, &seq2seq_host, &iterated)?;
    println!("figure: {}", path.display());
    Ok(())
}

/// Adam on teacher-forced batches, the loss (MSE over the 10 future steps) checked finite.
fn train_encoder_decoder(
    mut model: EncoderDecoder,
    args: &Args,
    device: &Device,
) -> anyhow::Result<EncoderDecoder> {
    let mut series = TimeSeries::new(args.seed);
    let mut optim = adam_tf1().init();
    for iteration in 0..args.iterations {
        let (past, future) = Windows::draw(&mut series, args.batch_size as usize)?.tensors(device);
        let pred = model.teacher_forced(past, future.clone())?;
        let loss = mse_over_steps(pred, future, &Steps::All)?;
        let value = loss.clone().into_scalar::<f32>();
        anyhow::ensure!(
            value.is_finite(),
            "the encoder-decoder's training MSE became {value} at iteration {iteration}: lower \
             --lr"
        );
        if iteration % 100 == 0 {
            println!("{iteration} \tencoder-decoder training MSE: {value}");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(args.lr, model, grads);
    }
    Ok(model)
}

fn host(t: &Tensor<3>) -> anyhow::Result<Vec<f32>> {
    Ok(t.to_data().try_into_vec_as::<f32>()?)
}

/// One panel per shown window: the 20 values read (line), the 10 true future values
/// (circles) and both forecasts.
fn draw(path: &Path, test: &Windows, seq2seq: &[f32], iterated: &[f32]) -> anyhow::Result<()> {
    let panels: Vec<Panel> = (0..N_SHOWN.min(test.batch))
        .map(|b| {
            let t0 = test.starts[b];
            let at = |k: usize| t0 + k as f64 * RESOLUTION;
            let points = |values: &[f32], first: usize| -> Vec<(f64, f64)> {
                values
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| (at(first + k), v as f64))
                    .collect()
            };
            let future = |v: &[f32]| v[b * N_OUT..(b + 1) * N_OUT].to_vec();
            Panel::new(
                &format!("Window at t = {t0:.1}"),
                "Time",
                if b == 0 { "Value" } else { "" },
            )
            .with(Series::new(
                "read by the encoder",
                points(&test.past[b * N_IN..(b + 1) * N_IN], 0),
                BLUE,
                Style::Line { width: 3 },
            ))
            .with(Series::new(
                "truth",
                points(&future(&test.future), N_IN),
                BLUE,
                Style::Circles { radius: 6 },
            ))
            .with(Series::new(
                "encoder-decoder",
                points(&future(seq2seq), N_IN),
                RED,
                Style::LineWithPoints {
                    width: 2,
                    radius: 3,
                },
            ))
            .with(Series::new(
                "one-step forecaster x10",
                points(&future(iterated), N_IN),
                GREEN,
                Style::LineWithPoints {
                    width: 2,
                    radius: 3,
                },
            ))
            .legend((b == 0).then_some(examples::plot::LegendAt::LowerLeft))
        })
        .collect();
    Ok(figure(path, 560, 420, &panels)?)
}
