//! whoisit: real-time face recognition at a webcam.
//!
//! A frame's way through the library, top-down:
//! - [`capture`]: a thread reads frames from a camera, file, image sequence or URL and hands the
//!   newest one to the worker over a `crossbeam-channel`;
//! - [`pipeline`]: the detector/encoder thread runs, per frame,
//!   - [`detect`]: OpenCV's res10 SSD finds faces,
//!   - [`align`]: dlib landmarks align each face,
//!   - [`embed`]: dlib's ResNet or OpenFace turns it into 128 numbers,
//!   - [`matcher`]: the nearest person of the [`gallery`] names it, or "unknown";
//!   - [`track`]: on a live source, faces are followed between frames and embedded again only
//!     now and then, with a label voted over their recent embeddings;
//! - [`recognize`]: wires the threads together for a headless run and summarises it;
//! - [`live`] and [`ui`]: the window's session (every frame to the display, the newest to the
//!   worker, reconnecting when the source drops) and the window itself.
//!
//! Measuring it: [`eval`] (accuracy on a labelled dataset, thresholds from the user's gallery)
//! with [`metrics`] (ROC, EER, TAR at FAR, confusion) and [`plot`] (PNG plots), and [`bench`]
//! (speed per stage, with a [`synthetic_gallery`] of any size).
//!
//! Around it: [`config`] (RON), [`models`] and [`fetch`] (model files, checked by checksum),
//! [`settings`] (what the window's settings panel and `calibrate --apply` saved), [`enroll`]
//! (adding people), [`photo`], [`synth`] and [`demo`] (clips built from real photos), and
//! [`cli`], the command line the thin binary runs.

pub mod align;
pub mod bench;
pub mod capture;
pub mod cli;
pub mod config;
pub mod demo;
pub mod detect;
pub mod embed;
pub mod enroll;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod gallery;
pub mod live;
pub mod matcher;
pub mod metrics;
pub mod models;
pub mod photo;
pub mod pipeline;
pub mod plot;
pub mod quality;
pub mod recognize;
pub mod settings;
pub mod synth;
pub mod synthetic_gallery;
pub mod track;
pub mod ui;

pub use error::{Error, Result};
