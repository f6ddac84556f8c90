//! Live pages: a watcher notices when the folder's documents changed (a
//! sync landed, a check was recorded here or by another process), and each
//! open page hears of it through Server-Sent Events and fetches itself
//! again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anpi_core::doc::DocKey;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use crate::Dashboard;

/// How often the watcher asks the store whether anything changed: one
/// small query, well inside the two seconds a page may lag a sync.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Watch the store's document versions until `stop`; move the dashboard's
/// version when they change.
pub(crate) async fn watch_store(d: Arc<Dashboard>, mut stop: watch::Receiver<bool>) {
    let mut last: Option<HashMap<DocKey, u64>> = None;
    // The first page opened after `serve` starts finds the data read.
    let mut starting = true;
    loop {
        let ready = starting || d.pages_open();
        starting = false;
        let me = d.clone();
        let now = d
            .run_on_node(None, move |n, space| {
                // Pages are told once the data they will ask for is ready.
                if ready {
                    me.make_ready(n, space);
                }
                n.store().doc_versions()
            })
            .await
            .ok();
        if now.is_some() && last.is_some() && now != last {
            d.data_changed();
        }
        if now.is_some() {
            last = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// `GET /events`: one `changed` event each time the data moved.
pub(crate) async fn events(
    State(d): State<Arc<Dashboard>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = d.version.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let v = *rx.borrow_and_update();
        Some((
            Ok(Event::default().event("changed").data(v.to_string())),
            rx,
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
