//! The repository names no package registry's host: sources, configs, docs and scripts name
//! packages by their coordinates, and the machine's own pip and apt say where they are. The
//! hosts looked for come from the machine's configuration too (pip's index, apt's sources,
//! cargo's registry, npm's), so that no file of the repository holds them, not even this one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host of `url` (`scheme://host[:port]/...`), lowercased.
fn host_of(url: &str) -> Option<String> {
    let rest = url.trim().split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    (host.contains('.')).then(|| host.to_ascii_lowercase())
}

/// What `program args` prints, if it runs.
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// pip's index and file host: from its config, else pip's own defaults, asked of pip.
fn pip_hosts() -> Vec<String> {
    let mut urls: Vec<String> = std::env::var("PIP_INDEX_URL").into_iter().collect();
    urls.extend(
        output("python3", &["-m", "pip", "config", "list"])
            .lines()
            .filter(|l| l.contains("index-url"))
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(_, v)| v.trim_matches(['\'', '"', ' ']).to_owned())
            }),
    );
    let defaults = output(
        "python3",
        &[
            "-c",
            "from pip._internal.models.index import PyPI as p; print(p.simple_url); print('https://' + p.file_storage_domain)",
        ],
    );
    urls.extend(defaults.lines().map(str::to_owned));
    urls.iter().filter_map(|u| host_of(u)).collect()
}

/// The hosts of apt's sources, one-line (`deb URL suite`) and deb822 (`URIs: URL`).
fn apt_hosts() -> Vec<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(entries.filter_map(|e| Some(e.ok()?.path())));
    }
    let mut hosts = Vec::new();
    for text in files.iter().filter_map(|f| std::fs::read_to_string(f).ok()) {
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.first() {
                Some(&"deb" | &"deb-src") => {
                    hosts.extend(words.iter().skip(1).find_map(|w| host_of(w)));
                }
                Some(&"URIs:") => hosts.extend(words[1..].iter().filter_map(|w| host_of(w))),
                _ => {}
            }
        }
    }
    hosts
}

/// Cargo's registries: the index each one was fetched from (its folder under
/// `registry/index` is named `HOST-HASH`) and where its crates are downloaded from (`dl` in
/// its `config.json`).
fn cargo_hosts() -> Vec<String> {
    let home = std::env::var("CARGO_HOME").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"),
        PathBuf::from,
    );
    let mut hosts = Vec::new();
    let Ok(indexes) = std::fs::read_dir(home.join("registry/index")) else {
        return hosts;
    };
    for index in indexes.filter_map(Result::ok) {
        let name = index.file_name().to_string_lossy().into_owned();
        if let Some((host, _hash)) = name.rsplit_once('-') {
            hosts.push(host.to_ascii_lowercase());
        }
        if let Ok(config) = std::fs::read_to_string(index.path().join("config.json")) {
            let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
            hosts.extend(config["dl"].as_str().and_then(host_of));
        }
    }
    hosts
}

/// Every registry host this machine's package tools are configured with.
fn registry_hosts() -> BTreeSet<String> {
    let npm = output("npm", &["config", "get", "registry"]);
    pip_hosts()
        .into_iter()
        .chain(apt_hosts())
        .chain(cargo_hosts())
        .chain(host_of(&npm))
        .collect()
}

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
    let hosts = registry_hosts();
    // pip and cargo are always there (the tests run under cargo; the models come through pip).
    assert!(
        hosts.len() >= 2,
        "the machine's configuration gave only {hosts:?}: pip or cargo not found?"
    );
    let mut read = 0;
    let mut found = Vec::new();
    for path in &all {
        // Images and other binary files are not text anyone wrote a host into.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        read += 1;
        for (number, line) in text.lines().enumerate() {
            for host in &hosts {
                if line.to_ascii_lowercase().contains(host.as_str()) {
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
