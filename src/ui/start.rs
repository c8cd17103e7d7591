//! Starting the window's session on another thread (the models may need downloading), and the
//! progress to show meanwhile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eframe::egui;

use crate::base::error::Result;
use crate::config::Config;
use crate::gallery::{Actor, Gallery};
use crate::models::fetch::Progress;
use crate::runtime::session::{Session, Waker};
use crate::runtime::start;
#[cfg(feature = "streams")]
use crate::stream::agent::Agent;
#[cfg(feature = "streams")]
use crate::stream::sightings;
use crate::ui::task::{self, Task};

/// A session that started, with what the window needs to know about it.
pub(crate) struct Started {
    pub(crate) session: Session,
    /// The gallery the session recognises from, shared with the panels that change it; or why
    /// it cannot be opened (a camera agent's faces are named elsewhere, and recognition goes
    /// on without it).
    pub(crate) gallery: std::result::Result<Arc<dyn Gallery>, String>,
    /// Why the source is not the configured one, if it is not.
    pub(crate) notice: Option<String>,
}

/// A session on its way.
pub(crate) struct Startup {
    loading: Arc<Loading>,
    task: Option<Task<Result<Started>>>,
    /// Only the first start falls back to the demo; a source chosen in Settings is kept.
    demo_if_no_camera: bool,
    /// The camera agent's name, when the faces are named by workers elsewhere.
    camera: Option<String>,
}

impl Startup {
    pub(crate) fn new(wake: Waker, demo_if_no_camera: bool, camera: Option<String>) -> Startup {
        Startup {
            loading: Arc::new(Loading::new(wake)),
            task: None,
            demo_if_no_camera,
            camera,
        }
    }

    /// The camera agent's name, if the window runs one.
    pub(crate) fn camera(&self) -> Option<&str> {
        self.camera.as_deref()
    }

    /// Starts a session for `config`: resolves the source (the demo included), loads the
    /// models (fetching missing ones) and the gallery.
    pub(crate) fn begin(&mut self, config: &Config, wake: &Waker) {
        let config = config.clone();
        let demo_if_no_camera = std::mem::take(&mut self.demo_if_no_camera);
        let loading = self.loading.clone();
        let session_wake = wake.clone();
        let camera = self.camera.clone();
        self.task = Some(Task::spawn(wake, move || {
            let start = start::resolve_source(&config, demo_if_no_camera, &*loading)?;
            let retry = Duration::from_secs_f32(start.config.window.retry_secs);
            let (session, gallery) = match camera {
                #[cfg(not(feature = "streams"))]
                Some(_) => {
                    return Err(crate::Error::NotBuilt {
                        feature: "streams",
                        needed_by: "a camera agent's window",
                    });
                }
                #[cfg(feature = "streams")]
                Some(camera) => {
                    let locator = start.config.load_locator(&*loading)?;
                    let mut agent = Agent::new(locator, &camera, &start.config.streams)?;
                    if let Some(follower) = sightings::follower(&start.config, &camera)? {
                        agent.record_sightings(follower);
                    }
                    let gallery = start.config.open_gallery().map_err(|e| e.report());
                    (
                        Session::start(agent, start.source, retry, session_wake)?,
                        gallery,
                    )
                }
                None => {
                    let camera = start.source.to_string();
                    let worker = start::recording_worker(
                        &start.config,
                        Actor::window(),
                        &*loading,
                        &camera,
                    )?;
                    let gallery = worker.gallery().clone();
                    (
                        Session::start(worker, start.source, retry, session_wake)?,
                        Ok(gallery),
                    )
                }
            };
            Ok(Started {
                session,
                gallery,
                notice: start.notice,
            })
        }));
    }

    pub(crate) fn busy(&self) -> bool {
        self.task.is_some()
    }

    /// The session, once it started or failed to.
    pub(crate) fn poll(&mut self) -> Option<Result<Started>> {
        task::poll(&mut self.task)
    }

    /// What is being downloaded or loaded.
    pub(crate) fn show(&self, ui: &mut egui::Ui) {
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
    }
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
