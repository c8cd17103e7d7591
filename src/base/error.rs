//! The library's one error type. Every message says what went wrong and what to do about it,
//! because these strings reach the user unchanged through the CLI and the window.

use std::path::PathBuf;

/// A source error of another library (SQLite, PostgreSQL, ...) kept for the cause chain without
/// making its type part of whoisit's API.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot start the {thread} thread")]
    Spawn {
        thread: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("the {thread} thread panicked; this is a bug in whoisit, please report it")]
    Panicked { thread: &'static str },

    /// A front end left out of this build (Cargo features).
    #[error(
        "{needed_by} needs the `{feature}` feature, which this whoisit was built without\n  \
         build it with `cargo build --release --features {feature}` (every feature is on by default)"
    )]
    NotBuilt {
        feature: &'static str,
        needed_by: &'static str,
    },

    /// A broken promise between two parts of whoisit, never the user's doing.
    #[error("internal error: {0}; this is a bug in whoisit, please report it")]
    Internal(&'static str),

    #[error(
        "config {path} is not valid RON: {message}\n  (config/default.ron documents every field)"
    )]
    ConfigSyntax { path: PathBuf, message: String },

    #[error("config {path}: {message}\n  (config/default.ron documents every field)")]
    ConfigValue { path: PathBuf, message: String },

    /// Something a user typed or chose (a name, a flag, a file's layout) that cannot be used.
    #[error("{0}")]
    InvalidInput(String),

    #[error("nobody called {0:?} is enrolled (see `whoisit people list`)")]
    UnknownPerson(String),

    /// A face or key, asked for by id or name, that is not there.
    #[error("{0}")]
    NotFound(String),

    /// Several people are called this once names are put in Unicode's composed form: galleries
    /// written before names were composed may hold "Café" twice, in two forms.
    #[error(
        "{name:?} names {} people (ids {}): their names differ only in how their accents are \
         encoded; rename one of them by id through the REST API (`GET /v1/people` lists ids)",
        ids.len(),
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    )]
    AmbiguousName { name: String, ids: Vec<i64> },

    #[error("{0:?} is already enrolled; remove one of them first, or add the photos to {0:?}")]
    NameTaken(String),

    #[error("an API key called {0:?} exists already; revoke it first, or choose another name")]
    KeyTaken(String),

    #[error(
        "cannot find a home directory for the default {setting}; set `{setting}` in the config, or HOME"
    )]
    NoHome { setting: &'static str },

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

    #[error("{count} models could not be fetched:\n{reasons}")]
    FetchesFailed { count: usize, reasons: String },

    #[error("failed to load model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },

    /// A model loaded but answered in a shape whoisit cannot use (wrong output size, ...).
    #[error("the model does not fit: {0}")]
    ModelOutput(String),

    #[error("cannot open video source {source_desc}: {reason}")]
    SourceOpen { source_desc: String, reason: String },

    /// A photo refused by the decoding door (`base::image::decode`); the reason is its
    /// `DecodeError`, boxed so that this file and the image's do not import each other.
    #[error("{path} is not an image whoisit reads: {reason}")]
    Photo { path: PathBuf, reason: Cause },

    /// A file of labelled face boxes (dlib's imglab XML) that cannot be read as one.
    #[error(
        "{path} is not a list of labelled faces: {message}\n  (expected imglab XML: <image file='photo.jpg'> with <box top='' left='' width='' height=''/> inside)"
    )]
    LabelledFaces { path: PathBuf, message: String },

    #[error("gallery {location}: {message}")]
    Gallery {
        /// The file or server, as the user knows it.
        location: String,
        message: String,
        #[source]
        source: Option<Cause>,
    },

    /// Redis or the MQTT broker: unreachable, or it refused a command.
    #[error("{service} at {}: {message}", crate::base::address::redacted(address))]
    Broker {
        service: &'static str,
        address: String,
        message: String,
        #[source]
        source: Option<Cause>,
    },

    #[error("cannot draw the plot {path}: {message}")]
    Plot { path: PathBuf, message: String },

    /// OpenCV's message says it all; it is shown as the message, not as a cause.
    #[error("OpenCV: {0}")]
    OpenCv(opencv::Error),
}

impl From<opencv::Error> for Error {
    fn from(e: opencv::Error) -> Error {
        Error::OpenCv(e)
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failed read of `path`, which `std::io::Error` does not carry.
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read {
            path: path.into(),
            source,
        }
    }

    /// A failed write (or create, rename, sync) of `path`.
    pub fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Write {
            path: path.into(),
            source,
        }
    }

    /// The message with every cause after it, on one line: what a window or a log shows.
    pub fn report(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(": ");
            text.push_str(&e.to_string());
            cause = e.source();
        }
        text
    }

    /// The answer of a joined thread: its own result, or the panic turned into an error.
    pub(crate) fn joined<T>(
        thread: &'static str,
        joined: std::thread::Result<Result<T>>,
    ) -> Result<T> {
        joined.unwrap_or(Err(Error::Panicked { thread }))
    }
}
