//! Measuring whoisit: accuracy on a labelled dataset and a threshold from the user's own
//! gallery (`eval`, `metrics`, `plot`), accuracy on video against a truth file (`video`), how
//! well faces are found and at what cost (`detection`), and speed stage by stage (`bench`, with
//! galleries of any size from `synthetic_gallery`; the distributed pipeline in `streams`).

pub mod bench;
pub mod detection;
pub mod eval;
pub mod load;
pub mod metrics;
pub mod personal;
pub mod plot;
#[cfg(feature = "streams")]
pub mod streams;
pub mod synthetic_gallery;
pub mod video;
