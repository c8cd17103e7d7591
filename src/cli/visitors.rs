//! `whoisit visitors`: the unknown faces grouped by who they are; enroll a group as somebody,
//! or dismiss it (forget it).

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::enroll::visitor::{self, Becomes};
use crate::gallery::{Actor, PersonId, VisitorId, regroup};

use super::people::{format_time, pad};
use super::progress::Bar;

/// How many sample crops `visitors list --json` gives per group, and the most crops enrolled
/// from a group.
const SAMPLES: usize = 5;

#[derive(Debug, Subcommand)]
pub(super) enum VisitorsCommand {
    /// The groups: how many sightings, when first and last seen, at which cameras.
    List {
        /// Group the unknown faces again first (the sightings writer does it as it stores
        /// them; this catches up after a change of sightings.visitors).
        #[arg(long)]
        regroup: bool,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Enroll a group as a new person (--name) or as somebody enrolled (--person): its best
    /// crops go through the quality gate and the duplicate check, and its sightings become
    /// that person's.
    Enroll(EnrollArgs),
    /// Forget a group: its sightings, crops and embeddings, to the last byte. In the audit
    /// trail.
    Dismiss {
        /// The group's id, as `visitors list` shows it.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub(super) struct EnrollArgs {
    /// The group's id, as `visitors list` shows it.
    id: i64,
    /// Who it is: enrolled under this name, or added to the person who has it.
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "person",
        conflicts_with = "person"
    )]
    name: Option<String>,
    /// Who it is: the id of a person enrolled before (`people list`).
    #[arg(long, value_name = "ID")]
    person: Option<i64>,
    /// Enroll at most this many of the group's crops, most evidence first.
    #[arg(long, default_value_t = SAMPLES)]
    best: usize,
}

pub(super) fn visitors_cmd(config: &Config, command: VisitorsCommand) -> Result<()> {
    match command {
        VisitorsCommand::List {
            regroup: again,
            json,
        } => {
            let gallery = config.open_gallery()?;
            if again {
                let changed = regroup(gallery.as_ref(), &config.sightings.visitors)?;
                eprintln!("{changed} sighting(s) changed group");
            }
            list(&gallery.visitors(SAMPLES)?, json)
        }
        VisitorsCommand::Enroll(args) => enroll(config, &args),
        VisitorsCommand::Dismiss { id } => {
            let dismissed = config
                .open_gallery()?
                .dismiss_visitor(VisitorId(id), &Actor::cli())?;
            println!(
                "dismissed visitor {id}: {} sighting(s) forgotten with their crops and embeddings",
                dismissed.sightings
            );
            Ok(())
        }
    }
}

fn list(visitors: &[crate::gallery::Visitor], json: bool) -> Result<()> {
    if json {
        for v in visitors {
            println!("{}", serde_json::to_value(v)?);
        }
        return Ok(());
    }
    if visitors.is_empty() {
        println!("no visitors");
        return Ok(());
    }
    println!(
        "{:>6}  {:>9}  {:<16}  {:<16}  CAMERAS",
        "ID", "SIGHTINGS", "FIRST", "LAST"
    );
    for v in visitors {
        println!(
            "{:>6}  {:>9}  {}  {}  {}",
            v.id.0,
            v.sightings,
            pad(&format_time(v.first), 16),
            pad(&format_time(v.last), 16),
            v.cameras.join(", ")
        );
    }
    println!("{} visitor(s)", visitors.len());
    Ok(())
}

fn enroll(config: &Config, args: &EnrollArgs) -> Result<()> {
    let becomes = match (&args.name, args.person) {
        (Some(name), None) => Becomes::Name(name.clone()),
        (None, Some(id)) => Becomes::PersonId(PersonId(id)),
        _ => bail!("give --name NAME or --person ID"),
    };
    if args.best == 0 {
        bail!("--best must be at least 1");
    }
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let gallery = config.open_gallery()?;
    let enrolled = visitor::visitor(
        &mut pipeline,
        gallery.as_ref(),
        &config.enrollment(),
        VisitorId(args.id),
        &becomes,
        args.best,
        &Actor::cli(),
    )?;
    for reason in &enrolled.not_taken {
        eprintln!("not taken: {reason}");
    }
    for warning in &enrolled.warnings {
        // Said to the operator on stderr, not logged: it names people.
        eprintln!("warning: {warning}");
    }
    println!(
        "visitor {} enrolled as person {}: {} face(s) added, {} sighting(s) named",
        args.id,
        enrolled.person_id.0,
        enrolled.added.len(),
        enrolled.sightings_named
    );
    Ok(())
}
