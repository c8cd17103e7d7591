//! How the gallery scales: fills a gallery with synthetic embeddings (100,000 by default, as
//! 10 faces per person), then reports insert time, load time, resident memory of the loaded
//! matcher, and nearest-person time per query. Figures, not assertions.
//!
//!     cargo bench --bench gallery            # 100,000 faces
//!     cargo bench --bench gallery -- 10000   # another size
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::time::Instant;

use whoisit::base::identity::{DIM, EmbedderKind, Embedding};
use whoisit::base::stats::{percentile, resident_mib};
use whoisit::gallery::{Gallery as _, SqliteGallery};
use whoisit::measure::synthetic_gallery::{self, FACES_PER_PERSON, Vectors};
use whoisit::vision::matcher::Matcher;

const QUERIES: usize = 1_000;

fn main() {
    let faces: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let people = faces.div_ceil(FACES_PER_PERSON);
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut vectors = Vectors::default();
    let embedder = EmbedderKind::Dlib.id();
    let export = synthetic_gallery::export(faces, &embedder, &mut vectors);
    let start = Instant::now();
    let mut gallery = SqliteGallery::open(dir.path(), None).expect("a gallery");
    let inserted = gallery.import(&export).expect("import");
    let insert_s = start.elapsed().as_secs_f64();
    drop((gallery, export));
    let file_mib = std::fs::metadata(dir.path().join("gallery.sqlite3")).map_or(0, |m| m.len())
        as f64
        / (1 << 20) as f64;

    let rss_before = resident_mib().unwrap_or(f64::NAN);
    let start = Instant::now();
    let gallery = SqliteGallery::open(dir.path(), None).expect("reopen");
    let open_s = start.elapsed().as_secs_f64();
    let rows = gallery.embeddings(&embedder).expect("embeddings");
    let read_s = start.elapsed().as_secs_f64();
    let matcher = Matcher::new(0.55, rows);
    let load_s = start.elapsed().as_secs_f64();
    let rss_after = resident_mib().unwrap_or(f64::NAN);

    let queries: Vec<Embedding> = (0..QUERIES)
        .map(|_| Embedding(vectors.next_vector()))
        .collect();
    let mut times: Vec<f64> = queries
        .iter()
        .map(|q| {
            let start = Instant::now();
            std::hint::black_box(matcher.identify(q));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();

    println!("gallery scale benchmark: {inserted} faces of {people} people, {DIM}-d");
    println!("  insert (one transaction)      {insert_s:8.2} s   file {file_mib:.1} MiB");
    println!("  open (SQLite's quick check)   {open_s:8.3} s");
    println!("  load: open + read embeddings  {read_s:8.3} s");
    println!("  load: read + build matcher    {load_s:8.3} s");
    println!(
        "  resident memory of the load   {:8.1} MiB  ({rss_before:.1} -> {rss_after:.1} MiB)",
        rss_after - rss_before
    );
    println!(
        "  nearest person per query      {:8.3} ms median, {:.3} ms p95 ({QUERIES} queries)",
        percentile(&mut times, 0.5).unwrap_or(f64::NAN),
        percentile(&mut times, 0.95).unwrap_or(f64::NAN)
    );
}
