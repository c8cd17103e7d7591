//! The window itself: its panels, and the loop that draws them and polls the session.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use eframe::egui::{self, Color32, RichText};

use crate::base::error::Result;
use crate::config::Config;
use crate::config::settings::Settings;
use crate::gallery::{Actor, AuditAction};
use crate::runtime::capture::SourceState;
use crate::runtime::session::{Session, Waker};
use crate::runtime::worker::Command;

use super::enroll::EnrollPanel;
use super::kiosk::Kiosk;
use super::people::PeoplePanel;
use super::reembed::Reembedding;
use super::settings::{Change, SettingsPanel};
use super::start::Startup;
use super::status::Meter;
use super::task::Task;
use super::view::LiveView;
use super::{Launch, reembed, task, view};

/// Opens the window and runs until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    let title = match &launch.camera {
        Some(camera) => format!("whoisit: camera {camera}"),
        None => "whoisit".to_owned(),
    };
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(title)
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

/// The configuration in effect, and what the settings panel saved of it.
struct Choices {
    config: Config,
    settings: Settings,
    /// Where the settings are saved (the user's data directory).
    dir: PathBuf,
    saving: Option<Task<Result<()>>>,
    /// The threshold the audit trail last heard of: a slider's drag is one change, recorded
    /// when it is let go.
    audited_threshold: f32,
    auditing: Option<Task<Result<()>>>,
}

impl Choices {
    /// Takes the panel's changes and saves them on another thread; says whether the session
    /// must start again (a new source or embedder).
    fn apply(&mut self, changes: Vec<Change>, wake: &Waker) -> bool {
        let mut restart = false;
        for change in changes {
            match change {
                Change::Source(source) => {
                    self.config.source.clone_from(&source);
                    self.settings.source = Some(source);
                    restart = true;
                }
                Change::Threshold(threshold) => {
                    self.config.threshold = threshold;
                    self.settings.threshold = Some(threshold);
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
        let (settings, dir) = (self.settings.clone(), self.dir.clone());
        self.saving = Some(Task::spawn(wake, move || settings.save(&dir)));
        restart
    }

    /// Records a threshold change in the audit trail once the pointer is up again.
    fn audit_threshold(&mut self, pointer_down: bool, wake: &Waker) {
        let (old, new) = (self.audited_threshold, self.config.threshold);
        if pointer_down || self.auditing.is_some() || (new - old).abs() <= f32::EPSILON {
            return;
        }
        self.audited_threshold = new;
        let config = self.config.clone();
        self.auditing = Some(Task::spawn(wake, move || {
            config.open_gallery()?.record(
                AuditAction::Threshold,
                &format!("{old:.2} -> {new:.2} (window settings)"),
                &Actor::window(),
            )
        }));
    }
}

/// The side bar: which panel it shows, and the panels.
struct Panels {
    side: Side,
    enroll: EnrollPanel,
    /// Once a session has started: it names the gallery.
    people: Option<PeoplePanel>,
    settings: SettingsPanel,
}

/// Messages above the picture.
#[derive(Default)]
struct Banners {
    failure: Option<String>,
    notice: Option<String>,
}

/// A run that closes itself (`--run-for`), writing its figures to `report`.
struct TimedRun {
    until: Instant,
    report: Option<PathBuf>,
}

/// The whole window.
pub struct App {
    choices: Choices,
    wake: Waker,
    kiosk: Option<Kiosk>,
    startup: Startup,
    session: Option<Session>,
    /// Enrolled faces the session's embedder cannot match, for want of an embedding.
    lacking: usize,
    banners: Banners,
    view: LiveView,
    meter: Meter,
    panels: Panels,
    reembedding: Reembedding,
    timed: Option<TimedRun>,
}

impl App {
    pub fn new(ctx: &egui::Context, launch: Launch) -> App {
        let ctx = ctx.clone();
        let wake: Waker = Arc::new(move || ctx.request_repaint());
        let mut banners = Banners::default();
        let kiosk = match launch
            .kiosk
            .then(|| Kiosk::new(launch.config.window.kiosk.clone()))
        {
            Some(Ok(kiosk)) => Some(kiosk),
            Some(Err(e)) => {
                banners.failure = Some(format!("kiosk mode: {e}"));
                None
            }
            None => None,
        };
        // A camera agent enrolls nobody: the gallery is where the workers are.
        let side = if launch.camera.is_none()
            && kiosk.as_ref().is_some_and(|k| k.config.allow_enrollment)
        {
            Side::Enroll
        } else {
            Side::None
        };
        let mut app = App {
            panels: Panels {
                side,
                enroll: EnrollPanel::new(launch.config.window.enroll_captures),
                people: None,
                settings: SettingsPanel::default(),
            },
            choices: Choices {
                settings: Settings::load(&launch.settings_dir).unwrap_or_default(),
                audited_threshold: launch.config.threshold,
                config: launch.config,
                dir: launch.settings_dir,
                saving: None,
                auditing: None,
            },
            kiosk,
            startup: Startup::new(wake.clone(), launch.demo_if_no_camera, launch.camera),
            wake,
            session: None,
            lacking: 0,
            banners,
            view: LiveView::default(),
            meter: Meter::default(),
            reembedding: Reembedding::default(),
            timed: launch.run_for.map(|d| TimedRun {
                until: Instant::now() + d,
                report: launch.report,
            }),
        };
        app.start();
        app
    }

    /// (Re)starts the session for the current config, on another thread.
    fn start(&mut self) {
        if let Some(old) = self.session.take() {
            // Joining waits for the worker's current frame or command: not on this thread.
            std::thread::spawn(move || drop(old));
        }
        self.view = LiveView::default();
        self.banners.failure = None;
        self.startup.begin(&self.choices.config, &self.wake);
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
        &self.panels.enroll
    }

    pub fn failure(&self) -> Option<&str> {
        self.banners.failure.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.choices.config
    }

    pub fn side(&self) -> Side {
        self.panels.side
    }

    /// Whether the window is on its way out (kiosk: only through the chord and PIN).
    pub fn leaving(&self) -> bool {
        self.kiosk.as_ref().is_some_and(Kiosk::leaving)
    }

    /// The answers of other threads, taken once per frame.
    fn poll(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        match self.startup.poll() {
            Some(Ok(started)) => {
                self.lacking = started.session.lacking;
                self.banners.notice = started.notice;
                let mut people = PeoplePanel::new(started.gallery);
                if self.panels.side == Side::People {
                    people.refresh(&self.wake);
                }
                self.panels.people = Some(people);
                self.session = Some(started.session);
            }
            Some(Err(e)) => self.banners.failure = Some(e.report()),
            None => {}
        }
        if let Some(session) = &mut self.session {
            while let Ok(frame) = session.frames.try_recv() {
                self.view.take_frame(frame);
            }
            while let Ok(result) = session.results.try_recv() {
                let latency = now.duration_since(result.captured_at).as_secs_f64() * 1000.0;
                self.meter
                    .result(now, latency, result.faces.len(), result.embedded);
                if result.cut {
                    self.meter.cut(result.captured_at);
                }
                self.view.take_result(&result, now);
            }
            if self.view.present(ctx, now)
                && let Some((frame, boxes)) = self.view.drawn()
            {
                self.meter.frame_shown(now, frame, boxes);
            }
            if let Some(failure) = session.failure() {
                self.banners.failure = Some(format!("Recognition stopped: {}", failure.report()));
            }
        }
        self.meter.sample_memory(now);
        let enrollment = self.choices.config.enrollment();
        self.panels
            .enroll
            .poll(ctx, self.session.as_ref(), &enrollment);
        if let Some(people) = &mut self.panels.people {
            people.poll(ctx, &self.wake);
        }
        self.panels.settings.poll();
        if let Some(Err(e)) = task::poll(&mut self.choices.saving) {
            self.banners.notice = Some(format!("Settings not saved: {}", e.report()));
        }
        let pointer_down = ctx.input(|i| i.pointer.any_down());
        self.choices.audit_threshold(pointer_down, &self.wake);
        if let Some(Err(e)) = task::poll(&mut self.choices.auditing) {
            tracing::warn!(
                "the threshold change is not in the audit trail: {}",
                e.report()
            );
        }
        if let Some(outcome) = self.reembedding.poll() {
            self.banners.notice = Some(match outcome {
                Ok(report) => {
                    self.lacking = report.without_image + report.failed.len();
                    reembed::describe(&report)
                }
                Err(e) => format!("Re-embedding failed: {}", e.report()),
            });
        }
    }

    fn apply(&mut self, changes: Vec<Change>) {
        let threshold = changes.iter().rev().find_map(|change| match change {
            Change::Threshold(threshold) => Some(*threshold),
            _ => None,
        });
        let restart = self.choices.apply(changes, &self.wake);
        if let (Some(threshold), Some(session)) = (threshold, &self.session) {
            session.send(Command::SetThreshold(threshold));
        }
        if restart {
            self.start();
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("whoisit");
            ui.separator();
            if let Some(camera) = self.startup.camera() {
                ui.label(format!(
                    "camera agent {camera}: enroll and change settings where the workers are"
                ));
                return;
            }
            for (side, label) in [
                (Side::Enroll, "Enroll"),
                (Side::People, "People"),
                (Side::Settings, "Settings"),
            ] {
                let open = self.panels.side == side;
                if ui.selectable_label(open, label).clicked() {
                    self.panels.side = if open { Side::None } else { side };
                    if self.panels.side == Side::Enroll {
                        self.panels.enroll.opened();
                    }
                    if self.panels.side == Side::People
                        && let Some(people) = &mut self.panels.people
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
            let skipped = session.capture_counts().skipped;
            let display_dropped = session.display_dropped.load(Ordering::Relaxed);
            ui.label(format!(
                "dropped {display_dropped} shown / {skipped} recognised"
            ))
            .on_hover_text(
                "Frames the window had no time to show / frames recognition skipped to stay \
                     current (the newest frame is always the one recognised)",
            );
            ui.label(&session.about);
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        let enrollment = self.choices.config.enrollment();
        match self.panels.side {
            Side::None => {}
            Side::Enroll => self
                .panels
                .enroll
                .show(ui, self.session.as_ref(), &enrollment),
            Side::People => match &mut self.panels.people {
                Some(people) => people.show(ui, &self.wake),
                None => {
                    ui.label("The gallery opens once the models are loaded.");
                }
            },
            Side::Settings => {
                let changes = self
                    .panels
                    .settings
                    .show(ui, &self.choices.config, &self.wake);
                if !changes.is_empty() {
                    self.apply(changes);
                }
            }
        }
    }

    /// Messages above the picture: failures, notices, re-embedding.
    fn banners(&mut self, ui: &mut egui::Ui) {
        if let Some(failure) = &self.banners.failure {
            ui.colored_label(Color32::LIGHT_RED, failure);
        }
        if let Some(notice) = &self.banners.notice {
            ui.label(notice);
        }
        if self.reembedding.busy() {
            self.reembedding.show(ui);
        } else if self.lacking > 0 && self.kiosk.is_none() {
            ui.horizontal(|ui| {
                ui.colored_label(
                    Color32::YELLOW,
                    format!(
                        "{} enrolled face(s) have no embedding from this embedder and are not recognised.",
                        self.lacking
                    ),
                );
                if ui.button("Re-embed now").clicked()
                    && let Some(session) = &self.session
                {
                    self.reembedding
                        .start(session, self.choices.config.enroll_views, &self.wake);
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
        if self.startup.busy() {
            self.startup.show(ui);
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
            _ if self.view.has_frame() => {
                self.view.show(ui, self.choices.config.window.mirror, scale);
            }
            Some(_) => {
                ui.spinner();
            }
            None => {}
        }
    }

    fn finish_run(&mut self, ctx: &egui::Context) {
        if self
            .timed
            .as_ref()
            .is_none_or(|run| Instant::now() < run.until)
        {
            return;
        }
        let report = self.timed.take().and_then(|run| run.report);
        if let (Some(path), Some(session)) = (&report, &self.session) {
            let counts = session.capture_counts();
            let report = self
                .meter
                .report(session.source.to_string(), counts.read, counts.skipped);
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
        if self.panels.side == Side::Enroll {
            let enrollment = self.choices.config.enrollment();
            self.panels
                .enroll
                .handle_keys(&ctx, self.session.as_ref(), &enrollment);
        }
        if self.kiosk.is_none() {
            egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
            egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        }
        if self.panels.side != Side::None {
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
        if let Some(after) = self.view.next_pass() {
            ctx.request_repaint_after(after);
        }
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Join the threads before `main` returns: OpenCV must not outlive it.
        self.session = None;
    }
}
