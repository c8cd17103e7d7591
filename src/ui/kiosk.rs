//! Kiosk mode: no way out but the configured key chord (and PIN, if set).

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers};

use crate::config::KioskConfig;

/// Parses a chord such as "Ctrl+Shift+Q".
pub fn parse_chord(text: &str) -> Result<KeyboardShortcut, String> {
    let mut modifiers = Modifiers::NONE;
    let mut key = None;
    for part in text.split('+').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "ctrl" | "control" => modifiers.ctrl = true,
            "shift" => modifiers.shift = true,
            "alt" => modifiers.alt = true,
            _ if key.is_none() => {
                key = Some(Key::from_name(part).ok_or_else(|| {
                    format!("{part:?} is not a key name (examples: Q, F12, Escape)")
                })?)
            }
            _ => return Err(format!("{text:?} names more than one key")),
        }
    }
    let key = key.ok_or_else(|| format!("{text:?} names no key, only modifiers"))?;
    if modifiers.is_none() {
        return Err(format!(
            "{text:?} has no modifier; a single key is too easy to press by accident (use e.g. Ctrl+Shift+Q)"
        ));
    }
    // `command` is what egui compares against on Linux and Windows.
    modifiers.command = modifiers.ctrl;
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
            chord: parse_chord(&config.exit_chord)?,
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
    pub fn allow_exit(&mut self) {
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
    fn chords_parse_and_bad_ones_say_why() {
        let chord = parse_chord("Ctrl+Shift+Q").unwrap();
        assert_eq!(chord.logical_key, Key::Q);
        assert!(chord.modifiers.ctrl && chord.modifiers.shift && !chord.modifiers.alt);
        assert!(parse_chord("Q").unwrap_err().contains("no modifier"));
        assert!(parse_chord("Ctrl+Shift").unwrap_err().contains("no key"));
        assert!(
            parse_chord("Ctrl+Banana")
                .unwrap_err()
                .contains("not a key")
        );
    }
}
