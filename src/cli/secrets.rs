//! The gallery key at the command line: a prompt when an encrypted gallery needs one, and
//! `gallery new-key`, `encrypt` and `decrypt`.

use std::io::IsTerminal as _;
use std::path::Path;

use anyhow::{Result, bail};

use crate::config::{Config, KEY_VARIABLE};
use crate::gallery::{self, GalleryConfig, GalleryKey, SqliteGallery};

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
        println!(
            "encrypted {location}; from now on give its key (--key-file, WHOISIT_KEY_FILE, \
             {KEY_VARIABLE} or `key_file` in the config) to every whoisit that uses it"
        );
    } else {
        gallery::decrypt(&config.gallery, &dir, key)?;
        println!("decrypted {location}: it no longer needs a key");
    }
    Ok(())
}
