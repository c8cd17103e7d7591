//! Re-embedding the gallery's stored faces for the session's embedder, from the banner's
//! button, with its progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eframe::egui;

use crate::base::error::Result;
use crate::enroll::ReembedReport;
use crate::runtime::session::{Session, Waker};
use crate::runtime::worker::Command;
use crate::ui::task::{self, Task};
use crate::vision::pipeline::EnrollViews;

#[derive(Default)]
pub(crate) struct Reembedding {
    task: Option<Task<Result<ReembedReport>>>,
    /// Faces re-embedded so far, and how many there are to do.
    progress: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Reembedding {
    /// Asks the session's worker to re-embed, from `views` as enrollment does.
    pub(crate) fn start(&mut self, session: &Session, views: EnrollViews, wake: &Waker) {
        let (task, reply) = Task::channel();
        self.progress = Arc::default();
        let wake = wake.clone();
        let progress = self.progress.clone();
        let sent = session.send(Command::Reembed {
            views,
            progress: Box::new(move |done, total| {
                progress.0.store(done, Ordering::Relaxed);
                progress.1.store(total, Ordering::Relaxed);
                wake();
            }),
            reply,
        });
        if sent {
            self.task = Some(task);
        }
    }

    pub(crate) fn busy(&self) -> bool {
        self.task.is_some()
    }

    /// What re-embedding did, once it is done.
    pub(crate) fn poll(&mut self) -> Option<Result<ReembedReport>> {
        task::poll(&mut self.task)
    }

    pub(crate) fn show(&self, ui: &mut egui::Ui) {
        let done = self.progress.0.load(Ordering::Relaxed);
        let total = self.progress.1.load(Ordering::Relaxed).max(1);
        ui.add(
            egui::ProgressBar::new(done as f32 / total as f32)
                .text(format!("Re-embedding {done} of {total}")),
        );
    }
}

/// What to tell the user about a finished re-embedding.
pub(crate) fn describe(report: &ReembedReport) -> String {
    let mut text = format!("Re-embedded {} face(s)", report.embedded);
    if report.without_image > 0 {
        text.push_str(&format!(
            "; {} stored without an image must be enrolled again",
            report.without_image
        ));
    }
    for failed in &report.failed {
        text.push('\n');
        text.push_str(failed);
    }
    text
}
