//! The distributed pipeline's tests: a Redis key prefix and MQTT topic prefix of a test's own
//! on the servers `WHOISIT_TEST_REDIS` and `WHOISIT_TEST_MQTT` (`scripts/test.sh` sets them,
//! starting servers when none runs), processes that are killed when a test ends, and a private
//! redis-server for the tests that restart it.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) fn redis_url() -> String {
    std::env::var("WHOISIT_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub(crate) fn mqtt_url() -> String {
    std::env::var("WHOISIT_TEST_MQTT").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into())
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("whoisit-t-{what}-{}-{nanos}", std::process::id())
}

/// A prefix of a test's own on a Redis server; its keys are deleted when the test ends.
pub(crate) struct Site {
    pub(crate) redis: String,
    pub(crate) prefix: String,
    pub(crate) topics: String,
}

impl Site {
    pub(crate) fn new() -> Site {
        Site::on(&redis_url())
    }

    pub(crate) fn on(redis: &str) -> Site {
        let site = Site {
            redis: redis.to_owned(),
            prefix: unique("site"),
            topics: unique("topics"),
        };
        site.connection(); // fails early, with the reason, if there is no Redis
        site
    }

    pub(crate) fn connection(&self) -> redis::Connection {
        redis::Client::open(self.redis.as_str())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| {
                panic!(
                    "no Redis at {} ({e}); run the tests through scripts/test.sh, or set WHOISIT_TEST_REDIS",
                    self.redis
                )
            })
    }

    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `--redis URL --prefix PREFIX`, for the commands.
    pub(crate) fn args(&self) -> Vec<String> {
        vec![
            "--redis".into(),
            self.redis.clone(),
            "--prefix".into(),
            self.prefix.clone(),
        ]
    }

    /// Every entry of a stream, as (id, fields).
    pub(crate) fn entries(&self, stream: &str) -> Vec<redis::streams::StreamId> {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(self.key(stream))
            .arg("-")
            .arg("+")
            .query(&mut self.connection())
            .unwrap();
        reply.ids
    }

    /// The answers on a stream, as JSON.
    pub(crate) fn answers(&self, stream: &str) -> Vec<Value> {
        self.entries(stream)
            .iter()
            .map(|e| serde_json::from_slice(&e.get::<Vec<u8>>("meta").unwrap()).unwrap())
            .collect()
    }

    pub(crate) fn len(&self, stream: &str) -> usize {
        redis::cmd("XLEN")
            .arg(self.key(stream))
            .query(&mut self.connection())
            .unwrap()
    }

    /// Entries of the work stream no worker has acknowledged.
    pub(crate) fn pending(&self) -> u64 {
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(self.key("faces"))
            .arg("recognizers")
            .query(&mut self.connection())
            .unwrap();
        match summary {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n as u64,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// A worker's counters, from `PREFIX:workers:NAME`.
    pub(crate) fn counters(&self, worker: &str) -> std::collections::HashMap<String, u64> {
        redis::cmd("HGETALL")
            .arg(self.key(&format!("workers:{worker}")))
            .query(&mut self.connection())
            .unwrap()
    }

    /// Adds one piece of camera work to the work stream, as an agent would.
    pub(crate) fn add_work(&self, meta: &Value, image: &[u8], maxlen: Option<usize>) -> String {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.key("faces"));
        if let Some(maxlen) = maxlen {
            cmd.arg("MAXLEN").arg("~").arg(maxlen);
        }
        cmd.arg("*")
            .arg("meta")
            .arg(meta.to_string())
            .arg("image")
            .arg(image)
            .query(&mut self.connection())
            .unwrap()
    }

    /// Camera work for `face` in the JPEG `image`, captured now.
    pub(crate) fn camera_work(&self, camera: &str, track: u64, face: [i32; 4]) -> Value {
        serde_json::json!({
            "kind": "camera",
            "camera": camera,
            "track": track,
            "frame": track,
            "face": { "box": face, "confidence": 0.99 },
            "crop_at": [0, 0],
            "captured_ms": whoisit::stream::unix_ms(),
            "reply": self.key("results"),
        })
    }
}

/// Waits up to `limit` for `done`, polling; panics with `what` if it never holds.
pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.redis.as_str()) else {
            return;
        };
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty()
            && let Err(e) = redis::cmd("DEL").arg(&keys).query::<u64>(&mut c)
        {
            eprintln!("cannot delete the keys of {}: {e}", self.prefix);
        }
    }
}

/// A whoisit process in the background, killed when dropped; its stderr goes to a log file.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    /// Its stdout lines so far.
    pub(crate) lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub(crate) fn start(home: &Path, name: &str, args: &[String]) -> Proc {
        let log = home.join(format!("{name}.log"));
        let mut child = super::cli::spawnable(home)
            .env("RUST_LOG", "whoisit=info")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child, log, lines }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub(crate) fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end by itself; panics (with its log) if it fails or takes
    /// longer than `limit`. Returns its stdout lines.
    pub(crate) fn finish(mut self, limit: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "it failed ({status}); its log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(200));
                return self.lines.lock().unwrap().clone();
            }
            assert!(
                start.elapsed() < limit,
                "it did not end in {limit:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Asks the process to stop (SIGTERM), waits, and returns its stdout lines.
    pub(crate) fn stop(self) -> Vec<String> {
        self.signal("TERM");
        self.finish(Duration::from_secs(30))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// A redis-server of a test's own on a free loopback port, keeping nothing on disk, so a test
/// can stop and restart it.
pub(crate) struct PrivateRedis {
    pub(crate) port: u16,
    password: Option<String>,
    child: Option<Child>,
}

impl PrivateRedis {
    pub(crate) fn start() -> PrivateRedis {
        Self::start_with(None)
    }

    /// One that asks every client for `password`.
    pub(crate) fn with_password(password: &str) -> PrivateRedis {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = PrivateRedis {
            port,
            password,
            child: None,
        };
        redis.restart();
        redis
    }

    pub(crate) fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    pub(crate) fn restart(&mut self) {
        let mut command = std::process::Command::new("redis-server");
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}); scripts/test.sh installs it")
            });
        self.child = Some(child);
        let client = redis::Client::open(self.url()).unwrap();
        let start = Instant::now();
        while client
            .get_connection_with_timeout(Duration::from_millis(200))
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server at once, as a crash would.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Messages a subscriber received on `TOPICS/#`: (topic, JSON).
pub(crate) struct Subscriber {
    pub(crate) messages: Arc<Mutex<Vec<(String, Value)>>>,
    client: rumqttc::Client,
}

impl Subscriber {
    pub(crate) fn new(topics: &str) -> Subscriber {
        let url = mqtt_url();
        let rest = url.trim_start_matches("mqtt://");
        let (host, port) = rest.rsplit_once(':').unwrap();
        let mut options =
            rumqttc::MqttOptions::new(unique("sub"), host.to_owned(), port.parse().unwrap());
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = rumqttc::Client::new(options, 100);
        client
            .subscribe(format!("{topics}/#"), rumqttc::QoS::AtLeastOnce)
            .unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (sink, (ready_tx, ready)) = (messages.clone(), std::sync::mpsc::channel());
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        ready_tx.send(()).ok();
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let json: Value = serde_json::from_slice(&p.payload).unwrap();
                        assert!(!p.retain, "events are never retained");
                        sink.lock().unwrap().push((p.topic.clone(), json));
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no MQTT broker at {url}; run the tests through scripts/test.sh, or set WHOISIT_TEST_MQTT"));
        Subscriber { messages, client }
    }

    pub(crate) fn received(&self) -> Vec<(String, Value)> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.client.disconnect().ok();
    }
}
