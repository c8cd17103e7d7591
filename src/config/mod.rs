//! Configuration, and the one place it is layered: the defaults (`Config::default()`, which a
//! test keeps equal to `config/default.ron`), the user's file or `--config FILE`, what the
//! window's settings panel saved (`settings.ron`), then command-line flags. Every field is documented in `config/default.ron`. Each part's
//! settings type lives with the code it configures; this layer puts them together and hands
//! each part its own.

pub mod serve;
pub mod settings;
pub mod sightings;
pub mod streams;
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::files::read_limited;
use crate::base::identity::EmbedderKind;
use crate::enroll::Enrollment;
use crate::enroll::quality::QualityGate;
use crate::gallery::{self, Cutoffs, Gallery, GalleryConfig, GalleryKey};
use crate::models::fetch::Progress;
use crate::models::{self, ModelPaths};
use crate::roster::Matching;
use crate::vision::detect::DetectorConfig;
use crate::vision::matcher::CalibrationConfig;
use crate::vision::photo::PhotoLimits;
use crate::vision::pipeline::{EnrollViews, Locator, Pipeline, PipelineConfig};
use crate::vision::track::TrackingConfig;

use self::serve::ServeConfig;
use self::settings::Settings;
use self::sightings::SightingsConfig;
use self::streams::StreamsConfig;
use self::window::{Chord, WindowConfig};

/// The source name that stands for the built-in demo clip.
pub const DEMO_SOURCE: &str = "demo";

/// The whole configuration. Missing fields in a user file take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: String,
    pub threshold: f32,
    /// Whether `threshold` came from `--threshold`: this one run matches with it, whatever
    /// site threshold the gallery stores.
    #[serde(skip)]
    pub threshold_pinned: bool,
    pub calibration: CalibrationConfig,
    pub embedder: EmbedderKind,
    pub detector: DetectorConfig,
    pub model_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub gallery: GalleryConfig,
    pub key_file: Option<PathBuf>,
    /// The gallery key, from `--key-file`, `WHOISIT_KEY` or `key_file` (in that order), or from
    /// a prompt; never written to a file.
    #[serde(skip)]
    pub key: Option<GalleryKey>,
    pub opencv_threads: i32,
    pub enrollment: QualityGate,
    pub enroll_views: EnrollViews,
    pub keep_images: bool,
    pub retention_days: u32,
    pub sightings: SightingsConfig,
    pub tracking: TrackingConfig,
    pub window: WindowConfig,
    pub limits: Limits,
    pub serve: ServeConfig,
    pub streams: StreamsConfig,
}

/// How big an input may be, so that no file can exhaust the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_photo_mb: u32,
    pub max_photo_megapixels: u32,
    pub max_import_mb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let photos = PhotoLimits::default();
        Limits {
            max_photo_mb: u32::try_from(photos.max_bytes >> 20).unwrap_or(u32::MAX),
            max_photo_megapixels: u32::try_from(photos.max_pixels / 1_000_000).unwrap_or(u32::MAX),
            max_import_mb: 2048,
        }
    }
}

impl Limits {
    pub fn photos(&self) -> PhotoLimits {
        PhotoLimits {
            max_bytes: u64::from(self.max_photo_mb) << 20,
            max_pixels: u64::from(self.max_photo_megapixels) * 1_000_000,
        }
    }

    /// The largest `gallery import` file, in bytes.
    pub fn max_import_bytes(&self) -> u64 {
        u64::from(self.max_import_mb) << 20
    }
}

/// Config and settings files are a few lines: anything bigger is not one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a config-like file (config, settings): a regular file of at most 1 MiB, as text.
pub(crate) fn read_config_text(path: &Path) -> Result<String> {
    let bytes = read_limited(path, MAX_CONFIG_BYTES, "a config file is at most 1 MiB")?;
    String::from_utf8(bytes).map_err(|_| Error::ConfigSyntax {
        path: path.to_path_buf(),
        message: "it is not UTF-8 text".into(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: "0".into(),
            threshold: 0.55,
            threshold_pinned: false,
            calibration: CalibrationConfig::default(),
            embedder: EmbedderKind::Dlib,
            detector: DetectorConfig::default(),
            model_dir: None,
            data_dir: None,
            gallery: GalleryConfig::Sqlite,
            key_file: None,
            key: None,
            opencv_threads: 0,
            enrollment: QualityGate::default(),
            enroll_views: EnrollViews::default(),
            keep_images: true,
            retention_days: 30,
            sightings: SightingsConfig::default(),
            tracking: TrackingConfig::default(),
            window: WindowConfig::default(),
            limits: Limits::default(),
            serve: ServeConfig::default(),
            streams: StreamsConfig::default(),
        }
    }
}

/// What the command line can set over the config files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// A config file to use instead of the user's.
    pub config_file: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub gallery: Option<GalleryConfig>,
    /// The gallery key's file (`--key-file`, or `WHOISIT_KEY_FILE`).
    pub key_file: Option<PathBuf>,
    pub threshold: Option<f32>,
    pub embedder: Option<EmbedderKind>,
}

/// The environment variable that may hold the gallery key itself (for service managers that
/// pass secrets that way); a key file is better, as the environment is inherited.
pub const KEY_VARIABLE: &str = "WHOISIT_KEY";

pub use crate::vision::matcher::{MAX_THRESHOLD, threshold_problem};

/// Two photos of one person of the johns set are at least 0.188 apart: a "duplicate" distance
/// past this would take different photos for copies. (Enrollment also never counts a face as a
/// duplicate past the recognition threshold.)
const MAX_DUPLICATE_BELOW: f32 = 0.5;

/// Sightings before this time (seconds since the epoch) are more than `days` old, for a part
/// that keeps `retention_days` rather than the whole configuration (the server).
pub fn retention_cutoff(days: u32) -> i64 {
    gallery::now() - i64::from(days) * 86_400
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "whoisit")
}

impl Config {
    /// The configuration a run uses: the files, then the saved settings, then `overrides`.
    pub fn resolve(overrides: &Overrides) -> Result<Config> {
        let mut config = Config::load(overrides.config_file.as_deref())?;
        if let Some(dir) = &overrides.model_dir {
            config.model_dir = Some(dir.clone());
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(gallery) = &overrides.gallery {
            config.gallery = gallery.clone();
        }
        config.key = Self::find_key(overrides.key_file.as_deref().or(config.key_file.as_deref()))?;
        Settings::load(&config.data_dir()?)?.apply(&mut config);
        if let Some(threshold) = overrides.threshold {
            if let Some(problem) = threshold_problem(threshold) {
                return Err(Error::InvalidInput(format!("--threshold {problem}")));
            }
            config.threshold = threshold;
            config.threshold_pinned = true;
        }
        if let Some(embedder) = overrides.embedder {
            config.embedder = embedder;
        }
        Ok(config)
    }

    /// The gallery key from the key file given, else from `WHOISIT_KEY`, if either is there.
    fn find_key(key_file: Option<&Path>) -> Result<Option<GalleryKey>> {
        if let Some(path) = key_file {
            return GalleryKey::from_file(path).map(Some);
        }
        match std::env::var(KEY_VARIABLE) {
            Ok(text) if !text.is_empty() => GalleryKey::parse(&text, KEY_VARIABLE).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses one RON config text; fields it leaves out keep their defaults.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let config: Config = ron::from_str(text).map_err(|e| Error::ConfigSyntax {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Loads the config files: `explicit` (from `--config`) if given, which must exist;
    /// otherwise the user's file if there is one; otherwise the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match Self::user_file().filter(|p| p.is_file()) {
                Some(path) => path,
                None => return Ok(Config::default()),
            },
        };
        let text = read_config_text(&path)?;
        tracing::debug!(path = %path.display(), "config loaded");
        Self::parse(&text, &path)
    }

    /// The user's config file (`~/.config/whoisit/config.ron` on Linux).
    pub(crate) fn user_file() -> Option<PathBuf> {
        project_dirs().map(|d| d.config_dir().join("config.ron"))
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let problem = if let Some(problem) = threshold_problem(self.threshold) {
            format!("threshold {problem}")
        } else if let Some(problem) = self.calibration.problem() {
            problem
        } else if !(0.0..=1.0).contains(&self.detector.confidence) {
            format!(
                "detector.confidence must be between 0 and 1, not {}",
                self.detector.confidence
            )
        } else if let Some(problem) = self.detector.search.problem() {
            problem
        } else if !(self.window.retry_secs.is_finite() && self.window.retry_secs > 0.0) {
            format!(
                "window.retry_secs must be a positive number of seconds, not {}",
                self.window.retry_secs
            )
        } else if self.limits.max_photo_mb == 0
            || self.limits.max_photo_megapixels == 0
            || self.limits.max_import_mb == 0
        {
            "limits must all be at least 1".into()
        } else if let Some(problem) = self.tracking.problem() {
            problem
        } else if let Some(problem) = self.serve.problem() {
            problem
        } else if let Some(problem) = self.streams.problem() {
            problem
        } else if self.retention_days == 0 {
            "retention_days must be at least 1".into()
        } else if let Some(problem) = self.sightings.problem(self.retention_days) {
            problem
        } else if !(self.enrollment.duplicate_below.is_finite()
            && (0.0..MAX_DUPLICATE_BELOW).contains(&self.enrollment.duplicate_below))
        {
            format!(
                "enrollment.duplicate_below must be at least 0 and below {MAX_DUPLICATE_BELOW} \
                 (two photos of one person are farther apart), not {}",
                self.enrollment.duplicate_below
            )
        } else if self.window.enroll_captures == 0 {
            "window.enroll_captures must be at least 1".into()
        } else if let Err(message) = Chord::parse(&self.window.kiosk.exit_chord) {
            format!("window.kiosk.exit_chord: {message}")
        } else if self
            .window
            .kiosk
            .exit_pin
            .as_deref()
            .is_some_and(str::is_empty)
        {
            "window.kiosk.exit_pin must not be empty; use None for no PIN".into()
        } else {
            return Ok(());
        };
        Err(Error::ConfigValue {
            path: origin.to_path_buf(),
            message: problem,
        })
    }

    /// Where model files live.
    pub fn model_dir(&self) -> Result<PathBuf> {
        self.model_dir
            .clone()
            .or_else(|| project_dirs().map(|d| d.data_dir().join("models")))
            .ok_or(Error::NoHome {
                setting: "model_dir",
            })
    }

    /// Where the gallery lives.
    pub fn data_dir(&self) -> Result<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| project_dirs().map(|d| d.data_dir().to_path_buf()))
            .ok_or(Error::NoHome {
                setting: "data_dir",
            })
    }

    /// What a purge of sightings now forgets: past `retention_days`, and unknown faces past
    /// `sightings.unknown_face_days`.
    pub fn sighting_cutoffs(&self) -> Cutoffs {
        self.sightings.cutoffs(self.retention_days)
    }

    /// Where downloaded demo photos and generated clips are cached.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        project_dirs()
            .map(|d| d.cache_dir().to_path_buf())
            .ok_or(Error::NoHome { setting: "cache" })
    }

    /// The gallery this configuration names.
    pub fn open_gallery(&self) -> Result<Arc<dyn Gallery>> {
        gallery::open(&self.gallery, &self.data_dir()?, self.key.as_ref())
    }

    /// This configuration with its own embedded gallery in `data_dir`, for the demo and the
    /// benchmark, which must never touch the user's roster (wherever it is kept).
    pub fn with_own_gallery(&self, data_dir: PathBuf) -> Config {
        Config {
            data_dir: Some(data_dir),
            gallery: GalleryConfig::Sqlite,
            key: None,
            ..self.clone()
        }
    }

    /// What the pipeline is built from.
    pub(crate) fn pipeline_config(&self) -> PipelineConfig {
        PipelineConfig {
            embedder: self.embedder,
            detector: self.detector.clone(),
            tracking: self.tracking.clone(),
        }
    }

    /// How faces are matched against the roster.
    pub fn matching(&self) -> Matching {
        Matching {
            threshold: self.threshold,
            pinned: self.threshold_pinned,
            calibration: self.calibration,
        }
    }

    /// The pipeline this configuration describes, its missing models fetched first. It knows
    /// nobody: whoever runs it matches against a roster.
    pub fn load_pipeline(&self, progress: &dyn Progress) -> Result<Pipeline> {
        if self.opencv_threads > 0 {
            opencv::core::set_num_threads(self.opencv_threads)?;
        }
        let paths = models::ensure_for(self.embedder, &self.model_dir()?, progress)?;
        self.pipeline_with_models(&paths)
    }

    /// The detector and tracker a camera agent runs, models fetched first if missing.
    pub fn load_locator(&self, progress: &dyn Progress) -> Result<Locator> {
        let paths = models::ensure_for(self.embedder, &self.model_dir()?, progress)?;
        Locator::load(&self.pipeline_config(), &paths)
    }

    /// The pipeline, from model files already checked (or, in tests, made on purpose).
    pub fn pipeline_with_models(&self, paths: &ModelPaths) -> Result<Pipeline> {
        Pipeline::load(&self.pipeline_config(), paths)
    }

    /// How enrollment captures are judged and kept.
    pub fn enrollment(&self) -> Enrollment {
        Enrollment {
            gate: self.enrollment.clone(),
            views: self.enroll_views,
            keep_images: self.keep_images,
            threshold: self.threshold,
            photo_limits: self.limits.photos(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented defaults, which must be what `Config::default()` says.
    const DEFAULT_RON: &str = include_str!("../../config/default.ron");

    #[test]
    fn default_ron_documents_exactly_the_defaults() {
        let parsed = Config::parse(DEFAULT_RON, Path::new("config/default.ron")).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_partial_file_overrides_only_its_fields() {
        let config = Config::parse(
            "(threshold: 0.4, detector: (confidence: 0.7))",
            Path::new("u.ron"),
        )
        .unwrap();
        assert_eq!(config.threshold, 0.4);
        assert_eq!(config.detector.confidence, 0.7);
        assert_eq!(config.detector.min_face_px, 20);
        assert_eq!(config.embedder, EmbedderKind::Dlib);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_reported() {
        let err = Config::parse("(treshold: 0.4)", Path::new("u.ron")).unwrap_err();
        assert!(err.to_string().contains("treshold"), "{err}");
        let err = Config::parse("(threshold: -1.0)", Path::new("u.ron")).unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
        for nonsense in ["7.0", "1e9", "0.0"] {
            let err = Config::parse(&format!("(threshold: {nonsense})"), Path::new("u.ron"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("at most 2"), "{nonsense}: {err}");
        }
        assert!(Config::parse("(threshold: 2.0)", Path::new("u.ron")).is_ok());
        // A duplicate must be nearer than two photos of a person, or every face is one.
        for bad in ["0.5", "-0.1", "0.9"] {
            let ron = format!("(enrollment: (duplicate_below: {bad}))");
            let err = Config::parse(&ron, Path::new("u.ron"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("enrollment.duplicate_below"), "{bad}: {err}");
        }
        assert!(Config::parse("(enrollment: (duplicate_below: 0.0))", Path::new("u.ron")).is_ok());
        assert!(!err.to_string().contains("not valid RON"), "{err}");
        for (bounds, field) in [
            ("(per_person_max_loosen: -0.1)", "per_person_max_loosen"),
            ("(per_person_max_tighten: 3.0)", "per_person_max_tighten"),
        ] {
            let text = format!("(calibration: {bounds})");
            let err = Config::parse(&text, Path::new("u.ron")).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
