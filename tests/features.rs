//! Cargo features by front end: a build leaves out what its host does not run, and a command of
//! a front end left out says which feature to build with. The tests check the build they are
//! part of; `scripts/test.sh` runs them in the default build and in the worker/agent build
//! (`--no-default-features --features streams`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use common::cli::whoisit;

/// Whether this build has `feature`.
fn built_with(feature: &str) -> bool {
    match feature {
        "window" => cfg!(feature = "window"),
        "serve" => cfg!(feature = "serve"),
        "streams" => cfg!(feature = "streams"),
        "postgres" => cfg!(feature = "postgres"),
        _ => panic!("no feature {feature}"),
    }
}

/// Runs `args`, which must fail saying that it needs `feature`.
fn says_it_needs(feature: &str, args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let output = whoisit(home.path()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(&format!("needs the `{feature}` feature"))
            && stderr.contains(&format!("cargo build --release --features {feature}")),
        "{args:?}: {stderr}"
    );
}

#[test]
fn a_command_of_a_front_end_left_out_says_which_feature_to_build_with() {
    let commands: [(&str, &[&str]); 7] = [
        ("serve", &["serve"]),
        ("serve", &["keys", "list"]),
        ("streams", &["worker"]),
        ("streams", &["camera", "--camera-id", "door"]),
        ("streams", &["scan", "photos", "--out", "who.csv"]),
        ("streams", &["events"]),
        ("window", &["kiosk", "run"]),
    ];
    for (feature, args) in commands {
        let help = [args, &["--help"]].concat();
        if built_with(feature) {
            let home = tempfile::tempdir().unwrap();
            whoisit(home.path()).args(&help).assert().success();
        } else {
            says_it_needs(feature, args);
            says_it_needs(feature, &help);
        }
    }
    // Parts of commands every build has. With the feature, tests/cli.rs opens the window,
    // tests/measure.rs runs `bench --streams` and tests/postgres.rs uses the shared gallery.
    if !built_with("window") {
        says_it_needs("window", &["recognize", "--source", "demo"]);
        says_it_needs("window", &["demo"]);
    }
    if !built_with("streams") {
        says_it_needs("streams", &["bench", "--streams"]);
    }
    if !built_with("postgres") {
        says_it_needs(
            "postgres",
            &[
                "--gallery",
                "postgres://127.0.0.1/whoisit",
                "people",
                "list",
            ],
        );
    }
}

/// Whether the bytes of `haystack` hold `needle`.
fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn the_binary_holds_a_display_and_a_web_server_only_when_built_with_them() {
    let binary = std::fs::read(assert_cmd::cargo::cargo_bin("whoisit")).unwrap();
    // The window's libraries are linked (wayland) or opened at run time by name (X11, GL): in
    // both cases their names are in the binary. OpenCV's own libraries link libX11 and libGLX
    // on Debian whatever whoisit is built with; those are not whoisit's to leave out.
    for library in ["libwayland-client.so", "libX11.so", "libGL.so", "libEGL.so"] {
        assert_eq!(
            holds(&binary, library),
            built_with("window"),
            "{library} in the binary"
        );
    }
    // A crate's code brings its source paths along (panic locations, line tables).
    for (feature, code) in [
        ("window", "/eframe-0."),
        ("window", "/winit-0."),
        ("serve", "/axum-0."),
        ("serve", "/tower-http-0."),
        ("streams", "/rumqttc-0."),
        ("streams", "/redis-"),
        ("postgres", "/tokio-postgres-0."),
    ] {
        assert_eq!(
            holds(&binary, code),
            built_with(feature),
            "{code} in the binary"
        );
    }
}
