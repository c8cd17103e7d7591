//! PNG plots of the measurements: ROC curves and distance histograms.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::base::error::{Error, Result};
use crate::measure::metrics::{Distances, RocPoint};

const SIZE: (u32, u32) = (900, 600);
const FONT: &str = "sans-serif";
/// One colour per curve, in order; known green and unknown orange as in the window.
const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];
const GENUINE: RGBColor = RGBColor(40, 170, 70);
const IMPOSTOR: RGBColor = RGBColor(235, 130, 20);
const BIN_WIDTH: f64 = 0.02;

/// A vertical marker on a histogram.
pub struct Marker<'a> {
    pub label: &'a str,
    pub at: f64,
}

fn register_font() {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // Ubuntu Light is compiled in (egui ships it), so a plot draws the same everywhere.
        if plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .is_err()
        {
            tracing::warn!("the plot font did not load; plots will lack text");
        }
    });
}

/// A chart of the plots' one look: caption, margins, room for axis labels.
fn frame<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    caption: &str,
    size: u32,
) -> ChartBuilder<'a, 'b, BitMapBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, (FONT, size))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64);
    builder
}

/// The legend box, at `position`.
fn legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> std::result::Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 18))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// A legend entry that shows a line of `style`.
fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style)
}

fn plot_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot {
        path: path.to_path_buf(),
        message,
    }
}

/// ROC and DET curves side by side, one line per `(name, curve)`. ROC: true-accept rate
/// against false-accept rate; DET: false-reject against false-accept rate, both on log scales,
/// where the small error rates that matter at a door are readable. Zero rates are drawn at the
/// edge of the log axes.
pub fn roc(path: &Path, title: &str, curves: &[(&str, &[RocPoint])]) -> Result<()> {
    draw_roc(path, title, curves).map_err(plot_error(path))
}

fn draw_roc(
    path: &Path,
    title: &str,
    curves: &[(&str, &[RocPoint])],
) -> std::result::Result<(), String> {
    const RATE_MIN: f64 = 1e-4;
    register_font();
    let root = BitMapBackend::new(path, (SIZE.0 * 2, SIZE.1)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, (FONT, 26)).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(SIZE.0);
    let far_label = "false accept rate (impostor pairs accepted)";

    let mut roc = frame(&left, "ROC", 20)
        .build_cartesian_2d((RATE_MIN..1.0).log_scale(), 0.0..1.0)
        .map_err(|e| e.to_string())?;
    roc.configure_mesh()
        .x_desc(far_label)
        .y_desc("true accept rate (genuine pairs accepted)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .label_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    let mut det = frame(&right, "DET", 20)
        .build_cartesian_2d((RATE_MIN..1.0).log_scale(), (RATE_MIN..1.0).log_scale())
        .map_err(|e| e.to_string())?;
    det.configure_mesh()
        .x_desc(far_label)
        .y_desc("false reject rate (genuine pairs rejected)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .label_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, curve)) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let far = |p: &RocPoint| p.far.max(RATE_MIN);
        roc.draw_series(LineSeries::new(
            curve.iter().map(|p| (far(p), p.tar)),
            color.stroke_width(3),
        ))
        .map_err(|e| e.to_string())?
        .label(*name)
        .legend(line_key(color.stroke_width(3)));
        det.draw_series(LineSeries::new(
            curve.iter().map(|p| (far(p), (1.0 - p.tar).max(RATE_MIN))),
            color.stroke_width(3),
        ))
        .map_err(|e| e.to_string())?
        .label(*name)
        .legend(line_key(color.stroke_width(3)));
    }
    legend(&mut roc, SeriesLabelPosition::LowerRight)?;
    legend(&mut det, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(|e| e.to_string())
}

/// Histograms of genuine and impostor distances (each as a share of its own pairs, so both
/// show however unequal their counts), with vertical markers such as the threshold.
pub fn distances(
    path: &Path,
    title: &str,
    distances: &Distances,
    markers: &[Marker<'_>],
) -> Result<()> {
    draw_distances(path, title, distances, markers).map_err(plot_error(path))
}

fn shares(values: &[f64], bins: usize) -> Vec<f64> {
    let total = values.len().max(1) as f64;
    crate::measure::metrics::histogram(values, BIN_WIDTH, bins)
        .into_iter()
        .map(|c| c as f64 / total)
        .collect()
}

fn draw_distances(
    path: &Path,
    title: &str,
    distances: &Distances,
    markers: &[Marker<'_>],
) -> std::result::Result<(), String> {
    register_font();
    let largest = distances
        .genuine()
        .iter()
        .chain(distances.impostor())
        .chain(markers.iter().map(|m| &m.at))
        .fold(1.0f64, |a, &b| a.max(b));
    let bins = (largest / BIN_WIDTH).ceil() as usize + 1;
    let x_max = bins as f64 * BIN_WIDTH;
    let genuine = shares(distances.genuine(), bins);
    let impostor = shares(distances.impostor(), bins);
    let y_max = genuine
        .iter()
        .chain(&impostor)
        .fold(0.0f64, |a, &b| a.max(b))
        * 1.15;

    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = frame(&root, title, 24)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max.max(0.01))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("L2 distance between embeddings")
        .y_desc("share of pairs")
        .label_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    let series = [
        (
            format!("genuine: same person ({})", distances.genuine().len()),
            &genuine,
            GENUINE,
        ),
        (
            format!(
                "impostor: different people ({})",
                distances.impostor().len()
            ),
            &impostor,
            IMPOSTOR,
        ),
    ];
    for (label, shares, color) in series {
        let bars = shares
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .map(|(i, &s)| {
                let x = i as f64 * BIN_WIDTH;
                Rectangle::new([(x, 0.0), (x + BIN_WIDTH, s)], color.mix(0.55).filled())
            });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], color.filled()));
    }
    for (i, marker) in markers.iter().enumerate() {
        let color = [BLACK, COLORS[1]][i % 2];
        chart
            .draw_series(LineSeries::new(
                [(marker.at, 0.0), (marker.at, y_max)],
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("{} {:.3}", marker.label, marker.at))
            .legend(line_key(color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use opencv::prelude::MatTraitConst as _;

    use super::*;

    #[test]
    fn plots_are_pngs_opencv_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let d = Distances::new(vec![0.2, 0.3, 0.4], vec![0.7, 0.8, 0.9, 1.0]);
        let v = d.verification(0.55).unwrap();
        let roc_png = dir.path().join("roc.png");
        roc(&roc_png, "ROC", &[("test", &v.roc)]).unwrap();
        let hist_png = dir.path().join("distances.png");
        distances(
            &hist_png,
            "distances",
            &d,
            &[Marker {
                label: "threshold",
                at: 0.55,
            }],
        )
        .unwrap();
        for (png, width) in [(roc_png, 2 * SIZE.0), (hist_png, SIZE.0)] {
            let image = crate::vision::photo::load(&png).unwrap();
            assert_eq!((image.cols(), image.rows()), (width as i32, SIZE.1 as i32));
        }
    }

    #[test]
    fn histogram_shares_add_up_to_one() {
        let s = shares(&[0.0, 0.01, 0.1, 5.0], 10);
        assert_eq!(s.iter().sum::<f64>(), 1.0);
        assert_eq!(s[0], 0.5);
        assert_eq!(s[9], 0.25);
    }
}
