//! Kiosk mode: no way out but the configured key chord (and PIN, if set).

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers};

use crate::config::window::{Chord, KioskConfig};

/// The configured exit chord as egui's shortcut.
pub(crate) fn shortcut(text: &str) -> Result<KeyboardShortcut, String> {
    let chord = Chord::parse(text)?;
    let key = Key::from_name(&chord.key)
        .ok_or_else(|| format!("{:?} is not a key this window knows", chord.key))?;
    let modifiers = Modifiers {
        ctrl: chord.ctrl,
        shift: chord.shift,
        alt: chord.alt,
        // `command` is what egui compares against on Linux and Windows.
        command: chord.ctrl,
        ..Modifiers::NONE
    };
    Ok(KeyboardShortcut::new(modifiers, key))
}

/// The kiosk's state: the way out and the greeting.
pub struct Kiosk {
    pub config: KioskConfig,
    chord: KeyboardShortcut,
    /// The PIN prompt, when open: what has been typed.
    prompt: Option<String>,
    wrong_pin: bool,
    leaving: bool,
}

impl Kiosk {
    pub fn new(config: KioskConfig) -> Result<Kiosk, String> {
        Ok(Kiosk {
            chord: shortcut(&config.exit_chord)?,
            config,
            prompt: None,
            wrong_pin: false,
            leaving: false,
        })
    }

    /// Refuses every way of closing the window but the chord (and PIN); call once per frame
    /// before anything else reads keys.
    pub fn guard(&mut self, ctx: &egui::Context) {
        if ctx.input_mut(|i| i.consume_shortcut(&self.chord)) {
            match self.config.exit_pin {
                None => self.leave(ctx),
                Some(_) => self.prompt = Some(String::new()),
            }
        }
        let escape = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape));
        if escape {
            self.prompt = None;
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.leaving {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        }
        self.pin_prompt(ctx);
    }

    fn leave(&mut self, ctx: &egui::Context) {
        self.leaving = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    /// Lets the window close without the chord (a timed run ending).
    pub(crate) fn allow_exit(&mut self) {
        self.leaving = true;
    }

    pub fn leaving(&self) -> bool {
        self.leaving
    }

    fn pin_prompt(&mut self, ctx: &egui::Context) {
        let Some(entered) = self.prompt.as_mut() else {
            return;
        };
        let mut submitted = false;
        egui::Modal::new(egui::Id::unique("kiosk-pin")).show(ctx, |ui| {
            ui.heading("Leave kiosk mode");
            let label = ui.label("PIN");
            let field = ui
                .add(egui::TextEdit::singleline(entered).password(true))
                .labelled_by(label.id);
            // The prompt is modal: its field always has the keyboard, and Enter submits.
            field.request_focus();
            submitted = ui.input(|i| i.key_pressed(Key::Enter));
            if self.wrong_pin {
                ui.colored_label(egui::Color32::LIGHT_RED, "Wrong PIN");
            }
            ui.label("Escape to go back");
        });
        if submitted {
            if self.config.exit_pin.as_deref() == Some(entered.as_str()) {
                self.prompt = None;
                self.leave(ctx);
            } else {
                self.wrong_pin = true;
                entered.clear();
            }
        }
    }

    /// The greeting for the known people in view, one line each.
    pub fn greetings<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<String> {
        names
            .map(|name| self.config.greeting.replace("{name}", name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chord_the_config_accepts_maps_to_a_key() {
        let chord = shortcut("Ctrl+Shift+Q").unwrap();
        assert_eq!(chord.logical_key, Key::Q);
        assert!(chord.modifiers.ctrl && chord.modifiers.shift && !chord.modifiers.alt);
        let named = crate::config::window::NAMED_KEYS;
        for key in ["A", "Z", "0", "9", "F1", "F24"].into_iter().chain(named) {
            assert!(shortcut(&format!("Alt+{key}")).is_ok(), "{key}");
        }
        assert!(shortcut("Ctrl+Banana").unwrap_err().contains("not a key"));
    }
}
