//! The book's time-series figures, drawn from data the binaries computed: the series with a
//! training instance, "Testing the model", and the creative sequences.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use rnn_data::time_series::{RESOLUTION, T_MAX, T_MIN, full_curve, test_instance, time_series};

use crate::plot::{BLUE, LegendAt, Panel, RED, Series, Style, WHITE, figure};
use crate::series_model::SeriesModel;

/// The test instance's inputs as a model input `[1, n_steps, 1]` (the book's `X_new`).
pub fn test_instance_input(n_steps: usize, device: &Device) -> Tensor<3> {
    let (_, y) = test_instance(n_steps);
    let x: Vec<f32> = y[..n_steps].iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(x, [1, n_steps, 1]), device)
}

/// The restored model's prediction for the test instance (`[n_steps]`, the book's
/// `y_pred[0, :, 0]`) and its MSE against the targets.
pub fn predict_test_instance<M: SeriesModel>(
    model: &M,
    n_steps: usize,
    device: &Device,
) -> anyhow::Result<(Vec<f32>, f64)> {
    let y_pred: Vec<f32> = model
        .predict(test_instance_input(n_steps, device))?
        .into_data()
        .try_into_vec_as()?;
    let (_, y) = test_instance(n_steps);
    let mse = y_pred
        .iter()
        .zip(&y[1..])
        .map(|(&p, &t)| (p as f64 - t).powi(2))
        .sum::<f64>()
        / n_steps as f64;
    Ok((y_pred, mse))
}

fn instance_panel(title: &str, n_steps: usize) -> Panel {
    let (t, y) = test_instance(n_steps);
    let instance = t[..n_steps]
        .iter()
        .copied()
        .zip(y[..n_steps].iter().copied());
    let target = t[1..].iter().copied().zip(y[1..].iter().copied());
    Panel::new(title, "Time", "")
        .with(Series::new(
            "instance",
            instance.collect(),
            BLUE,
            Style::Circles { radius: 8 },
        ))
        .with(Series::new(
            "target",
            target.collect(),
            WHITE,
            Style::Stars { radius: 6 },
        ))
}

/// The section's figure: left, the whole series on `[0, 30]` with a training instance in bold
/// (`plt.axis([0, 30, -17, 13])`); right, that instance (circles) and its targets one step
/// later (stars). `n_steps` is the instance length (20).
pub fn time_series_figure(path: &Path, n_steps: usize) -> anyhow::Result<()> {
    let (t, y) = full_curve();
    let (ti, yi) = test_instance(n_steps);
    let left = Panel::new("A time series (generated)", "Time", "Value")
        .with(Series::new(
            "t·sin(t)/3 + 2·sin(5t)",
            t.into_iter().zip(y).collect(),
            BLUE,
            Style::Line { width: 2 },
        ))
        .with(Series::new(
            "A training instance",
            ti[..n_steps]
                .iter()
                .copied()
                .zip(yi[..n_steps].iter().copied())
                .collect(),
            RED,
            Style::Line { width: 4 },
        ))
        .axis((T_MIN, T_MAX), (-17.0, 13.0))
        .legend(Some(LegendAt::LowerLeft));
    Ok(figure(
        path,
        560,
        420,
        &[left, instance_panel("A training instance", n_steps)],
    )?)
}

/// "Testing the model": the test instance (circles), its targets (stars) and `prediction`
/// (`[n_steps]`, red dots at the target times).
pub fn testing_figure(path: &Path, title: &str, prediction: &[f32]) -> anyhow::Result<()> {
    let n_steps = prediction.len();
    let (t, _) = test_instance(n_steps);
    let predicted = t[1..]
        .iter()
        .copied()
        .zip(prediction.iter().map(|&v| v as f64))
        .collect();
    let panel =
        instance_panel(title, n_steps).with(Series::new("prediction", predicted, RED, Style::Dots));
    Ok(figure(path, 700, 450, &[panel])?)
}

/// The creative section's two panels: each sequence grown by the model from its first
/// `n_seed` values, plotted against time (`k * 0.1`), the seed in bold.
pub fn creative_figure(
    path: &Path,
    n_seed: usize,
    panels: &[(&str, &[f32])],
) -> anyhow::Result<()> {
    let panels: Vec<Panel> = panels
        .iter()
        .enumerate()
        .map(|(k, (title, seq))| {
            let points: Vec<(f64, f64)> = seq
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64 * RESOLUTION, v as f64))
                .collect();
            Panel::new(title, "Time", if k == 0 { "Value" } else { "" })
                .with(Series::new(
                    "generated",
                    points.clone(),
                    BLUE,
                    Style::Line { width: 2 },
                ))
                .with(Series::new(
                    "seed",
                    points[..n_seed.min(points.len())].to_vec(),
                    RED,
                    Style::Line { width: 5 },
                ))
                // One legend: the panels draw the same two series.
                .legend((k == 0).then_some(LegendAt::LowerLeft))
        })
        .collect();
    Ok(figure(path, 560, 420, &panels)?)
}

/// The book's real-valued creative seed: the series at `t = 30 + 0.1 k`, `k = 0..n_seed`
/// (`time_series(i * resolution + t_min + (t_max - t_min / 3))`, which is `30 + 0.1 i` as
/// written).
pub fn creative_seed(n_seed: usize) -> Vec<f32> {
    (0..n_seed)
        .map(|i| time_series(i as f64 * RESOLUTION + T_MIN + (T_MAX - T_MIN / 3.0)) as f32)
        .collect()
}
