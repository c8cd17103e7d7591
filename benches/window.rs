//! The window on a live-paced clip: a real eframe window under Xvfb plays a generated 640x480
//! 30 fps clip with three faces (two of them of the enrolled person) and reports display fps,
//! recognition fps, capture-to-label latency and resident memory over the run. Figures, not
//! assertions.
//!
//!     cargo bench --bench window            # 60 s
//!     cargo bench --bench window -- 600     # 10 minutes, to see memory stay flat
//!
//! Needs `xvfb-run` (scripts/setup.sh installs it) and the models (`whoisit models fetch`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::process::Command;

use anyhow::{Context as _, bail};
use whoisit::config::Config;
use whoisit::demo;
use whoisit::demo::synth::{Actor, ClipSpec};
use whoisit::models::fetch::Quiet;
use whoisit::vision::photo;

const FPS: f64 = 30.0;
const FRAMES: u32 = 300;

fn main() -> anyhow::Result<()> {
    let seconds: f64 = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(arg) => arg
            .parse()
            .context("the argument is the run's length in seconds")?,
        None => 60.0,
    };
    let config = Config::load(None)?;
    // The demo's photos and its gallery, in which Barack Obama is enrolled from obama.jpg.
    let demo = demo::prepare(&config, &Quiet)?;
    let photos = config.cache_dir()?.join("demo/photos");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-window");
    std::fs::create_dir_all(&dir)?;
    let clip = dir.join("three-faces-640x480-30fps.avi");
    let actor = |name: &str, from, to, height| -> anyhow::Result<Actor> {
        Ok(Actor {
            photo: photo::load(&photos.join(name))?,
            from,
            to,
            height,
            frames: 0..FRAMES,
        })
    };
    ClipSpec {
        width: 640,
        height: 480,
        fps: FPS,
        light: (1.0, 1.0),
        frames: FRAMES,
        actors: vec![
            actor("obama2.jpg", (0.15, 0.55), (0.25, 0.5), 0.8)?,
            actor("obama.jpg", (0.5, 0.3), (0.5, 0.4), 0.4)?,
            actor("biden.jpg", (0.85, 0.5), (0.75, 0.55), 0.85)?,
        ],
    }
    .write_video(&clip)?;
    let report = dir.join("report.json");
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(env!("CARGO_BIN_EXE_whoisit"))
        .arg("--data-dir")
        .arg(&demo.data_dir)
        .arg("--source")
        .arg(&clip)
        .arg("--run-for")
        .arg(seconds.to_string())
        .arg("--report")
        .arg(&report)
        .env("RUST_LOG", "whoisit=warn")
        .status()
        .context("running xvfb-run (install it with scripts/setup.sh)")?;
    if !status.success() {
        bail!("the window exited with {status}");
    }
    println!("clip: {} (640x480, {FPS} fps, 3 faces)", clip.display());
    println!("{}", std::fs::read_to_string(&report)?);
    Ok(())
}
