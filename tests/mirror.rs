//! Package files come from the index this machine's pip is pointed at: a local mirror on
//! loopback, serving a simple index (PEP 503) with one sdist, is used for a file named only by
//! its package coordinates, and what is wrong with it is said.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use sha2::Digest as _;
use whoisit::models::fetch::{Artifact, Checksum, Fetcher, Quiet, Source};
use whoisit::models::registry::{PackageFile, Registry};

const MEMBER: &str = "demo_pkg-1.0/data/hello.txt";
const CONTENT: &[u8] = b"hello from the mirror\n";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `demo_pkg-1.0.tar.gz`: PKG-INFO and one data file.
fn sdist() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, data) in [
        (
            "demo_pkg-1.0/PKG-INFO",
            &b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"[..],
        ),
        (MEMBER, CONTENT),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A package index on loopback that serves `demo-pkg`'s page and its sdist, and records every
/// path asked for. It stops with the test process.
fn serve_index(sdist: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let page = format!(
        "<!DOCTYPE html><html><body><h1>Links for demo-pkg</h1>\n\
         <a href=\"../../files/demo_pkg-1.0.tar.gz#sha256={}\">demo_pkg-1.0.tar.gz</a><br/>\n\
         </body></html>\n",
        sha256(&sdist)
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request_line = String::new();
            if BufReader::new(&stream)
                .read_line(&mut request_line)
                .is_err()
            {
                continue;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            log.lock().unwrap().push(path.clone());
            let (status, body): (&str, &[u8]) = match path.as_str() {
                "/simple/demo-pkg/" => ("200 OK", page.as_bytes()),
                "/files/demo_pkg-1.0.tar.gz" => ("200 OK", &sdist),
                _ => ("404 Not Found", b"not here"),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            // A client that hung up early has what it wanted, or will say what it lacked.
            if let Err(e) = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(body))
            {
                eprintln!("index: {e}");
            }
        }
    });
    (base, asked)
}

fn artifact(release: PackageFile, file_sha256: &str) -> Artifact {
    Artifact {
        file: "hello.txt".into(),
        checksum: Checksum::Sha256(file_sha256.into()),
        size: CONTENT.len() as u64,
        sources: vec![Source::Package {
            release,
            member: MEMBER.into(),
        }],
    }
}

#[test]
fn the_index_pip_is_configured_with_is_used() {
    let sdist = sdist();
    let release = PackageFile {
        registry: Registry::PyPi,
        package: "Demo_Pkg".into(),
        version: "1.0".into(),
        file: "demo_pkg-1.0.tar.gz".into(),
        sha256: sha256(&sdist),
    };
    let (base, asked) = serve_index(sdist);
    // SAFETY: this test binary has this one test, and no other thread reads the environment
    // while it is changed: the index thread only serves sockets.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PIP_INDEX_URL", format!("{base}/simple/"));
        std::env::set_var("NO_PROXY", "127.0.0.1");
    }
    let dir = tempfile::tempdir().unwrap();

    let fetched = Fetcher::new(&Quiet)
        .unwrap()
        .ensure(&artifact(release.clone(), &sha256(CONTENT)), dir.path())
        .unwrap_or_else(|e| panic!("{}", e.report()));
    assert!(fetched);
    assert_eq!(
        std::fs::read(dir.path().join("hello.txt")).unwrap(),
        CONTENT
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["/simple/demo-pkg/", "/files/demo_pkg-1.0.tar.gz"],
        "the project page by its normalised name, then the file it links to"
    );
    // Idempotent: present and intact, so nothing is asked again.
    assert!(
        !Fetcher::new(&Quiet)
            .unwrap()
            .ensure(&artifact(release.clone(), &sha256(CONTENT)), dir.path())
            .unwrap()
    );
    assert_eq!(asked.lock().unwrap().len(), 2);

    // A mirror serving other bytes than the coordinates' sha256 is refused, and said so.
    let other = tempfile::tempdir().unwrap();
    let tampered = PackageFile {
        sha256: "0".repeat(64),
        ..release.clone()
    };
    let err = Fetcher::new(&Quiet)
        .unwrap()
        .ensure(&artifact(tampered, &sha256(CONTENT)), other.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("archive checksum mismatch") && err.contains("demo_pkg-1.0.tar.gz"),
        "{err}"
    );
    assert!(!other.path().join("hello.txt").exists());

    // A file the index does not list names the index.
    let missing = PackageFile {
        file: "demo_pkg-2.0.tar.gz".into(),
        ..release
    };
    let err = Fetcher::new(&Quiet)
        .unwrap()
        .ensure(&artifact(missing, &sha256(CONTENT)), other.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "the package index at {base}/simple/ lists no demo_pkg-2.0.tar.gz"
        )),
        "{err}"
    );
}
