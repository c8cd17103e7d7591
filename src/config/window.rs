//! Settings of the desktop window and its kiosk mode, and the kiosk's exit chord.

use serde::{Deserialize, Serialize};

/// The desktop window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    pub mirror: bool,
    pub enroll_captures: u32,
    pub retry_secs: f32,
    pub kiosk: KioskConfig,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            mirror: false,
            enroll_captures: 4,
            retry_secs: 1.0,
            kiosk: KioskConfig::default(),
        }
    }
}

/// Kiosk mode: fullscreen, unattended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    pub enabled: bool,
    pub allow_enrollment: bool,
    /// Parsed with [`Chord::parse`].
    pub exit_chord: String,
    pub exit_pin: Option<String>,
    pub greeting: String,
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig {
            enabled: false,
            allow_enrollment: false,
            exit_chord: "Ctrl+Shift+Q".into(),
            exit_pin: None,
            greeting: "Welcome, {name}!".into(),
        }
    }
}

/// Keys that are not a letter, a digit or F1-F24, by the names the config uses.
pub const NAMED_KEYS: [&str; 12] = [
    "Escape",
    "Enter",
    "Space",
    "Tab",
    "Backspace",
    "Delete",
    "Insert",
    "Home",
    "End",
    "PageUp",
    "PageDown",
    "Pause",
];

/// A key chord such as "Ctrl+Shift+Q": at least one modifier and exactly one key. The key is
/// named as the window's toolkit names it (Q, 7, F12, Escape, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chord {
    pub ctrl: bool,
    pub shift: bool,
    pub alt: bool,
    pub key: String,
}

impl Chord {
    /// Parses a chord, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Chord, String> {
        let (mut ctrl, mut shift, mut alt) = (false, false, false);
        let mut key = None;
        for part in text.split('+').map(str::trim) {
            match part.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => ctrl = true,
                "shift" => shift = true,
                "alt" => alt = true,
                _ if key.is_none() => key = Some(key_name(part)?),
                _ => return Err(format!("{text:?} names more than one key")),
            }
        }
        let key = key.ok_or_else(|| format!("{text:?} names no key, only modifiers"))?;
        if !(ctrl || shift || alt) {
            return Err(format!(
                "{text:?} has no modifier; a single key is too easy to press by accident (use e.g. Ctrl+Shift+Q)"
            ));
        }
        Ok(Chord {
            ctrl,
            shift,
            alt,
            key,
        })
    }
}

/// The canonical name of a key, or why `part` names none.
fn key_name(part: &str) -> Result<String, String> {
    let upper = part.to_ascii_uppercase();
    let single = upper.len() == 1 && upper.chars().all(|c| c.is_ascii_alphanumeric());
    let function = upper
        .strip_prefix('F')
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=24).contains(&n));
    if single || function {
        return Ok(upper);
    }
    NAMED_KEYS
        .iter()
        .find(|name| name.eq_ignore_ascii_case(part))
        .map(|name| (*name).to_owned())
        .ok_or_else(|| format!("{part:?} is not a key name (examples: Q, F12, Escape)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_parse_and_bad_ones_say_why() {
        let chord = Chord::parse("Ctrl+Shift+q").unwrap();
        assert_eq!(
            chord,
            Chord {
                ctrl: true,
                shift: true,
                alt: false,
                key: "Q".into()
            }
        );
        assert_eq!(Chord::parse("alt+escape").unwrap().key, "Escape");
        assert_eq!(Chord::parse("Ctrl+F12").unwrap().key, "F12");
        assert!(Chord::parse("Q").unwrap_err().contains("no modifier"));
        assert!(Chord::parse("Ctrl+Shift").unwrap_err().contains("no key"));
        assert!(
            Chord::parse("Ctrl+Q+W")
                .unwrap_err()
                .contains("more than one")
        );
        assert!(
            Chord::parse("Ctrl+Banana")
                .unwrap_err()
                .contains("not a key")
        );
    }
}
