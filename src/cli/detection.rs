//! `eval --detection`: how well each way of searching a frame finds faces, and what it costs.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use crate::config::Config;
use crate::measure::detection::{self, BANDS, CRITERION, SearchFigures};
use crate::measure::eval;
use crate::models;
use crate::models::fetch::Fetcher;
use crate::vision::detect::Search;

use super::progress::Bar;

#[derive(Debug, Args)]
pub(super) struct DetectionArgs {
    /// Measure the face detector instead of recognition, for each --search: recall and false
    /// detections on labelled boxes (dlib's examples/faces training.xml and testing.xml,
    /// downloaded once with the sample set, or --xml), recall by face width on a clip of far
    /// and near faces it builds from dlib's sample photos, and the wall and CPU ms of a
    /// whole-frame search with the clip at 640x360, 640x480 and 1280x720. Uses the configured confidence, min_face_px
    /// and opencv_threads.
    #[arg(long)]
    pub(super) detection: bool,
    /// With --detection: imglab XML files of labelled faces (<image file='...'> with
    /// <box top left width height/> inside; boxes with ignore='1' count neither way) instead
    /// of dlib's two.
    #[arg(long, value_name = "FILE")]
    xml: Vec<PathBuf>,
    /// With --detection: the ways of searching a frame to compare: `standard` (the frame
    /// squeezed to 300x300) and `far:WIDTH` (that, plus a pass on the frame scaled to WIDTH px
    /// wide, its aspect kept; see detector.search in config/default.ron). Default:
    /// standard,far:480,far:640,far:800.
    #[arg(long, value_delimiter = ',', value_name = "SEARCH,...")]
    search: Vec<Search>,
}

/// The searches compared when --search is not given: the standard one, and far searches
/// around the default's width.
const SEARCHES: [Search; 4] = [
    Search::Standard,
    Search::Far { width: 480 },
    Search::Far { width: 640 },
    Search::Far { width: 800 },
];

impl DetectionArgs {
    /// Refuses --xml and --search without --detection, which would be ignored. (clap's
    /// `requires` takes a flag's implicit `false` for present.)
    pub(super) fn refuse_without_detection(&self) -> Result<()> {
        let measure_options = !self.xml.is_empty() || !self.search.is_empty();
        if measure_options && !self.detection {
            bail!("--xml and --search measure the detector: add --detection");
        }
        Ok(())
    }
}

pub(super) fn detection_cmd(config: &Config, args: &DetectionArgs) -> Result<()> {
    let bar = Bar::default();
    let mut fetcher = Fetcher::new(&bar)?;
    let xml = if args.xml.is_empty() {
        let dir = eval::sample_folder(config, &mut fetcher, detection::FACES_PREFIX, "faces")
            .context("downloading dlib's labelled faces")?;
        detection::FACES_XML.iter().map(|f| dir.join(f)).collect()
    } else {
        args.xml.clone()
    };
    let labelled = xml
        .iter()
        .map(|path| detection::read_labelled(path))
        .collect::<Result<Vec<_>, _>>()?;
    let johns = eval::sample_folder(config, &mut fetcher, eval::SAMPLE_PREFIX, "johns")
        .context("downloading the sample dataset")?;
    let photos = crate::enroll::dataset_people(&johns)?
        .into_iter()
        .flat_map(|person| person.photos)
        .collect::<Vec<_>>();
    if config.opencv_threads > 0 {
        opencv::core::set_num_threads(config.opencv_threads)?;
    }
    let paths = models::ensure_for(config.embedder, &config.model_dir()?, &bar)?;
    let searches = if args.search.is_empty() {
        &SEARCHES[..]
    } else {
        &args.search
    };
    let figures = detection::measure(&config.detector, &paths, searches, &labelled, &photos)?;
    print_figures(&figures, &xml, opencv::core::get_num_threads()?);
    Ok(())
}

fn print_figures(figures: &[SearchFigures], xml: &[PathBuf], threads: i32) {
    println!("match: {CRITERION}\n");
    println!("labelled faces: found/faces (false detections)");
    for (i, path) in xml.iter().enumerate() {
        let cells = figures.iter().map(|f| {
            let r = f.labelled[i];
            let search = f.search.to_string();
            format!(
                "{search:<10} {}/{} ({})",
                r.found, r.faces, r.false_detections
            )
        });
        println!(
            "  {:<14} {}",
            file_name(path),
            cells.collect::<Vec<_>>().join("   ")
        );
    }
    let Some(first) = figures.first() else {
        return;
    };
    for (c, clip) in first.clips.iter().enumerate() {
        println!(
            "\nclip of far faces at {}x{}: found/faces by face width",
            clip.width, clip.height
        );
        let mut header = format!("  {:<12}", "search");
        for (min, max) in BANDS {
            let band = if max == i32::MAX {
                format!("{min}+ px")
            } else {
                format!("{min}-{max} px")
            };
            header.push_str(&format!("{band:>11}"));
        }
        println!("{header}  false  ms/frame  CPU ms/frame ({threads} threads)");
        for f in figures {
            let clip = &f.clips[c];
            let mut line = format!("  {:<12}", f.search.to_string());
            for band in &clip.bands {
                line.push_str(&format!("{:>11}", format!("{}/{}", band.found, band.faces)));
            }
            let cpu = clip
                .cpu_ms_per_frame
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"));
            println!(
                "{line}  {:>5}  {:>8.1}  {cpu:>12}",
                clip.false_detections, clip.ms_per_frame
            );
        }
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
