//! The key that encrypts a gallery at rest. It comes from a key file (0600, like an SSH key), an
//! environment variable or a prompt, never from the command line, where `ps` and the shell's
//! history would show it.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::base::error::{Error, Result};
use crate::base::files::read_limited;

/// Shorter passphrases fall to a guess in hours even through SQLCipher's key derivation.
const MIN_PASSPHRASE_CHARS: usize = 12;

/// A gallery key: 32 random bytes (what `gallery new-key` writes, as 64 hex digits), or a
/// passphrase that SQLCipher stretches with PBKDF2. Cloning shares it; it is wiped from memory
/// when the last clone is dropped.
#[derive(Clone)]
pub struct GalleryKey(Arc<Secret>);

enum Secret {
    Raw(Zeroizing<[u8; 32]>),
    Passphrase(Zeroizing<String>),
}

impl fmt::Debug for GalleryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GalleryKey(..)")
    }
}

impl PartialEq for GalleryKey {
    fn eq(&self, other: &GalleryKey) -> bool {
        match (&*self.0, &*other.0) {
            (Secret::Raw(a), Secret::Raw(b)) => a[..] == b[..],
            (Secret::Passphrase(a), Secret::Passphrase(b)) => a == b,
            _ => false,
        }
    }
}

impl GalleryKey {
    /// A new random key.
    pub fn generate() -> Result<GalleryKey> {
        let mut bytes = Zeroizing::new([0_u8; 32]);
        getrandom::fill(&mut bytes[..]).map_err(|e| Error::NoRandomness(e.to_string()))?;
        Ok(GalleryKey(Arc::new(Secret::Raw(bytes))))
    }

    /// Writes a new random key to `path` (0600), refusing to overwrite a file: losing a key
    /// loses the gallery it opens.
    pub fn write_new(path: &Path) -> Result<GalleryKey> {
        let key = GalleryKey::generate()?;
        let Secret::Raw(bytes) = &*key.0 else {
            return Err(Error::Internal("a generated key is raw bytes"));
        };
        let text = Zeroizing::new(format!("{}\n", hex::encode(&bytes[..])));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())?;
                file.sync_all()
            })
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::InvalidInput(format!(
                        "{} exists; a key file is never overwritten (it may be the only key to a \
                         gallery): choose another path",
                        path.display()
                    ))
                } else {
                    Error::write(path, e)
                }
            })?;
        Ok(key)
    }

    /// Reads a key file. Like SSH, it refuses a file others may read: whoever reads the key
    /// reads every face.
    pub fn from_file(path: &Path) -> Result<GalleryKey> {
        let meta = std::fs::metadata(path).map_err(|e| Error::read(path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::InvalidInput(format!(
                "key file {} can be read by others (mode {mode:o}); make it private with \
                 `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
        let bytes = Zeroizing::new(read_limited(path, 4096, "a key file is at most 4 KiB")?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Error::InvalidInput(format!(
                "key file {} is not text: it holds 64 hex digits (`whoisit gallery new-key`) \
                 or a passphrase",
                path.display()
            ))
        })?;
        GalleryKey::parse(text, &format!("key file {}", path.display()))
    }

    /// A key given as text (a key file's contents, `WHOISIT_KEY`): 64 hex digits are the key's
    /// bytes, anything else a passphrase of at least 12 characters. `origin` names where it
    /// came from, for the message.
    pub fn parse(text: &str, origin: &str) -> Result<GalleryKey> {
        let text = text.trim_end_matches(['\n', '\r']);
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut bytes = Zeroizing::new([0_u8; 32]);
            hex::decode_to_slice(text, &mut bytes[..])
                .map_err(|_| Error::Internal("64 hex digits decode to 32 bytes"))?;
            return Ok(GalleryKey(Arc::new(Secret::Raw(bytes))));
        }
        if text.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(Error::InvalidInput(format!(
                "{origin} is too short: give 64 hex digits (`whoisit gallery new-key FILE` makes \
                 them) or a passphrase of at least {MIN_PASSPHRASE_CHARS} characters"
            )));
        }
        Ok(GalleryKey(Arc::new(Secret::Passphrase(Zeroizing::new(
            text.to_owned(),
        )))))
    }

    /// The value of SQLCipher's `PRAGMA key`: `x'<hex>'` for raw bytes (no key derivation,
    /// so opening is fast), the passphrase as it is otherwise.
    pub(crate) fn sqlcipher(&self) -> Zeroizing<String> {
        Zeroizing::new(match &*self.0 {
            Secret::Raw(bytes) => format!("x'{}'", hex::encode(&bytes[..])),
            Secret::Passphrase(text) => text.to_string(),
        })
    }

    /// The key's material, for deriving other keys from it (PostgreSQL's sealed values).
    #[cfg(feature = "postgres")]
    pub(crate) fn material(&self) -> &[u8] {
        match &*self.0 {
            Secret::Raw(bytes) => &bytes[..],
            Secret::Passphrase(text) => text.as_bytes(),
        }
    }

    /// Whether this is a passphrase, which needs a slow derivation before use as a key.
    #[cfg(feature = "postgres")]
    pub(crate) fn is_passphrase(&self) -> bool {
        matches!(&*self.0, Secret::Passphrase(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_file_is_private_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gallery.key");
        let key = GalleryKey::write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(GalleryKey::from_file(&path).unwrap(), key);
        let again = GalleryKey::write_new(&path).unwrap_err().to_string();
        assert!(again.contains("never overwritten"), "{again}");
        assert_eq!(GalleryKey::from_file(&path).unwrap(), key);
    }

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gallery.key");
        GalleryKey::write_new(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = GalleryKey::from_file(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn hex_is_a_raw_key_and_short_passphrases_are_refused() {
        let hex = "ab".repeat(32);
        let raw = GalleryKey::parse(&format!("{hex}\n"), "test").unwrap();
        #[cfg(feature = "postgres")]
        assert!(!raw.is_passphrase());
        assert_eq!(*raw.sqlcipher(), format!("x'{hex}'"));
        let phrase = GalleryKey::parse("correct horse battery", "test").unwrap();
        #[cfg(feature = "postgres")]
        assert!(phrase.is_passphrase());
        assert_eq!(*phrase.sqlcipher(), "correct horse battery");
        let short = GalleryKey::parse("hunter2", "WHOISIT_KEY").unwrap_err();
        assert!(short.to_string().contains("at least 12"), "{short}");
        assert!(format!("{raw:?}").contains(".."));
    }
}
