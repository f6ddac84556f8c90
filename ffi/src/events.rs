//! Events to the app: a listener the app implements, and a handle that
//! stops delivery when dropped (or cancelled). Each subscription has its
//! own delivery thread, so a slow or failing listener delays nobody else,
//! and no lock of the SDK is held while foreign code runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::{AnpiError, AnpiEvent};

/// Implemented by the app to hear what happens: data changed, peers seen
/// and lost, syncs done and failed. Called on a thread of the SDK's; keep
/// it short (post to the main thread). An error it returns (or an exception
/// it throws) is counted on the handle and delivery goes on.
#[uniffi::export(with_foreign)]
pub trait AnpiListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: AnpiEvent) -> Result<(), AnpiError>;
}

struct Subscriber {
    id: u64,
    tx: UnboundedSender<AnpiEvent>,
    thread: std::thread::JoinHandle<()>,
}

const DELIVERY_THREAD: &str = "anpi-events";

/// Everyone listening.
#[derive(Default)]
pub(crate) struct Events {
    subscribers: Mutex<Vec<Subscriber>>,
    next: AtomicU64,
}

impl Events {
    /// Send `event` to every listener. Only channel sends happen under the
    /// lock; the listeners run on their own threads.
    pub(crate) fn emit(&self, event: AnpiEvent) {
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        for s in subscribers.iter() {
            let _ = s.tx.send(event.clone());
        }
    }

    /// Start delivering to `listener`, `first` before anything else.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        listener: Arc<dyn AnpiListener>,
        first: AnpiEvent,
    ) -> Result<Arc<EventHandle>, AnpiError> {
        let (tx, mut rx) = unbounded_channel();
        let _ = tx.send(first);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let failures = Arc::new(Failures::default());
        let seen = failures.clone();
        // No catch_unwind here: uniffi already turns a foreign exception
        // into an error, and catching would also catch the forced unwind a
        // host runtime uses to end its threads (Python at exit), which
        // aborts the process.
        let thread = std::thread::Builder::new()
            .name(DELIVERY_THREAD.into())
            .spawn(move || {
                while let Some(event) = rx.blocking_recv() {
                    if let Err(e) = listener.on_event(event) {
                        seen.record(e.to_string());
                    }
                }
            })
            .map_err(|e| AnpiError::Listener {
                detail: format!("could not start event delivery: {e}"),
            })?;
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Subscriber { id, tx, thread });
        Ok(Arc::new(EventHandle {
            id,
            events: Arc::downgrade(self),
            failures,
        }))
    }

    fn unsubscribe(&self, id: u64) {
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.id != id);
    }

    /// Stop every delivery (the node shut down) and wait, a bounded time,
    /// for the events already queued to be delivered, so that no listener
    /// runs after `shutdown` returns.
    pub(crate) fn clear(&self) {
        let all: Vec<Subscriber> =
            std::mem::take(&mut *self.subscribers.lock().unwrap_or_else(|e| e.into_inner()));
        let threads: Vec<_> = all.into_iter().map(|s| s.thread).collect();
        // A listener that shuts the node down would wait for itself.
        if std::thread::current().name() == Some(DELIVERY_THREAD) {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        for t in threads {
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

#[derive(Default)]
struct Failures {
    count: AtomicU64,
    last: Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, message: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }
}

/// A subscription: events flow while it lives. Dropping it (or `cancel`)
/// stops them; events already queued are still delivered.
#[derive(uniffi::Object)]
pub struct EventHandle {
    id: u64,
    events: std::sync::Weak<Events>,
    failures: Arc<Failures>,
}

#[uniffi::export]
impl EventHandle {
    /// Stop the events.
    pub fn cancel(&self) {
        if let Some(events) = self.events.upgrade() {
            events.unsubscribe(self.id);
        }
    }

    /// How many times the listener failed (threw or returned an error).
    pub fn listener_failures(&self) -> u64 {
        self.failures.count.load(Ordering::Relaxed)
    }

    /// The last failure of the listener, as an error, if it failed.
    pub fn last_listener_error(&self) -> Option<String> {
        self.failures
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for EventHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}
