//! Crops and embeddings sealed value by value (AES-256-GCM) under a key derived from the gallery
//! key, so that the database server, its backups and whoever can read its tables see only
//! ciphertext. Names, dates and scores stay readable: the server has to sort and join on them.
//!
//! A sealed value is `MAGIC`, a random 12-byte nonce, then the ciphertext and its 16-byte tag.
//! Each value is bound to its column, so a crop copied into the embeddings (or a check value
//! copied anywhere) does not open.

use std::borrow::Cow;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::base::error::{Error, Result};
use crate::gallery::key::GalleryKey;

/// What every sealed value starts with: the format, so that another one can follow.
const MAGIC: &[u8; 4] = b"wsl1";
const NONCE_LEN: usize = 12;
/// HKDF's `info`: a key for this use only, however else the gallery key is used.
const INFO: &[u8] = b"whoisit postgres seal v1";
/// What the marker seals: opening it proves the key is the gallery's before anything is read.
const CHECK: &[u8] = b"whoisit postgres gallery sealed";

/// Where a value is kept; its name is the associated data it is sealed with.
#[derive(Debug, Clone, Copy)]
pub(super) enum Column {
    Image,
    Vector,
    Check,
    SightingCrop,
    SightingVector,
    NegativeVector,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Image => "face.image",
            Column::Vector => "embedding.vector",
            Column::Check => "whoisit_seal.check_value",
            Column::SightingCrop => "sighting.crop",
            Column::SightingVector => "sighting.vector",
            Column::NegativeVector => "negative.vector",
        }
    }
}

/// Seals and opens values with the gallery's key; without one, values pass through as they are.
pub(super) struct Seal {
    cipher: Option<Aes256Gcm>,
}

impl Seal {
    /// The seal of `key`; none (values kept plain) without one.
    pub(super) fn new(key: Option<&GalleryKey>) -> Result<Seal> {
        let Some(key) = key else {
            return Ok(Seal { cipher: None });
        };
        // A passphrase would need a slow derivation (PBKDF2, Argon2) before every use, on every
        // machine that opens the gallery; a key file's 32 random bytes need none, HKDF suffices.
        if key.is_passphrase() {
            return Err(Error::InvalidInput(
                "a PostgreSQL gallery needs a key file made by `whoisit gallery new-key FILE`, \
                 not a passphrase: give it with --key-file FILE (or WHOISIT_KEY_FILE, or its 64 \
                 hex digits in WHOISIT_KEY)"
                    .into(),
            ));
        }
        let mut bytes = Zeroizing::new([0_u8; 32]);
        Hkdf::<Sha256>::new(None, key.material())
            .expand(INFO, &mut bytes[..])
            .map_err(|_| Error::Internal("HKDF-SHA256 gives 32 bytes"))?;
        let cipher = Aes256Gcm::new_from_slice(&bytes[..])
            .map_err(|_| Error::Internal("an AES-256 key is 32 bytes"))?;
        Ok(Seal {
            cipher: Some(cipher),
        })
    }

    /// Whether values are sealed (a key was given).
    pub(super) fn is_on(&self) -> bool {
        self.cipher.is_some()
    }

    /// `value` as it is to be stored in `column`.
    pub(super) fn seal<'a>(&self, column: Column, value: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        let Some(cipher) = &self.cipher else {
            return Ok(Cow::Borrowed(value));
        };
        // Random nonces are safe for far more values than a gallery holds (2^32 per key).
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| Error::NoRandomness(e.to_string()))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value,
                    aad: column.name().as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("AES-GCM seals any value a gallery holds"))?;
        let mut stored = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        stored.extend_from_slice(MAGIC);
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        Ok(Cow::Owned(stored))
    }

    /// The value stored in `column`, opened; `None` when it does not open (damaged, not sealed,
    /// sealed with another key or for another column).
    pub(super) fn open(&self, column: Column, stored: Vec<u8>) -> Option<Vec<u8>> {
        let Some(cipher) = &self.cipher else {
            return Some(stored);
        };
        let rest = stored.strip_prefix(MAGIC)?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: column.name().as_bytes(),
                },
            )
            .ok()
    }

    /// The marker a database sealed with this key keeps.
    pub(super) fn marker(&self) -> Result<Vec<u8>> {
        Ok(self.seal(Column::Check, CHECK)?.into_owned())
    }

    /// Whether `marker` was made with this key.
    pub(super) fn opens_marker(&self, marker: &[u8]) -> bool {
        self.is_on() && self.open(Column::Check, marker.to_vec()).as_deref() == Some(CHECK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_seal() -> Seal {
        Seal::new(Some(&GalleryKey::generate().unwrap())).unwrap()
    }

    const CROP: &[u8] = b"\x89PNG a face nobody else has";

    #[test]
    fn a_sealed_value_opens_as_it_was_and_hides_it() {
        let seal = random_seal();
        let sealed = seal.seal(Column::Image, CROP).unwrap().into_owned();
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(CROP.len()).any(|w| w == CROP));
        assert_eq!(sealed.len(), CROP.len() + 4 + 12 + 16);
        let again = seal.seal(Column::Image, CROP).unwrap();
        assert_ne!(sealed, *again, "the same crop sealed twice looks the same");
        assert_eq!(seal.open(Column::Image, sealed).as_deref(), Some(CROP));
        assert_eq!(seal.open(Column::Image, Vec::new()), None);
    }

    #[test]
    fn another_key_column_or_byte_does_not_open() {
        let seal = random_seal();
        let sealed = seal.seal(Column::Vector, CROP).unwrap().into_owned();
        assert_eq!(random_seal().open(Column::Vector, sealed.clone()), None);
        assert_eq!(seal.open(Column::Image, sealed.clone()), None);
        for at in [0, MAGIC.len(), MAGIC.len() + NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 1;
            assert_eq!(seal.open(Column::Vector, tampered), None, "byte {at}");
        }
        assert_eq!(seal.open(Column::Vector, sealed[..20].to_vec()), None);
        assert!(seal.opens_marker(&seal.marker().unwrap()));
        assert!(!random_seal().opens_marker(&seal.marker().unwrap()));
    }

    #[test]
    fn without_a_key_values_pass_and_a_passphrase_is_refused() {
        let plain = Seal::new(None).unwrap();
        assert!(!plain.is_on());
        assert_eq!(&*plain.seal(Column::Image, CROP).unwrap(), CROP);
        assert_eq!(
            plain.open(Column::Image, CROP.to_vec()).as_deref(),
            Some(CROP)
        );
        assert!(!plain.opens_marker(&random_seal().marker().unwrap()));
        let phrase = GalleryKey::parse("a long enough passphrase", "test").unwrap();
        let error = Seal::new(Some(&phrase)).err().unwrap().to_string();
        assert!(error.contains("gallery new-key FILE"), "{error}");
    }
}
