//! A real browser for the console's tests: Debian's Chromium, headless, driven over WebDriver
//! by its chromedriver (both installed by scripts/setup.sh), on a free loopback port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// A chromedriver process, killed when dropped, and a browser session it drives.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of 1280x800 (a laptop's screen), with
    /// `extra` command-line switches (e.g. a fake camera).
    pub(crate) async fn start(extra: &[&str]) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run chromedriver ({e}): install chromium and chromium-driver (scripts/setup.sh does)")
            });
        let mut browser_args = vec![
            "--headless=new".to_owned(),
            // As root (CI, containers) Chromium refuses to start with its sandbox.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1280,800".to_owned(),
        ];
        browser_args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": "/usr/bin/chromium", "args": browser_args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                // chromedriver takes a moment to listen.
                Err(_) if started.elapsed() < Duration::from_secs(60) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver on {url} started no browser: {e}"),
            }
        };
        Browser { client, driver }
    }

    /// Opens `url` and waits for its page.
    pub(crate) async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The path of the page shown.
    pub(crate) async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// The visible text of the element `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        // A page that is being replaced (after a click, or its script's reload) loses the
        // element found a moment ago: look again on the next page.
        let mut tries = 0;
        loop {
            let found = self.client.find(Locator::Css(css)).await;
            let text = match found {
                Ok(element) => element.text().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match text {
                Ok(text) => return text,
                Err(e) if tries >= 20 => panic!("no {css} on the page ({e})"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            }
        }
    }

    /// The text of the element `css` once it holds `needle` (the page's script answers after
    /// the server does): panics with what it held after two minutes.
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{css} never said {needle:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Chooses `files` in the file field `css`.
    pub(crate) async fn choose_files(&self, css: &str, files: &[&Path]) {
        let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.send_keys(&paths.join("\n")).await.unwrap();
    }

    /// The page's weight (its HTML and everything it loaded, in bytes as sent) and the time
    /// from the request to its first contentful paint, in ms, as the browser measured them.
    pub(crate) async fn page_figures(&self) -> (u64, f64) {
        let script = "const nav = performance.getEntriesByType('navigation')[0];
            const loaded = performance.getEntriesByType('resource')
              .reduce((sum, r) => sum + r.encodedBodySize, 0);
            const paint = performance.getEntriesByName('first-contentful-paint')[0];
            return [nav.encodedBodySize + loaded, paint ? paint.startTime : -1];";
        let figures = self.client.execute(script, vec![]).await.unwrap();
        (figures[0].as_u64().unwrap(), figures[1].as_f64().unwrap())
    }

    /// The page's weight without its images: its HTML, script and style sheet, in bytes as sent.
    pub(crate) async fn weight_without_images(&self) -> u64 {
        let script = "return performance.getEntriesByType('navigation')[0].encodedBodySize
            + performance.getEntriesByType('resource').filter((r) => r.initiatorType !== 'img')
              .reduce((sum, r) => sum + r.encodedBodySize, 0);";
        self.client
            .execute(script, vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap()
    }

    /// The labels of the console's navigation.
    pub(crate) async fn names_in_nav(&self) -> Vec<String> {
        self.texts(".top nav a").await
    }

    /// The visible text of every element `css`, in the page's order.
    pub(crate) async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.unwrap() {
            texts.push(element.text().await.unwrap());
        }
        texts
    }

    /// Waits until every image `css` has loaded (lazy ones too: they are scrolled to), and
    /// returns how many there are; panics with the ones that did not after a minute.
    pub(crate) async fn images_loaded(&self, css: &str) -> usize {
        let script = "const images = [...document.querySelectorAll(arguments[0])];
            images.forEach((i) => { if (!i.complete) i.scrollIntoView(); });
            window.scrollTo(0, 0);
            return [images.length, images.filter((i) => !(i.complete && i.naturalWidth > 0))
              .map((i) => i.src)];";
        let started = Instant::now();
        loop {
            let seen = self.client.execute(script, vec![json!(css)]).await.unwrap();
            if seen[1].as_array().unwrap().is_empty() {
                return usize::try_from(seen[0].as_u64().unwrap()).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "images that never loaded: {}",
                seen[1]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The page's controls that a screen reader could not name (a field with no label, a
    /// button with no words) or that the keyboard cannot reach: empty on a good page.
    pub(crate) async fn unlabelled_controls(&self) -> Vec<String> {
        let script = "return [...document.querySelectorAll('input:not([type=hidden]), select,               textarea, button, a[href]')]
              .filter((c) => {
                const named = c.labels?.length || c.getAttribute('aria-label')
                  || (!['INPUT', 'SELECT', 'TEXTAREA'].includes(c.tagName) && c.textContent.trim());
                return !named || c.tabIndex < 0;
              })
              .map((c) => c.outerHTML.slice(0, 120));";
        let found = self.client.execute(script, vec![]).await.unwrap();
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    }

    /// How much wider than the window the page is, in CSS pixels: 0 when it fits.
    pub(crate) async fn overflow(&self) -> i64 {
        self.client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap()
            .as_i64()
            .unwrap()
    }

    /// The attribute `name` of the element `css`.
    pub(crate) async fn attr(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page ({e})"))
            .attr(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{css} has no {name}"))
    }

    /// Whether the page has an element `css`.
    pub(crate) async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Types `text` into the field `css`.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css` (and waits for the page it leads to, if any).
    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} to click ({e})"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks `css`, which loads another page (a form's submit, a link), and waits until the
    /// page clicked on is gone: reading right after a click may read the old page.
    pub(crate) async fn click_to_next_page(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        let started = Instant::now();
        // The old page's element goes stale once the next page replaced it.
        while old.text().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "clicking {css} loaded no other page"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs in with `key` at the console's login page.
    pub(crate) async fn log_in(&self, base: &str, key: &str) {
        self.open(&format!("{base}/login")).await;
        self.type_into("#key", key).await;
        self.click("form.login button").await;
        // The next page: the console, or the login again with what went wrong.
        let started = Instant::now();
        while self.path().await == "/login" && !self.has("#problem").await {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the login page stays as it was"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `fetch(path, {method, headers})` from the page, as the console's own script would:
    /// the status and the body's text.
    pub(crate) async fn fetch(
        &self,
        method: &str,
        path: &str,
        headers: Value,
        body: Option<&str>,
    ) -> (u16, String) {
        let script = "const [method, path, headers, body, done] = arguments;
            fetch(path, {method, headers, body, credentials: 'same-origin'})
              .then(r => r.text().then(t => done([r.status, t])))
              .catch(e => done([0, String(e)]));";
        let answer = self
            .client
            .execute_async(
                script,
                vec![json!(method), json!(path), headers, json!(body)],
            )
            .await
            .unwrap();
        (
            u16::try_from(answer[0].as_u64().unwrap()).unwrap(),
            answer[1].as_str().unwrap().to_owned(),
        )
    }

    /// The CSRF token the page carries for its script.
    pub(crate) async fn csrf(&self) -> String {
        self.client
            .find(Locator::Css("meta[name=csrf-token]"))
            .await
            .unwrap()
            .attr("content")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Scrolls the page until the element `css` is at the top of the window.
    pub(crate) async fn scroll_to(&self, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView();",
                vec![json!(css)],
            )
            .await
            .unwrap();
    }

    /// Saves a screenshot of the page as `target/console-screenshots/NAME.png`, for a person
    /// to look at (the README shows some).
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the browser; its driver ends as the value is dropped.
    pub(crate) async fn close(self) {
        self.client.clone().close().await.ok();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}
