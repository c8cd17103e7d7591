//! Biometric data handled as it deserves, from the command line: an encrypted gallery and
//! encrypted exports that open only with their keys, forgetting a person, purging old
//! sightings, and the audit trail of all of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::cli::{add_biden, enroll_obama, labels, obama_clip, recognize, whoisit};
use predicates::prelude::*;
use serde_json::Value;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `people list` in `home` with `global` options, and no key from the environment or a
/// terminal: what it printed, or why it failed.
fn people_list(home: &Path, global: &[&str]) -> Result<String, String> {
    let output = whoisit(home)
        .env_remove("WHOISIT_KEY")
        .env_remove("WHOISIT_KEY_FILE")
        .args(global)
        .args(["people", "list"])
        .write_stdin("")
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8(output.stderr).unwrap())
    }
}

/// The audit trail of `home`, from `audit --json`.
fn audit(home: &Path, global: &[&str]) -> Vec<Value> {
    let output = whoisit(home)
        .args(global)
        .args(["audit", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(trail: &[Value]) -> Vec<String> {
    trail
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_encrypted_gallery_shows_nobody_and_opens_only_with_its_key() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    enroll_obama(home);
    let key = home.join("gallery.key");
    whoisit(home)
        .args(["gallery", "new-key"])
        .arg(&key)
        .assert()
        .success()
        .stdout(predicate::str::contains("Keep a copy somewhere safe"));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    whoisit(home)
        .env_remove("WHOISIT_KEY")
        .args(["gallery", "encrypt"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("give the key with --key-file"));
    let key_arg = ["--key-file", key.to_str().unwrap()];
    whoisit(home)
        .args(key_arg)
        .args(["gallery", "encrypt"])
        .assert()
        .success()
        .stdout(predicate::str::contains("encrypted"));

    let file = std::fs::read(home.join("data/gallery.sqlite3")).unwrap();
    assert!(!file.starts_with(b"SQLite format 3") && !contains(&file, b"Obama"));
    let without = people_list(home, &[]).unwrap_err();
    assert!(without.contains("is encrypted"), "{without}");
    let other = home.join("other.key");
    whoisit(home)
        .args(["gallery", "new-key"])
        .arg(&other)
        .assert()
        .success();
    let wrong = people_list(home, &["--key-file", other.to_str().unwrap()]).unwrap_err();
    assert!(wrong.contains("cannot be read with this key"), "{wrong}");
    assert_eq!(
        std::fs::read(home.join("data/gallery.sqlite3")).unwrap(),
        file
    );
    assert!(people_list(home, &key_arg).unwrap().contains("Obama"));

    // The key from the environment, as a service manager passes it.
    let text = std::fs::read_to_string(&key).unwrap();
    whoisit(home)
        .env("WHOISIT_KEY", text.trim())
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Obama"));
    whoisit(home)
        .env("WHOISIT_KEY_FILE", &key)
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Obama"));

    // Enrolling and recognising work on the encrypted file, watcher thread included.
    add_biden(home, &key_arg);
    let clip = obama_clip(home, 10.0, 5);
    let (frames, _) = recognize(home, clip.to_str().unwrap(), &key_arg);
    assert!(frames.iter().all(|f| labels(f) == ["Obama"]), "{frames:?}");

    whoisit(home)
        .args(key_arg)
        .args(["gallery", "decrypt"])
        .assert()
        .success();
    let listed = people_list(home, &[]).unwrap();
    assert!(
        listed.contains("Obama") && listed.contains("Biden"),
        "{listed}"
    );
    assert_eq!(
        actions(&audit(home, &[])),
        ["enroll", "encrypt", "enroll", "decrypt"]
    );
}

#[test]
fn an_encrypted_export_opens_only_with_its_passphrase_or_identity() {
    let root = tempfile::tempdir().unwrap();
    let (home, elsewhere) = (root.path().join("a"), root.path().join("b"));
    enroll_obama(&home);
    let export = root.path().join("roster.age");
    whoisit(&home)
        .env("WHOISIT_EXPORT_PASSPHRASE", "correct horse battery staple")
        .args(["gallery", "export", "--passphrase"])
        .arg(&export)
        .assert()
        .success()
        .stdout(predicate::str::contains("(encrypted)"));
    let bytes = std::fs::read(&export).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    assert!(!contains(&bytes, b"Obama") && !contains(&bytes, b"embedding"));

    let import = |passphrase: &str, extra: &[&Path]| {
        let mut cmd = whoisit(&elsewhere);
        cmd.env("WHOISIT_EXPORT_PASSPHRASE", passphrase)
            .args(["gallery", "import"])
            .arg(&export)
            .write_stdin("");
        if let Some(identity) = extra.first() {
            cmd.arg("--identity").arg(identity);
        }
        cmd.assert()
    };
    import("not the passphrase", &[])
        .failure()
        .stderr(predicate::str::contains("cannot be opened"));
    assert!(!people_list(&elsewhere, &[]).unwrap().contains("Obama"));
    import("correct horse battery staple", &[])
        .success()
        .stdout(predicate::str::contains("imported 1 face(s)"));

    // To a public key: only the holder of the identity opens it.
    let identity = age::x25519::Identity::generate();
    let identity_file = root.path().join("identity.txt");
    std::fs::write(
        &identity_file,
        age::secrecy::ExposeSecret::expose_secret(&identity.to_string()),
    )
    .unwrap();
    whoisit(&home)
        .args(["gallery", "export", "--to"])
        .arg(identity.to_public().to_string())
        .arg(&export)
        .assert()
        .success();
    import("", &[])
        .failure()
        .stderr(predicate::str::contains("--identity FILE"));
    import("", &[&identity_file])
        .success()
        .stdout(predicate::str::contains("imported 0 face(s)"));
    let trail = audit(&home, &[]);
    assert_eq!(actions(&trail), ["enroll", "export", "export"]);
    assert!(
        trail[1]["detail"]
            .as_str()
            .unwrap()
            .ends_with("(encrypted)")
    );
}

#[test]
fn a_forgotten_person_and_old_sightings_leave_only_ids_in_the_audit_trail() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    enroll_obama(home);
    add_biden(home, &[]);
    whoisit(home)
        .args(["people", "forget", "Biden"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed Biden: 1 face(s)"));
    assert!(!people_list(home, &[]).unwrap().contains("Biden"));

    // Obama last seen 40 days ago, by way of an export that says so.
    let export = home.join("roster.json");
    whoisit(home)
        .args(["gallery", "export"])
        .arg(&export)
        .assert()
        .success();
    let mut file: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    let forty_days_ago = whoisit::gallery::now() - 40 * 86_400;
    file["people"][0]["last_seen"] = forty_days_ago.into();
    std::fs::write(&export, serde_json::to_vec(&file).unwrap()).unwrap();
    whoisit(home)
        .args(["people", "remove", "Obama"])
        .assert()
        .success();
    whoisit(home)
        .args(["gallery", "import"])
        .arg(&export)
        .assert()
        .success();
    whoisit(home)
        .arg("purge")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "forgot when 1 people were last seen",
        ));
    whoisit(home)
        .arg("purge")
        .assert()
        .success()
        .stdout(predicate::str::contains("forgot when 0 people"));

    let trail = audit(home, &[]);
    assert_eq!(
        actions(&trail),
        [
            "enroll", "enroll", "remove", "export", "remove", "import", "purge"
        ]
    );
    for entry in &trail {
        let text = entry.to_string();
        assert!(!text.contains("Obama") && !text.contains("Biden"), "{text}");
        assert!(entry["actor"].as_str().unwrap().starts_with("cli:"));
    }
    let table = whoisit(home)
        .args(["audit", "--since", "1d"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(table.stdout).unwrap().lines().count(), 7);
    whoisit(home)
        .args(["audit", "--since", "2999-01-01"])
        .assert()
        .success()
        .stdout("no entries\n");
    whoisit(home)
        .args(["audit", "--since", "last week"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("neither a span"));
}

#[test]
fn names_cannot_hide_characters_and_every_command_finds_them_typed_either_way() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let obama = common::photo("obama.jpg");
    // Added by a service or in a container: no login session (loginuid unset), no $USER.
    whoisit(home)
        .env_remove("USER")
        .env_remove("LOGNAME")
        .args(["people", "add", "Jos\u{e9} Obama"])
        .arg(&obama)
        .assert()
        .success();
    // A second "Jose Obama" that only looks the same is refused, wherever it is hidden.
    for lookalike in [
        "Jos\u{e9}\u{200B} Obama",
        "\u{202E}amabO \u{e9}soJ",
        "Jos\u{e9} Oba\u{2066}ma",
    ] {
        whoisit(home)
            .args(["people", "add", lookalike])
            .arg(common::photo("obama2.jpg"))
            .assert()
            .failure()
            .stderr(predicate::str::contains("invisible or text-direction"));
    }
    // Decomposed (as file names often are) and with spaces around: the same person.
    whoisit(home)
        .args(["people", "threshold", " Jose\u{301} Obama ", "0.5"])
        .assert()
        .success();
    whoisit(home)
        .args(["people", "rename", "Jose\u{301} Obama", "Jose\u{301} O."])
        .assert()
        .success();
    whoisit(home)
        .args(["people", "forget", "Jos\u{e9} O.\t"])
        .assert()
        .success();
    let trail = audit(home, &[]);
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = format!("cli:{}", String::from_utf8(me.stdout).unwrap().trim());
    assert_eq!(trail[0]["action"], "enroll");
    assert_eq!(trail[0]["actor"], me.as_str(), "{:?}", trail[0]);
    assert_eq!(actions(&trail), ["enroll", "threshold", "rename", "remove"]);
}
