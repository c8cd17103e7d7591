//! The built-in demo: a clip made from real photos with one person enrolled, so that a first
//! run without a camera shows a known and an unknown face; and the clip maker behind it, which
//! tests use too.

pub mod synth;

use std::path::{Path, PathBuf};

use crate::base::error::{Error, Result};
use crate::config::Config;
use crate::models::fetch::{self, Fetcher, Progress};
use crate::vision::photo;

use self::synth::{Actor, ClipSpec};

const PHOTOS_RON: &str = include_str!("../../assets/demo-photos.ron");
/// The enrolled person of the demo.
pub const KNOWN: &str = "Barack Obama";

/// Everything a demo run needs, prepared under the cache dir.
pub struct Demo {
    pub clip: PathBuf,
    /// Holds the demo's own gallery, apart from the user's.
    pub data_dir: PathBuf,
    /// The real photos the clip is made of.
    pub photos: PathBuf,
}

/// Fetches the demo photos (once), builds the clip (once) and enrolls the known person in the
/// demo gallery for the configured embedder (once).
pub fn prepare(config: &Config, progress: &dyn Progress) -> Result<Demo> {
    let root = config.cache_dir()?.join("demo");
    let photos = fetch_photos(&root.join("photos"), progress)?;
    let clip = root.join("demo-640x480.avi");
    if !clip.is_file() {
        let spec = clip_spec(&photos)?;
        let staged = root.join("demo-640x480.partial.avi");
        spec.write_video(&staged)?;
        std::fs::rename(&staged, &clip).map_err(|e| Error::write(&clip, e))?;
    }
    let data_dir = root.join("gallery");
    let demo_config = config.with_own_gallery(data_dir.clone());
    let gallery = demo_config.open_gallery()?;
    // The models are loaded only the first time for each embedder: its id says whether the
    // demo gallery has an embedding from it already.
    if gallery.embeddings(&config.embedder.id())?.is_empty() {
        let mut pipeline = demo_config.load_pipeline(progress)?;
        crate::enroll::person(
            &mut pipeline,
            gallery.as_ref(),
            &demo_config.enrollment(),
            KNOWN,
            &[photos.join("obama.jpg")],
            &crate::gallery::Actor::cli(),
        )?;
    }
    Ok(Demo {
        clip,
        data_dir,
        photos,
    })
}

/// Downloads the demo photos into `dir` and returns it.
pub(crate) fn fetch_photos(dir: &Path, progress: &dyn Progress) -> Result<PathBuf> {
    let artifacts = fetch::parse_manifest(PHOTOS_RON, Path::new("assets/demo-photos.ron"))?;
    let mut fetcher = Fetcher::new(progress)?;
    for artifact in &artifacts {
        fetcher.ensure(artifact, dir)?;
    }
    Ok(dir.to_path_buf())
}

/// 640x480 at 15 fps, 10 s: Obama walks in from the left, Biden from the right; for a while both
/// are on screen. `photos` holds obama2.jpg and biden.jpg.
pub fn clip_spec(photos: &Path) -> Result<ClipSpec> {
    let load = |name: &str| photo::load(&photos.join(name));
    Ok(ClipSpec {
        width: 640,
        height: 480,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: 150,
        actors: vec![
            Actor {
                photo: load("obama2.jpg")?,
                from: (0.15, 0.55),
                to: (0.35, 0.5),
                height: 0.9,
                frames: 0..150,
            },
            Actor {
                photo: load("biden.jpg")?,
                from: (0.85, 0.5),
                to: (0.7, 0.55),
                height: 0.95,
                frames: 45..150,
            },
        ],
    })
}
