//! The enrollment panel: type a name, press space to capture; each capture passes the quality
//! gate or says why not; at the target count the person is saved and recognised at once.

use eframe::egui::{self, Color32, Key, Modifiers, TextureHandle};
use opencv::core::{Mat, Rect};
use opencv::prelude::*;

use crate::enroll::{self, Enrollment, PersonReport};
use crate::error::{Error, Result};
use crate::gallery::NewFace;
use crate::live::{self, Session, Waker};
use crate::quality::Rejection;
use crate::ui::task::{self, Task};

const THUMB: i32 = 96;

/// One capture as the worker judged it.
pub struct Captured {
    pub verdict: std::result::Result<NewFace, Rejection>,
    pub thumbnail: egui::ColorImage,
}

struct Shot {
    thumbnail: TextureHandle,
    /// `None` when accepted; the reason otherwise.
    rejected: Option<String>,
}

/// The panel's state.
pub struct EnrollPanel {
    pub name: String,
    pub target: u32,
    accepted: Vec<NewFace>,
    shots: Vec<Shot>,
    capturing: Option<Task<Result<Captured>>>,
    saving: Option<Task<Result<(String, PersonReport)>>>,
    /// The latest outcome to show: (is it good news, text).
    message: Option<(bool, String)>,
}

impl EnrollPanel {
    pub fn new(target: u32) -> EnrollPanel {
        EnrollPanel {
            name: String::new(),
            target,
            accepted: Vec::new(),
            shots: Vec::new(),
            capturing: None,
            saving: None,
            message: None,
        }
    }

    /// Captures accepted so far for the person being enrolled.
    pub fn accepted(&self) -> usize {
        self.accepted.len()
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(_, m)| m.as_str())
    }

    pub fn busy(&self) -> bool {
        self.capturing.is_some() || self.saving.is_some()
    }

    /// Space captures, unless a widget has the keyboard: in the name field space types a space.
    pub fn handle_keys(
        &mut self,
        ctx: &egui::Context,
        session: Option<&Session>,
        enrollment: &Enrollment,
        wake: &Waker,
    ) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
            self.capture(session, enrollment, wake);
        }
    }

    /// Judges the newest frame as a capture of the person named.
    pub fn capture(&mut self, session: Option<&Session>, enrollment: &Enrollment, wake: &Waker) {
        if self.busy() {
            return;
        }
        if let Err(e) = crate::gallery::validate_name(&self.name) {
            self.message = Some((false, format!("Type the person's name first: {e}")));
            return;
        }
        let Some(session) = session else {
            self.message = Some((false, "No video yet".into()));
            return;
        };
        let (task, tx) = Task::channel();
        let enrollment = enrollment.clone();
        let wake = wake.clone();
        let sent = session.run(Box::new(move |worker| {
            let outcome = match worker.frame {
                Some(frame) => judge(worker.pipeline, &enrollment, frame),
                None => Err(Error::InvalidArgument("no frame has arrived yet".into())),
            };
            let _ = tx.send(outcome);
            wake();
        }));
        if sent {
            self.capturing = Some(task);
        } else {
            self.message = Some((
                false,
                "Recognition has stopped; see the message above".into(),
            ));
        }
    }

    /// Takes answers from the worker; saves the person when the target is reached.
    pub fn poll(&mut self, ctx: &egui::Context, session: Option<&Session>, wake: &Waker) {
        if let Some(outcome) = task::poll(&mut self.capturing) {
            match outcome {
                Ok(captured) => {
                    let thumbnail = ctx.load_texture(
                        "capture",
                        captured.thumbnail,
                        egui::TextureOptions::LINEAR,
                    );
                    let rejected = captured.verdict.as_ref().err().map(ToString::to_string);
                    self.message = Some(match &rejected {
                        None => (
                            true,
                            format!(
                                "Capture {} of {} accepted",
                                self.accepted.len() + 1,
                                self.target
                            ),
                        ),
                        Some(reason) => (false, format!("Rejected: {reason}")),
                    });
                    if let Ok(face) = captured.verdict {
                        self.accepted.push(face);
                    }
                    self.shots.push(Shot {
                        thumbnail,
                        rejected,
                    });
                    if self.accepted.len() >= self.target as usize {
                        self.save(session, wake);
                    }
                }
                Err(e) => self.message = Some((false, format!("Capture failed: {e}"))),
            }
        }
        if let Some(outcome) = task::poll(&mut self.saving) {
            match outcome {
                Ok((name, report)) => {
                    let mut text = format!("Saved {name}: {} face(s) added", report.added);
                    for warning in &report.warnings {
                        text.push_str(&format!("\nWarning: {warning}"));
                    }
                    self.message = Some((report.warnings.is_empty(), text));
                    self.accepted.clear();
                    self.shots.clear();
                }
                // The captures stay, so nothing is lost: the user can try again.
                Err(e) => self.message = Some((false, format!("Not saved: {e}"))),
            }
        }
    }

    /// Saves the accepted captures under the name, in the worker, which then recognises the
    /// person from the next frame on.
    pub fn save(&mut self, session: Option<&Session>, wake: &Waker) {
        let Some(session) = session else { return };
        if self.accepted.is_empty() || self.saving.is_some() {
            return;
        }
        let (task, tx) = Task::channel();
        let name = self.name.trim().to_owned();
        let faces = self.accepted.clone();
        let wake = wake.clone();
        let sent = session.run(Box::new(move |worker| {
            let embedder = worker.pipeline.embedder_id();
            let outcome = enroll::add(worker.gallery, embedder, &name, &faces).map(|r| (name, r));
            if outcome.is_ok() {
                worker.gallery_changed();
            }
            let _ = tx.send(outcome);
            wake();
        }));
        if sent {
            self.saving = Some(task);
        }
    }

    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        session: Option<&Session>,
        enrollment: &Enrollment,
        wake: &Waker,
    ) {
        ui.heading("Enroll");
        ui.horizontal(|ui| {
            let label = ui.label("Name");
            ui.add(egui::TextEdit::singleline(&mut self.name).hint_text("new or existing person"))
                .labelled_by(label.id);
        });
        ui.label(format!(
            "Press Enter, then space to capture ({} of {} accepted).",
            self.accepted.len(),
            self.target
        ));
        ui.add(egui::ProgressBar::new(
            self.accepted.len() as f32 / self.target.max(1) as f32,
        ));
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Capture"))
                .clicked()
            {
                self.capture(session, enrollment, wake);
            }
            if ui
                .add_enabled(
                    !self.accepted.is_empty() && !self.busy(),
                    egui::Button::new("Save now"),
                )
                .clicked()
            {
                self.save(session, wake);
            }
            if ui
                .add_enabled(!self.shots.is_empty(), egui::Button::new("Start over"))
                .clicked()
            {
                self.accepted.clear();
                self.shots.clear();
                self.message = None;
            }
        });
        if self.busy() {
            ui.spinner();
        }
        if let Some((good, text)) = &self.message {
            let colour = if *good {
                Color32::LIGHT_GREEN
            } else {
                Color32::LIGHT_RED
            };
            ui.colored_label(colour, text);
        }
        ui.horizontal_wrapped(|ui| {
            for shot in self.shots.iter().rev() {
                let size =
                    shot.thumbnail.size_vec2() * (64.0 / shot.thumbnail.size_vec2().max_elem());
                let image = ui.image((shot.thumbnail.id(), size));
                let tip = shot.rejected.as_deref().unwrap_or("accepted");
                image.on_hover_text(tip);
                ui.label(if shot.rejected.is_some() {
                    "rejected"
                } else {
                    "ok"
                });
            }
        });
    }
}

/// Runs the quality gate on `frame` and makes a thumbnail: the face if one was accepted, the
/// whole frame otherwise (so the user sees what went wrong).
fn judge(
    pipeline: &mut crate::pipeline::Pipeline,
    enrollment: &Enrollment,
    frame: &Mat,
) -> Result<Captured> {
    let (faces, _) = pipeline.detect(frame)?;
    let verdict = enrollment.judge(pipeline, frame, &faces, "window capture".into(), None)?;
    let thumbnail = match (&verdict, faces.first()) {
        (Ok(_), Some(face)) => {
            let region = face.cv_rect() & Rect::new(0, 0, frame.cols(), frame.rows());
            live::thumbnail(&Mat::roi(frame, region)?.try_clone()?, THUMB)?
        }
        _ => live::thumbnail(frame, THUMB)?,
    };
    Ok(Captured { verdict, thumbnail })
}
