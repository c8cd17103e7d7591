//! The library's layers, checked on its source: a module uses only the layers below its own
//! (the order of `src/lib.rs`'s guide), and the lower layers stay free of what they must not
//! know about (threads, SQLite, the window).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

use std::path::{Path, PathBuf};

/// Lowest first; a layer may use itself and the layers before it.
const LAYERS: [&str; 13] = [
    "base", "models", "vision", "gallery", "enroll", "config", "demo", "runtime", "stream",
    "measure", "ui", "service", "cli",
];

/// Crates and std modules a layer must not touch, with the reason.
const FORBIDDEN: &[(&str, &str, &str)] = &[
    (
        "vision",
        "std::thread",
        "per-frame compute runs on the caller's thread",
    ),
    (
        "vision",
        "crossbeam_channel",
        "per-frame compute runs on the caller's thread",
    ),
    (
        "vision",
        "rusqlite",
        "the gallery is the gallery layer's business",
    ),
    (
        "gallery",
        "opencv",
        "a store of people knows nothing of images beyond bytes",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a file of `src/` belongs to: its top folder; `None` for lib.rs and main.rs.
fn layer_of(src: &Path, file: &Path) -> Option<&'static str> {
    let first = file.strip_prefix(src).unwrap().components().next()?;
    let name = first.as_os_str().to_str()?;
    LAYERS
        .iter()
        .copied()
        .find(|layer| name == *layer || name == format!("{layer}.rs"))
}

/// The top-level modules a source text names as `crate::x` or in `crate::{x, y::z}`.
fn crate_modules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                // Only the first segment of each item of the group.
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group
                    .split(',')
                    .filter_map(|item| item.trim().split("::").next())
                    .collect()
            }
            None => vec![
                &rest[..rest
                    .find(|c: char| !c.is_alphanumeric() && c != '_')
                    .unwrap_or(rest.len())],
            ],
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        );
    }
    found
}

fn without_comments(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer);
    let mut checked = 0;
    let mut violations = Vec::new();
    for file in &files {
        let Some(own) = layer_of(&src, file) else {
            continue;
        };
        let text = without_comments(&std::fs::read_to_string(file).unwrap());
        for used in crate_modules(&text) {
            // The crate root re-exports base's Error and Result.
            let used = match used.as_str() {
                "Error" | "Result" => "base".to_owned(),
                _ => used,
            };
            let Some(used_rank) = rank(&used) else {
                violations.push(format!(
                    "{}: uses crate::{used}, which is no layer",
                    file.display()
                ));
                continue;
            };
            checked += 1;
            if used_rank > rank(own).unwrap() {
                violations.push(format!(
                    "{} ({own}) uses crate::{used}, a layer above it",
                    file.display()
                ));
            }
        }
        for (layer, forbidden, why) in FORBIDDEN {
            if own == *layer && text.contains(forbidden) {
                violations.push(format!(
                    "{} ({own}) uses {forbidden}: {why}",
                    file.display()
                ));
            }
        }
        // Async only where the network is: the vision pipeline stays on its threads.
        if own != "service" && (text.contains("tokio") || text.contains("axum")) {
            violations.push(format!(
                "{} ({own}) uses tokio or axum: only the service's layer may",
                file.display()
            ));
        }
        if own != "ui" && (text.contains("egui") || text.contains("eframe")) {
            violations.push(format!(
                "{} ({own}) uses egui: only the window's layer may",
                file.display()
            ));
        }
        for (driver, home) in [
            ("rusqlite", "gallery/sqlite"),
            ("postgres::", "gallery/postgres"),
        ] {
            // `self::postgres::...` is whoisit's own module of that name, not the driver.
            let uses_driver = text
                .match_indices(driver)
                .any(|(at, _)| !text[..at].ends_with(':'));
            if !file.starts_with(src.join(home)) && uses_driver {
                violations.push(format!("{} uses {driver} outside {home}", file.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports were found: is the scan broken?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_both_import_forms() {
    assert_eq!(
        crate_modules("use crate::ui::view;\nuse crate::{demo, runtime::start};"),
        ["ui", "demo", "runtime"]
    );
}
