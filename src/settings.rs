//! Choices made in the window's settings panel, kept in `settings.ron` beside the gallery.
//!
//! They override the config files (which the window never rewrites, so the user's comments
//! survive) and are overridden by command-line flags. Kept per data directory, so a test or a
//! second gallery has settings of its own.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, EmbedderKind};
use crate::error::{Error, Result};

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
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let settings: Settings = ron::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("{e} (fix it, or delete the file to go back to the config's values)"),
        })?;
        if settings
            .threshold
            .is_some_and(|t| !(t.is_finite() && t > 0.0))
        {
            return Err(Error::Config {
                path,
                message: "threshold must be a positive number".into(),
            });
        }
        Ok(settings)
    }

    /// Writes the settings atomically: a crash mid-write leaves the old file.
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        let path = Self::path(data_dir);
        let text =
            ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default()).map_err(|e| {
                Error::Config {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
        let mut file =
            tempfile::NamedTempFile::new_in(data_dir).map_err(|e| Error::io(data_dir, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| Error::io(&path, e))?;
        file.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
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
