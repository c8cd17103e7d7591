//! Encrypted exports, in the age format (age-encryption.org/v1), so that any age tool can
//! open them too: to one or more public keys (`age1...`), or to a passphrase (scrypt).

use std::io::{Read as _, Write as _};
use std::str::FromStr as _;

use age::secrecy::SecretString;

use crate::base::error::{Error, Result};

/// Every age file starts with this line.
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";

/// Who can open an export.
pub enum ExportLock {
    /// The holders of these age identities (`age-keygen` makes a pair).
    Recipients(Vec<age::x25519::Recipient>),
    /// Whoever knows the passphrase.
    Passphrase(SecretString),
}

impl ExportLock {
    /// Recipients from their public keys (`age1...`), saying which one is not one.
    pub fn recipients(keys: &[String]) -> Result<ExportLock> {
        keys.iter()
            .map(|key| {
                age::x25519::Recipient::from_str(key.trim()).map_err(|e| {
                    Error::InvalidInput(format!(
                        "{key:?} is not an age public key (age1...): {e}; `age-keygen` makes \
                         a key pair and prints its public key"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(ExportLock::Recipients)
    }
}

/// Whether `bytes` are an age file (and not a plain JSON export).
pub fn is_locked(bytes: &[u8]) -> bool {
    bytes.starts_with(AGE_HEADER)
}

/// Encrypts an export's bytes.
pub fn lock(plain: &[u8], lock: &ExportLock) -> Result<Vec<u8>> {
    let failed =
        |e: &dyn std::fmt::Display| Error::InvalidInput(format!("cannot encrypt the export: {e}"));
    let encryptor = match lock {
        ExportLock::Recipients(recipients) => {
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| failed(&e))?
        }
        ExportLock::Passphrase(passphrase) => {
            age::Encryptor::with_user_passphrase(passphrase.clone())
        }
    };
    let mut locked = Vec::with_capacity(plain.len() + 1024);
    let mut writer = encryptor.wrap_output(&mut locked).map_err(|e| failed(&e))?;
    writer
        .write_all(plain)
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|e| failed(&e))?;
    Ok(locked)
}

/// What opens a locked export.
pub enum ExportUnlock {
    /// The identities of an age identity file (`AGE-SECRET-KEY-...` lines).
    Identities(Vec<Box<dyn age::Identity>>),
    Passphrase(SecretString),
}

impl ExportUnlock {
    /// The identities in an age identity file's text; `origin` names it for the message.
    pub fn identity_file(text: &str, origin: &str) -> Result<ExportUnlock> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::InvalidInput(format!(
                "{origin} is not an age identity file (AGE-SECRET-KEY-... lines): {e}"
            ))
        };
        age::IdentityFile::from_buffer(text.as_bytes())
            .map_err(|e| bad(&e))?
            .into_identities()
            .map_err(|e| bad(&e))
            .map(ExportUnlock::Identities)
    }
}

/// Whether a locked export asks for a passphrase (rather than an identity).
pub fn wants_passphrase(locked: &[u8]) -> Result<bool> {
    Ok(decryptor(locked)?.is_scrypt())
}

fn decryptor(locked: &[u8]) -> Result<age::Decryptor<&[u8]>> {
    age::Decryptor::new_buffered(locked)
        .map_err(|e| Error::InvalidInput(format!("the export is not a whole age file: {e}")))
}

/// Decrypts a locked export. A wrong identity or passphrase is said as such.
pub fn unlock(locked: &[u8], unlock: &ExportUnlock) -> Result<Vec<u8>> {
    let decryptor = decryptor(locked)?;
    let scrypt;
    let identities: Vec<&dyn age::Identity> = match unlock {
        ExportUnlock::Identities(identities) => identities.iter().map(|i| &**i).collect(),
        ExportUnlock::Passphrase(passphrase) => {
            scrypt = age::scrypt::Identity::new(passphrase.clone());
            vec![&scrypt as &dyn age::Identity]
        }
    };
    let mut reader = decryptor
        .decrypt(identities.into_iter())
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
                Error::InvalidInput(
                    "the export cannot be opened with this identity or passphrase; nothing was \
                     imported"
                        .into(),
                )
            }
            other => Error::InvalidInput(format!(
                "the export cannot be decrypted ({other}); nothing was imported"
            )),
        })?;
    let mut plain = Vec::with_capacity(locked.len());
    reader.read_to_end(&mut plain).map_err(|e| {
        Error::InvalidInput(format!(
            "the export is damaged or cut short ({e}); nothing was imported"
        ))
    })?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_opens_only_for_its_recipient_and_is_refused_when_tampered_with() {
        let ada = age::x25519::Identity::generate();
        let eve = age::x25519::Identity::generate();
        let plain = br#"{"format":"whoisit-gallery"}"#;
        let to_ada = ExportLock::recipients(&[ada.to_public().to_string()]).unwrap();
        let locked = lock(plain, &to_ada).unwrap();
        assert!(is_locked(&locked) && !is_locked(plain));
        assert!(!wants_passphrase(&locked).unwrap());
        let open_as = |identity: &age::x25519::Identity| {
            let text = identity.to_string();
            let text = age::secrecy::ExposeSecret::expose_secret(&text);
            ExportUnlock::identity_file(text, "test").unwrap()
        };
        assert_eq!(unlock(&locked, &open_as(&ada)).unwrap(), plain);
        let refused = unlock(&locked, &open_as(&eve)).unwrap_err().to_string();
        assert!(
            refused.contains("cannot be opened with this identity"),
            "{refused}"
        );
        let mut tampered = locked.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(unlock(&tampered, &open_as(&ada)).is_err());
        assert!(ExportLock::recipients(&["age1nope".into()]).is_err());
    }
}
