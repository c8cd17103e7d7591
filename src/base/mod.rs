//! The vocabulary every layer shares: errors, face boxes, embeddings and embedder ids, images as
//! bytes (and the one door photos are decoded by), small statistics, atomic and bounded file
//! reads and writes, addresses shown without their passwords, times as dates. It imports nothing else of whoisit.

pub mod address;
pub mod error;
pub mod files;
pub mod geometry;
pub mod identity;
pub mod image;
pub mod stats;
pub mod time;
