//! The people panel: everyone enrolled; rename, remove (after confirming), look at the faces
//! stored for a person. Every gallery access runs on another thread, through the gallery the
//! session's recognizer uses (the store's pool of connections serves both); the recognizer's
//! roster hears the change from the gallery's change feed.

use eframe::egui::{self, TextureHandle};

use std::sync::Arc;

use crate::base::error::Result;
use crate::base::image::{RgbaImage, decode_png};
use crate::gallery::Actor;
use crate::gallery::{Gallery, PersonId, PersonSummary};
use crate::runtime::session::Waker;
use crate::ui::task::{self, Task};
use crate::ui::view::color_image;

/// What the panel is asking the user about a person.
/// A change being asked for; the person by id, their name to show.
enum Editing {
    Rename {
        id: PersonId,
        name: String,
        new: String,
    },
    Remove {
        id: PersonId,
        name: String,
        faces: usize,
    },
}

pub(crate) struct PeoplePanel {
    /// The gallery the session recognises from, or why it cannot be opened.
    gallery: std::result::Result<Arc<dyn Gallery>, String>,
    pub people: Vec<PersonSummary>,
    listing: Option<Task<Result<Vec<PersonSummary>>>>,
    changing: Option<Task<Result<String>>>,
    loading_faces: Option<Task<Result<StoredFaces>>>,
    faces: Option<(String, Vec<TextureHandle>)>,
    editing: Option<Editing>,
    message: Option<String>,
}

impl PeoplePanel {
    pub(crate) fn new(gallery: std::result::Result<Arc<dyn Gallery>, String>) -> PeoplePanel {
        PeoplePanel {
            gallery,
            people: Vec::new(),
            listing: None,
            changing: None,
            loading_faces: None,
            faces: None,
            editing: None,
            message: None,
        }
    }

    /// The gallery, or says why there is none.
    fn gallery(&mut self) -> Option<Arc<dyn Gallery>> {
        match &self.gallery {
            Ok(gallery) => Some(gallery.clone()),
            Err(e) => {
                self.message = Some(format!("Cannot open the gallery: {e}"));
                None
            }
        }
    }

    /// Reads the list again (on opening the panel, and after every change).
    pub(crate) fn refresh(&mut self, wake: &Waker) {
        if let Some(gallery) = self.gallery() {
            self.listing = Some(Task::spawn(wake, move || gallery.people()));
        }
    }

    fn change(&mut self, wake: &Waker, work: Change) {
        if let Some(gallery) = self.gallery() {
            self.changing = Some(Task::spawn(wake, move || {
                work(gallery.as_ref(), &Actor::window())
            }));
        }
    }

    pub(crate) fn poll(&mut self, ctx: &egui::Context, wake: &Waker) {
        match task::poll(&mut self.listing) {
            Some(Ok(people)) => self.people = people,
            Some(Err(e)) => self.message = Some(format!("Cannot read the gallery: {}", e.report())),
            None => {}
        }
        if let Some(outcome) = task::poll(&mut self.changing) {
            self.message = Some(outcome.unwrap_or_else(|e| e.report()));
            self.faces = None;
            self.refresh(wake);
        }
        match task::poll(&mut self.loading_faces) {
            Some(Ok((name, images))) => {
                let textures = images
                    .into_iter()
                    .map(|image| {
                        ctx.load_texture(
                            "stored-face",
                            color_image(&image),
                            egui::TextureOptions::LINEAR,
                        )
                    })
                    .collect();
                self.faces = Some((name, textures));
            }
            Some(Err(e)) => self.message = Some(e.report()),
            None => {}
        }
    }

    pub(crate) fn show(&mut self, ui: &mut egui::Ui, wake: &Waker) {
        ui.heading("People");
        if ui.button("Reload").clicked() {
            self.refresh(wake);
        }
        if let Some(message) = &self.message {
            ui.label(message);
        }
        if self.people.is_empty() {
            ui.label("Nobody is enrolled yet. Use Enroll, or `whoisit people add`.");
        }
        let mut action = None;
        egui::Grid::new("people").striped(true).show(ui, |ui| {
            for person in &self.people {
                ui.label(&person.name);
                ui.label(format!("{} face(s)", person.faces));
                ui.label(format!("poses: {}", person.pose_report()))
                    .on_hover_text("The poses their faces show, of the four enrollment asks for");
                if ui.small_button("Faces").clicked() {
                    action = Some(Action::Faces(person.id, person.name.clone()));
                }
                if ui.small_button("Rename").clicked() {
                    action = Some(Action::Edit(Editing::Rename {
                        id: person.id,
                        name: person.name.clone(),
                        new: person.name.clone(),
                    }));
                }
                if ui.small_button("Remove").clicked() {
                    action = Some(Action::Edit(Editing::Remove {
                        id: person.id,
                        name: person.name.clone(),
                        faces: person.faces,
                    }));
                }
                ui.end_row();
            }
        });
        match action {
            Some(Action::Faces(id, name)) => self.load_faces(id, name, wake),
            Some(Action::Edit(editing)) => self.editing = Some(editing),
            None => {}
        }
        self.show_editing(ui, wake);
        if let Some((name, textures)) = &self.faces {
            ui.separator();
            ui.label(format!("Stored faces of {name}"));
            ui.horizontal_wrapped(|ui| {
                for texture in textures {
                    let size = texture.size_vec2() * (72.0 / texture.size_vec2().max_elem());
                    ui.image((texture.id(), size));
                }
            });
        }
    }

    fn load_faces(&mut self, id: PersonId, name: String, wake: &Waker) {
        let Some(gallery) = self.gallery() else {
            return;
        };
        self.loading_faces = Some(Task::spawn(wake, move || {
            let images = gallery
                .images(id)?
                .iter()
                .map(|png| RgbaImage::thumbnail(&decode_png(png)?, 128))
                .collect::<Result<Vec<_>>>()?;
            Ok((name, images))
        }));
    }

    fn show_editing(&mut self, ui: &mut egui::Ui, wake: &Waker) {
        let mut close = false;
        let mut change: Option<Change> = None;
        match &mut self.editing {
            None => {}
            Some(Editing::Rename { id, name, new }) => {
                ui.separator();
                ui.label(format!("Rename {name} to"));
                let field = ui.text_edit_singleline(new);
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    if ui.button("Rename").clicked() || enter {
                        let (id, old, new) = (*id, name.clone(), new.trim().to_owned());
                        change = Some(Box::new(move |gallery, actor| {
                            gallery.rename(id, &new, actor)?;
                            Ok(format!("Renamed {old} to {new}"))
                        }));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
            Some(Editing::Remove { id, name, faces }) => {
                ui.separator();
                ui.label(format!(
                    "Remove {name} and their {faces} stored face(s)? This cannot be undone \
                     (export the gallery first to keep a copy)."
                ));
                ui.horizontal(|ui| {
                    if ui.button("Remove for good").clicked() {
                        let (id, name) = (*id, name.clone());
                        change = Some(Box::new(move |gallery, actor| {
                            let removed = gallery.remove(id, actor)?;
                            Ok(format!("Removed {name}: {} face(s)", removed.faces))
                        }));
                        close = true;
                    }
                    close |= ui.button("Cancel").clicked();
                });
            }
        }
        if let Some(change) = change {
            self.change(wake, change);
        }
        if close {
            self.editing = None;
        }
    }
}

/// A person's name and their stored face crops, ready to draw.
type StoredFaces = (String, Vec<RgbaImage>);

/// A change to the gallery, made on another thread; says what it did.
type Change = Box<dyn FnOnce(&dyn Gallery, &Actor) -> Result<String> + Send>;

enum Action {
    Faces(PersonId, String),
    Edit(Editing),
}
