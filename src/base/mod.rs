//! The vocabulary every layer shares: errors, face boxes, embeddings and embedder ids, images as
//! bytes, small statistics and atomic file writes. It imports nothing else of whoisit.

pub mod error;
pub mod files;
pub mod geometry;
pub mod identity;
pub mod image;
pub mod stats;
