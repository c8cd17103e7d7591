//! The roster: `enroll`, `people` and `gallery`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use crate::base::files::{read_limited, write_atomic};
use crate::config::Config;
use crate::config::threshold_problem;
use crate::enroll;
use crate::gallery::protect::{self, ExportLock};
use crate::gallery::{
    self, Actor, AuditAction, ExportFile, Gallery, GalleryConfig, OwnThreshold, PersonSummary,
    ThresholdChange,
};
use crate::runtime::capture::{Source, read_frame};

pub(super) use crate::base::time::format_time;
use opencv::core::Mat;

use super::secrets;

use super::progress::{Bar, CountBar};

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["name", "dir"]))]
pub(super) struct EnrollArgs {
    /// The person's name (new or existing); the photos follow.
    #[arg(long, requires = "photos")]
    name: Option<String>,
    /// Photos of the person, one face each. If any fails, nothing is enrolled.
    #[arg(value_name = "PHOTO")]
    photos: Vec<PathBuf>,
    /// A dataset folder: DIR/<person>/<photo>. Photos without a usable face are skipped.
    #[arg(long, conflicts_with = "name", value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum PeopleCommand {
    /// Everyone enrolled: faces, when last recognised, when enrolled.
    List,
    /// Enroll a person (new or existing) from photos (all or nothing), or from a short clip
    /// of their head turning (--video). A photo or frame nearly the same as one already taken
    /// of them is rejected as a duplicate.
    Add {
        name: String,
        #[arg(required_unless_present = "video", value_name = "PHOTO")]
        photos: Vec<PathBuf>,
        /// A clip of the person alone, 3 to 5 s, turning their head a little left, right and
        /// up (any file OpenCV opens; its first 600 frames are read). Every frame passes the
        /// quality gate; up to --max-faces
        /// sharp frames of different poses are enrolled, and what was taken and why the other
        /// frames were not is printed.
        #[arg(long, value_name = "FILE", conflicts_with = "photos")]
        video: Option<PathBuf>,
        /// With --video: the most frames to enroll. The sharpest frame of each pose comes
        /// first, then the next sharpest of each.
        #[arg(long, value_name = "K", default_value_t = 5, requires = "video",
              value_parser = clap::value_parser!(u32).range(1..=50))]
        max_faces: u32,
    },
    /// Enroll everyone of DIR/<person>/<photo>; running it again adds nothing twice.
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Give an enrolled person another name.
    Rename { old: String, new: String },
    /// Delete a person with all their faces, embeddings, crops and last-seen time, to the last
    /// byte: overwritten in the file and its log, and the file compacted (also: forget).
    #[command(visible_alias = "forget")]
    Remove { name: String },
    /// Give a person their own threshold (the largest embedding distance still taken as
    /// them, for the configured embedder), or --clear it so they are matched with the global
    /// one. It must lie within calibration.per_person_max_tighten below and
    /// per_person_max_loosen above the global threshold. `whoisit calibrate --per-person`
    /// proposes one for everyone; `people list` shows them.
    Threshold {
        name: String,
        /// The threshold, e.g. 0.52. (Not called `threshold`: that is the global flag's id,
        /// which clap would fill from it.)
        #[arg(
            required_unless_present = "clear",
            conflicts_with = "clear",
            value_name = "THRESHOLD"
        )]
        value: Option<f32>,
        /// Remove the person's own threshold.
        #[arg(long)]
        clear: bool,
    },
    /// Two entries that are one person: FROM's faces (but those of a photo INTO has),
    /// sightings, corrections, last-seen time and own threshold (when INTO has none) become
    /// INTO's, and FROM is removed.
    Merge {
        #[arg(value_name = "INTO")]
        into: String,
        #[arg(value_name = "FROM")]
        from: String,
    },
    /// Move a face (GET /v1/people/{id}/faces lists them) to the person it shows, with its
    /// embeddings, crop and pose.
    MoveFace {
        #[arg(value_name = "FACE")]
        face: i64,
        /// Whose face it is now.
        #[arg(long, value_name = "NAME")]
        from: String,
        /// Whose face it shows.
        #[arg(long, value_name = "NAME")]
        to: String,
    },
    /// Not this person: a sighting (`whoisit sightings` lists them) or an enrolled face that
    /// was named as somebody it is not. Its embedding becomes a negative example of them: a
    /// face nearer to it than to their own faces is never named them again, on every machine
    /// sharing the gallery. A sighting becomes unknown; a face is removed from the person.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["sighting", "face"]))]
    Not {
        /// The sighting named wrongly.
        #[arg(long, value_name = "ID")]
        sighting: Option<i64>,
        /// The person a face was enrolled for wrongly (with --face).
        #[arg(
            long,
            value_name = "NAME",
            requires = "face",
            conflicts_with = "sighting"
        )]
        person: Option<String>,
        /// The face's id (GET /v1/people/{id}/faces lists them), with --person.
        #[arg(long, value_name = "ID", requires = "person")]
        face: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum GalleryCommand {
    /// Write every person, face, embedding and image to a portable JSON file (format:
    /// "whoisit-gallery" version 1, see src/gallery/export.rs `ExportFile`).
    Export {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// For a damaged gallery: export every face that can still be read, row by row, and
        /// list what cannot (exits 1 when something was lost).
        #[arg(long)]
        salvage: bool,
        /// Encrypt the export (age format) to this public key (age1..., from `age-keygen`);
        /// may be given several times. Only the holders of the matching identities can
        /// import it.
        #[arg(long = "to", value_name = "RECIPIENT", conflicts_with = "passphrase")]
        recipients: Vec<String>,
        /// Encrypt the export (age format) with a passphrase, asked at the terminal or taken
        /// from WHOISIT_EXPORT_PASSPHRASE.
        #[arg(long)]
        passphrase: bool,
    },
    /// Add the people of an export file; faces already present are skipped. All or nothing.
    /// An encrypted export asks for its passphrase (or WHOISIT_EXPORT_PASSPHRASE), or needs
    /// --identity.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The age identity file that opens an export encrypted to its public key.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Check the gallery's integrity; exits non-zero when something is wrong.
    Check,
    /// Compute embeddings for the configured embedder from the stored face images.
    Reembed,
    /// Copy every person, face, embedding and image into another gallery: `sqlite` (the file in
    /// the data dir) or postgres://user:password@host/database. Faces already there are
    /// skipped, so it can be run again, and back.
    Copy {
        #[arg(long, value_name = "GALLERY")]
        to: GalleryConfig,
    },
    /// Write a new random gallery key (64 hex digits) to FILE, readable only by you. Keep a
    /// copy somewhere safe: an encrypted gallery without its key is lost.
    NewKey {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Encrypt the gallery in place with the key given by --key-file (or WHOISIT_KEY): the
    /// SQLite file whole (SQLCipher, AES-256), a PostgreSQL gallery's crops and embeddings value
    /// by value (AES-256-GCM). Stop every whoisit using it first.
    Encrypt,
    /// Decrypt the gallery in place; it needs its key (--key-file, WHOISIT_KEY or a prompt).
    Decrypt,
}

pub(super) fn enroll_cmd(config: &Config, args: EnrollArgs) -> Result<()> {
    match (args.name, args.dir) {
        (Some(name), None) => add_person(config, &name, &args.photos),
        (None, Some(dir)) => import_dataset(config, &dir),
        _ => bail!("give --name NAME PHOTO... or --dir DIR"),
    }
}

fn add_person(config: &Config, name: &str, photos: &[PathBuf]) -> Result<()> {
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let gallery = config.open_gallery()?;
    let report = enroll::person(
        &mut pipeline,
        gallery.as_ref(),
        &config.enrollment(),
        name,
        photos,
        &Actor::cli(),
    )?;
    for warning in &report.warnings {
        // Said to the operator on stderr, not logged: it names people.
        eprintln!("warning: {warning}");
    }
    let name = name.trim();
    println!(
        "enrolled {name}: {} face(s) added into {}",
        report.added.len(),
        gallery.location()
    );
    Ok(())
}

fn add_from_video(config: &Config, name: &str, video: &Path, max_faces: usize) -> Result<()> {
    let mut capture = Source::File(video.to_path_buf()).open()?;
    let frames = std::iter::from_fn(move || {
        let mut frame = Mat::default();
        match read_frame(&mut capture, &mut frame) {
            Ok(true) => Some(Ok(frame)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    });
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let gallery = config.open_gallery()?;
    let report = enroll::video::enroll_video(
        &mut pipeline,
        gallery.as_ref(),
        &config.enrollment(),
        name,
        enroll::video::Clip {
            source: video.display().to_string(),
            frames,
        },
        max_faces,
        &Actor::cli(),
    )?;
    for taken in &report.taken {
        println!(
            "took frame {:>4}: pose {:<7} sharpness {:.0}",
            taken.frame,
            taken.pose.map_or("unknown", |p| p.as_str()),
            taken.sharpness
        );
    }
    println!(
        "skipped {} of {} frames: {}",
        report.skipped.values().sum::<usize>(),
        report.frames,
        enroll::video::summary(&report.skipped)
    );
    for warning in &report.person.warnings {
        // Said to the operator on stderr, not logged: it names people.
        eprintln!("warning: {warning}");
    }
    println!(
        "enrolled {}: {} face(s) added into {}",
        name.trim(),
        report.person.added.len(),
        gallery.location()
    );
    Ok(())
}

fn import_dataset(config: &Config, dir: &Path) -> Result<()> {
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let gallery = config.open_gallery()?;
    let report = enroll::dataset(
        &mut pipeline,
        gallery.as_ref(),
        &config.enrollment(),
        dir,
        &Actor::cli(),
    )?;
    for (name, count) in &report.enrolled {
        println!("enrolled {name}: {count} face(s)");
    }
    for skipped in &report.skipped {
        eprintln!("skipped {skipped}");
    }
    for warning in &report.warnings {
        // Said to the operator on stderr, not logged: it names people.
        eprintln!("warning: {warning}");
    }
    println!(
        "{} people enrolled into {}, {} photo(s) already enrolled, {} skipped",
        report.enrolled.len(),
        gallery.location(),
        report.unchanged,
        report.skipped.len()
    );
    if report.enrolled.is_empty() && report.unchanged == 0 {
        bail!("no face could be enrolled from {}", dir.display());
    }
    Ok(())
}

pub(super) fn people_cmd(config: &Config, cmd: PeopleCommand) -> Result<()> {
    let open = || -> Result<Arc<dyn Gallery>> { Ok(config.open_gallery()?) };
    match cmd {
        PeopleCommand::List => list_people(config, &open()?.people()?),
        PeopleCommand::Add {
            name,
            video: Some(video),
            max_faces,
            ..
        } => add_from_video(config, &name, &video, max_faces as usize)?,
        PeopleCommand::Add { name, photos, .. } => add_person(config, &name, &photos)?,
        PeopleCommand::Import { dir } => import_dataset(config, &dir)?,
        // A name is resolved to its person once, here; the change is made by id.
        PeopleCommand::Rename { old, new } => {
            let gallery = open()?;
            gallery.rename(gallery.find(&old)?, &new, &Actor::cli())?;
            println!("renamed {old} to {}", new.trim());
        }
        PeopleCommand::Remove { name } => {
            let gallery = open()?;
            let removed = gallery.remove(gallery.find(&name)?, &Actor::cli())?;
            println!(
                "removed {name}: {} face(s), {} embedding(s), {} image(s)",
                removed.faces, removed.embeddings, removed.images
            );
        }
        PeopleCommand::Threshold {
            name,
            value,
            clear: _,
        } => set_threshold(config, open()?.as_ref(), &name, value)?,
        PeopleCommand::Merge { into, from } => {
            let gallery = open()?;
            let merged =
                gallery.merge_people(gallery.find(&into)?, gallery.find(&from)?, &Actor::cli())?;
            println!(
                "merged {from} into {into}: {} face(s) moved ({} of a photo {into} had, \
                 dropped), {} sighting(s), {} negative example(s){}",
                merged.faces,
                merged.duplicates,
                merged.sightings,
                merged.negatives,
                if merged.own_threshold {
                    ", and their own threshold"
                } else {
                    ""
                }
            );
        }
        PeopleCommand::MoveFace { face, from, to } => {
            let gallery = open()?;
            let (from_id, to_id) = (gallery.find(&from)?, gallery.find(&to)?);
            gallery.move_face(from_id, gallery::FaceId(face), to_id, &Actor::cli())?;
            println!("face {face} moved from {from} to {to}");
        }
        PeopleCommand::Not {
            sighting,
            person,
            face,
        } => not_this_person(open()?.as_ref(), sighting, person.zip(face))?,
    }
    Ok(())
}

/// `people not`: a sighting, or a person's face, corrected.
fn not_this_person(
    gallery: &dyn Gallery,
    sighting: Option<i64>,
    face: Option<(String, i64)>,
) -> Result<()> {
    let corrected = match (sighting, face) {
        (Some(id), _) => gallery.not_in_sighting(gallery::SightingId(id), &Actor::cli())?,
        (None, Some((name, face))) => {
            let person = gallery.find(&name)?;
            gallery.not_in_face(person, gallery::FaceId(face), &Actor::cli())?
        }
        (None, None) => bail!("say which: --sighting ID, or --person NAME --face ID"),
    };
    let name = gallery.person(corrected.person)?.name;
    let what = sighting.map_or_else(
        || "the face was removed".to_owned(),
        |id| format!("sighting {id} is unknown now"),
    );
    println!(
        "not {name}: {what}; {} negative example(s) kept, so that such a face is not named \
         {name} again",
        corrected.examples
    );
    Ok(())
}

fn list_people(config: &Config, people: &[PersonSummary]) {
    let width = people
        .iter()
        .map(|p| display_width(&p.name))
        .max()
        .unwrap_or(0)
        .max(4);
    println!(
        "{}  {:>5}  {:<20} {:<20} {:<26} THRESHOLD",
        pad("NAME", width),
        "FACES",
        "LAST SEEN",
        "ENROLLED",
        "POSES"
    );
    for p in people {
        let last_seen = p.last_seen.map_or_else(|| "never".into(), format_time);
        println!(
            "{}  {:>5}  {:<20} {:<20} {:<26} {}",
            pad(&p.name, width),
            p.faces,
            last_seen,
            format_time(p.created),
            p.pose_report(),
            threshold_text(config, p.own_threshold.as_ref())
        );
    }
    println!("{} people", people.len());
}

/// The threshold a person is matched with, and whether it is their own.
fn threshold_text(config: &Config, own: Option<&OwnThreshold>) -> String {
    let global = config.threshold;
    let embedder = config.embedder.id();
    match own {
        None => format!("{global:.3} (global)"),
        Some(own) if own.embedder != embedder => format!(
            "{global:.3} (global; their own {:.3} is for {}, not {embedder})",
            own.threshold, own.embedder
        ),
        Some(own) => {
            let used = config.calibration.bound(own.threshold, global);
            if (used - own.threshold).abs() < 5e-4 {
                format!("{:.3} (own)", own.threshold)
            } else {
                format!(
                    "{used:.3} (own {:.3}, held within the bounds of the global {global:.3})",
                    own.threshold
                )
            }
        }
    }
}

/// `people threshold NAME VALUE` or `--clear`.
fn set_threshold(
    config: &Config,
    gallery: &dyn Gallery,
    name: &str,
    threshold: Option<f32>,
) -> Result<()> {
    let own = match threshold {
        None => None,
        Some(threshold) => {
            if let Some(problem) = threshold_problem(threshold) {
                bail!("the threshold {problem}");
            }
            let bounds = &config.calibration;
            let (low, high) = (
                config.threshold - bounds.per_person_max_tighten,
                config.threshold + bounds.per_person_max_loosen,
            );
            if bounds.bound(threshold, config.threshold) != threshold {
                bail!(
                    "{threshold} is outside {low:.3}-{high:.3}: a person's own threshold stays within calibration.per_person_max_tighten ({:.3}) below and per_person_max_loosen ({:.3}) above the global threshold {:.3}",
                    bounds.per_person_max_tighten,
                    bounds.per_person_max_loosen,
                    config.threshold
                );
            }
            Some(OwnThreshold {
                threshold,
                embedder: config.embedder.id(),
            })
        }
    };
    let change = ThresholdChange {
        person: gallery.find(name)?,
        own: own.clone(),
    };
    gallery.set_own_thresholds(&[change], &Actor::cli())?;
    match own {
        Some(own) => println!(
            "{name} is matched with their own threshold {:.3} ({}) from now on",
            own.threshold, own.embedder
        ),
        None => println!(
            "{name} is matched with the global threshold {:.3} from now on",
            config.threshold
        ),
    }
    Ok(())
}

pub(super) fn gallery_cmd(config: &Config, cmd: GalleryCommand) -> Result<()> {
    let open = || -> Result<Arc<dyn Gallery>> { Ok(config.open_gallery()?) };
    match cmd {
        GalleryCommand::Export {
            file,
            salvage,
            recipients,
            passphrase,
        } => {
            let lock = secrets::export_lock(&recipients, passphrase)?;
            export_gallery(&open, &file, salvage, lock.as_ref())?;
        }
        GalleryCommand::Import { file, identity } => {
            let bytes = read_limited(
                &file,
                config.limits.max_import_bytes(),
                "config: limits.max_import_mb",
            )?;
            let text = secrets::open_export(bytes, identity.as_deref())?;
            let export: ExportFile = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a whoisit gallery export", file.display()))?;
            let added = open()?.import(&export, &Actor::cli())?;
            println!(
                "imported {added} face(s) of {} people from {}",
                export.people.len(),
                file.display()
            );
        }
        GalleryCommand::Check => {
            let gallery = open()?;
            let report = gallery.check()?;
            println!(
                "{}: {} people, {} faces, {} embeddings",
                gallery.location(),
                report.people,
                report.faces,
                report.embeddings
            );
            if report.without_faces > 0 {
                println!(
                    "note: {} person(s) have no face yet (created through the API, or an enrollment \
                     that was stopped); add photos with `whoisit people add NAME PHOTO...`",
                    report.without_faces
                );
            }
            if !report.problems.is_empty() {
                for problem in &report.problems {
                    eprintln!("problem: {problem}");
                }
                bail!("the gallery has {} problem(s)", report.problems.len());
            }
            println!("ok");
        }
        GalleryCommand::Copy { to } => copy_gallery(config, &to)?,
        GalleryCommand::Reembed => reembed(config)?,
        GalleryCommand::NewKey { file } => secrets::new_key(&file)?,
        GalleryCommand::Encrypt => secrets::convert(config, true)?,
        GalleryCommand::Decrypt => secrets::convert(config, false)?,
    }
    Ok(())
}

/// `gallery export`: the whole gallery, or what can be read of a damaged one, to `file`,
/// encrypted when `lock` says so.
fn export_gallery(
    open: &dyn Fn() -> Result<Arc<dyn Gallery>>,
    file: &Path,
    salvage: bool,
    lock: Option<&ExportLock>,
) -> Result<()> {
    let (export, lost) = if salvage {
        let salvaged = open()?.salvage()?;
        (salvaged.file, salvaged.lost)
    } else {
        (open()?.export()?, Vec::new())
    };
    let faces: usize = export.people.iter().map(|p| p.faces.len()).sum();
    let json = serde_json::to_vec_pretty(&export)?;
    let bytes = match lock {
        Some(lock) => protect::lock(&json, lock)?,
        None => json,
    };
    // A failed export never leaves half a file.
    write_atomic(file, &bytes)?;
    let how = if lock.is_some() { "encrypted" } else { "plain" };
    let detail = format!(
        "{} people, {faces} face(s) to {} ({how})",
        export.people.len(),
        file.display()
    );
    // A damaged gallery cannot take the entry; the salvage must still be written.
    if let Err(e) = open()?.record(AuditAction::Export, &detail, &Actor::cli()) {
        tracing::warn!("the export is not in the audit trail: {}", e.report());
    }
    println!(
        "exported {} people, {faces} face(s) to {} ({how})",
        export.people.len(),
        file.display()
    );
    if !lost.is_empty() {
        for line in &lost {
            eprintln!("lost: {line}");
        }
        bail!(
            "{} part(s) of the gallery could not be read; the rest is in {}",
            lost.len(),
            file.display()
        );
    }
    Ok(())
}

/// `gallery copy --to`: everything into another store; idempotent.
fn copy_gallery(config: &Config, to: &GalleryConfig) -> Result<()> {
    if *to == config.gallery {
        bail!("--to names the gallery being copied; name the other one");
    }
    let from = config.open_gallery()?;
    let export = from.export()?;
    let faces: usize = export.people.iter().map(|p| p.faces.len()).sum();
    let target = gallery::open(to, &config.data_dir()?, config.key.as_ref())?;
    let added = target.import(&export, &Actor::cli())?;
    println!(
        "copied {} people from {} to {}: {added} face(s) added, {} already there",
        export.people.len(),
        from.location(),
        target.location(),
        faces - added
    );
    Ok(())
}

/// `gallery reembed`: embeddings for the configured embedder from the stored crops.
fn reembed(config: &Config) -> Result<()> {
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let gallery = config.open_gallery()?;
    let bar = CountBar::new();
    let report = enroll::reembed(
        &mut pipeline,
        gallery.as_ref(),
        config.enroll_views,
        &|done, total| bar.show(done, total),
    )?;
    drop(bar);
    println!(
        "{} face(s) embedded with {}",
        report.embedded,
        pipeline.embedder_id()
    );
    for failure in &report.failed {
        eprintln!("failed: {failure}");
    }
    if report.without_image > 0 {
        eprintln!(
            "{} face(s) have no stored image (keep_images was off): enroll those people again",
            report.without_image
        );
    }
    Ok(())
}

/// Unix seconds as UTC "YYYY-MM-DD HH:MM".
/// Columns a name takes in a terminal: a CJK character takes two, a combining accent none.
/// (`{:<30}` counts characters, which misaligns both.)
pub(super) fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` padded with spaces to `width` terminal columns.
pub(super) fn pad(text: &str, width: usize) -> String {
    format!(
        "{text}{}",
        " ".repeat(width.saturating_sub(display_width(text)))
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_padded_to_the_columns_a_terminal_gives_them() {
        // Two columns per CJK character, none for a combining accent.
        assert_eq!(super::pad("李小龙", 8), "李小龙  ");
        assert_eq!(super::pad("Cafe\u{301}", 6), "Cafe\u{301}  ");
        assert_eq!(super::pad("Ada", 2), "Ada");
    }
}
