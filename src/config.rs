//! Configuration: `config/default.ron` (compiled in), overridden by the user's file, by
//! `--config FILE`, then by command-line flags. Every field is documented in `config/default.ron`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::quality::QualityGate;
use crate::track::TrackingConfig;

/// The documented defaults, compiled into the binary so that it runs from anywhere.
pub const DEFAULT_RON: &str = include_str!("../config/default.ron");

/// Which embedder turns an aligned face into a 128-d vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum EmbedderKind {
    /// dlib's ResNet: 5-landmark alignment, 150x150 chip.
    #[value(name = "dlib")]
    Dlib,
    /// OpenFace nn4.small2.v1 through OpenCV dnn: 68-landmark alignment, 96x96 chip.
    #[value(name = "openface")]
    OpenFace,
}

/// SSD face-detector settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub confidence: f32,
    pub min_face_px: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            confidence: 0.5,
            min_face_px: 20,
        }
    }
}

/// The desktop window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    pub mirror: bool,
    pub enroll_captures: u32,
    pub retry_secs: f32,
    pub kiosk: KioskConfig,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            mirror: false,
            enroll_captures: 5,
            retry_secs: 1.0,
            kiosk: KioskConfig::default(),
        }
    }
}

/// Kiosk mode: fullscreen, unattended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    pub enabled: bool,
    pub allow_enrollment: bool,
    pub exit_chord: String,
    pub exit_pin: Option<String>,
    pub greeting: String,
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig {
            enabled: false,
            allow_enrollment: false,
            exit_chord: "Ctrl+Shift+Q".into(),
            exit_pin: None,
            greeting: "Welcome, {name}!".into(),
        }
    }
}

/// The whole configuration. Missing fields in a user file take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub source: String,
    pub threshold: f32,
    pub embedder: EmbedderKind,
    pub detector: DetectorConfig,
    pub model_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub opencv_threads: i32,
    pub enrollment: QualityGate,
    pub keep_images: bool,
    pub tracking: TrackingConfig,
    pub window: WindowConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: "0".into(),
            threshold: 0.55,
            embedder: EmbedderKind::Dlib,
            detector: DetectorConfig::default(),
            model_dir: None,
            data_dir: None,
            opencv_threads: 0,
            enrollment: QualityGate::default(),
            keep_images: true,
            tracking: TrackingConfig::default(),
            window: WindowConfig::default(),
        }
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "whoisit")
}

impl Config {
    /// Parses one RON config text; fields it leaves out keep their defaults.
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let config: Config = ron::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Loads the configuration a run uses: `explicit` (from `--config`) if given, which must
    /// exist; otherwise the user's file if there is one; otherwise the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => match Self::user_file().filter(|p| p.is_file()) {
                Some(path) => path,
                None => return Ok(Config::default()),
            },
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        tracing::debug!(path = %path.display(), "config loaded");
        Self::parse(&text, &path)
    }

    /// The user's config file (`~/.config/whoisit/config.ron` on Linux).
    pub fn user_file() -> Option<PathBuf> {
        project_dirs().map(|d| d.config_dir().join("config.ron"))
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let invalid = |message: String| {
            Err(Error::Config {
                path: origin.to_path_buf(),
                message,
            })
        };
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return invalid(format!(
                "threshold must be a positive number, not {}",
                self.threshold
            ));
        }
        if !(0.0..=1.0).contains(&self.detector.confidence) {
            return invalid(format!(
                "detector.confidence must be between 0 and 1, not {}",
                self.detector.confidence
            ));
        }
        if !(self.window.retry_secs.is_finite() && self.window.retry_secs > 0.0) {
            return invalid(format!(
                "window.retry_secs must be a positive number of seconds, not {}",
                self.window.retry_secs
            ));
        }
        if self.window.enroll_captures == 0 {
            return invalid("window.enroll_captures must be at least 1".into());
        }
        if let Err(message) = crate::ui::kiosk::parse_chord(&self.window.kiosk.exit_chord) {
            return invalid(format!("window.kiosk.exit_chord: {message}"));
        }
        if self
            .window
            .kiosk
            .exit_pin
            .as_deref()
            .is_some_and(str::is_empty)
        {
            return invalid("window.kiosk.exit_pin must not be empty; use None for no PIN".into());
        }
        Ok(())
    }

    /// Where model files live.
    pub fn model_dir(&self) -> Result<PathBuf> {
        self.model_dir
            .clone()
            .or_else(|| project_dirs().map(|d| d.data_dir().join("models")))
            .ok_or_else(|| no_home("model_dir"))
    }

    /// Where the gallery lives.
    pub fn data_dir(&self) -> Result<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| project_dirs().map(|d| d.data_dir().to_path_buf()))
            .ok_or_else(|| no_home("data_dir"))
    }

    /// Where downloaded demo photos and generated clips are cached.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        project_dirs()
            .map(|d| d.cache_dir().to_path_buf())
            .ok_or_else(|| no_home("cache"))
    }
}

fn no_home(field: &str) -> Error {
    Error::InvalidArgument(format!(
        "cannot find a home directory for the default {field}; set `{field}` in the config or HOME"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
