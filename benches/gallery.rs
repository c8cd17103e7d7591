//! How the gallery scales: fills a gallery with synthetic embeddings (100,000 by default, as
//! 10 faces per person), then reports insert time, load time, resident memory of the loaded
//! matcher, and nearest-person time per query, exhaustive f32 against the int8 scan with exact
//! re-ranking, at that size and at 1,000 faces. Figures, not assertions.
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
/// The small gallery, as most sites have.
const SMALL: usize = 1_000;

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
    let gallery = SqliteGallery::open(dir.path(), None).expect("a gallery");
    let inserted = gallery
        .import(&export, &whoisit::gallery::Actor::cli())
        .expect("import");
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
    // Set aside before the big matcher takes the rows: about 1 MiB, in the memory figure.
    let aside = Instant::now();
    let small_rows = rows[..SMALL.min(rows.len())].to_vec();
    let near: Vec<Embedding> = (0..QUERIES)
        .map(|i| moved(&rows[i * 7919 % rows.len()].embedding, &mut vectors))
        .collect();
    let aside_s = aside.elapsed().as_secs_f64();
    let matcher = Matcher::new(0.55, rows);
    let load_s = start.elapsed().as_secs_f64() - aside_s;
    let rss_after = resident_mib().unwrap_or(f64::NAN);
    let small = Matcher::new(0.55, small_rows);

    let strangers: Vec<Embedding> = (0..QUERIES)
        .map(|_| Embedding(vectors.next_vector()))
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
    println!("  nearest person per query, median / p95 ms, {QUERIES} queries:");
    for matcher in [&matcher, &small] {
        for (queries, what) in [(&strangers, "strangers"), (&near, "enrolled faces")] {
            matching(
                matcher,
                queries,
                &format!("{} faces, {what}", matcher.len()),
            );
        }
    }
}

/// A copy of `face` moved 0.3 away, as another photo of the same person would be.
fn moved(face: &Embedding, vectors: &mut Vectors) -> Embedding {
    let step = vectors.next_vector();
    Embedding(face.0.iter().zip(&step).map(|(f, s)| f + 0.3 * s).collect())
}

/// Times the exhaustive f32 search and the int8 one on `queries`, and checks that they agree.
fn matching(matcher: &Matcher, queries: &[Embedding], what: &str) {
    let mut measured = 0;
    let mut fast: Vec<f64> = Vec::new();
    let mut exact: Vec<f64> = Vec::new();
    for q in queries {
        let start = Instant::now();
        let (identity, cost) = std::hint::black_box(matcher.identify_with_cost(q, 0.55));
        fast.push(start.elapsed().as_secs_f64() * 1000.0);
        let start = Instant::now();
        let reference = std::hint::black_box(matcher.identify_exhaustive(q, 0.55));
        exact.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(
            identity, reference,
            "the int8 search must give the exact answer"
        );
        measured += cost.measured;
    }
    let figures = |times: &mut Vec<f64>| {
        (
            percentile(times, 0.5).unwrap_or(f64::NAN),
            percentile(times, 0.95).unwrap_or(f64::NAN),
        )
    };
    let ((exact_median, exact_p95), (fast_median, fast_p95)) =
        (figures(&mut exact), figures(&mut fast));
    println!(
        "    {what:<28} exact f32 {exact_median:6.3} / {exact_p95:6.3}   \
         int8 + re-rank {fast_median:6.3} / {fast_p95:6.3}   ({:.1} rows re-ranked)",
        measured as f64 / queries.len().max(1) as f64
    );
}
