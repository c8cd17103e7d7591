//! Choices made in the window's settings panel, kept in `settings.ron` beside the gallery.
//!
//! They override the config files (which the window never rewrites, so the user's comments
//! survive) and are overridden by command-line flags. Kept per data directory, so a test or a
//! second gallery has settings of its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::files::write_atomic;
use crate::base::identity::EmbedderKind;
use crate::config::{Config, threshold_problem};

const FILE_NAME: &str = "settings.ron";

/// What the settings panel changed; `None` leaves the config's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub source: Option<String>,
    pub threshold: Option<f32>,
    pub embedder: Option<EmbedderKind>,
    pub mirror: Option<bool>,
}

impl Settings {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// The saved settings, or none if nothing was saved yet.
    pub fn load(data_dir: &Path) -> Result<Settings> {
        let path = Self::path(data_dir);
        if !path.is_file() {
            return Ok(Settings::default());
        }
        let text = crate::config::read_config_text(&path)?;
        let settings: Settings = ron::from_str(&text).map_err(|e| Error::ConfigSyntax {
            path: path.clone(),
            message: format!("{e} (fix it, or delete the file to go back to the config's values)"),
        })?;
        if let Some(problem) = settings.threshold.and_then(threshold_problem) {
            return Err(Error::ConfigValue {
                path,
                message: format!(
                    "threshold {problem} (fix it, or delete the file to go back to the config's values)"
                ),
            });
        }
        Ok(settings)
    }

    /// Writes the settings atomically: a crash mid-write leaves the old file. A threshold that
    /// could not be loaded again is refused, so that no saved setting can stop every command.
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let path = Self::path(data_dir);
        if let Some(problem) = self.threshold.and_then(threshold_problem) {
            return Err(Error::InvalidInput(format!(
                "not saved: the threshold {problem}"
            )));
        }
        let text =
            ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default()).map_err(|e| {
                Error::ConfigSyntax {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
        write_atomic(&path, text.as_bytes())
    }

    pub fn apply(&self, config: &mut Config) {
        if let Some(source) = &self.source {
            config.source = source.clone();
        }
        if let Some(threshold) = self.threshold {
            config.threshold = threshold;
        }
        if let Some(embedder) = self.embedder {
            config.embedder = embedder;
        }
        if let Some(mirror) = self.mirror {
            config.window.mirror = mirror;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_override_the_config() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
        let settings = Settings {
            threshold: Some(0.4),
            mirror: Some(true),
            ..Settings::default()
        };
        settings.save(dir.path()).unwrap();
        let loaded = Settings::load(dir.path()).unwrap();
        assert_eq!(loaded, settings);
        let mut config = Config::default();
        loaded.apply(&mut config);
        assert_eq!(config.threshold, 0.4);
        assert!(config.window.mirror);
        assert_eq!(config.source, "0");
    }

    #[test]
    fn a_threshold_that_could_not_be_loaded_is_never_saved() {
        let dir = tempfile::tempdir().unwrap();
        let bad = Settings {
            threshold: Some(0.0),
            ..Settings::default()
        };
        let err = bad.save(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not saved"), "{err}");
        assert!(!Settings::path(dir.path()).exists());
        assert_eq!(Settings::load(dir.path()).unwrap(), Settings::default());
    }

    #[test]
    fn a_damaged_settings_file_is_reported_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(Settings::path(dir.path()), "(treshold: 0.4)").unwrap();
        let err = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("settings.ron") && err.contains("delete the file"),
            "{err}"
        );
    }
}
