//! Settings of sightings: whether they are recorded, and how long an unknown face is kept.

use serde::{Deserialize, Serialize};

use crate::gallery::{Cutoffs, GroupSettings};

/// What is kept of who was seen (see the README's "Sightings" section for what it means for
/// privacy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SightingsConfig {
    /// Record sightings at all (the window, `recognize --source`, `serve --source`, camera
    /// agents through a worker); their changes are the events.
    pub record: bool,
    /// Keep one crop and the track's mean embedding of each unknown face, and the mean
    /// embedding (no crop) of each named one, for "not this person".
    pub keep_unknown_faces: bool,
    /// Days a sighting's crop and embedding are kept; at most `retention_days`.
    pub unknown_face_days: u32,
    /// How unknown faces are grouped into visitors.
    pub visitors: GroupSettings,
}

impl Default for SightingsConfig {
    fn default() -> Self {
        SightingsConfig {
            record: true,
            keep_unknown_faces: true,
            unknown_face_days: 7,
            visitors: GroupSettings::default(),
        }
    }
}

impl SightingsConfig {
    /// What is wrong with these settings beside `retention_days`, if anything.
    pub fn problem(&self, retention_days: u32) -> Option<String> {
        (self.unknown_face_days == 0 || self.unknown_face_days > retention_days)
            .then(|| {
                format!(
                    "sightings.unknown_face_days must be from 1 to retention_days \
                     ({retention_days}), not {}",
                    self.unknown_face_days
                )
            })
            .or_else(|| self.visitors.problem())
    }

    /// What a purge now forgets, with sightings kept `retention_days`.
    pub fn cutoffs(&self, retention_days: u32) -> Cutoffs {
        Cutoffs {
            sightings: super::retention_cutoff(retention_days),
            unknown_faces: super::retention_cutoff(self.unknown_face_days.min(retention_days)),
        }
    }
}
