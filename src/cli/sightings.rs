//! `whoisit sightings`: who was seen, where and when.

use std::collections::HashMap;

use anyhow::Result;
use clap::Args;

use crate::config::Config;
use crate::gallery::{self, Actor, AuditAction, Gallery, Sighting, SightingQuery, Who};

use super::audit::parse_since;
use super::people::{format_time, pad};

#[derive(Debug, Args)]
pub(super) struct SightingsArgs {
    /// Only faces still in view this far back: a number of days, hours or minutes (`7d`,
    /// `12h`, `30m`) or a date (`2026-11-01`, UTC).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only this source, as it was given (`camera 0`, `door.avi`, a URL without its password).
    #[arg(long, value_name = "SOURCE")]
    camera: Option<String>,
    /// Only this person's sightings.
    #[arg(long, value_name = "NAME", conflicts_with = "unknown")]
    person: Option<String>,
    /// Only faces nobody enrolled.
    #[arg(long)]
    unknown: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn sightings_cmd(config: &Config, args: &SightingsArgs) -> Result<()> {
    let gallery = config.open_gallery()?;
    let who = match (&args.person, args.unknown) {
        (Some(name), _) => Some(Who::Person(gallery.find(name)?)),
        (None, true) => Some(Who::Unknown),
        (None, false) => None,
    };
    let query = SightingQuery {
        since: args
            .since
            .as_deref()
            .map(|text| parse_since(text, gallery::now()))
            .transpose()?,
        camera: args.camera.clone(),
        who,
        ..SightingQuery::all()
    };
    let mut sightings = read_all(gallery.as_ref(), query)?;
    // The gallery pages newest first; a terminal prints oldest first, the newest last, where
    // the eye is after the command.
    sightings.reverse();
    let names: HashMap<_, _> = gallery
        .people()?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let name_of = |s: &Sighting| match s.person {
        Some(id) => names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{}", id.0)),
        None => "unknown".to_owned(),
    };
    if args.json {
        for s in &sightings {
            let mut line = serde_json::to_value(s)?;
            line["name"] = s.person.map(|_| name_of(s)).into();
            println!("{line}");
        }
        return Ok(());
    }
    if sightings.is_empty() {
        println!("no sightings");
        return Ok(());
    }
    print_table(&sightings, &name_of);
    Ok(())
}

/// Every sighting `query` asks for, a page at a time; the read is in the audit trail.
fn read_all(gallery: &dyn Gallery, mut query: SightingQuery) -> Result<Vec<Sighting>> {
    let mut sightings: Vec<Sighting> = Vec::new();
    loop {
        let page = gallery.sightings(&query)?;
        let full = page.len() == query.limit;
        query.after = page.last().map(|s| s.id).or(query.after);
        sightings.extend(page);
        if !full {
            break;
        }
    }
    if !sightings.is_empty() {
        let detail = SightingQuery {
            after: None,
            ..query
        }
        .detail(sightings.len());
        gallery.record(AuditAction::ReadSightings, &detail, &Actor::cli())?;
    }
    Ok(sightings)
}

fn print_table(sightings: &[Sighting], name_of: &dyn Fn(&Sighting) -> String) {
    let who_width = sightings
        .iter()
        .map(|s| name_of(s).len())
        .max()
        .unwrap_or(0)
        .max(3);
    let camera_width = sightings
        .iter()
        .map(|s| s.camera.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "{:>6}  {:<16}  {:<16}  {}  {:>5}  {}  DISTANCE  EVIDENCE  CROP",
        "ID",
        "FIRST",
        "LAST",
        pad("CAMERA", camera_width),
        "TRACK",
        pad("WHO", who_width)
    );
    for s in sightings {
        println!(
            "{:>6}  {:<16}  {:<16}  {}  {:>5}  {}  {:>8}  {:>8}  {}",
            s.id.0,
            format_time(s.first),
            format_time(s.last),
            pad(&s.camera, camera_width),
            s.track,
            pad(&name_of(s), who_width),
            s.distance.map_or_else(|| "-".into(), |d| format!("{d:.3}")),
            s.evidence,
            if s.has_crop { "yes" } else { "no" }
        );
    }
    println!("{} sighting(s)", sightings.len());
}
