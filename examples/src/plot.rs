//! PNG figures with plotters, shaped after the book's matplotlib calls: one or more panels side
//! by side (`plt.subplot(1, n, k)`), each with a title, axis labels, optional fixed axes
//! (`plt.axis`), a legend, and series drawn as lines (`"b-"`), circles (`"bo"`), stars
//! (`"w*"`) or dots (`"r."`).
//!
//! The text uses an embedded font (DejaVu Sans, `assets/fonts/`), so a figure renders the same
//! on any machine, headless CI included.

use std::path::Path;
use std::sync::Once;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

static FONT: Once = Once::new();

fn register_embedded_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
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

    /// Moves the legend (`None`: no legend).
    pub fn legend(mut self, at: Option<LegendAt>) -> Self {
        self.legend = at;
        self
    }

    fn ranges(&self) -> anyhow::Result<((f64, f64), (f64, f64))> {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in self.series.iter().flat_map(|s| s.points.iter()) {
            anyhow::ensure!(
                x.is_finite() && y.is_finite(),
                "panel `{}`: point ({x}, {y}) is not finite",
                self.title
            );
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        anyhow::ensure!(x0 <= x1, "panel `{}` has no points", self.title);
        // Markers at the ends must not be cut in half by the frame.
        let pad_x = if x0 == x1 { 1.0 } else { (x1 - x0) * 0.02 };
        let pad_y = ((y1 - y0) * 0.1).max(1e-3);
        Ok((
            self.x_range.unwrap_or((x0 - pad_x, x1 + pad_x)),
            self.y_range.unwrap_or((y0 - pad_y, y1 + pad_y)),
        ))
    }

    fn draw(&self, area: &DrawingArea<BitMapBackend, Shift>) -> anyhow::Result<()> {
        let ((x0, x1), (y0, y1)) = self.ranges()?;
        let mut builder = ChartBuilder::on(area);
        builder
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(if self.y_label.is_empty() { 40 } else { 60 });
        if !self.title.is_empty() {
            builder.caption(&self.title, ("sans-serif", 24));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 15))
            .max_light_lines(0)
            .draw()?;
        for s in &self.series {
            let color = s.color;
            let anno = match s.style {
                Style::Line { width } => chart
                    .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(width)))?,
                Style::LineWithPoints { width, radius } => {
                    chart.draw_series(
                        s.points
                            .iter()
                            .map(|&p| Circle::new(p, radius, color.filled())),
                    )?;
                    chart
                        .draw_series(LineSeries::new(s.points.clone(), color.stroke_width(width)))?
                }
                Style::Circles { radius } => chart.draw_series(
                    s.points
                        .iter()
                        .map(|&p| Circle::new(p, radius, color.filled())),
                )?,
                Style::Stars { radius } => chart.draw_series(s.points.iter().map(|&p| {
                    let (fill, outline) = star_shapes((0, 0), radius);
                    EmptyElement::at(p)
                        + Polygon::new(fill, color.filled())
                        + PathElement::new(outline, BLACK.stroke_width(1))
                }))?,
                Style::Dots => chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?,
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
                .draw()?;
        }
        Ok(())
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
/// as PNG. Fails (naming the file) when a panel is empty, a point is not finite, or the file
/// cannot be written.
pub fn figure(path: &Path, panel_width: u32, height: u32, panels: &[Panel]) -> anyhow::Result<()> {
    anyhow::ensure!(
        !panels.is_empty(),
        "{}: a figure needs a panel",
        path.display()
    );
    register_embedded_font();
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let width = panel_width * panels.len() as u32;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    for (panel, area) in panels.iter().zip(&areas) {
        panel
            .draw(area)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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
        assert!(
            format!("{err:#}").contains("panel `nothing` has no points"),
            "{err:#}"
        );
        let nan = Panel::new("nan", "x", "y").with(Series::new(
            "bad",
            vec![(0.0, f64::NAN)],
            RED,
            Style::Dots,
        ));
        let err = figure(&path, 400, 300, &[nan]).unwrap_err();
        assert!(format!("{err:#}").contains("not finite"), "{err:#}");
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

    /// Width and height from a PNG's IHDR chunk.
    fn image_size(png: &[u8]) -> (u32, u32) {
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        (w, h)
    }
}
