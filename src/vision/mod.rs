//! Per-frame compute: find faces, align and embed them, name them from the enrolled faces, and
//! follow them between frames. No threads, no storage, no window: callers bring frames and the
//! gallery's embeddings.

pub mod align;
pub mod detect;
pub mod embed;
pub mod gate;
pub mod matcher;
pub mod photo;
pub mod pipeline;
pub mod pose;
pub mod track;
