//! The repository names no package registry's host: sources, configs, docs and scripts name
//! packages by their coordinates, and the machine's own pip and apt say where they are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

use std::path::{Path, PathBuf};

/// Registry hosts, spelt in pieces so that this file does not name them either.
const HOSTS: [&str; 9] = [
    concat!("pythonhosted", ".org"),
    concat!("pypi", ".org"),
    concat!("pypi", ".python", ".org"),
    concat!("deb", ".debian", ".org"),
    concat!("ftp", ".debian", ".org"),
    concat!("security", ".debian", ".org"),
    concat!("static", ".crates", ".io"),
    concat!("index", ".crates", ".io"),
    concat!("registry", ".npmjs", ".org"),
];

/// What is not the project's own writing: build output, caches, git, and Cargo.lock (cargo's
/// record of the crates, which names cargo's index the way cargo needs it).
fn skipped(path: &Path) -> bool {
    path.file_name().is_some_and(|name| {
        [".git", "target", ".cache", "Cargo.lock"]
            .iter()
            .any(|skip| name == *skip)
    })
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if skipped(&path) {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_names_a_registry_host() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(root, &mut all);
    let mut read = 0;
    let mut found = Vec::new();
    for path in &all {
        // Images and other binary files are not text anyone wrote a host into.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        read += 1;
        for (number, line) in text.lines().enumerate() {
            for host in HOSTS {
                if line.to_ascii_lowercase().contains(host) {
                    found.push(format!("{}:{}: {host}", path.display(), number + 1));
                }
            }
        }
    }
    assert!(
        read > 50,
        "only {read} text files were read: is the walk broken?"
    );
    assert!(
        found.is_empty(),
        "registry hosts named:\n{}",
        found.join("\n")
    );
}
