//! The library's one error type. Every message says what went wrong and what to do about it,
//! because these strings reach the user unchanged through the CLI.

use std::path::PathBuf;

/// Everything the pipeline, the fetcher and the gallery can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "config {path} is not valid RON: {message}\n  (config/default.ron documents every field)"
    )]
    Config { path: PathBuf, message: String },

    #[error("{0}")]
    InvalidArgument(String),

    #[error(
        "model {file} is missing from {dir}\n  run `whoisit models fetch` to download it (sources: models/manifest.ron)"
    )]
    ModelMissing { file: String, dir: PathBuf },

    #[error(
        "model {path} is corrupt or truncated: {actual} does not match the expected {expected}\n  run `whoisit models fetch` to replace it"
    )]
    ModelCorrupt {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "could not fetch {file}; every source failed:\n{tried}\n  (or place the file in {} by hand: its checksum is checked)",
        dir.display()
    )]
    FetchFailed {
        file: String,
        tried: String,
        dir: PathBuf,
    },

    #[error("cannot open video source {source_desc}: {reason}")]
    SourceOpen { source_desc: String, reason: String },

    #[error("{path} is not an image OpenCV can read (supported: jpg, png, bmp, tiff, webp, pnm)")]
    NotAnImage { path: PathBuf },

    #[error("image {path} is {width}x{height}: {reason}")]
    ImageSize {
        path: PathBuf,
        width: i32,
        height: i32,
        reason: &'static str,
    },

    #[error("failed to load model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },

    #[error("gallery {path}: {message}")]
    Gallery { path: PathBuf, message: String },

    #[error("cannot draw the plot {path}: {message}")]
    Plot { path: PathBuf, message: String },

    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on, which `std::io::Error` does not carry.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
