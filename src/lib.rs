//! whoisit: real-time face recognition at a webcam.
//!
//! The library is in layers, each a folder with one job; a layer uses only the layers above it
//! in this list, never one below:
//! - [`base`]: the vocabulary every layer shares (errors, face boxes, embeddings, images,
//!   statistics, atomic writes);
//! - [`models`]: the model files, where they come from, fetched and checked by checksum;
//! - [`vision`]: per-frame compute, with no threads and no storage: detect, align, embed, match
//!   and track, put together in [`vision::pipeline::Pipeline`]; a head's pose from its
//!   landmarks ([`vision::pose`]);
//! - [`gallery`]: the enrolled people behind the [`gallery::Gallery`] interface, in an embedded
//!   SQLite file or a PostgreSQL database several machines share;
//! - [`roster`]: the gallery's people in memory, kept current from its change feed, which
//!   every recognizer matches against: one per process;
//! - [`enroll`]: adding people from photos, captures and clips through the quality gate, in
//!   the poses asked for and without duplicates;
//! - [`config`]: the configuration, layered from files, saved settings and flags in one place,
//!   which hands each part its settings;
//! - [`demo`]: the built-in demo clip, made from real photos;
//! - [`runtime`]: the threads: capture, the detector/encoder worker and its typed commands, a
//!   live session for a window, a headless run, and start-up;
//! - [`stream`]: the distributed pipeline: camera agents, recognition workers, scans and events
//!   over Redis Streams and MQTT, each on its own threads;
//! - [`measure`]: accuracy (eval, calibrate) and speed (bench);
//! - [`ui`]: the desktop window;
//! - [`service`]: the HTTP API (`whoisit serve`), the only async code: recognition on a pool
//!   of pipelines, the roster over REST, API keys, live events;
//! - [`cli`]: the command line the thin binary runs.
//!
//! The heavy front ends are Cargo features, all on by default: `window` (the [`ui`], with
//! eframe), `serve` (the [`service`], with tokio and axum), `streams` (the [`stream`]s, with
//! Redis and MQTT) and `postgres` (the shared gallery). A recognition worker or camera agent is
//! built with `--no-default-features --features streams`.
//!
//! A frame's way, top-down: [`runtime::capture`] reads it from the source and hands it to the
//! [`runtime::worker`], whose [`vision::pipeline::Pipeline`] finds the faces
//! ([`vision::detect`]), aligns and embeds them ([`vision::align`], [`vision::embed`]), follows
//! them between frames ([`vision::track`]) and names them against the [`roster::Roster`]'s
//! current snapshot of the gallery ([`vision::matcher`]); the result goes to the window ([`runtime::session`], [`ui`]) or to
//! standard output ([`runtime::headless`], [`cli`]). A request's way is told in [`service`].

#![deny(unsafe_code)]

pub mod base;
pub mod cli;
pub mod config;
pub mod demo;
pub mod enroll;
pub mod gallery;
pub mod measure;
pub mod models;
pub mod roster;
pub mod runtime;
#[cfg(feature = "serve")]
pub mod service;
#[cfg(feature = "streams")]
pub mod stream;
pub mod ui;
pub mod vision;

pub use base::error::{Error, Result};
