//! `manpages DIR` and `completions SHELL`: the manual pages and shell completions, generated
//! from the same definitions as `--help`, so they cannot drift from the binary. The package
//! build (scripts/package.sh) calls them; a source build's user can too.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, Args)]
pub(super) struct ManpagesArgs {
    /// Directory to write whoisit.1 and a whoisit-COMMAND.1 per command into (made if absent).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    shell: Shell,
}

pub(super) fn manpages_cmd(args: &ManpagesArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot make {}", args.dir.display()))?;
    // `generate_to` writes one page per command and subcommand (whoisit-people-add.1, ...),
    // each naming its parents, and leaves out clap's `help` pseudo-command.
    clap_mangen::generate_to(Cli::command(), &args.dir)
        .with_context(|| format!("cannot write the man pages into {}", args.dir.display()))?;
    Ok(())
}

pub(super) fn completions_cmd(args: &CompletionsArgs) -> Result<()> {
    // Into memory first: clap_complete panics on a failed write (a closed pipe), and a
    // closed pipe is an error to report, not a crash.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "whoisit", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)
        .context("cannot write the completion script to standard output")?;
    Ok(())
}
