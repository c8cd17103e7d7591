//! The threads that run recognition: a capture thread reading a source, the detector/encoder
//! worker fed by it, a live session for a window, a headless run for the command line, and
//! the start-up that chooses the source (the built-in demo included).

pub mod capture;
pub mod headless;
pub mod session;
pub mod sightings;
pub mod start;
pub mod worker;
