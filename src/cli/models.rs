//! `models fetch` and `models list`.

use anyhow::Result;
use clap::Subcommand;

use crate::config::Config;
use crate::models::{self, fetch::Status};

use super::progress::Bar;

#[derive(Debug, Subcommand)]
pub(super) enum ModelsCommand {
    /// Download the models the configured embedder needs (all with --all); checks sha256 and
    /// replaces missing or corrupt files. Safe to run again.
    Fetch {
        /// Fetch every model of the manifest, for both embedders.
        #[arg(long)]
        all: bool,
    },
    /// Show each model as present, missing or corrupt.
    List,
}

pub(super) fn models_cmd(config: &Config, cmd: &ModelsCommand) -> Result<()> {
    let dir = config.model_dir()?;
    match cmd {
        ModelsCommand::Fetch { all } => {
            let wanted = if *all {
                models::manifest()?
            } else {
                models::required(config.embedder)?
            };
            let fetched = models::fetch(&wanted, &dir, &Bar::default())?;
            println!(
                "{} model(s) fetched, {} already present, in {}",
                fetched,
                wanted.len() - fetched,
                dir.display()
            );
        }
        ModelsCommand::List => {
            let needed = models::required_ids(config.embedder);
            println!(
                "models in {} (embedder {:?}):",
                dir.display(),
                config.embedder
            );
            for (model, status) in models::statuses(&models::manifest()?, &dir)? {
                let state = match status {
                    Status::Present => "present".to_owned(),
                    Status::Missing => "missing".to_owned(),
                    Status::Corrupt { actual } => format!("CORRUPT ({actual})"),
                };
                let mark = if needed.contains(&model.id.as_str()) {
                    "*"
                } else {
                    " "
                };
                println!(
                    "{mark} {:<18} {:<9} {:>11} B  {}",
                    model.id, state, model.artifact.size, model.artifact.file
                );
            }
            println!("(* needed by the configured embedder)");
        }
    }
    Ok(())
}
