//! The desktop window: the live picture with labelled faces, and panels to enroll people, manage
//! them and change settings; or, in kiosk mode, the picture and greetings only.
//!
//! The window's thread only draws and polls. Loading models, reading frames, recognising,
//! enrolling and every gallery access happen on other threads, which wake it when they have
//! something new.

#[cfg(feature = "window")]
mod app;
#[cfg(feature = "window")]
pub mod enroll;
#[cfg(feature = "window")]
pub mod kiosk;
#[cfg(feature = "window")]
pub mod people;
#[cfg(feature = "window")]
mod reembed;
#[cfg(feature = "window")]
pub mod settings;
#[cfg(feature = "window")]
mod start;
#[cfg(feature = "window")]
pub mod status;
#[cfg(feature = "window")]
pub(crate) mod task;
#[cfg(feature = "window")]
pub mod view;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;

#[cfg(feature = "window")]
pub use self::app::{App, Side, run};

/// How the window starts.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The configuration in effect (config files, saved settings and flags).
    pub config: Config,
    /// Where the settings panel saves its choices (the user's data directory).
    pub settings_dir: PathBuf,
    /// Show the built-in demo if the configured camera does not open at start.
    pub demo_if_no_camera: bool,
    pub kiosk: bool,
    /// Run as the camera agent of this name: faces are named by the workers over Redis
    /// Streams, and the window only shows them (no enrollment, people or settings here).
    pub camera: Option<String>,
    /// Close after this long and write `report` (benchmarks).
    pub run_for: Option<Duration>,
    pub report: Option<PathBuf>,
}

/// Without the `window` feature there is no window to open: says which feature to build with.
#[cfg(not(feature = "window"))]
pub fn run(launch: Launch) -> anyhow::Result<()> {
    drop(launch);
    Err(crate::Error::NotBuilt {
        feature: "window",
        needed_by: "the window",
    }
    .into())
}
