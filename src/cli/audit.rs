//! `whoisit audit` and `whoisit purge`: what was done with the gallery, and forgetting old
//! sightings.

use anyhow::{Result, bail};
use clap::Args;

use crate::config::Config;
use crate::gallery::{self, Actor};

use super::people::{format_time, pad};

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    /// Only entries from this far back: a number of days, hours or minutes (`7d`, `12h`,
    /// `30m`) or a date (`2026-11-01`, UTC).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn audit_cmd(config: &Config, args: &AuditArgs) -> Result<()> {
    let since = match &args.since {
        Some(text) => parse_since(text, gallery::now())?,
        None => 0,
    };
    let trail = config.open_gallery()?.audit(since)?;
    if args.json {
        for entry in &trail {
            println!("{}", serde_json::to_string(entry)?);
        }
        return Ok(());
    }
    if trail.is_empty() {
        println!("no entries");
        return Ok(());
    }
    let actor_width = trail.iter().map(|e| e.actor.len()).max().unwrap_or(0);
    for entry in &trail {
        println!(
            "{}  {}  {}  {}",
            format_time(entry.at),
            pad(&entry.actor, actor_width),
            pad(&entry.action, 11),
            entry.detail
        );
    }
    Ok(())
}

pub(super) fn purge_cmd(config: &Config) -> Result<()> {
    let purged = config
        .open_gallery()?
        .purge_sightings(&config.sighting_cutoffs(), &Actor::cli())?;
    println!(
        "forgot when {} people were last seen and {} sighting(s), {} days ago or more \
         (config: retention_days), and {} unknown face(s) seen {} days ago or more (config: \
         sightings.unknown_face_days)",
        purged.last_seen,
        purged.sightings,
        config.retention_days,
        purged.unknown_faces,
        config
            .sightings
            .unknown_face_days
            .min(config.retention_days)
    );
    Ok(())
}

/// `--since`: `7d`, `12h`, `30m` back from `now`, or a `YYYY-MM-DD` date (UTC).
pub(super) fn parse_since(text: &str, now: i64) -> Result<i64> {
    let text = text.trim();
    let unit = |suffix: char, seconds: i64| -> Option<i64> {
        let n: i64 = text.strip_suffix(suffix)?.parse().ok()?;
        (n >= 0).then(|| now - n.saturating_mul(seconds))
    };
    if let Some(since) = unit('d', 86_400)
        .or_else(|| unit('h', 3_600))
        .or_else(|| unit('m', 60))
    {
        return Ok(since);
    }
    let parts: Vec<i64> = text
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    match parts[..] {
        [y, m, d] if (1..=12).contains(&m) && (1..=31).contains(&d) => {
            Ok(days_from_civil(y, m, d) * 86_400)
        }
        _ => bail!("--since {text:?} is neither a span (7d, 12h, 30m) nor a date (2026-11-01)"),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_spans_and_dates() {
        let now = 1_000_000_000;
        assert_eq!(parse_since("7d", now).unwrap(), now - 7 * 86_400);
        assert_eq!(parse_since("12h", now).unwrap(), now - 12 * 3_600);
        assert_eq!(parse_since("30m", now).unwrap(), now - 1_800);
        assert_eq!(parse_since("1970-01-02", now).unwrap(), 86_400);
        assert_eq!(parse_since("2026-11-27", now).unwrap(), 1_795_737_600);
        assert_eq!(
            format_time(parse_since("2024-02-29", now).unwrap()),
            "2024-02-29 00:00"
        );
        for bad in ["yesterday", "-3d", "2026-13-01", ""] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
