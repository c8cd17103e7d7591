//! The service: `serve` and `keys`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};

use crate::config::{Config, DEMO_SOURCE};
use crate::demo;
use crate::gallery::{Actor, Scope};
use crate::runtime::capture::Source;
use crate::service::{self, Auth, OwnSource, ServeOptions};

use super::progress::Bar;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free one [config: serve.listen,
    /// 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Let anyone do anything, without API keys. Accepted only on a loopback address.
    #[arg(long)]
    no_auth: bool,
    /// PEM certificate chain, for HTTPS (with --tls-key) [config: serve.tls_cert].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key, for HTTPS (with --tls-cert) [config: serve.tls_key].
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Recognition pipelines, each with its own models [config: serve.workers, 2].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Also run the camera pipeline on this source (camera index, file, image pattern, URL,
    /// or `demo`: the built-in clip, recognised against this server's gallery) and stream who
    /// it sees at GET /v1/events and on the console's Live page. Repeat for several sources.
    /// A camera or stream that drops is opened again every 2 s; the demo loops; a file plays
    /// once.
    #[arg(long, short, value_name = "SOURCE")]
    source: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Make an API key and print it, once: only its hash is stored.
    Create {
        /// A name for whoever uses the key, e.g. frontdesk (letters, digits, - _ .).
        #[arg(long)]
        name: String,
        /// What the key may do: recognize (send photos), read (list people and faces, fetch
        /// crops, follow events, metrics) or admin (everything, enrolling included). Repeat,
        /// or separate with commas, for several.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
    },
    /// Every key: name, scopes, when made. The keys themselves are not stored.
    List,
    /// Delete a key: from now on it opens nothing, on every server of this gallery.
    Revoke { name: String },
}

pub(super) fn serve_cmd(config: &Config, args: ServeArgs) -> Result<()> {
    let mut config = config.clone();
    if let Some(workers) = args.workers {
        if workers == 0 {
            bail!("--workers must be at least 1");
        }
        config.serve.workers = workers;
    }
    let listen = match args.listen {
        Some(listen) => listen,
        None => config.serve.listen.parse().with_context(|| {
            format!(
                "config serve.listen {:?} is not an address:port such as 127.0.0.1:8080",
                config.serve.listen
            )
        })?,
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => config
            .serve
            .tls_cert
            .clone()
            .zip(config.serve.tls_key.clone()),
    };
    let sources = args
        .source
        .iter()
        .map(|s| {
            if s == DEMO_SOURCE {
                // The built-in clip, recognised against this server's own gallery (not the
                // demo's): what staff enroll through the API or the console is named on it.
                // It loops, as in the window.
                Ok(OwnSource {
                    source: Source::File(demo::prepare(&config, &Bar::default())?.clip),
                    repeat: true,
                })
            } else {
                Ok(OwnSource {
                    source: s.parse::<Source>()?,
                    repeat: false,
                })
            }
        })
        .collect::<crate::Result<Vec<_>>>()?;
    let options = ServeOptions {
        config,
        listen,
        auth: if args.no_auth { Auth::Off } else { Auth::Keys },
        tls,
        sources,
    };
    service::serve(options, &Bar::default(), |address, https| {
        let scheme = if https { "https" } else { "http" };
        // The first line of stdout, for scripts and tests that start the server on port 0.
        println!("listening on {scheme}://{address}");
        if std::io::stdout().flush().is_err() {
            tracing::warn!("cannot write to standard output");
        }
        tracing::info!("API document: {scheme}://{address}/v1/openapi.json");
    })?;
    Ok(())
}

pub(super) fn keys_cmd(config: &Config, command: KeysCommand) -> Result<()> {
    let gallery = config.open_gallery()?;
    match command {
        KeysCommand::Create { name, scopes } => {
            let scopes = scopes
                .iter()
                .flat_map(|s| s.split(','))
                .map(str::parse::<Scope>)
                .collect::<crate::Result<Vec<_>>>()?;
            let made = service::create_key(gallery.as_ref(), &name, &scopes, &Actor::cli())?;
            eprintln!(
                "key {:?} made with scope {}; it is shown only now, keep it somewhere safe:",
                made.key.name,
                scope_list(&made.key.scopes)
            );
            println!("{}", made.secret);
        }
        KeysCommand::List => {
            let keys = gallery.keys()?;
            if keys.is_empty() {
                println!(
                    "no API keys; make one with `whoisit keys create --name NAME --scope admin`"
                );
            }
            let width = keys
                .iter()
                .map(|k| k.name.chars().count())
                .max()
                .unwrap_or(0)
                .max(4);
            for key in keys {
                println!(
                    "{:<width$}  {:<24}  made {}",
                    key.name,
                    scope_list(&key.scopes),
                    super::people::format_time(key.created)
                );
            }
        }
        KeysCommand::Revoke { name } => {
            gallery.revoke_key(&name, &Actor::cli())?;
            println!("key {name:?} revoked");
        }
    }
    Ok(())
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
