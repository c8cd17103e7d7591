//! The desktop window: the live picture with labelled faces, and panels to enroll people, manage
//! them and change settings; or, in kiosk mode, the picture and greetings only.
//!
//! The window's thread only draws and polls. Loading models, reading frames, recognising,
//! enrolling and every gallery access happen on other threads, which wake it when they have
//! something new.

pub mod enroll;
pub mod kiosk;
pub mod people;
pub mod settings;
pub mod status;
pub mod task;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, RichText};

use crate::base::error::Result;
use crate::config::Config;
use crate::config::settings::Settings;
use crate::enroll::ReembedReport;
use crate::models::fetch::Progress;
use crate::runtime::session::{Session, SourceState, Waker};
use crate::runtime::start;
use crate::runtime::worker::Command;

use self::enroll::EnrollPanel;
use self::kiosk::Kiosk;
use self::people::PeoplePanel;
use self::settings::{Change, SettingsPanel};
use self::status::Meter;
use self::task::Task;
use self::view::LiveView;

/// How the window starts.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The configuration in effect (config files, saved settings and flags).
    pub config: Config,
    /// Where the settings panel saves its choices (the user's data directory).
    pub settings_dir: PathBuf,
    /// Show the built-in demo if the configured camera does not open at start.
    pub demo_if_no_camera: bool,
    pub kiosk: bool,
    /// Close after this long and write `report` (benchmarks).
    pub run_for: Option<Duration>,
    pub report: Option<PathBuf>,
}

/// Opens the window and runs until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("whoisit")
        .with_inner_size([1180.0, 720.0]);
    if launch.kiosk {
        viewport = viewport.with_fullscreen(true).with_decorations(false);
    }
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "whoisit",
        options,
        Box::new(move |cc| Ok(Box::new(App::new(&cc.egui_ctx, launch)))),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the window: {e}\nWithout a desktop session, run `whoisit recognize --headless` \
             for JSON output, or the window under `xvfb-run`"
        )
    })
}

/// Which panel the side bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    None,
    Enroll,
    People,
    Settings,
}

/// What the model loading reports, for the progress bar.
struct Loading {
    what: Mutex<String>,
    done: AtomicUsize,
    total: AtomicUsize,
    wake: Waker,
}

impl Loading {
    fn new(wake: Waker) -> Loading {
        Loading {
            what: Mutex::default(),
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            wake,
        }
    }

    fn wake(&self) {
        (self.wake)();
    }
}

impl Progress for Loading {
    fn start(&self, what: &str, total: Option<u64>) {
        if let Ok(mut w) = self.what.lock() {
            *w = format!("Downloading {what}");
        }
        self.done.store(0, Ordering::Relaxed);
        self.total
            .store(total.unwrap_or(0) as usize, Ordering::Relaxed);
        self.wake();
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes as usize, Ordering::Relaxed);
        self.wake();
    }

    fn finish(&self) {
        if let Ok(mut w) = self.what.lock() {
            *w = "Loading models".into();
        }
        self.wake();
    }
}

/// A session that started, with what the window needs to know about it.
struct Started {
    session: Session,
    /// The configuration it runs with (the demo's own gallery, for the demo).
    config: Config,
    notice: Option<String>,
}

/// The whole window.
pub struct App {
    config: Config,
    settings_dir: PathBuf,
    settings: Settings,
    demo_if_no_camera: bool,
    kiosk: Option<Kiosk>,
    wake: Waker,
    loading: Arc<Loading>,
    starting: Option<Task<Result<Started>>>,
    session: Option<Session>,
    gallery_dir: Option<PathBuf>,
    lacking: usize,
    failure: Option<String>,
    notice: Option<String>,
    view: LiveView,
    meter: Meter,
    enroll: EnrollPanel,
    people: Option<PeoplePanel>,
    settings_panel: SettingsPanel,
    side: Side,
    reembedding: Option<Task<Result<ReembedReport>>>,
    /// Faces re-embedded so far, and how many there are to do.
    reembedded: Arc<(AtomicUsize, AtomicUsize)>,
    saving_settings: Option<Task<Result<()>>>,
    run_until: Option<Instant>,
    report: Option<PathBuf>,
}

impl App {
    pub fn new(ctx: &egui::Context, launch: Launch) -> App {
        let ctx = ctx.clone();
        let wake: Waker = Arc::new(move || ctx.request_repaint());
        let (kiosk, failure) = match launch
            .kiosk
            .then(|| Kiosk::new(launch.config.window.kiosk.clone()))
        {
            Some(Ok(kiosk)) => (Some(kiosk), None),
            Some(Err(e)) => (None, Some(format!("kiosk mode: {e}"))),
            None => (None, None),
        };
        let mut app = App {
            enroll: EnrollPanel::new(launch.config.window.enroll_captures),
            settings: Settings::load(&launch.settings_dir).unwrap_or_default(),
            config: launch.config,
            settings_dir: launch.settings_dir,
            demo_if_no_camera: launch.demo_if_no_camera,
            kiosk,
            loading: Arc::new(Loading::new(wake.clone())),
            wake,
            starting: None,
            session: None,
            gallery_dir: None,
            lacking: 0,
            failure,
            notice: None,
            view: LiveView::default(),
            meter: Meter::default(),
            people: None,
            settings_panel: SettingsPanel::default(),
            side: Side::None,
            reembedding: None,
            reembedded: Arc::default(),
            saving_settings: None,
            run_until: launch.run_for.map(|d| Instant::now() + d),
            report: launch.report,
        };
        if app
            .kiosk
            .as_ref()
            .is_some_and(|k| k.config.allow_enrollment)
        {
            app.side = Side::Enroll;
        }
        app.start();
        app
    }

    /// (Re)starts the session for the current config, on another thread.
    fn start(&mut self) {
        if let Some(old) = self.session.take() {
            // Joining waits for the worker's current frame or job: not on this thread.
            std::thread::spawn(move || drop(old));
        }
        self.view = LiveView::default();
        self.failure = None;
        let config = self.config.clone();
        let demo_if_no_camera = std::mem::take(&mut self.demo_if_no_camera);
        let loading = self.loading.clone();
        let wake = self.wake.clone();
        self.starting = Some(Task::spawn(&self.wake, move || {
            start_session(config, demo_if_no_camera, &loading, wake)
        }));
    }

    // --- What tests and the status bar read.

    /// The labels of the faces in view, left to right.
    pub fn labels(&self) -> Vec<String> {
        self.view.faces().iter().map(|f| f.label.clone()).collect()
    }

    pub fn source_state(&self) -> Option<SourceState> {
        self.session.as_ref().map(Session::state)
    }

    pub fn has_picture(&self) -> bool {
        self.view.has_frame()
    }

    pub fn enroll_panel(&self) -> &EnrollPanel {
        &self.enroll
    }

    pub fn people_panel(&self) -> Option<&PeoplePanel> {
        self.people.as_ref()
    }

    pub fn gallery_dir(&self) -> Option<&Path> {
        self.gallery_dir.as_deref()
    }

    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// Whether the window is on its way out (kiosk: only through the chord and PIN).
    pub fn leaving(&self) -> bool {
        self.kiosk.as_ref().is_some_and(Kiosk::leaving)
    }

    /// The answers of other threads, taken once per frame.
    fn poll(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        match task::poll(&mut self.starting) {
            Some(Ok(started)) => {
                self.lacking = started.session.lacking;
                self.notice = started.notice;
                self.gallery_dir = started.config.data_dir().ok();
                self.people = Some(PeoplePanel::new(started.config));
                if self.side == Side::People
                    && let Some(people) = &mut self.people
                {
                    people.refresh(&self.wake);
                }
                self.session = Some(started.session);
            }
            Some(Err(e)) => self.failure = Some(e.report()),
            None => {}
        }
        if let Some(session) = &mut self.session {
            let mut newest = None;
            while let Ok(frame) = session.frames.try_recv() {
                newest = Some(frame);
            }
            if let Some(frame) = newest {
                self.view.set_frame(ctx, &frame);
                self.meter.frame_shown(now);
            }
            while let Ok(result) = session.results.try_recv() {
                let latency = now.duration_since(result.captured_at).as_secs_f64() * 1000.0;
                self.meter
                    .result(now, latency, result.faces.len(), result.embedded);
                self.view.set_result(&result, now);
            }
            if let Some(failure) = session.failure() {
                self.failure = Some(format!("Recognition stopped: {}", failure.report()));
            }
        }
        self.view.advance(now);
        self.meter.sample_memory(now);
        let session = self.session.as_ref();
        self.enroll.poll(ctx, session, &self.config.enrollment());
        if let Some(people) = &mut self.people {
            people.poll(ctx, &self.wake);
        }
        self.settings_panel.poll();
        if let Some(Err(e)) = task::poll(&mut self.saving_settings) {
            self.notice = Some(format!("Settings not saved: {}", e.report()));
        }
        if let Some(outcome) = task::poll(&mut self.reembedding) {
            self.notice = Some(match outcome {
                Ok(report) => {
                    self.lacking = report.without_image + report.failed.len();
                    let mut text = format!("Re-embedded {} face(s)", report.embedded);
                    if report.without_image > 0 {
                        text += &format!(
                            "; {} stored without an image must be enrolled again",
                            report.without_image
                        );
                    }
                    for failed in &report.failed {
                        text += &format!("\n{failed}");
                    }
                    text
                }
                Err(e) => format!("Re-embedding failed: {}", e.report()),
            });
        }
    }

    fn apply(&mut self, changes: Vec<Change>) {
        let mut restart = false;
        for change in changes {
            match change {
                Change::Source(source) => {
                    self.config.source = source.clone();
                    self.settings.source = Some(source);
                    restart = true;
                }
                Change::Threshold(threshold) => {
                    self.config.threshold = threshold;
                    self.settings.threshold = Some(threshold);
                    if let Some(session) = &self.session {
                        session.send(Command::SetThreshold(threshold));
                    }
                }
                Change::Embedder(embedder) => {
                    self.config.embedder = embedder;
                    self.settings.embedder = Some(embedder);
                    restart = true;
                }
                Change::Mirror(mirror) => {
                    self.config.window.mirror = mirror;
                    self.settings.mirror = Some(mirror);
                }
            }
        }
        let (settings, dir) = (self.settings.clone(), self.settings_dir.clone());
        self.saving_settings = Some(Task::spawn(&self.wake, move || settings.save(&dir)));
        if restart {
            self.start();
        }
    }

    fn reembed(&mut self) {
        let Some(session) = &self.session else { return };
        let (task, reply) = Task::channel();
        self.reembedded = Arc::default();
        let wake = self.wake.clone();
        let done = self.reembedded.clone();
        let sent = session.send(Command::Reembed {
            progress: Box::new(move |n, total| {
                done.0.store(n, Ordering::Relaxed);
                done.1.store(total, Ordering::Relaxed);
                wake();
            }),
            reply,
        });
        if sent {
            self.reembedding = Some(task);
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("whoisit");
            ui.separator();
            for (side, label) in [
                (Side::Enroll, "Enroll"),
                (Side::People, "People"),
                (Side::Settings, "Settings"),
            ] {
                let open = self.side == side;
                if ui.selectable_label(open, label).clicked() {
                    self.side = if open { Side::None } else { side };
                    if self.side == Side::People
                        && let Some(people) = &mut self.people
                    {
                        people.refresh(&self.wake);
                    }
                }
            }
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        let display = self.meter.display_fps(now);
        let recognition = self.meter.recognition_fps(now);
        ui.horizontal_wrapped(|ui| {
            let Some(session) = &self.session else {
                ui.label("starting…");
                return;
            };
            ui.label(format!("Source: {}", session.source));
            match session.state() {
                SourceState::Live { width, height, .. } => {
                    ui.label(format!("{width}x{height}"));
                }
                SourceState::Opening => {
                    ui.label("opening…");
                }
                SourceState::Retrying { .. } => {
                    ui.colored_label(Color32::LIGHT_RED, "unavailable, retrying");
                }
            }
            ui.separator();
            ui.label(format!("display {display:.1} fps"));
            ui.label(format!("recognition {recognition:.1} fps"));
            let latency = self
                .meter
                .latency_ms()
                .map_or("–".to_owned(), |ms| format!("{ms:.0} ms"));
            ui.label(format!("latency {latency}"));
            ui.label(format!("faces {}", self.view.faces().len()));
            let (_, skipped) = session.capture_counts();
            let display_dropped = session.display_dropped.load(Ordering::Relaxed);
            ui.label(format!(
                "dropped {display_dropped} shown / {skipped} recognised"
            ))
            .on_hover_text(
                "Frames the window had no time to show / frames recognition skipped to stay \
                     current (the newest frame is always the one recognised)",
            );
            ui.label(format!("embedder {}", session.embedder_id));
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        let enrollment = self.config.enrollment();
        match self.side {
            Side::None => {}
            Side::Enroll => self.enroll.show(ui, self.session.as_ref(), &enrollment),
            Side::People => match &mut self.people {
                Some(people) => people.show(ui, &self.wake),
                None => {
                    ui.label("The gallery opens once the models are loaded.");
                }
            },
            Side::Settings => {
                let changes = self.settings_panel.show(ui, &self.config, &self.wake);
                if !changes.is_empty() {
                    self.apply(changes);
                }
            }
        }
    }

    /// Messages above the picture: failures, notices, re-embedding.
    fn banners(&mut self, ui: &mut egui::Ui) {
        if let Some(failure) = &self.failure {
            ui.colored_label(Color32::LIGHT_RED, failure);
        }
        if let Some(notice) = &self.notice {
            ui.label(notice);
        }
        if self.reembedding.is_some() {
            let done = self.reembedded.0.load(Ordering::Relaxed);
            let total = self.reembedded.1.load(Ordering::Relaxed).max(1);
            ui.add(
                egui::ProgressBar::new(done as f32 / total as f32)
                    .text(format!("Re-embedding {done} of {total}")),
            );
        } else if self.lacking > 0 && self.kiosk.is_none() {
            ui.horizontal(|ui| {
                ui.colored_label(
                    Color32::YELLOW,
                    format!(
                        "{} enrolled face(s) have no embedding from this embedder and are not recognised.",
                        self.lacking
                    ),
                );
                if ui.button("Re-embed now").clicked() {
                    self.reembed();
                }
            });
        }
    }

    /// The picture, or what stands in for it.
    fn picture(&mut self, ui: &mut egui::Ui) {
        let scale = if self.kiosk.is_some() { 2.0 } else { 1.0 };
        if let Some(kiosk) = &self.kiosk {
            let names: Vec<&str> = self
                .view
                .faces()
                .into_iter()
                .filter_map(|f| f.identity.name.as_deref())
                .collect();
            for greeting in kiosk.greetings(names.into_iter()) {
                ui.label(RichText::new(greeting).size(40.0).color(view::KNOWN));
            }
        }
        if self.starting.is_some() {
            let what = self
                .loading
                .what
                .lock()
                .map(|w| w.clone())
                .unwrap_or_default();
            let done = self.loading.done.load(Ordering::Relaxed);
            let total = self.loading.total.load(Ordering::Relaxed);
            ui.label(if what.is_empty() {
                "Loading models".into()
            } else {
                what
            });
            if total > 0 {
                ui.add(egui::ProgressBar::new(done as f32 / total as f32).show_percentage());
            } else {
                ui.spinner();
            }
            return;
        }
        let state = self.source_state();
        match state {
            Some(SourceState::Retrying { reason }) => {
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() * 0.35);
                    ui.label(
                        RichText::new("Camera unavailable, retrying…")
                            .size(28.0 * scale)
                            .color(Color32::LIGHT_RED),
                    );
                    ui.label(reason);
                });
            }
            _ if self.view.has_frame() => self.view.show(ui, self.config.window.mirror, scale),
            Some(_) => {
                ui.spinner();
            }
            None => {}
        }
    }

    fn finish_run(&mut self, ctx: &egui::Context) {
        let Some(until) = self.run_until else { return };
        if Instant::now() < until {
            return;
        }
        self.run_until = None;
        if let (Some(path), Some(session)) = (&self.report, &self.session) {
            let (read, skipped) = session.capture_counts();
            let report = self.meter.report(session.source.to_string(), read, skipped);
            let written = serde_json::to_string_pretty(&report)
                .map_err(std::io::Error::from)
                .and_then(|json| std::fs::write(path, json));
            if let Err(e) = written {
                tracing::error!("cannot write the report {}: {e}", path.display());
            }
        }
        if let Some(kiosk) = &mut self.kiosk {
            kiosk.allow_exit();
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if let Some(kiosk) = &mut self.kiosk {
            kiosk.guard(&ctx);
        }
        self.poll(&ctx);
        let enrolling = self.side == Side::Enroll;
        if enrolling {
            let enrollment = self.config.enrollment();
            self.enroll
                .handle_keys(&ctx, self.session.as_ref(), &enrollment);
        }
        if self.kiosk.is_none() {
            egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
            egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        }
        if self.side != Side::None {
            egui::Panel::right("side")
                .default_size(340.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui))
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.banners(ui);
            self.picture(ui);
        });
        self.finish_run(&ctx);
        // While boxes glide, draw again even if no frame arrives.
        if !self.view.faces().is_empty() {
            ctx.request_repaint_after(Duration::from_millis(33));
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Join the threads before `main` returns: OpenCV must not outlive it.
        self.session = None;
    }
}

/// Resolves the source (the demo included), loads the models (fetching missing ones) and the
/// gallery, and starts the session.
fn start_session(
    config: Config,
    demo_if_no_camera: bool,
    progress: &Loading,
    wake: Waker,
) -> Result<Started> {
    let start::Start {
        source,
        config,
        notice,
    } = start::resolve_source(&config, demo_if_no_camera, progress)?;
    let worker = start::worker(&config, progress)?;
    let retry = Duration::from_secs_f32(config.window.retry_secs);
    Ok(Started {
        session: Session::start(worker, source, retry, wake)?,
        config,
        notice,
    })
}
