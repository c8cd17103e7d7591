//! How the gallery scales. First a SQLite gallery of synthetic embeddings (100,000 by default,
//! as 10 faces per person): insert time, load time, resident memory of the loaded matcher. Then
//! the matcher alone at 1,000, 100,000 and 1,000,000 faces (made in memory): build time,
//! resident memory per face, the time to add one face, and the time per query for enrolled
//! faces and for strangers, exhaustive f32 against the int8 scan with exact re-ranking, whose
//! decisions are checked against the exhaustive ones. Figures, not assertions.
//!
//!     cargo bench --bench gallery            # SQLite at 100,000 faces
//!     cargo bench --bench gallery -- 10000   # SQLite at another size
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::time::Instant;

use whoisit::base::identity::{DIM, EmbedderKind, Embedding, Enrolled};
use whoisit::base::stats::{percentile, resident_mib};
use whoisit::gallery::{Gallery as _, SqliteGallery};
use whoisit::measure::synthetic_gallery::{self, FACES_PER_PERSON, Vectors};
use whoisit::vision::matcher::{Identity, Matcher};

const QUERIES: usize = 1_000;
/// Queries the exhaustive scan answers too, at most: a million rows take it tens of ms each.
const CHECKED: usize = 100;
/// The sizes of the matcher alone: a small site, a campus, a city.
const SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const THRESHOLD: f32 = 0.55;

fn main() {
    let faces: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    sqlite(faces);
    println!(
        "  the matcher alone, {QUERIES} queries each (ms median / p95; rows measured in f32):"
    );
    for size in SIZES {
        matcher_at(size);
    }
}

/// A gallery of `faces` in SQLite: insert, open, read, build.
fn sqlite(faces: usize) {
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
    let matcher = Matcher::new(THRESHOLD, rows);
    let load_s = start.elapsed().as_secs_f64();
    let rss_after = resident_mib().unwrap_or(f64::NAN);

    println!("gallery scale benchmark: {inserted} faces of {people} people, {DIM}-d");
    println!("  insert (one transaction)      {insert_s:8.2} s   file {file_mib:.1} MiB");
    println!("  open (SQLite's quick check)   {open_s:8.3} s");
    println!("  load: open + read embeddings  {read_s:8.3} s");
    println!("  load: read + build matcher    {load_s:8.3} s");
    println!(
        "  resident memory of the load   {:8.1} MiB  ({rss_before:.1} -> {rss_after:.1} MiB, {} faces)",
        rss_after - rss_before,
        matcher.len()
    );
}

/// The matcher alone at `size` faces, made in memory face by face (so that the memory figure
/// is the matcher's).
fn matcher_at(size: usize) {
    let mut vectors = Vectors::default();
    let entries = (0..size).map(|i| Enrolled {
        person: format!("synthetic person {:07}", i / FACES_PER_PERSON),
        id: None,
        embedding: Embedding(vectors.next_vector()),
    });
    let rss_before = resident_mib().unwrap_or(f64::NAN);
    let start = Instant::now();
    let mut matcher = Matcher::new(THRESHOLD, entries);
    let build_s = start.elapsed().as_secs_f64();
    let bytes_per_face =
        (resident_mib().unwrap_or(f64::NAN) - rss_before) * f64::from(1 << 20) / size as f64;

    // The stream goes on past the gallery's faces: new people.
    let mut queries = vectors;
    let strangers: Vec<Embedding> = (0..QUERIES)
        .map(|_| Embedding(queries.next_vector()))
        .collect();
    // Faces of enrolled people, another photo away: the same vectors again, moved by 0.3.
    let mut again = Vectors::default();
    let enrolled: Vec<Embedding> = (0..size)
        .map(|_| again.next_vector())
        .step_by((size / QUERIES).max(1))
        .take(QUERIES)
        .map(|face| moved(&face, &mut queries))
        .collect();

    let mut adds: Vec<f64> = (0..QUERIES)
        .map(|i| {
            let entry = Enrolled {
                person: format!("added person {i}"),
                id: None,
                embedding: Embedding(queries.next_vector()),
            };
            let start = Instant::now();
            matcher.add(entry);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let (add_median, add_p95) = figures(&mut adds);
    println!(
        "    {size:>9} faces: build {build_s:6.3} s, {bytes_per_face:5.0} B resident a face, \
         add one face {:.1} / {:.1} µs",
        add_median * 1000.0,
        add_p95 * 1000.0
    );
    for (queries, what) in [(&enrolled, "enrolled faces"), (&strangers, "strangers")] {
        matching(&matcher, queries, what);
    }
}

/// `face` moved 0.3 away, as another photo of the same person would be.
fn moved(face: &[f32], vectors: &mut Vectors) -> Embedding {
    let step = vectors.next_vector();
    Embedding(face.iter().zip(&step).map(|(f, s)| f + 0.3 * s).collect())
}

fn figures(times: &mut [f64]) -> (f64, f64) {
    (
        percentile(times, 0.5).unwrap_or(f64::NAN),
        percentile(times, 0.95).unwrap_or(f64::NAN),
    )
}

/// Times the int8 search on `queries` and the exhaustive f32 one on the first [`CHECKED`], and
/// checks that their decisions agree.
fn matching(matcher: &Matcher, queries: &[Embedding], what: &str) {
    let mut measured = 0;
    let mut named = 0;
    let mut fast: Vec<f64> = Vec::new();
    let mut exact: Vec<f64> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let start = Instant::now();
        let (identity, cost) = std::hint::black_box(matcher.identify_with_cost(q, THRESHOLD));
        fast.push(start.elapsed().as_secs_f64() * 1000.0);
        measured += cost.measured;
        named += usize::from(identity.name.is_some());
        if i < CHECKED {
            let start = Instant::now();
            let reference = std::hint::black_box(matcher.identify_exhaustive(q, THRESHOLD));
            exact.push(start.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(
                decision(&identity),
                decision(&reference),
                "the int8 search must give the exhaustive decision"
            );
        }
    }
    let ((exact_median, exact_p95), (fast_median, fast_p95)) =
        (figures(&mut exact), figures(&mut fast));
    println!(
        "      {what:<15} {named:>4} named   exact f32 {exact_median:7.3} / {exact_p95:7.3}   \
         int8 + re-rank {fast_median:6.3} / {fast_p95:6.3}   ({:.1} rows)",
        measured as f64 / queries.len().max(1) as f64
    );
}

fn decision(identity: &Identity) -> (Option<&str>, Option<u32>) {
    (
        identity.name.as_deref(),
        identity
            .name
            .as_ref()
            .and(identity.distance.map(f32::to_bits)),
    )
}
