//! `eval --video` and `eval --video-sample`: recognition on a clip scored against who is in view.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::config::Config;
use crate::measure::video::{
    self, Expected, Roster, Route, SampleClip, SegmentScore, Totals, Truth, VideoReport,
};
use crate::runtime::capture::Source;

use super::progress::Bar;

/// The clip `eval` scores.
pub(super) enum Clip {
    /// `--video CLIP --truth FILE [--enroll DIR]`.
    Given {
        clip: String,
        truth: PathBuf,
        enroll: Option<PathBuf>,
    },
    /// `--video-sample`: made into `--out`.
    Sample,
    /// `--first-looks-sample`: made into `--out`.
    FirstLooks,
}

/// Scores `clip`, a sample made into `out` first; the report goes to `out` too.
pub(super) fn eval_video_cmd(config: &Config, clip: Clip, route: Route, out: &Path) -> Result<()> {
    let (clip, truth_path, enroll) = match clip {
        Clip::Given {
            clip,
            truth,
            enroll,
        } => (clip, truth, enroll),
        Clip::Sample => made(video::make_sample(config, out, &Bar::default()))?,
        Clip::FirstLooks => made(video::make_first_looks(config, out, &Bar::default()))?,
    };
    let truth = Truth::read(&truth_path)?;
    let source: Source = clip.parse()?;
    let roster = match &enroll {
        Some(dir) => Roster::Enroll(dir),
        None => Roster::Gallery,
    };
    let (report, enrolled) =
        video::evaluate(config, &source, &truth, &roster, route, &Bar::default())
            .with_context(|| format!("evaluating {clip}"))?;
    if let Some(enrolled) = enrolled {
        println!(
            "enrolled: {}",
            enrolled
                .enrolled
                .iter()
                .map(|(name, faces)| format!("{name} ({faces})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for skipped in &enrolled.skipped {
            println!("  skipped {skipped}");
        }
    }
    print_report(&report);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join("video.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("\nreport: {}", path.display());
    Ok(())
}

/// A sample clip made, said, and scored as `--video CLIP --truth FILE --enroll DIR`.
fn made(sample: crate::Result<SampleClip>) -> Result<(String, PathBuf, Option<PathBuf>)> {
    let sample = sample.context("making the sample clip")?;
    println!(
        "sample clip: {}\ntruth:       {}\nenrolled:    {}\n(again: whoisit eval --video {} --truth {} --enroll {})\n",
        sample.clip.display(),
        sample.truth.display(),
        sample.enroll.display(),
        sample.clip.display(),
        sample.truth.display(),
        sample.enroll.display(),
    );
    Ok((
        sample.clip.display().to_string(),
        sample.truth,
        Some(sample.enroll),
    ))
}

fn print_report(r: &VideoReport) {
    let route = match r.route {
        Route::Local => "in this process",
        Route::Streams => "through a camera agent and a worker",
    };
    println!(
        "{} ({route}): {} frames, {} faces embedded; {} at threshold {:.2}\n",
        r.clip, r.frames, r.embedded, r.embedder, r.threshold
    );
    println!(
        "{:>11}  {:<16} {:>6} {:>6} {:>6} {:>6} {:>8} {:>6}",
        "frames", "who", "n", "face", "right", "false", "to name", "tracks"
    );
    for s in &r.segments {
        print_segment(s);
    }
    println!();
    print_totals("enrolled people", &r.people);
    print_totals("strangers", &r.strangers);
}

fn print_segment(s: &SegmentScore) {
    let who = match &s.segment.expected {
        Expected::Person(name) => name.as_str(),
        Expected::Nobody => video::NOBODY,
    };
    let to_name = match (&s.segment.expected, s.frames_to_name) {
        (_, Some(n)) => n.to_string(),
        (Expected::Person(_), None) => "never".to_owned(),
        (Expected::Nobody, None) => "-".to_owned(),
    };
    println!(
        "{:>11}  {who:<16} {:>6} {:>6} {:>6} {:>6} {to_name:>8} {:>6}",
        format!("{}-{}", s.segment.first, s.segment.last),
        s.frames,
        s.with_face,
        s.named_right,
        s.false_accepts,
        s.tracks,
    );
}

fn print_totals(kind: &str, t: &Totals) {
    if t.segments == 0 {
        return;
    }
    let share = |part: u64| {
        if t.with_face == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}%", part as f64 * 100.0 / t.with_face as f64)
        }
    };
    println!(
        "{kind}: {} segments, {} frames, {} with a face; named right {} ({}), false accepts {} ({}){}",
        t.segments,
        t.frames,
        t.with_face,
        t.named_right,
        share(t.named_right),
        t.false_accepts,
        share(t.false_accepts),
        match t.mean_frames_to_name {
            Some(mean) => format!(
                "; frames to the first name: median {} (a segment never named counts as the \
                 longest), mean {mean:.1} over those named, never in {} segment(s)",
                t.median_frames_to_name
                    .map_or_else(|| "never".to_owned(), |m| format!("{m:.1}")),
                t.never_named
            ),
            None if t.never_named > 0 => format!("; never named in {} segment(s)", t.never_named),
            None => String::new(),
        }
    );
}
