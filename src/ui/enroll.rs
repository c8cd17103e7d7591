//! The enrollment panel: type a name, press space to capture; each capture passes the quality
//! gate or says why not; at the target count the person is saved and recognised at once.

use eframe::egui::{self, Color32, Key, Modifiers, TextureHandle};

use crate::base::error::Result;
use crate::enroll::{Enrollment, PersonReport};
use crate::gallery::{NewFace, validate_name};
use crate::runtime::session::Session;
use crate::runtime::worker::{Captured, Command};
use crate::ui::task::{self, Task};
use crate::ui::view::color_image;

/// Thumbnails of captures: their longer side, in pixels.
const THUMB: i32 = 96;

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
    saving: Option<Task<Result<PersonReport>>>,
    /// The name the captures are being saved under.
    saving_name: String,
    /// The latest outcome to show: (is it good news, text).
    message: Option<(bool, String)>,
    /// The name field takes the keyboard when next shown: the panel was just opened, and the
    /// first thing a user does is type a name.
    focus_name: bool,
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
            saving_name: String::new(),
            message: None,
            focus_name: true,
        }
    }

    /// The panel was opened: the name field takes the keyboard.
    pub fn opened(&mut self) {
        self.focus_name = true;
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
    pub(crate) fn handle_keys(
        &mut self,
        ctx: &egui::Context,
        session: Option<&Session>,
        enrollment: &Enrollment,
    ) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
            self.capture(session, enrollment);
        }
    }

    /// Judges the newest frame as a capture of the person named.
    pub fn capture(&mut self, session: Option<&Session>, enrollment: &Enrollment) {
        if self.busy() {
            return;
        }
        if let Err(e) = validate_name(&self.name) {
            self.message = Some((false, format!("Type the person's name first: {e}")));
            return;
        }
        let Some(session) = session else {
            self.message = Some((false, "No video yet".into()));
            return;
        };
        let (task, reply) = Task::channel();
        let sent = session.send(Command::Capture {
            enrollment: enrollment.clone(),
            thumbnail_px: THUMB,
            reply,
        });
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
    pub fn poll(
        &mut self,
        ctx: &egui::Context,
        session: Option<&Session>,
        enrollment: &Enrollment,
    ) {
        if let Some(outcome) = task::poll(&mut self.capturing) {
            match outcome {
                Ok(captured) => {
                    let thumbnail = ctx.load_texture(
                        "capture",
                        color_image(&captured.thumbnail),
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
                        self.save(session, enrollment);
                    }
                }
                Err(e) => self.message = Some((false, format!("Capture failed: {}", e.report()))),
            }
        }
        if let Some(outcome) = task::poll(&mut self.saving) {
            let name = self.saving_name.clone();
            match outcome {
                Ok(report) => {
                    let mut text = format!("Saved {name}: {} face(s) added", report.added.len());
                    for warning in &report.warnings {
                        text.push_str(&format!("\nWarning: {warning}"));
                    }
                    self.message = Some((report.warnings.is_empty(), text));
                    self.accepted.clear();
                    self.shots.clear();
                }
                // The captures stay, so nothing is lost: the user can try again.
                Err(e) => self.message = Some((false, format!("Not saved: {}", e.report()))),
            }
        }
    }

    /// Saves the accepted captures under the name, in the worker, which then recognises the
    /// person from the next frame on.
    pub fn save(&mut self, session: Option<&Session>, enrollment: &Enrollment) {
        let Some(session) = session else { return };
        if self.accepted.is_empty() || self.saving.is_some() {
            return;
        }
        let (task, reply) = Task::channel();
        let name = self.name.trim().to_owned();
        let sent = session.send(Command::SavePerson {
            enrollment: enrollment.clone(),
            name: name.clone(),
            faces: self.accepted.clone(),
            reply,
        });
        if sent {
            self.saving = Some(task);
            self.saving_name = name;
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, session: Option<&Session>, enrollment: &Enrollment) {
        ui.heading("Enroll");
        ui.horizontal(|ui| {
            let label = ui.label("Name");
            let field = ui
                .add(egui::TextEdit::singleline(&mut self.name).hint_text("new or existing person"))
                .labelled_by(label.id);
            if std::mem::take(&mut self.focus_name) {
                field.request_focus();
            }
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
                self.capture(session, enrollment);
            }
            if ui
                .add_enabled(
                    !self.accepted.is_empty() && !self.busy(),
                    egui::Button::new("Save now"),
                )
                .clicked()
            {
                self.save(session, enrollment);
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
