//! Progress on stderr: downloads in bytes, and work counted in items.

use crate::models::fetch::Progress;

/// Draws download progress on stderr; indicatif hides it when stderr is not a terminal.
#[derive(Default)]
pub(super) struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        eprintln!("downloading {what}");
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "  {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style);
        }
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(slot) = self.0.lock() {
            slot.iter().for_each(|bar| bar.inc(bytes));
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.0.lock() {
            slot.take()
                .iter()
                .for_each(indicatif::ProgressBar::finish_and_clear);
        }
    }
}

/// Progress through a known number of items (photos, faces) on stderr; cleared when dropped.
pub(super) struct CountBar(indicatif::ProgressBar);

impl CountBar {
    pub(super) fn new() -> CountBar {
        CountBar(indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr(),
        ))
    }

    pub(super) fn show(&self, done: usize, total: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
    }
}

impl Drop for CountBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
