//! The library's layers, checked on its source: a module uses only the layers below its own
//! (the order of `src/lib.rs`'s guide), and the lower layers stay free of what they must not
//! know about (threads, SQLite, the window).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first; a layer may use itself and the layers before it.
const LAYERS: [&str; 14] = [
    "base", "models", "vision", "gallery", "roster", "enroll", "config", "demo", "runtime",
    "stream", "measure", "ui", "service", "cli",
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

/// Every path a source text names from `crate::`, `super::` or `self::`, as segments, with
/// `use` groups spelled out: `use crate::a::{b, c::d}` names `crate a b` and `crate a c d`.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in text.match_indices(start) {
            // `super::super::x` is one path, found at its first `super`; `$crate` is a macro's.
            let within = text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '$'));
            if !within {
                spell_out(Vec::new(), &text[at..], &mut found);
            }
        }
    }
    found
}

/// Adds to `out` the paths of `text` (the path's own text onwards) after `prefix`.
fn spell_out(mut path: Vec<String>, text: &str, out: &mut Vec<Vec<String>>) {
    let mut rest = text.trim_start();
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            path.push(rest[..end].to_owned());
        }
        rest = &rest[end..];
        match rest.strip_prefix("::") {
            Some(group) if group.starts_with('{') => {
                for item in group_items(&group[1..]) {
                    spell_out(path.clone(), item, out);
                }
                return;
            }
            Some(next) => rest = next,
            None => break,
        }
    }
    out.push(path);
}

/// The items of a `{...}` group, from the text after its `{`.
fn group_items(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&text[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The top-level modules a source text names as `crate::x` or in `crate::{x, y::z}`.
fn crate_modules(text: &str) -> Vec<String> {
    named_paths(text)
        .into_iter()
        .filter(|path| path.first().is_some_and(|s| s == "crate"))
        .filter_map(|path| path.get(1).cloned())
        .collect()
}

/// A file's module path (`vision/detect.rs` is `vision detect`, `vision/mod.rs` is `vision`,
/// lib.rs is the root), and whether it is a folder's file, whose submodules are its siblings.
fn module_of(src: &Path, file: &Path) -> (Vec<String>, bool) {
    let mut path: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|s| s.to_str().unwrap().to_owned())
        .collect();
    let folder = path.last().is_some_and(|s| s == "mod" || s == "lib");
    if folder {
        path.pop();
    }
    (path, folder)
}

/// Which files' modules each file of `src/` names. A folder's file declaring and re-exporting
/// its own submodules is no import: that is what it is for.
fn import_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: Vec<(Vec<String>, bool, PathBuf)> = files
        .into_iter()
        .map(|file| {
            let (module, folder) = module_of(src, &file);
            (module, folder, file)
        })
        .collect();
    let known: BTreeSet<&Vec<String>> = modules.iter().map(|(m, _, _)| m).collect();
    let mut graph = BTreeMap::new();
    for (own, folder, file) in &modules {
        let text = without_comments(&std::fs::read_to_string(file).unwrap());
        let mut uses = BTreeSet::new();
        for path in named_paths(&text) {
            let mut absolute = if path[0] == "crate" {
                Vec::new()
            } else {
                own.clone()
            };
            for segment in &path {
                match segment.as_str() {
                    "crate" | "self" => {}
                    "super" => {
                        absolute.pop();
                    }
                    name => absolute.push(name.to_owned()),
                }
            }
            // The file of the path: its longest prefix that is a module of src/.
            let Some(target) = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|prefix| known.contains(prefix))
            else {
                continue;
            };
            if target != *own && !(*folder && target.starts_with(own)) {
                uses.insert(target);
            }
        }
        graph.insert(own.clone(), uses);
    }
    graph
}

/// The groups of modules that import each other, directly or round a longer loop (Tarjan's
/// strongly connected components of more than one module).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, module: &'a Vec<String>) {
            let order = self.index.len();
            self.index.insert(module, (order, order));
            self.stack.push(module);
            for next in self.graph.get(module).into_iter().flatten() {
                let low = match self.index.get(next) {
                    None => {
                        self.visit(next);
                        self.index[next].1
                    }
                    Some(&(order, _)) if self.stack.contains(&next) => order,
                    Some(_) => continue,
                };
                let entry = self.index.get_mut(module).unwrap();
                entry.1 = entry.1.min(low);
            }
            let (order, low) = self.index[module];
            if order == low {
                let at = self.stack.iter().position(|m| *m == module).unwrap();
                let group: Vec<String> = self.stack.drain(at..).map(|m| m.join("/")).collect();
                if group.len() > 1 {
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for module in graph.keys() {
        if !walk.index.contains_key(module) {
            walk.visit(module);
        }
    }
    walk.found
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

#[test]
fn no_files_import_each_other_even_round_a_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    let imports: usize = graph.values().map(BTreeSet::len).sum();
    assert!(
        imports > 300,
        "only {imports} imports between files were found: is the scan broken?"
    );
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "files that import each other (move the misplaced item to where it belongs): {cycles:?}"
    );
}

#[test]
fn the_scan_resolves_paths_to_files_and_finds_every_loop() {
    let src = tempfile::tempdir().unwrap();
    let write = |file: &str, text: &str| {
        let path = src.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write("a/mod.rs", "mod x;\nmod y;\npub use self::x::X;\n");
    // Two files, one through a group and `super`, the other by a full path in code.
    write("a/x.rs", "use super::{y::Y, z};\npub struct X;\n");
    write("a/y.rs", "pub struct Y;\nfn f() { crate::a::x::X; }\n");
    // Three files round a loop, one through `super::super`.
    write("b/mod.rs", "pub mod p;\npub mod q;\npub mod r;\n");
    write("b/p/mod.rs", "pub mod s;\nuse crate::b::q;\n");
    write("b/p/s.rs", "fn f() { super::super::q::f(); }\n");
    write("b/q.rs", "use crate::{a, b::r::R};\npub fn f() {}\n");
    write("b/r.rs", "pub struct R;\nuse super::p::s;\n");
    let graph = import_graph(src.path());
    let module = |path: &str| path.split('/').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        graph[&module("a")],
        BTreeSet::new(),
        "a folder's own submodules"
    );
    assert_eq!(graph[&module("b/q")], [module("a"), module("b/r")].into());
    let mut found = cycles(&graph);
    found.iter_mut().for_each(|group| group.sort());
    found.sort();
    assert_eq!(found, [vec!["a/x", "a/y"], vec!["b/p/s", "b/q", "b/r"]]);
}
