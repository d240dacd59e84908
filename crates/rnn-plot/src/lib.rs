//! rnn-plot: the PNG figures of rnn-rs, shared by the chapter's binaries (`examples`) and
//! `cargo xtask mnist`. Figures are shaped after the book's matplotlib calls: one or more panels
//! side by side (`plt.subplot(1, n, k)`), each with a title, axis labels, optional fixed axes
//! (`plt.axis`), a legend, and series drawn as lines (`"b-"`), circles (`"bo"`), stars
//! (`"w*"`) or dots (`"r."`); [`learning_curve`] draws accuracy (or loss) per epoch with
//! integer epochs on its axis.
//!
//! The text uses an embedded font (DejaVu Sans, the workspace's `assets/fonts/`), so a figure
//! renders the same on any machine, headless CI included. Errors are [`PlotError`]s naming the
//! file, with their cause as `source`.
//!
//! A crate of its own (rather than a module of `examples` or a feature of rnn-train) so that
//! `xtask` and `examples` draw through the same code without `xtask` depending on the chapter's
//! binaries, and the training crates stay free of plotters.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

pub use plotters::style::{BLACK, RGBColor, WHITE};

static FONT: Once = Once::new();

fn register_embedded_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        if register_font("sans-serif", FontStyle::Normal, bytes).is_err() {
            eprintln!("warning: could not register the embedded font; plot text may be missing");
        }
    });
}

/// matplotlib's default blue (`"b"` in the book's figures is this tab:blue here).
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// matplotlib's tab:red.
pub const RED: RGBColor = RGBColor(214, 39, 40);
/// matplotlib's tab:orange.
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
/// matplotlib's tab:green.
pub const GREEN: RGBColor = RGBColor(44, 160, 44);

/// What can go wrong drawing a figure; each names the file or panel.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// [`figure`] was given no panel.
    #[error("{}: a figure needs a panel", path.display())]
    NoPanel {
        /// The figure's file.
        path: PathBuf,
    },
    /// The figure's directory could not be created.
    #[error("creating {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A panel could not be drawn (see the source: no points, a non-finite point, plotters).
    #[error("drawing {}", path.display())]
    Draw {
        /// The figure's file.
        path: PathBuf,
        /// Why.
        #[source]
        source: PanelError,
    },
    /// The PNG could not be encoded or written.
    #[error("writing {}", path.display())]
    Write {
        /// The figure's file.
        path: PathBuf,
        /// plotters' error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a panel could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// The panel has no series with a point.
    #[error("panel `{title}` has no points")]
    NoPoints {
        /// The panel's title.
        title: String,
    },
    /// A point is NaN or infinite.
    #[error("panel `{title}`: point ({x}, {y}) is not finite")]
    NonFinite {
        /// The panel's title.
        title: String,
        /// The point's x.
        x: f64,
        /// The point's y.
        y: f64,
    },
    /// plotters failed to draw.
    #[error("plotters: {0}")]
    Plotters(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn plotters_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> PanelError {
    PanelError::Plotters(Box::new(e))
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// A line `width` pixels wide (`"b-"`, `linewidth=3`).
    Line {
        /// Stroke width in pixels.
        width: u32,
    },
    /// A line with a circle at every point (a learning curve).
    LineWithPoints {
        /// Stroke width in pixels.
        width: u32,
        /// Circle radius in pixels.
        radius: u32,
    },
    /// Filled circles of radius `radius` (`"bo"`).
    Circles {
        /// Radius in pixels.
        radius: u32,
    },
    /// Five-pointed stars, filled with the series' colour and outlined in black, `radius`
    /// pixels to the tips (`"w*"`: matplotlib draws white stars; the black outline keeps them
    /// visible off the circles they sit on).
    Stars {
        /// Outer radius in pixels.
        radius: u32,
    },
    /// Small filled dots (`"r."`).
    Dots,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text; `None` keeps it out of the legend.
    pub label: Option<String>,
    /// The points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Line or marker.
    pub style: Style,
}

impl Series {
    /// A series of `points` drawn in `style` and `color`, labelled `label` in the legend.
    pub fn new(label: &str, points: Vec<(f64, f64)>, color: RGBColor, style: Style) -> Self {
        Self {
            label: Some(label.to_string()),
            points,
            color,
            style,
        }
    }

    /// The same series without a legend entry.
    pub fn unlabelled(points: Vec<(f64, f64)>, color: RGBColor, style: Style) -> Self {
        Self {
            label: None,
            points,
            color,
            style,
        }
    }
}

/// An axis range `(from, to)`.
type Range = (f64, f64);

/// Where a panel's legend sits.
pub type LegendAt = SeriesLabelPosition;

/// One panel of a figure.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Title above the panel (empty: none).
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label (empty: none).
    pub y_label: String,
    /// Fixed x range (`plt.axis`); `None` fits the data.
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range; `None` fits the data with a 10% margin.
    pub y_range: Option<(f64, f64)>,
    /// Legend corner; `None`: no legend.
    pub legend: Option<LegendAt>,
    /// Label the x axis with integers only (epochs): `2`, not `2.0`.
    pub integer_x: bool,
    /// The series, drawn in order (later ones on top).
    pub series: Vec<Series>,
}

impl Panel {
    /// A panel titled `title` with axis labels, fitted axes, a legend at the upper left.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_range: None,
            y_range: None,
            legend: Some(LegendAt::UpperLeft),
            integer_x: false,
            series: Vec::new(),
        }
    }

    /// Adds a series.
    pub fn with(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Fixes the axes to `[x0, x1] x [y0, y1]` (`plt.axis([x0, x1, y0, y1])`).
    pub fn axis(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
        self.x_range = Some(x);
        self.y_range = Some(y);
        self
    }

    /// Labels the x axis with integers only (epochs, iterations).
    pub fn integer_x(mut self) -> Self {
        self.integer_x = true;
        self
    }

    /// Moves the legend (`None`: no legend).
    pub fn legend(mut self, at: Option<LegendAt>) -> Self {
        self.legend = at;
        self
    }

    fn ranges(&self) -> Result<(Range, Range), PanelError> {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in self.series.iter().flat_map(|s| s.points.iter()) {
            if !(x.is_finite() && y.is_finite()) {
                return Err(PanelError::NonFinite {
                    title: self.title.clone(),
                    x,
                    y,
                });
            }
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            return Err(PanelError::NoPoints {
                title: self.title.clone(),
            });
        }
        // Markers at the ends must not be cut in half by the frame.
        let pad_x = if x0 == x1 { 1.0 } else { (x1 - x0) * 0.02 };
        let pad_y = ((y1 - y0) * 0.1).max(1e-3);
        Ok((
            self.x_range.unwrap_or((x0 - pad_x, x1 + pad_x)),
            self.y_range.unwrap_or((y0 - pad_y, y1 + pad_y)),
        ))
    }

    fn draw(&self, area: &DrawingArea<BitMapBackend, Shift>) -> Result<(), PanelError> {
        let ((x0, x1), (y0, y1)) = self.ranges()?;
        let mut builder = ChartBuilder::on(area);
        builder
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(if self.y_label.is_empty() { 40 } else { 60 });
        if !self.title.is_empty() {
            builder.caption(&self.title, ("sans-serif", 24));
        }
        let mut chart = builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plotters_error)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 15))
            .max_light_lines(0);
        if self.integer_x {
            mesh.x_labels(integer_label_count(x0, x1))
                .x_label_formatter(&integer_label);
        }
        mesh.draw().map_err(plotters_error)?;
        for s in &self.series {
            let color = s.color;
            let anno = match s.style {
                Style::Line { width } => chart
                    .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(width)))
                    .map_err(plotters_error)?,
                Style::LineWithPoints { width, radius } => {
                    chart
                        .draw_series(
                            s.points
                                .iter()
                                .map(|&p| Circle::new(p, radius, color.filled())),
                        )
                        .map_err(plotters_error)?;
                    chart
                        .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(width)))
                        .map_err(plotters_error)?
                }
                Style::Circles { radius } => chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|&p| Circle::new(p, radius, color.filled())),
                    )
                    .map_err(plotters_error)?,
                Style::Stars { radius } => chart
                    .draw_series(s.points.iter().map(|&p| {
                        let (fill, outline) = star_shapes((0, 0), radius);
                        EmptyElement::at(p)
                            + Polygon::new(fill, color.filled())
                            + PathElement::new(outline, BLACK.stroke_width(1))
                    }))
                    .map_err(plotters_error)?,
                Style::Dots => chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(plotters_error)?,
            };
            if let Some(label) = &s.label {
                let anno = anno.label(label.as_str());
                match s.style {
                    Style::Line { width } | Style::LineWithPoints { width, .. } => {
                        anno.legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
                        })
                    }
                    Style::Circles { radius } => anno.legend(move |(x, y)| {
                        Circle::new((x + 10, y), radius.min(6), color.filled())
                    }),
                    Style::Stars { radius } => anno.legend(move |(x, y)| {
                        let (fill, outline) = star_shapes((x + 10, y), radius.min(8));
                        EmptyElement::at((0, 0))
                            + Polygon::new(fill, color.filled())
                            + PathElement::new(outline, BLACK.stroke_width(1))
                    }),
                    Style::Dots => {
                        anno.legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()))
                    }
                };
            }
        }
        if let Some(at) = self.legend.clone()
            && self.series.iter().any(|s| s.label.is_some())
        {
            chart
                .configure_series_labels()
                .position(at)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 16))
                .draw()
                .map_err(plotters_error)?;
        }
        Ok(())
    }
}

/// How many x labels keep every label an integer on `[x0, x1]`: plotters steps by 1, 2 or 5
/// times a power of ten, and at most this many labels over a width of at least as many units
/// makes the step at least 1 (at most 10 labels).
fn integer_label_count(x0: f64, x1: f64) -> usize {
    ((x1 - x0).floor() as usize).clamp(1, 10)
}

/// An x label on an integer axis: `2` for 2.0; nothing for a non-integer tick (a safeguard:
/// [`integer_label_count`] avoids them).
fn integer_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        String::new()
    }
}

/// A star outline relative to its centre, `radius` pixels to the tips.
fn star_points(radius: u32) -> Vec<(i32, i32)> {
    let (outer, inner) = (radius as f64, radius as f64 * 0.45);
    (0..10)
        .map(|k| {
            let r = if k % 2 == 0 { outer } else { inner };
            let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
            ((r * a.cos()).round() as i32, (r * a.sin()).round() as i32)
        })
        .collect()
}

/// Pixel points of a drawn shape.
type Pixels = Vec<(i32, i32)>;

/// A star's filled shape and closed outline, centred on `(cx, cy)` (pixels).
fn star_shapes((cx, cy): (i32, i32), radius: u32) -> (Pixels, Pixels) {
    let fill: Vec<(i32, i32)> = star_points(radius)
        .into_iter()
        .map(|(x, y)| (cx + x, cy + y))
        .collect();
    let mut outline = fill.clone();
    outline.push(fill[0]);
    (fill, outline)
}

/// A figure of `panels` side by side, each `panel_width x height` pixels, written to `path`
/// as PNG (its directory created). Fails (naming the file) when a panel is empty, a point is
/// not finite, or the file cannot be written.
pub fn figure(
    path: &Path,
    panel_width: u32,
    height: u32,
    panels: &[Panel],
) -> Result<(), PlotError> {
    if panels.is_empty() {
        return Err(PlotError::NoPanel {
            path: path.to_path_buf(),
        });
    }
    register_embedded_font();
    create_parent(path)?;
    let draw = |source| PlotError::Draw {
        path: path.to_path_buf(),
        source,
    };
    let width = panel_width * panels.len() as u32;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(plotters_error(e)))?;
    let areas = root.split_evenly((1, panels.len()));
    for (panel, area) in panels.iter().zip(&areas) {
        panel.draw(area).map_err(draw)?;
    }
    root.present().map_err(|e| PlotError::Write {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// One curve of a [`learning_curve`]: its legend text, colour and `(epoch, value)` points.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// `(epoch, value)`, in order.
    pub points: Vec<(usize, f64)>,
}

/// A learning curve (`800 x 500` pixels) at `path`: each curve as a line with a circle per
/// epoch (a line alone past 40 epochs), epochs labelled as integers, the legend at the lower
/// right. Errors as [`figure`].
pub fn learning_curve(
    path: &Path,
    title: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<(), PlotError> {
    let epochs = curves.iter().map(|c| c.points.len()).max().unwrap_or(0);
    let style = if epochs <= 40 {
        Style::LineWithPoints {
            width: 2,
            radius: 3,
        }
    } else {
        Style::Line { width: 2 }
    };
    let panel = curves.iter().fold(
        Panel::new(title, "epoch", y_label)
            .integer_x()
            .legend(Some(LegendAt::LowerRight)),
        |panel, c| {
            let points = c.points.iter().map(|&(e, v)| (e as f64, v)).collect();
            panel.with(Series::new(&c.label, points, c.color, style))
        },
    );
    figure(path, 800, 500, &[panel])
}

/// Creates the directory `path` will be written into, when it has one.
fn create_parent(path: &Path) -> Result<(), PlotError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| PlotError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Grey-scale images in a grid, written as PNG (its directory created): `pixels` holds
/// `n = pixels.len() / (rows * cols)` images of `[rows, cols]` values in `[0, 1]` (clamped),
/// `per_row` of them per grid row, each pixel a `scale x scale` square, images `gap` pixels
/// apart on a mid-grey background. Fails naming the file when it cannot be written.
pub fn image_grid(
    path: &Path,
    pixels: &[f32],
    [rows, cols]: [usize; 2],
    per_row: usize,
    scale: u32,
    gap: u32,
) -> Result<(), PlotError> {
    let per_image = (rows * cols).max(1);
    let n = pixels.len() / per_image;
    let per_row = per_row.max(1);
    let grid_rows = n.div_ceil(per_row);
    let (cell_w, cell_h) = (cols as u32 * scale + gap, rows as u32 * scale + gap);
    let (w, h) = (
        per_row as u32 * cell_w + gap,
        grid_rows as u32 * cell_h + gap,
    );
    create_parent(path)?;
    let draw = |e| PlotError::Draw {
        path: path.to_path_buf(),
        source: plotters_error(e),
    };
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&RGBColor(128, 128, 128)).map_err(draw)?;
    for (k, image) in pixels.chunks_exact(per_image).enumerate() {
        let (x0, y0) = (
            gap + (k % per_row) as u32 * cell_w,
            gap + (k / per_row) as u32 * cell_h,
        );
        for (p, &v) in image.iter().enumerate() {
            let level = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            let colour = RGBColor(level, level, level);
            let (px, py) = (
                x0 + (p % cols) as u32 * scale,
                y0 + (p / cols) as u32 * scale,
            );
            for (dx, dy) in (0..scale).flat_map(|dx| (0..scale).map(move |dy| (dx, dy))) {
                root.draw_pixel(((px + dx) as i32, (py + dy) as i32), &colour)
                    .map_err(draw)?;
            }
        }
    }
    root.present().map_err(|e| PlotError::Write {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_several_panels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("fig.png");
        let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, (i as f64).sin())).collect();
        let left = Panel::new("lines", "Time", "Value")
            .with(Series::new(
                "curve",
                pts.clone(),
                BLUE,
                Style::Line { width: 2 },
            ))
            .axis((0.0, 30.0), (-2.0, 2.0));
        let right = Panel::new("markers", "Time", "")
            .with(Series::new(
                "o",
                pts.clone(),
                BLUE,
                Style::Circles { radius: 6 },
            ))
            .with(Series::new(
                "*",
                pts.clone(),
                WHITE,
                Style::Stars { radius: 7 },
            ))
            .with(Series::new(".", pts, RED, Style::Dots));
        figure(&path, 500, 400, &[left, right]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let img = image_size(&bytes);
        assert_eq!(img, (1000, 400));
    }

    #[test]
    fn empty_or_non_finite_panels_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fig.png");
        let err = figure(&path, 400, 300, &[Panel::new("nothing", "x", "y")]).unwrap_err();
        assert_eq!(
            chain(&err),
            format!("drawing {}: panel `nothing` has no points", path.display())
        );
        let nan = Panel::new("nan", "x", "y").with(Series::new(
            "bad",
            vec![(0.0, f64::NAN)],
            RED,
            Style::Dots,
        ));
        let err = figure(&path, 400, 300, &[nan]).unwrap_err();
        assert!(
            chain(&err).ends_with("panel `nan`: point (0, NaN) is not finite"),
            "{}",
            chain(&err)
        );
        let err = figure(&path, 400, 300, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: a figure needs a panel", path.display())
        );
    }

    #[test]
    fn a_star_has_ten_corners_within_its_radius() {
        let pts = star_points(10);
        assert_eq!(pts.len(), 10);
        assert!(
            pts.iter().all(|&(x, y)| x * x + y * y <= 11 * 11),
            "{pts:?}"
        );
        assert_eq!(pts[0], (0, -10), "the first tip points up");
    }

    #[test]
    fn integer_axes_label_only_integers() {
        use plotters::coord::ranged1d::Ranged;
        use plotters::coord::types::RangedCoordf64;
        // The ranges a learning curve of 1, 2, 3, 10, 20, 37 and 240 epochs gets.
        for n in [1usize, 2, 3, 10, 20, 37, 240] {
            let pad = if n == 1 { 1.0 } else { (n - 1) as f64 * 0.02 };
            let (x0, x1) = (-pad, (n - 1) as f64 + pad);
            let ticks = RangedCoordf64::from(x0..x1).key_points(integer_label_count(x0, x1));
            assert!(!ticks.is_empty(), "{n} epochs");
            for t in &ticks {
                assert!(
                    (t - t.round()).abs() < 1e-9,
                    "{n} epochs: tick {t} in {ticks:?}"
                );
                assert_eq!(integer_label(t), format!("{}", t.round() as i64));
            }
        }
        assert_eq!(integer_label(&2.0), "2");
        assert_eq!(integer_label(&2.5), "");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.png");
        let curve = Curve {
            label: "test".into(),
            color: RED,
            points: vec![(0, 0.9), (1, 0.95), (2, 0.97)],
        };
        learning_curve(&path, "MNIST", "accuracy", &[curve]).unwrap();
        assert_eq!(image_size(&std::fs::read(&path).unwrap()), (800, 500));
    }

    /// The error and its sources, `: `-joined (as anyhow's `{:#}`).
    fn chain(err: &dyn std::error::Error) -> String {
        let mut text = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            text.push_str(&format!(": {e}"));
            source = e.source();
        }
        text
    }

    /// Width and height from a PNG's IHDR chunk.
    fn image_size(png: &[u8]) -> (u32, u32) {
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        (w, h)
    }
}
