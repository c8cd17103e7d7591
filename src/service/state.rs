//! What every request shares: the gallery, the recognition pool, the roster in memory, the
//! live events and the counters.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::base::error::{Error, Result};
use crate::base::identity::EmbedderId;
use crate::config::Config;
use crate::config::sightings::SightingsConfig;
use crate::enroll::Enrollment;
use crate::gallery::{Actor, Gallery};
use crate::models::fetch::Progress;
use crate::roster::Roster;
use crate::service::bodies::BodyBudget;
use crate::service::console::shared::Console;
use crate::service::error::ApiError;
use crate::service::events::Events;
use crate::service::keys::Keys;
use crate::service::metrics::Metrics;
use crate::service::pool::{Answer, Busy, Pool, Task};
use crate::service::{Auth, ServeOptions};
use crate::vision::photo::PhotoLimits;

pub(crate) struct AppState {
    pub(crate) auth: Auth,
    /// The API keys in memory.
    pub(crate) keys: Arc<Keys>,
    pub(crate) pool: Pool,
    pub(crate) roster: Arc<Roster>,
    pub(crate) events: Arc<Events>,
    pub(crate) metrics: Metrics,
    pub(crate) embedder: EmbedderId,
    pub(crate) enrollment: Enrollment,
    pub(crate) photo_limits: PhotoLimits,
    pub(crate) max_body_bytes: usize,
    /// The memory request bodies in flight may take together.
    pub(crate) body_budget: BodyBudget,
    pub(crate) request_timeout: std::time::Duration,
    /// How long a connection may take to send a request's headers.
    pub(crate) header_timeout: std::time::Duration,
    /// The console's sessions and what its pages show of the server.
    pub(crate) console: Console,
    retention_days: u32,
    sightings: SightingsConfig,
    /// Shared by every request, the roster and the purge: the store keeps a pool of
    /// connections, so nobody queues behind another's call.
    gallery: Arc<dyn Gallery>,
}

impl AppState {
    /// Loads the models into every pipeline of the pool and the roster from the gallery.
    pub(crate) fn start(options: &ServeOptions, progress: &dyn Progress) -> Result<AppState> {
        let config: &Config = &options.config;
        let gallery = config.open_gallery()?;
        let pool = Pool::start(config, progress)?;
        let embedder = pool.embedder().clone();
        let roster = Roster::open(gallery.clone(), embedder.clone(), config.matching())?;
        if options.auth == Auth::Keys && gallery.keys()?.is_empty() {
            tracing::warn!(
                "no API key exists yet: every request will be refused until you create one with `whoisit keys create --name NAME --scope admin`"
            );
        }
        let keys = Keys::follow(gallery.as_ref())?;
        Ok(AppState {
            auth: options.auth,
            keys,
            pool,
            roster,
            events: Arc::new(Events::new(config.serve.events_buffer)),
            metrics: Metrics::default(),
            embedder,
            enrollment: config.enrollment(),
            photo_limits: config.limits.photos(),
            max_body_bytes: mib(config.serve.max_body_mb),
            body_budget: BodyBudget::new(mib(config.serve.body_budget_mb)),
            request_timeout: std::time::Duration::from_secs_f32(config.serve.request_timeout_secs),
            header_timeout: std::time::Duration::from_secs_f32(config.serve.header_timeout_secs),
            console: Console::new(options),
            retention_days: config.retention_days,
            sightings: config.sightings.clone(),
            gallery,
        })
    }

    /// How long sightings are kept: `retention_days`, and the sightings settings.
    pub(crate) fn retention(&self) -> (u32, SightingsConfig) {
        (self.retention_days, self.sightings.clone())
    }

    /// Gives `task` on `image` to the recognition pool and waits for its answer: 503 at once
    /// when the queue is full.
    pub(crate) async fn ask_pool(&self, image: Vec<u8>, task: Task) -> Result<Answer, ApiError> {
        self.ask_pool_within(image, self.photo_limits, task).await
    }

    /// [`AppState::ask_pool`] on an image decoded within `limits`.
    pub(crate) async fn ask_pool_within(
        &self,
        image: Vec<u8>,
        limits: PhotoLimits,
        task: Task,
    ) -> Result<Answer, ApiError> {
        let stopped = || {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the recognition pipelines have stopped; the server is shutting down or failed, see its log",
            )
        };
        let answer = match self.pool.submit(image, limits, task) {
            Ok(answer) => answer,
            Err(Busy::Full) => return Err(ApiError::busy()),
            Err(Busy::Stopped) => return Err(stopped()),
        };
        Ok(answer.await.map_err(|_| stopped())??)
    }

    /// Runs `work` on the gallery on a blocking thread: the stores are synchronous.
    pub(crate) async fn gallery<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Gallery) -> Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let gallery = self.gallery.clone();
        let joined = tokio::task::spawn_blocking(move || work(gallery.as_ref())).await;
        match joined {
            Ok(result) => result.map_err(ApiError::from),
            Err(_) => Err(ApiError::from(Error::Panicked { thread: "gallery" })),
        }
    }

    /// Purges the sightings past `retention_days` (unknown faces past
    /// `sightings.unknown_face_days`): in the gallery, and the kept events. A failure is
    /// logged: the next purge tries again.
    pub(crate) async fn purge(&self) {
        let cutoffs = self.sightings.cutoffs(self.retention_days);
        let events = self.events.purge(
            u64::try_from(cutoffs.sightings)
                .unwrap_or(0)
                .saturating_mul(1000),
        );
        match self
            .gallery(move |g| g.purge_sightings(&cutoffs, &Actor::purge()))
            .await
        {
            Ok(purged) if purged.any() || events > 0 => tracing::info!(
                sightings = purged.sightings,
                unknown_faces = purged.unknown_faces,
                people = purged.last_seen,
                events,
                "sightings past retention_days purged"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot purge old sightings: {}", e.logged()),
        }
    }

    /// Runs `work` on the gallery as `actor` (for the audit trail), then brings the roster in
    /// memory up to date at once, so the next recognition sees the change without waiting for
    /// the change feed.
    pub(crate) async fn change_gallery<T: Send + 'static>(
        &self,
        actor: Actor,
        work: impl FnOnce(&dyn Gallery, &Actor) -> Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let roster = self.roster.clone();
        self.gallery(move |gallery| {
            let answer = work(gallery, &actor)?;
            // The change is made; the change feed brings the roster up to date if this fails.
            if let Err(e) = roster.reload() {
                tracing::warn!("cannot reload the roster after a change: {}", e.report());
            }
            Ok(answer)
        })
        .await
    }
}

/// `mib` MiB in bytes.
fn mib(mib: u32) -> usize {
    usize::try_from(mib)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20)
}
