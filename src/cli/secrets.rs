//! Secrets at the command line: the gallery key (a prompt when an encrypted gallery needs
//! one; `gallery new-key`, `encrypt` and `decrypt`), and what locks and unlocks an encrypted
//! export.

use std::io::IsTerminal as _;
use std::path::Path;

use age::secrecy::SecretString;
use anyhow::{Context as _, Result, bail};

use crate::base::files::read_limited;
use crate::config::{Config, KEY_VARIABLE};
use crate::gallery::protect::{self, ExportLock, ExportUnlock};
use crate::gallery::{self, Actor, AuditAction, GalleryConfig, GalleryKey, SqliteGallery};

/// Asks for the key at the terminal when the embedded gallery is encrypted and no key was
/// given. Without a terminal (a service, a script) the open fails later with what to give.
pub(super) fn ask_for_key(config: &mut Config) -> Result<()> {
    if config.key.is_some()
        || config.gallery != GalleryConfig::Sqlite
        || !std::io::stdin().is_terminal()
    {
        return Ok(());
    }
    let dir = config.data_dir()?;
    if !SqliteGallery::needs_key(&dir)? {
        return Ok(());
    }
    let file = SqliteGallery::file(&dir);
    let text = rpassword::prompt_password(format!("Key for the gallery {}: ", file.display()))?;
    config.key = Some(GalleryKey::parse(&text, "the key typed")?);
    Ok(())
}

/// `gallery new-key FILE`.
pub(super) fn new_key(file: &Path) -> Result<()> {
    GalleryKey::write_new(file)?;
    println!(
        "wrote a new gallery key to {} (0600). Keep a copy somewhere safe: without it, a \
         gallery encrypted with it cannot be read by anyone.\n\
         Encrypt the gallery with it: whoisit gallery encrypt --key-file {}",
        file.display(),
        file.display()
    );
    Ok(())
}

/// `gallery encrypt` and `gallery decrypt`.
pub(super) fn convert(config: &Config, encrypt: bool) -> Result<()> {
    let Some(key) = &config.key else {
        bail!(
            "give the key with --key-file FILE (or {KEY_VARIABLE}); `whoisit gallery new-key \
             FILE` makes one"
        );
    };
    let dir = config.data_dir()?;
    let location = match &config.gallery {
        GalleryConfig::Sqlite => SqliteGallery::file(&dir).display().to_string(),
        GalleryConfig::Postgres(_) => "the PostgreSQL gallery".to_owned(),
    };
    if encrypt {
        gallery::encrypt(&config.gallery, &dir, key)?;
        record(config, AuditAction::Encrypt);
        println!(
            "encrypted {location}; from now on give its key (--key-file, WHOISIT_KEY_FILE, \
             {KEY_VARIABLE} or `key_file` in the config) to every whoisit that uses it"
        );
    } else {
        gallery::decrypt(&config.gallery, &dir, key)?;
        let plain = Config {
            key: None,
            ..config.clone()
        };
        record(&plain, AuditAction::Decrypt);
        println!("decrypted {location}: it no longer needs a key");
    }
    Ok(())
}

/// Notes the conversion in the audit trail; it is made, so a failure here is only said.
fn record(config: &Config, action: AuditAction) {
    let recorded = config
        .open_gallery()
        .and_then(|g| g.record(action, "the whole gallery, in place", &Actor::cli()));
    if let Err(e) = recorded {
        tracing::warn!("the change is not in the audit trail: {}", e.report());
    }
}

/// Where an export's passphrase may come from instead of the terminal (scripts, tests).
const EXPORT_PASSPHRASE: &str = "WHOISIT_EXPORT_PASSPHRASE";

/// The export's passphrase: from WHOISIT_EXPORT_PASSPHRASE, else asked at the terminal
/// (twice when it is new, so that a typo does not lock the export for good).
fn export_passphrase(new: bool) -> Result<SecretString> {
    if let Ok(text) = std::env::var(EXPORT_PASSPHRASE)
        && !text.is_empty()
    {
        return Ok(SecretString::from(text));
    }
    if !std::io::stdin().is_terminal() {
        bail!("the export's passphrase: set {EXPORT_PASSPHRASE}, or run this at a terminal");
    }
    let text = rpassword::prompt_password("Export passphrase: ")?;
    if new && rpassword::prompt_password("Again: ")? != text {
        bail!("the two passphrases differ; nothing was written");
    }
    Ok(SecretString::from(text))
}

/// How `gallery export` encrypts, from its flags: `None` for a plain export.
pub(super) fn export_lock(recipients: &[String], passphrase: bool) -> Result<Option<ExportLock>> {
    Ok(if passphrase {
        Some(ExportLock::Passphrase(export_passphrase(true)?))
    } else if recipients.is_empty() {
        None
    } else {
        Some(ExportLock::recipients(recipients)?)
    })
}

/// An export's JSON: the file's bytes as they are, or decrypted when it is an age file.
pub(super) fn open_export(bytes: Vec<u8>, identity: Option<&Path>) -> Result<Vec<u8>> {
    if !protect::is_locked(&bytes) {
        return Ok(bytes);
    }
    let unlock = if protect::wants_passphrase(&bytes)? {
        ExportUnlock::Passphrase(export_passphrase(false)?)
    } else {
        let Some(path) = identity else {
            bail!(
                "the export is encrypted to an age public key: give the matching identity file \
                 with --identity FILE"
            );
        };
        let bytes = read_limited(path, 1 << 16, "an identity file is at most 64 KiB")?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("the identity file {} is not text", path.display()))?;
        ExportUnlock::identity_file(&text, &path.display().to_string())?
    };
    Ok(protect::unlock(&bytes, &unlock)?)
}
