//! A face whose crop and embedding nothing else resembles, and a search for its bytes where a
//! store keeps them: in the values as stored, in a database's pages (the room of deleted and
//! replaced rows included) or in an SQLite gallery's files.

use std::path::Path;

use opencv::core::{CV_8UC3, Mat, Scalar};
use whoisit::base::identity::{DIM, Embedding};
use whoisit::gallery::NewFace;

pub(crate) struct Secret {
    pub(crate) face: NewFace,
    pub(crate) crop: Vec<u8>,
    pub(crate) vector: Vec<u8>,
}

/// Every part of the secret face [`Secret::found`] looks for.
pub(crate) const EVERYTHING: [&str; 5] = [
    "the crop's start",
    "the crop's middle",
    "the crop's end",
    "the embedding's start",
    "the embedding's end",
];

impl Secret {
    /// A real PNG of noise (64x64, about 12 KB: more than a page) and an embedding of its own.
    pub(crate) fn new() -> Secret {
        let mut noise = Mat::new_rows_cols_with_default(64, 64, CV_8UC3, Scalar::all(0.0)).unwrap();
        opencv::core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(255.0)).unwrap();
        let crop = whoisit::base::image::encode_png(&noise).unwrap();
        let embedding: Vec<f32> = (0..DIM).map(|i| 0.123_456 + i as f32 * 1e-3).collect();
        let vector = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
        Secret {
            face: NewFace {
                embedding: Embedding(embedding),
                image_png: Some(crop.clone()),
                ..super::face(0.0, "secret")
            },
            crop,
            vector,
        }
    }

    /// Which parts of the secret face are in `haystacks`.
    pub(crate) fn found(&self, haystacks: &[Vec<u8>]) -> Vec<&'static str> {
        let contains = |needle: &[u8]| {
            haystacks
                .iter()
                .any(|v| v.windows(needle.len()).any(|w| w == needle))
        };
        let middle = self.crop.len() / 2;
        let needles: [&[u8]; 5] = [
            &self.crop[..32],
            &self.crop[middle..middle + 32],
            &self.crop[self.crop.len() - 32..],
            &self.vector[..32],
            &self.vector[self.vector.len() - 32..],
        ];
        EVERYTHING
            .into_iter()
            .zip(needles)
            .filter(|(_, needle)| contains(needle))
            .map(|(what, _)| what)
            .collect()
    }

    /// Which parts of the secret face are in the SQLite gallery's files (database and log) in
    /// `dir`.
    pub(crate) fn found_in_files(&self, dir: &Path) -> Vec<&'static str> {
        let files: Vec<Vec<u8>> = ["gallery.sqlite3", "gallery.sqlite3-wal"]
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap_or_default())
            .collect();
        self.found(&files)
    }

    /// Which parts of the secret face the database's `image` and `vector` columns show, read
    /// as they are stored; every stored value must start with the seal's magic when `sealed`.
    #[cfg(feature = "postgres")]
    pub(crate) fn found_in(&self, url: &str, sealed: bool) -> Vec<&'static str> {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let mut stored: Vec<Vec<u8>> = Vec::new();
        for sql in [
            "SELECT image FROM face WHERE image IS NOT NULL",
            "SELECT vector FROM embedding",
        ] {
            stored.extend(client.query(sql, &[]).unwrap().iter().map(|r| r.get(0)));
        }
        assert!(!stored.is_empty());
        for value in &stored {
            assert_eq!(value.starts_with(b"wsl1"), sealed, "{:?}", &value[..8]);
        }
        self.found(&stored)
    }

    /// Which parts of the secret face are in the pages of the database's tables (their TOAST
    /// included), the space of deleted and replaced rows included; `None` without pageinspect
    /// (it needs a superuser).
    #[cfg(feature = "postgres")]
    pub(crate) fn found_in_pages(&self, url: &str) -> Option<Vec<&'static str>> {
        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
        if let Err(e) = client.batch_execute("CREATE EXTENSION IF NOT EXISTS pageinspect") {
            println!("the tables' pages are not searched: no pageinspect ({e})");
            return None;
        }
        let pages: Vec<Vec<u8>> = client
            .query(
                "SELECT get_raw_page(r.name, n::int) FROM (
                     SELECT oid::regclass::text AS name, pg_relation_size(oid) / 8192 AS pages
                     FROM pg_class WHERE relkind IN ('r', 't') AND (
                         relnamespace = 'public'::regnamespace OR oid IN (
                             SELECT reltoastrelid FROM pg_class
                             WHERE relnamespace = 'public'::regnamespace))
                 ) r, generate_series(0, r.pages - 1) n",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(pages.len() >= 3, "{} pages", pages.len());
        Some(self.found(&pages))
    }
}
