//! `whoisit scan`: who is in every photo under a folder, answered by the same workers as the
//! cameras. Photos go to the work stream a few at a time (so a big folder never floods it),
//! answers come back on a stream of the scan's own, and each photo's faces are written as they
//! arrive. A photo already in the output file (by sha256) is not sent again, so an interrupted
//! scan resumes where it stopped and a repeated one does no work.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::address::redacted;
use crate::base::error::{Error, Result};
use crate::base::files::open_regular;
use crate::config::streams::StreamsConfig;
use crate::stream::link::{self, Failure, Link, Reader};
use crate::stream::wire::{Answer, AnsweredFace, Origin, Work, WorkMeta};
use crate::stream::{Keys, unix_ms};
use crate::vision::photo::{self, PhotoLimits};

const IMAGE_EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff", "pgm", "ppm",
];
const CSV_HEADER: &str = "file,sha256,x,y,width,height,label,distance,error";

/// How answers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFormat {
    /// A row per face (a photo without faces gets one row with an empty box).
    Csv,
    /// A line per photo, with its faces.
    Jsonl,
}

impl ScanFormat {
    /// The format a file name asks for: `.csv` is CSV, anything else JSON lines.
    pub fn for_path(path: &Path) -> ScanFormat {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            ScanFormat::Csv
        } else {
            ScanFormat::Jsonl
        }
    }
}

/// What to scan and where the answers go.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub dir: PathBuf,
    pub out: PathBuf,
    pub format: ScanFormat,
    /// Photos sent and not yet answered, at most.
    pub in_flight: usize,
    /// Give up when no answer came for this long.
    pub patience: Duration,
    pub limits: PhotoLimits,
}

/// What a scan did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ScanReport {
    /// Images under the folder.
    pub images: usize,
    /// Of those, already answered in the output file.
    pub already: usize,
    /// Answered by this run.
    pub answered: usize,
    /// Faces in the photos answered by this run.
    pub faces: usize,
    /// Photos that could not be read or recognised (their rows say why).
    pub failed: usize,
}

/// Scans `options.dir`; `progress` hears (done, to do) as answers arrive.
pub fn scan(
    config: &StreamsConfig,
    options: &ScanOptions,
    progress: &dyn Fn(usize, usize),
) -> Result<ScanReport> {
    let mut images = Vec::new();
    find_images(&options.dir, &mut images)?;
    images.sort();
    let mut link = Link::new(&config.redis, "scan")?;
    link.check()?;
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| Error::NoRandomness(e.to_string()))?;
    let keys = Keys::new(&config.prefix);
    let mut scan = Scan {
        config,
        options,
        reply: keys.scan_answers(&hex::encode(id)),
        keys,
        link,
        done: answered_before(&options.out, options.format)?,
        out: Output::open(&options.out, options.format)?,
        report: ScanReport {
            images: images.len(),
            ..ScanReport::default()
        },
        in_flight: HashMap::new(),
        copies: HashMap::new(),
        answered: HashMap::new(),
        last_id: "0".to_owned(),
    };
    let outcome = scan.run(images.into_iter(), progress);
    delete(&mut scan.link, &scan.reply);
    outcome?;
    scan.out.finish()?;
    Ok(scan.report)
}

/// A scan under way.
struct Scan<'a> {
    config: &'a StreamsConfig,
    options: &'a ScanOptions,
    keys: Keys,
    /// The scan's own answer stream.
    reply: String,
    link: Link,
    /// The sha256 of the photos answered in an earlier run.
    done: HashSet<String>,
    out: Output,
    report: ScanReport,
    /// Work sent and not answered yet: its sha256, by entry id.
    in_flight: HashMap<String, String>,
    /// The files with the bytes of a photo sent, by sha256: a copy is not recognised twice,
    /// but gets its rows.
    copies: HashMap<String, Vec<String>>,
    /// This run's answers, by sha256, for copies found after their answer came.
    answered: HashMap<String, Answer>,
    last_id: String,
}

impl Scan<'_> {
    fn run(
        &mut self,
        mut todo: impl Iterator<Item = PathBuf>,
        progress: &dyn Fn(usize, usize),
    ) -> Result<()> {
        let mut last_answer = Instant::now();
        loop {
            while self.in_flight.len() < self.options.in_flight {
                let Some(path) = todo.next() else { break };
                self.take(&path)?;
            }
            let r = &self.report;
            progress(r.already + r.answered + r.failed, r.images);
            if self.in_flight.is_empty() {
                return Ok(());
            }
            if last_answer.elapsed() > self.options.patience {
                return Err(Error::InvalidInput(format!(
                    "no worker answered for {} s ({} photos waiting): is `whoisit worker` running with Redis {} and prefix {:?}? Run the scan again to go on where it stopped",
                    self.options.patience.as_secs(),
                    self.in_flight.len(),
                    redacted(&self.config.redis),
                    self.config.prefix
                )));
            }
            if self.collect()? {
                last_answer = Instant::now();
            }
        }
    }

    /// Sends one photo, unless it was answered already or a copy of it is on its way.
    fn take(&mut self, path: &Path) -> Result<()> {
        let file = path.display().to_string();
        // Only a regular file within limits.max_photo_mb: a FIFO, a device (or a symlink to
        // one) gets a row that says so, and the scan goes on.
        let bytes = match photo::read_file(path, &self.options.limits) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.out.write(&file, "", &[], Some(&e.report()))?;
                self.report.failed += 1;
                return Ok(());
            }
        };
        let sha256 = photo::sha256(&bytes);
        if self.done.contains(&sha256) {
            self.report.already += 1;
        } else if let Some(answer) = self.answered.get(&sha256) {
            record(&mut self.out, &mut self.report, &file, answer)?;
        } else if let Some(files) = self.copies.get_mut(&sha256) {
            files.push(file);
        } else {
            let meta = WorkMeta {
                origin: Origin::Photo {
                    file: file.clone(),
                    sha256: sha256.clone(),
                },
                captured_ms: unix_ms(),
                reply: self.reply.clone(),
                recent: Vec::new(),
            };
            let id = send(&mut self.link, &self.keys, self.config, &meta, &bytes)?;
            self.in_flight.insert(id, sha256.clone());
            self.copies.insert(sha256, vec![file]);
        }
        Ok(())
    }

    /// Writes the answers that came; whether any did.
    fn collect(&mut self) -> Result<bool> {
        let mut any = false;
        for (id, answer) in read_answers(&mut self.link, &self.reply, &self.last_id) {
            self.last_id = id;
            if self.in_flight.remove(&answer.event_id).is_none() {
                continue;
            }
            any = true;
            let Origin::Photo { sha256, .. } = &answer.origin else {
                continue;
            };
            for file in self.copies.remove(sha256).into_iter().flatten() {
                record(&mut self.out, &mut self.report, &file, &answer)?;
            }
            self.answered.insert(sha256.clone(), answer);
        }
        Ok(any)
    }
}

/// Writes a photo's answer for `file` and counts it.
fn record(out: &mut Output, report: &mut ScanReport, file: &str, answer: &Answer) -> Result<()> {
    let Origin::Photo { sha256, .. } = &answer.origin else {
        return Ok(());
    };
    out.write(file, sha256, &answer.faces, answer.error.as_deref())?;
    if answer.error.is_some() {
        report.failed += 1;
    } else {
        report.answered += 1;
        report.faces += answer.faces.len();
    }
    Ok(())
}

fn send(
    link: &mut Link,
    keys: &Keys,
    config: &StreamsConfig,
    meta: &WorkMeta,
    image: &[u8],
) -> Result<String> {
    let fields = Work::fields(meta, image)?;
    let started = Instant::now();
    loop {
        // No MAXLEN: trimming would drop photos the scan waits for; the scan bounds itself.
        match link.run(|c| {
            redis::cmd("XADD")
                .arg(&keys.faces)
                .arg("*")
                .arg(&fields[..])
                .query::<String>(c)
        }) {
            Ok(id) => return Ok(id),
            Err(Failure::Down) if started.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(link.retry_in().max(Duration::from_millis(50)));
            }
            Err(failure) => {
                return Err(Error::Broker {
                    service: "Redis",
                    address: config.redis.clone(),
                    message: format!("cannot send a photo: {failure:?}"),
                    source: None,
                });
            }
        }
    }
}

/// Answers after `last`, waiting up to [`link::BLOCK_MS`]; none while Redis is down.
fn read_answers(link: &mut Link, reply: &str, last: &str) -> Vec<(String, Answer)> {
    match link::read(link, &Reader::Anyone, reply, last, 100) {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|entry| match Answer::from_entry(&entry) {
                Ok(answer) => Some((entry.id, answer)),
                Err(e) => {
                    tracing::warn!("{}", e.report());
                    None
                }
            })
            .collect(),
        Err(_) => {
            std::thread::sleep(link.retry_in().max(Duration::from_millis(50)));
            Vec::new()
        }
    }
}

fn delete(link: &mut Link, key: &str) {
    if let Err(f) = link.run(|c| redis::cmd("DEL").arg(key).query::<u64>(c)) {
        tracing::debug!("cannot delete {key}: {f:?}");
    }
}

/// The images under `dir`. A symlink to a folder is not followed (it could lead back up, and
/// round forever); a symlink to a file is taken, and read only if it is a regular file.
fn find_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::read(dir, e))?;
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find_images(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(e))
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// The sha256 of every photo an earlier run wrote to `out`.
fn answered_before(out: &Path, format: ScanFormat) -> Result<HashSet<String>> {
    if !out.exists() {
        return Ok(HashSet::new());
    }
    let file = open_regular(out)?;
    let mut done = HashSet::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::read(out, e))?;
        let sha256 = match format {
            ScanFormat::Jsonl => serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["sha256"].as_str().map(str::to_owned)),
            ScanFormat::Csv if n == 0 && line == CSV_HEADER => continue,
            ScanFormat::Csv if n == 0 => None,
            ScanFormat::Csv => csv_fields(&line).into_iter().nth(1),
        };
        match sha256 {
            Some(sha256) => done.insert(sha256),
            None => {
                return Err(Error::InvalidInput(format!(
                    "{} line {} is not a scan's answer; give a new --out file, or the one an earlier scan wrote",
                    out.display(),
                    n + 1
                )));
            }
        };
    }
    Ok(done)
}

/// The answers file, appended to photo by photo.
struct Output {
    path: PathBuf,
    format: ScanFormat,
    writer: BufWriter<File>,
}

impl Output {
    fn open(path: &Path, format: ScanFormat) -> Result<Output> {
        let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
        let mut out = Output {
            path: path.to_owned(),
            format,
            writer: BufWriter::new(file),
        };
        if new && format == ScanFormat::Csv {
            out.line(CSV_HEADER)?;
        }
        Ok(out)
    }

    fn write(
        &mut self,
        file: &str,
        sha256: &str,
        faces: &[AnsweredFace],
        error: Option<&str>,
    ) -> Result<()> {
        match self.format {
            ScanFormat::Jsonl => {
                let line = serde_json::json!({
                    "file": file,
                    "sha256": sha256,
                    "faces": faces,
                    "error": error,
                });
                self.line(&line.to_string())?;
            }
            ScanFormat::Csv if faces.is_empty() => {
                let row = [file, sha256, "", "", "", "", "", "", error.unwrap_or("")];
                self.line(&csv_row(&row))?;
            }
            ScanFormat::Csv => {
                for face in faces {
                    let b = face.detection.bbox;
                    let distance = face
                        .identity
                        .distance
                        .map(|d| format!("{d:.4}"))
                        .unwrap_or_default();
                    let row = [
                        file,
                        sha256,
                        &b.x.to_string(),
                        &b.y.to_string(),
                        &b.width.to_string(),
                        &b.height.to_string(),
                        &face.label,
                        &distance,
                        error.unwrap_or(""),
                    ];
                    self.line(&csv_row(&row))?;
                }
            }
        }
        // Each photo's rows reach the file before the next answer, for a resume after a crash.
        self.writer.flush().map_err(|e| Error::write(&self.path, e))
    }

    fn line(&mut self, text: &str) -> Result<()> {
        writeln!(self.writer, "{text}").map_err(|e| Error::write(&self.path, e))
    }

    fn finish(mut self) -> Result<()> {
        self.writer.flush().map_err(|e| Error::write(&self.path, e))
    }
}

/// A CSV row, quoting fields with commas, quotes or line breaks (RFC 4180).
fn csv_row(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                (*f).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The fields of a CSV row [`csv_row`] wrote.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = fields.last_mut() {
                    f.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_survive_commas_and_quotes_in_names() {
        let row = ["a,b.jpg", "abc", "1", "", "Zoë \"Z\" Ann"];
        assert_eq!(csv_fields(&csv_row(&row)), row);
    }
}
