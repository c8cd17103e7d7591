//! Work the window hands to other threads: the window's thread never runs inference or waits on
//! files, it polls for answers once per frame.

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::runtime::session::Waker;

/// An answer on its way from another thread.
pub(crate) struct Task<T> {
    rx: Receiver<T>,
}

impl<T: Send + 'static> Task<T> {
    /// Runs `work` on a new thread and wakes the window when it is done.
    pub(crate) fn spawn(wake: &Waker, work: impl FnOnce() -> T + Send + 'static) -> Task<T> {
        let (task, tx) = Task::channel();
        let wake = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("window-task".into())
            .spawn(move || {
                // A window that closed meanwhile no longer wants the answer.
                if tx.send(work()).is_ok() {
                    wake();
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a thread: {e}");
        }
        task
    }

    /// A task whose answer comes through the returned sender (e.g. from the worker's job).
    pub(crate) fn channel() -> (Task<T>, Sender<T>) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        (Task { rx }, tx)
    }
}

/// Polls an optional task, clearing it when the answer arrives, or when it never will (the
/// other side went away without answering).
pub(crate) fn poll<T: Send + 'static>(slot: &mut Option<Task<T>>) -> Option<T> {
    let answer = slot.as_ref()?.rx.try_recv();
    match answer {
        Ok(answer) => {
            *slot = None;
            Some(answer)
        }
        Err(TryRecvError::Disconnected) => {
            *slot = None;
            None
        }
        Err(TryRecvError::Empty) => None,
    }
}
