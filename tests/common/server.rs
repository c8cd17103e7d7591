//! `whoisit serve` as a real process on a free loopback port, and a small HTTP client for it.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::cli::{spawnable, spawnable_under, whoisit};

/// Makes a key with `whoisit keys create` and returns it.
pub(crate) fn make_key(home: &Path, global: &[&str], name: &str, scope: &str) -> String {
    let output = whoisit(home)
        .args(global)
        .args(["keys", "create", "--name", name, "--scope", scope])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("shown only now"), "{stderr}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A running server, killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `whoisit [global...] serve --listen 127.0.0.1:0 [args...]` with `home`'s data
    /// dir, and waits until it listens.
    pub(crate) fn start(home: &Path, global: &[&str], args: &[&str]) -> Server {
        Server::start_with(spawnable(home), home, global, args)
    }

    /// [`Server::start`] with at most `files` open files (`ulimit -n`).
    pub(crate) fn start_limited(home: &Path, files: u32, global: &[&str], args: &[&str]) -> Server {
        let limit = format!("--nofile={files}:{files}");
        Server::start_with(
            spawnable_under(home, &["prlimit", &limit, "--"]),
            home,
            global,
            args,
        )
    }

    fn start_with(
        mut command: std::process::Command,
        home: &Path,
        global: &[&str],
        args: &[&str],
    ) -> Server {
        let log = home.join(format!("serve-{}.log", std::process::id()));
        let mut child = command
            .env("RUST_LOG", "whoisit=info")
            .args(global)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let read = std::io::BufReader::new(stdout).read_line(&mut first);
            tx.send(read.map(|_| first)).ok();
        });
        let line = rx.recv_timeout(Duration::from_secs(180));
        let url = match line {
            Ok(Ok(line)) if line.starts_with("listening on ") => {
                line.trim().trim_start_matches("listening on ").to_owned()
            }
            other => {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "the server did not start ({other:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server { child, url, log }
    }

    /// A client without a key.
    pub(crate) fn client(&self) -> Api {
        Api::new(&self.url, None)
    }

    /// What the server wrote to stderr so far.
    /// The server's peak resident memory so far, in MiB.
    pub(crate) fn peak_rss_mib(&self) -> u64 {
        super::peak_rss_mib(self.child.id())
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL, as a power cut would.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Asks the server to stop (SIGTERM) and waits for it; returns whether it exited 0.
    pub(crate) fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// An answer: status, headers and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The answer, after checking its status (the body is shown when it is another).
    pub(crate) fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Checks an error answer: its status, its JSON body's code, and words of its message.
    pub(crate) fn expect_error(&self, status: u16, code: &str, words: &str) {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{body}");
        assert!(self.content_type.starts_with("application/json"), "{body}");
        assert_eq!(self.code(), code, "{body}");
        assert!(self.message().contains(words), "{words:?} not in {body}");
    }

    /// Status and error code, to compare at once.
    pub(crate) fn error(&self) -> (u16, String) {
        (self.status, self.code())
    }

    /// The error code of an error answer.
    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// An HTTP agent that gives up after `timeout` and treats every status as an answer.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// A client of the API, with or without a key.
#[derive(Clone)]
pub(crate) struct Api {
    base: String,
    key: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    pub(crate) fn new(base: &str, key: Option<&str>) -> Api {
        Api {
            base: base.to_owned(),
            key: key.map(str::to_owned),
            agent: agent(Duration::from_secs(120)),
        }
    }

    pub(crate) fn with_key(&self, key: &str) -> Api {
        Api {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.key {
            Some(key) => request.header("Authorization", format!("Bearer {key}")),
            None => request,
        }
    }

    fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        Self::try_answer(result).unwrap()
    }

    fn try_answer(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, ureq::Error> {
        let mut response = result?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let request_id = header("x-request-id");
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()?;
        Ok(Answer {
            status: response.status().as_u16(),
            content_type,
            retry_after,
            request_id,
            body,
        })
    }

    pub(crate) fn get(&self, path: &str) -> Answer {
        Self::answer(self.auth(self.agent.get(self.url(path))).call())
    }

    pub(crate) fn delete(&self, path: &str) -> Answer {
        Self::answer(self.auth(self.agent.delete(self.url(path))).call())
    }

    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post(path, "application/json", &serde_json::to_vec(body).unwrap())
    }

    pub(crate) fn patch_json(&self, path: &str, body: &Value) -> Answer {
        Self::answer(
            self.auth(self.agent.patch(self.url(path)))
                .header("Content-Type", "application/json")
                .send(&serde_json::to_vec(body).unwrap()[..]),
        )
    }

    /// The names `POST /v1/recognize` answers for the test photo `photo`, one per face.
    pub(crate) fn names(&self, photo: &str) -> Vec<Option<String>> {
        let answer = self
            .post(
                "/v1/recognize",
                "image/jpeg",
                &std::fs::read(super::photo(photo)).unwrap(),
            )
            .expect(200)
            .json();
        answer["faces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().map(str::to_owned))
            .collect()
    }

    pub(crate) fn put_json(&self, path: &str, body: &Value) -> Answer {
        Self::answer(
            self.auth(self.agent.put(self.url(path)))
                .header("Content-Type", "application/json")
                .send(&serde_json::to_vec(body).unwrap()[..]),
        )
    }

    pub(crate) fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Answer {
        self.try_post(path, content_type, body).unwrap()
    }

    /// A POST whose connection may fail (the server was killed).
    pub(crate) fn try_post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Answer, ureq::Error> {
        Self::try_answer(
            self.auth(self.agent.post(self.url(path)))
                .header("Content-Type", content_type)
                .send(body),
        )
    }

    /// A photo in the form field `field` of a multipart/form-data body.
    pub(crate) fn post_form(&self, path: &str, field: &str, photo: &[u8]) -> Answer {
        let boundary = "whoisit-test-boundary-7d9f";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(photo);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.post(
            path,
            &format!("multipart/form-data; boundary={boundary}"),
            &body,
        )
    }
}
