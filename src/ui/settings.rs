//! The settings panel: source (the cameras that open, the demo, a file or URL), threshold with
//! live effect, embedder, mirror view. It only reports what the user changed; the app applies
//! it and saves it.

use eframe::egui;

use crate::base::identity::EmbedderKind;
use crate::config::{Config, DEMO_SOURCE};
use crate::runtime::capture;
use crate::runtime::session::Waker;
use crate::ui::task::{self, Task};

/// Camera indexes tried when looking for cameras.
const CAMERAS_TRIED: i32 = 10;

/// One change the user made.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Source(String),
    Threshold(f32),
    Embedder(EmbedderKind),
    Mirror(bool),
}

#[derive(Default)]
pub(crate) struct SettingsPanel {
    cameras: Option<Vec<i32>>,
    probing: Option<Task<Vec<i32>>>,
    /// The file or URL being typed.
    other_source: String,
}

impl SettingsPanel {
    /// Looks for cameras on another thread (each index that does not open takes a moment).
    pub(crate) fn find_cameras(&mut self, wake: &Waker) {
        if self.probing.is_none() {
            self.probing = Some(Task::spawn(wake, || capture::cameras(CAMERAS_TRIED)));
        }
    }

    pub(crate) fn poll(&mut self) {
        if let Some(cameras) = task::poll(&mut self.probing) {
            self.cameras = Some(cameras);
        }
    }

    /// Draws the panel for `config` (the values in effect) and returns what the user changed.
    pub(crate) fn show(&mut self, ui: &mut egui::Ui, config: &Config, wake: &Waker) -> Vec<Change> {
        let mut changes = Vec::new();
        ui.heading("Settings");

        ui.label("Source");
        let mut source = config.source.clone();
        ui.radio_value(&mut source, DEMO_SOURCE.to_owned(), "Built-in demo clip");
        match &self.cameras {
            None if self.probing.is_some() => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Looking for cameras…");
                });
            }
            None => {
                if ui.button("Find cameras").clicked() {
                    self.find_cameras(wake);
                }
            }
            Some(cameras) if cameras.is_empty() => {
                ui.label(format!(
                    "No camera opened (tried 0 to {}).",
                    CAMERAS_TRIED - 1
                ));
            }
            Some(cameras) => {
                for index in cameras {
                    ui.radio_value(&mut source, index.to_string(), format!("Camera {index}"));
                }
            }
        }
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.other_source)
                    .hint_text("video file, frames/%04d.png or URL")
                    .desired_width(180.0),
            );
            if ui
                .add_enabled(
                    !self.other_source.trim().is_empty(),
                    egui::Button::new("Use"),
                )
                .clicked()
            {
                source = self.other_source.trim().to_owned();
            }
        });
        if source != config.source {
            changes.push(Change::Source(source));
        }

        ui.separator();
        let mut threshold = config.threshold;
        ui.add(
            egui::Slider::new(&mut threshold, 0.2..=1.0)
                .step_by(0.01)
                .text("Threshold"),
        );
        ui.label("Lower is stricter: fewer strangers taken for enrolled people.");
        if (threshold - config.threshold).abs() > f32::EPSILON {
            changes.push(Change::Threshold(threshold));
        }

        ui.separator();
        ui.label("Embedder");
        let mut embedder = config.embedder;
        ui.radio_value(&mut embedder, EmbedderKind::Dlib, "dlib ResNet (default)");
        ui.radio_value(
            &mut embedder,
            EmbedderKind::OpenFace,
            "OpenFace nn4.small2.v1",
        );
        ui.label("Faces enrolled with one embedder must be re-embedded for the other.");
        if embedder != config.embedder {
            changes.push(Change::Embedder(embedder));
        }

        ui.separator();
        let mut mirror = config.window.mirror;
        ui.checkbox(&mut mirror, "Mirror view");
        if mirror != config.window.mirror {
            changes.push(Change::Mirror(mirror));
        }
        changes
    }
}
