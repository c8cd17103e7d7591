//! Load on a running server (`whoisit bench --server URL`): `POST /v1/recognize` with one photo
//! from 1, 4, 16 ... clients at once, each sending its next request as soon as it has its
//! answer; requests per second and latency percentiles per number of clients.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::stats::percentile;

/// What to send, to whom, how hard.
pub struct LoadOptions {
    /// The server, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// An API key with the scope recognize (none for a server run with `--no-auth`).
    pub key: Option<String>,
    pub photo: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// Concurrent clients of each run.
    pub clients: Vec<usize>,
    /// How long each run lasts.
    pub seconds: f64,
}

/// One run with a number of clients.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRun {
    pub clients: usize,
    /// Requests answered 200.
    pub answered: usize,
    /// Answered 503 (every pipeline busy, the queue full).
    pub busy: usize,
    /// Any other answer, or no answer.
    pub failed: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// How a request ended.
enum Outcome {
    Answered(f64),
    Busy,
    Failed,
}

struct Client {
    agent: ureq::Agent,
    url: String,
    key: Option<String>,
}

impl Client {
    fn new(options: &LoadOptions) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Client {
            agent,
            url: format!("{}/v1/recognize", options.url.trim_end_matches('/')),
            key: options.key.clone(),
        }
    }

    /// Sends the photo once; the status and body, or why there was no answer.
    fn send(&self, photo: &[u8], content_type: &str) -> std::result::Result<(u16, String), String> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", content_type);
        if let Some(key) = &self.key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.send(photo).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    fn time(&self, photo: &[u8], content_type: &str) -> Outcome {
        let start = Instant::now();
        match self.send(photo, content_type) {
            Ok((200, _)) => Outcome::Answered(start.elapsed().as_secs_f64() * 1000.0),
            Ok((503, _)) => Outcome::Busy,
            _ => Outcome::Failed,
        }
    }
}

/// Checks that the server answers the photo, then runs each number of clients in turn.
pub fn run(options: &LoadOptions) -> Result<Vec<LoadRun>> {
    let probe = Client::new(options);
    match probe.send(&options.photo, options.content_type) {
        Ok((200, _)) => {}
        Ok((status, body)) => {
            return Err(Error::InvalidInput(format!(
                "{} answered {status}: {body}",
                probe.url
            )));
        }
        Err(e) => {
            return Err(Error::InvalidInput(format!(
                "cannot reach {}: {e}; is `whoisit serve` running there?",
                probe.url
            )));
        }
    }
    Ok(options
        .clients
        .iter()
        .map(|&clients| one_run(options, clients))
        .collect())
}

fn one_run(options: &LoadOptions, clients: usize) -> LoadRun {
    let duration = Duration::from_secs_f64(options.seconds);
    let started = Instant::now();
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let client = Client::new(options);
                    let mut outcomes = Vec::new();
                    while started.elapsed() < duration {
                        outcomes.push(client.time(&options.photo, options.content_type));
                    }
                    outcomes
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Answered(ms) => Some(*ms),
            _ => None,
        })
        .collect();
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count();
    LoadRun {
        clients,
        answered: latencies.len(),
        busy: count(|o| matches!(o, Outcome::Busy)),
        failed: count(|o| matches!(o, Outcome::Failed)),
        requests_per_second: latencies.len() as f64 / seconds,
        p50_ms: percentile(&mut latencies, 0.5).unwrap_or(f64::NAN),
        p99_ms: percentile(&mut latencies, 0.99).unwrap_or(f64::NAN),
    }
}
