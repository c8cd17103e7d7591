//! Where a package's file is, asked the way this machine is set up: Python packages from the
//! index pip uses (`PIP_INDEX_URL`, pip's config, or pip's own default), Debian packages from
//! the mirrors in the apt sources. So a site's own mirror or proxy just works, and whoisit names
//! no registry host of its own.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// A package registry whoisit's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registry {
    /// The Python package index (release files: sdists and wheels).
    PyPi,
    /// The Debian archive (files of source or binary packages, under `pool/main`).
    Debian,
}

/// One file of a package release, by its coordinates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFile {
    pub registry: Registry,
    /// The project (PyPI) or the source or binary package (Debian) that ships the file.
    pub package: String,
    pub version: String,
    /// The file's name, e.g. `face_recognition-1.3.0.tar.gz`.
    pub file: String,
    /// The sha256 of the whole file, checked before anything is taken out of it.
    pub sha256: String,
}

impl std::fmt::Display for PackageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = match self.registry {
            Registry::PyPi => "PyPI",
            Registry::Debian => "Debian",
        };
        write!(
            f,
            "{} of {registry} package {} {}",
            self.file, self.package, self.version
        )
    }
}

/// The Python package index pip would use: `PIP_INDEX_URL`, else the index in pip's config,
/// else pip's built-in default.
pub(crate) fn pip_index() -> Result<String, String> {
    if let Some(url) = std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok(url.trim().to_owned());
    }
    let pip = |args: &[&str]| -> Result<String, String> {
        let output = Command::new("python3")
            .args(["-m", "pip"])
            .args(args)
            .output()
            .map_err(|e| {
                format!(
                    "python3 cannot be run ({e}): install pip (`apt-get install python3-pip`), \
                     or set PIP_INDEX_URL to your package index"
                )
            })?;
        if !output.status.success() {
            return Err(format!(
                "`python3 -m pip {}` failed: {}; install pip (`apt-get install python3-pip`), \
                 or set PIP_INDEX_URL to your package index",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    if let Some(url) = configured_index(&pip(&["config", "list"])?) {
        return Ok(url);
    }
    // pip's own default index, asked of pip so that it is never written down here.
    let output = Command::new("python3")
        .args([
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])
        .output()
        .map_err(|e| format!("python3 cannot be run: {e}"))?;
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && url.starts_with("http") {
        Ok(url)
    } else {
        Err("cannot tell which package index pip uses; set PIP_INDEX_URL to it".into())
    }
}

/// The index URL in the output of `pip config list` (`download.index-url` before
/// `global.index-url`), if one is set.
fn configured_index(config_list: &str) -> Option<String> {
    let value = |key: &str| {
        config_list.lines().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches(['\'', '"']).to_owned())
        })
    };
    ["download.index-url", "global.index-url"]
        .into_iter()
        .find_map(value)
        .filter(|url| !url.is_empty())
}

/// PEP 503 normalised project name: the path of its page on a simple index.
fn normalized(project: &str) -> String {
    let mut name = String::new();
    for c in project.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !name.ends_with('-') {
                name.push('-');
            }
        } else {
            name.push(c.to_ascii_lowercase());
        }
    }
    name
}

/// The URL of a project's page on a simple index.
pub(crate) fn project_page(index: &str, project: &str) -> String {
    format!("{}/{}/", index.trim_end_matches('/'), normalized(project))
}

/// The download URL of `file` on a simple index page (PEP 503 HTML), made absolute.
pub(crate) fn file_link(page_url: &str, html: &str, file: &str) -> Option<String> {
    let mut rest = html;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start..];
        let end = rest.find("</a>")?;
        let anchor = &rest[..end];
        rest = &rest[end..];
        let Some(text_start) = anchor.find('>') else {
            continue;
        };
        if anchor[text_start + 1..].trim() != file {
            continue;
        }
        let attributes = &anchor[..text_start];
        let href_start = attributes.find("href=\"")? + "href=\"".len();
        let href_len = attributes[href_start..].find('"')?;
        let href = attributes[href_start..href_start + href_len].replace("&amp;", "&");
        let href = href.split('#').next().unwrap_or_default();
        return Some(join(page_url, href));
    }
    None
}

/// `href` resolved against the URL of the page it is on.
fn join(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(path) = href.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (host, path) = rest.split_at(host_end);
    let mut segments: Vec<&str> = if href.starts_with('/') {
        Vec::new()
    } else {
        let dir = &path[..path.rfind('/').unwrap_or(0)];
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for segment in href.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    format!("{scheme}://{host}/{}", segments.join("/"))
}

/// The http(s) mirrors of this machine's apt sources, in the order apt lists them.
pub(crate) fn apt_mirrors(etc_apt: &Path) -> Vec<String> {
    let mut texts: Vec<(bool, String)> = Vec::new();
    if let Ok(text) = std::fs::read_to_string(etc_apt.join("sources.list")) {
        texts.push((false, text));
    }
    if let Ok(entries) = std::fs::read_dir(etc_apt.join("sources.list.d")) {
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let deb822 = path.extension().is_some_and(|e| e == "sources");
            let one_line = path.extension().is_some_and(|e| e == "list");
            if let (true, Ok(text)) = (deb822 || one_line, std::fs::read_to_string(&path)) {
                texts.push((deb822, text));
            }
        }
    }
    let mut mirrors: Vec<String> = Vec::new();
    for (deb822, text) in texts {
        let found = if deb822 {
            deb822_uris(&text)
        } else {
            one_line_uris(&text)
        };
        for uri in found {
            let uri = uri.trim_end_matches('/').to_owned();
            if (uri.starts_with("http://") || uri.starts_with("https://"))
                && !mirrors.contains(&uri)
            {
                mirrors.push(uri);
            }
        }
    }
    mirrors
}

/// `deb [options] URI suite components` lines.
fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("deb ")?;
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix('[') {
                Some(options) => &options[options.find(']')? + 1..],
                None => rest,
            };
            rest.split_whitespace().next().map(str::to_owned)
        })
        .collect()
}

/// The `URIs:` of the enabled `Types: deb` stanzas of a deb822 `.sources` file.
fn deb822_uris(text: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let binary = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.eq_ignore_ascii_case("no"));
        if binary
            && enabled
            && let Some(list) = field("URIs")
        {
            uris.extend(list.split_whitespace().map(str::to_owned));
        }
    }
    uris
}

/// Where a Debian package's file is on a mirror: `pool/main/<d or libd>/<package>/<file>`.
pub(crate) fn pool_url(mirror: &str, package: &str, file: &str) -> String {
    let prefix_len = if package.starts_with("lib") && package.len() > 3 {
        4
    } else {
        1
    };
    let prefix: String = package.chars().take(prefix_len).collect();
    format!("{mirror}/pool/main/{prefix}/{package}/{file}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_index_links_are_found_and_made_absolute() {
        let html = r#"<html><body>
            <a href="https://files.example/packages/aa/demo-1.0.tar.gz#sha256=ab">demo-1.0.tar.gz</a><br/>
            <a data-requires-python="&gt;=3" href="../../+f/12/demo-1.1.tar.gz#sha256=cd">demo-1.1.tar.gz</a>
            <a href="/files/demo-1.2.tar.gz?x=1&amp;y=2">demo-1.2.tar.gz</a>
        </body></html>"#;
        let page = "http://127.0.0.1:3141/root/pypi/+simple/demo/";
        assert_eq!(
            file_link(page, html, "demo-1.0.tar.gz").as_deref(),
            Some("https://files.example/packages/aa/demo-1.0.tar.gz")
        );
        assert_eq!(
            file_link(page, html, "demo-1.1.tar.gz").as_deref(),
            Some("http://127.0.0.1:3141/root/pypi/+f/12/demo-1.1.tar.gz")
        );
        assert_eq!(
            file_link(page, html, "demo-1.2.tar.gz").as_deref(),
            Some("http://127.0.0.1:3141/files/demo-1.2.tar.gz?x=1&y=2")
        );
        assert_eq!(file_link(page, html, "demo-9.tar.gz"), None);
        assert_eq!(
            project_page("http://mirror/simple/", "Face_Recognition.models"),
            "http://mirror/simple/face-recognition-models/"
        );
    }

    #[test]
    fn pip_config_and_apt_sources_are_read() {
        let list = "global.cert='/etc/ssl/certs/ca.crt'\nglobal.index-url='http://mirror/simple'\n";
        assert_eq!(
            configured_index(list).as_deref(),
            Some("http://mirror/simple")
        );
        assert_eq!(configured_index("global.cert='/x'\n"), None);

        let etc = tempfile::tempdir().unwrap();
        std::fs::write(
            etc.path().join("sources.list"),
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://apt.example/debian/ bookworm main\ndeb-src http://src.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::create_dir(etc.path().join("sources.list.d")).unwrap();
        std::fs::write(
            etc.path().join("sources.list.d/a.sources"),
            "Types: deb\nURIs: https://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nEnabled: no\nURIs: http://off.example/debian\n\nTypes: deb deb-src\nURIs: http://apt.example/debian http://sec.example/debian-security\n",
        )
        .unwrap();
        assert_eq!(
            apt_mirrors(etc.path()),
            [
                "http://apt.example/debian",
                "https://mirror.example/debian",
                "http://sec.example/debian-security"
            ]
        );
        assert_eq!(
            pool_url("http://m/debian", "dlib", "dlib_19.24+dfsg.orig.tar.bz2"),
            "http://m/debian/pool/main/d/dlib/dlib_19.24+dfsg.orig.tar.bz2"
        );
        assert_eq!(
            pool_url("http://m/debian", "libfoo", "libfoo_1.deb"),
            "http://m/debian/pool/main/libf/libfoo/libfoo_1.deb"
        );
    }
}
