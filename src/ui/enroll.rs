//! The enrollment panel: type a name, then the panel asks for the poses in turn (look at the
//! camera, a little left, a little right, chin up) with a live hint from the landmarks; space
//! captures. Each capture passes the quality gate, shows the pose asked and repeats no face
//! taken, or says why not beside its thumbnail; at the target count, or when the user says
//! Done, the person is saved and recognised at once.

use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, Key, Modifiers, TextureHandle};

use crate::base::error::Result;
use crate::enroll::{Enrollment, PersonReport, Taken};
use crate::gallery::{NewFace, validate_name};
use crate::runtime::session::Session;
use crate::runtime::worker::{Captured, Command, Looked};
use crate::ui::task::{self, Task};
use crate::ui::view::color_image;
use crate::vision::pose::Pose;

/// Thumbnails of captures: their longer side, in pixels.
const THUMB: i32 = 96;
/// Thumbnails in a row of the panel, and the width of each with its caption, in points.
const SHOTS_PER_ROW: usize = 4;
const SHOT_WIDTH: f32 = 72.0;
/// How often the live hint asks for the head's pose: often enough to follow a turn of the
/// head, seldom enough that the landmarks (a few ms each) cost recognition nothing visible.
const LOOK_EVERY: Duration = Duration::from_millis(150);

struct Shot {
    thumbnail: TextureHandle,
    /// The few words under the thumbnail: the pose taken, or why it was rejected.
    caption: String,
    /// `None` when accepted; the full reason otherwise (its tooltip).
    rejected: Option<String>,
}

/// The panel's state.
pub struct EnrollPanel {
    pub name: String,
    pub target: u32,
    accepted: Vec<NewFace>,
    shots: Vec<Shot>,
    /// Poses asked for so far (taken or skipped): the next asked is `Pose::GUIDED[step % 4]`.
    step: usize,
    capturing: Option<Task<Result<Captured>>>,
    looking: Option<Task<Result<Looked>>>,
    /// The newest frame's faces and pose, and when they were asked for.
    looked: Option<Looked>,
    looked_at: Option<Instant>,
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
            step: 0,
            capturing: None,
            looking: None,
            looked: None,
            looked_at: None,
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

    /// The pose the panel asks for next.
    pub fn asked(&self) -> Pose {
        Pose::GUIDED[self.step % Pose::GUIDED.len()]
    }

    /// What the live hint says now, and whether the pose asked is reached.
    pub fn hint(&self) -> (bool, String) {
        match self.looked {
            None => (false, "Looking for a face...".into()),
            Some(looked) => looked.hint(self.asked()),
        }
    }

    /// The captions under the thumbnails, newest first: a pose taken, or a rejection's reason.
    pub fn captions(&self) -> Vec<&str> {
        self.shots
            .iter()
            .rev()
            .map(|s| s.caption.as_str())
            .collect()
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
        let taken = Taken::captures(&self.accepted);
        let sent = session.send(Command::Capture {
            enrollment: enrollment.clone(),
            name: self.name.clone(),
            asked: Some(self.asked()),
            taken,
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
                    let (caption, rejected) = match &captured.verdict {
                        Ok(face) => (face.pose.map_or("ok", Pose::as_str).to_owned(), None),
                        Err(rejection) => (rejection.short(), Some(rejection.to_string())),
                    };
                    self.message = Some(match &rejected {
                        None => (
                            true,
                            format!(
                                "Capture {} of {} accepted ({caption})",
                                self.accepted.len() + 1,
                                self.target
                            ),
                        ),
                        Some(reason) => (false, format!("Rejected: {reason}")),
                    });
                    if let Ok(face) = captured.verdict {
                        self.accepted.push(face);
                        self.step += 1;
                    }
                    self.shots.push(Shot {
                        thumbnail,
                        caption,
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
                    self.start_over();
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

    fn start_over(&mut self) {
        self.accepted.clear();
        self.shots.clear();
        self.step = 0;
    }

    /// Asks the worker for the newest frame's head pose, now and then, for the live hint.
    fn look(&mut self, session: Option<&Session>) {
        if let Some(outcome) = task::poll(&mut self.looking) {
            // A failed look only leaves the hint as it was; a capture says what went wrong.
            self.looked = outcome.ok();
        }
        let due = self.looked_at.is_none_or(|at| at.elapsed() >= LOOK_EVERY);
        let Some(session) = session else { return };
        if self.looking.is_some() || !due {
            return;
        }
        let (task, reply) = Task::channel();
        if session.send(Command::Look { reply }) {
            self.looking = Some(task);
            self.looked_at = Some(Instant::now());
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, session: Option<&Session>, enrollment: &Enrollment) {
        self.look(session);
        if self.looking.is_some() {
            // The answer wakes the window; the next question is due after LOOK_EVERY.
            ui.ctx().request_repaint_after(LOOK_EVERY);
        }
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
        self.show_guide(ui);
        self.show_buttons(ui, session, enrollment);
        if self.busy() {
            ui.spinner();
        }
        if let Some((good, text)) = &self.message {
            ui.colored_label(colour(*good), text);
        }
        self.show_shots(ui);
    }

    /// The pose asked for, the live hint, and how far the person is.
    fn show_guide(&self, ui: &mut egui::Ui) {
        ui.label(format!(
            "Press Enter, then space to capture ({} of {} accepted).",
            self.accepted.len(),
            self.target
        ));
        ui.add(egui::ProgressBar::new(
            self.accepted.len() as f32 / self.target.max(1) as f32,
        ));
        let asked = self.asked();
        ui.label(
            egui::RichText::new(format!(
                "Pose {} of {}: {}",
                self.step % Pose::GUIDED.len() + 1,
                Pose::GUIDED.len(),
                asked.request()
            ))
            .strong(),
        );
        let (reached, hint) = self.hint();
        let colour = if reached {
            Color32::LIGHT_GREEN
        } else {
            Color32::YELLOW
        };
        ui.colored_label(colour, hint);
    }

    fn show_buttons(
        &mut self,
        ui: &mut egui::Ui,
        session: Option<&Session>,
        enrollment: &Enrollment,
    ) {
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Capture"))
                .clicked()
            {
                self.capture(session, enrollment);
            }
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Skip pose"))
                .on_hover_text("Ask for the next pose; this one is left out")
                .clicked()
            {
                self.step += 1;
            }
            if ui
                .add_enabled(
                    !self.accepted.is_empty() && !self.busy(),
                    egui::Button::new("Done"),
                )
                .on_hover_text("Save the captures taken so far")
                .clicked()
            {
                self.save(session, enrollment);
            }
            if ui
                .add_enabled(!self.shots.is_empty(), egui::Button::new("Start over"))
                .clicked()
            {
                self.start_over();
                self.message = None;
            }
        });
    }

    /// The captures, newest first, each with the pose taken or why it was rejected, a few to
    /// a row so the panel keeps its width.
    fn show_shots(&self, ui: &mut egui::Ui) {
        egui::Grid::new("shots").spacing([6.0, 8.0]).show(ui, |ui| {
            for (i, shot) in self.shots.iter().rev().enumerate() {
                if i > 0 && i % SHOTS_PER_ROW == 0 {
                    ui.end_row();
                }
                ui.vertical(|ui| {
                    ui.set_width(SHOT_WIDTH);
                    let size =
                        shot.thumbnail.size_vec2() * (64.0 / shot.thumbnail.size_vec2().max_elem());
                    let image = ui.image((shot.thumbnail.id(), size));
                    image.on_hover_text(shot.rejected.as_deref().unwrap_or("accepted"));
                    let caption =
                        egui::RichText::new(&shot.caption).color(colour(shot.rejected.is_none()));
                    ui.add(egui::Label::new(caption).wrap());
                });
            }
        });
    }
}

fn colour(good: bool) -> Color32 {
    if good {
        Color32::LIGHT_GREEN
    } else {
        Color32::LIGHT_RED
    }
}
