//! A long-running node: answers peers, syncs with peers it discovers, and
//! keeps the office link. It sleeps until something happens — a peer
//! connects or is heard, data changed here, or an office retry falls due —
//! so it never wakes the radio when nothing changed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;

use super::discovery::{Discovery, FoundPeer, Tokens};
use super::{NetNode, SyncReport, with_node};
use crate::error::Result;
use crate::model::DeviceId;

/// How a node runs.
pub struct Options {
    /// Ways to find peers on the local network (mDNS, host-fed).
    pub discovery: Vec<Arc<dyn Discovery>>,
    /// Notified by the host after each local change (a check recorded on
    /// this device): peers and the office hear of it after the debounce.
    pub local_changes: Arc<tokio::sync::Notify>,
    /// The office: synced on start, after local changes, and when
    /// connectivity returns, with exponential backoff while unreachable.
    pub office: Option<(SocketAddr, DeviceId)>,
    /// Peers to sync with on start and after changes (known addresses).
    pub peers: Vec<(SocketAddr, Option<DeviceId>)>,
    /// Wait this long after a change before passing it on, so a burst of
    /// changes makes one sync.
    pub debounce: Duration,
    /// Do not sync again with a peer heard within this long.
    pub resync_after: Duration,
    /// Other processes write this data folder too (the office's commands
    /// beside `serve`): read who may connect again this often, so that an
    /// invite made or a device added there is accepted, and a device revoked
    /// there cut off, without waiting for a session. `None` on a phone,
    /// where this process alone writes.
    pub watch_store: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            discovery: Vec::new(),
            local_changes: Arc::new(tokio::sync::Notify::new()),
            office: None,
            peers: Vec::new(),
            debounce: Duration::from_secs(2),
            resync_after: Duration::from_secs(30),
            watch_store: None,
        }
    }
}

/// What a running node reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// Listening at this address.
    Listening(SocketAddr),
    /// A peer of a shared space was heard on the local network.
    PeerFound(SocketAddr),
    /// A session began: this node dialled the address, or a member's
    /// connection was accepted from it.
    Syncing(SocketAddr),
    /// A session finished.
    Synced(SyncReport),
    /// A session failed; nothing was lost.
    Failed {
        /// Where.
        addr: SocketAddr,
        /// Why.
        error: String,
    },
    /// A peer that had synced failed its next session: out of reach (the
    /// node's book of peers says when it last synced).
    PeerLost(SocketAddr),
    /// A device was refused at the handshake.
    Refused {
        /// From where.
        addr: SocketAddr,
        /// Why.
        error: String,
    },
    /// The office could not be reached; the next try is after this long.
    OfficeRetry(Duration),
}

/// Longest wait between office retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

struct Done {
    addr: SocketAddr,
    office: bool,
    result: Result<SyncReport>,
}

/// A random factor in [0.5, 1.5): spreads the retries of many phones that
/// lost the office at the same moment.
fn jitter(d: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_bytes()[0] as f64 / 256.0;
    d.mul_f64(0.5 + r)
}

/// Whether the session just noted with `addr` lost a peer that had synced.
async fn lost(net: &NetNode, addr: SocketAddr) -> bool {
    with_node(net.node(), move |n| Ok(n.last_peer_change(addr)))
        .await
        .ok()
        .flatten()
        == Some(crate::node::PeerChange::Lost)
}

/// Run until `stop` turns true.
pub async fn run(
    net: Arc<NetNode>,
    options: Options,
    events: UnboundedSender<Event>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let _ = events.send(Event::Listening(net.local_addr()?));
    let (found_tx, mut found_rx) = mpsc::unbounded_channel::<FoundPeer>();
    if !options.discovery.is_empty() {
        let spaces = with_node(net.node(), |n| {
            Ok(n.spaces()?.into_iter().map(|s| s.id).collect::<Vec<_>>())
        })
        .await?;
        let port = net.local_addr()?.port();
        for d in &options.discovery {
            d.start(port, Tokens::for_spaces(&spaces), found_tx.clone())?;
        }
    }
    drop(found_tx);
    {
        // Listed in the node's book of peers before their first session.
        let mut listed: Vec<(SocketAddr, Option<DeviceId>)> = options.peers.clone();
        listed.extend(options.office.iter().map(|(a, id)| (*a, Some(id.clone()))));
        with_node(net.node(), move |n| {
            for (a, id) in &listed {
                n.peer_known(*a, id.as_ref());
            }
            Ok(())
        })
        .await?;
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    // Handshakes run apart from this loop: it wakes for many other things,
    // and a handshake dropped half-way aborts the peer's session.
    let (mut accepted, acceptor) = net.incoming();
    // Peers to pass changes on to: address → expected id, when last synced.
    let mut known: BTreeMap<SocketAddr, (Option<DeviceId>, Option<Instant>)> = options
        .peers
        .iter()
        .map(|(a, id)| (*a, (id.clone(), None)))
        .collect();
    let mut busy: std::collections::BTreeSet<SocketAddr> = Default::default();
    let mut backoff = Duration::from_secs(1);
    let far = Instant::now() + Duration::from_secs(86400 * 365);
    // Start: the office and every configured peer at once.
    let mut office_at = if options.office.is_some() {
        Instant::now()
    } else {
        far
    };
    let mut pass_on_at = if known.is_empty() {
        far
    } else {
        Instant::now()
    };
    let mut watch_at = options
        .watch_store
        .map_or(far, |every| Instant::now() + every);
    // One reading of who may connect at a time; the loop never waits for it
    // (the node may be busy with a long session).
    let mut reading: Option<tokio::task::JoinHandle<()>> = None;
    let mut read_gate = |net: &Arc<NetNode>| {
        if reading.as_ref().is_none_or(|r| r.is_finished()) {
            let net = net.clone();
            reading = Some(tokio::spawn(async move {
                let _ = net.refresh_trust().await;
            }));
        }
    };

    let start = |addr: SocketAddr,
                 expected: Option<DeviceId>,
                 office: bool,
                 busy: &mut std::collections::BTreeSet<SocketAddr>| {
        if !busy.insert(addr) {
            return;
        }
        let _ = events.send(Event::Syncing(addr));
        let net = net.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let result = net.sync_with(addr, expected.as_ref()).await;
            let _ = done.send(Done {
                addr,
                office,
                result,
            });
        });
    };

    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() { break; }
            }
            _ = options.local_changes.notified() => {
                pass_on_at = Instant::now() + options.debounce;
                // The change may have been to membership or invites.
                read_gate(&net);
            }
            _ = tokio::time::sleep_until(watch_at) => {
                watch_at = options.watch_store.map_or(far, |every| Instant::now() + every);
                read_gate(&net);
            }
            incoming = accepted.recv() => {
                match incoming {
                    None => break,
                    Some(Err((addr, e))) => {
                        let _ = events.send(Event::Refused { addr, error: e.to_string() });
                    }
                    Some(Ok(conn)) => {
                        let net = net.clone();
                        let done = done_tx.clone();
                        let addr = conn.remote_address();
                        let _ = events.send(Event::Syncing(addr));
                        tokio::spawn(async move {
                            let result = net.respond(conn).await;
                            let _ = done.send(Done { addr, office: false, result });
                        });
                    }
                }
            }
            Some(found) = found_rx.recv() => {
                for addr in found.addrs {
                    let _ = with_node(net.node(), move |n| {
                        n.peer_known(addr, None);
                        Ok(())
                    })
                    .await;
                    let _ = events.send(Event::PeerFound(addr));
                    let recent = known.get(&addr).and_then(|(_, t)| *t)
                        .is_some_and(|t| t.elapsed() < options.resync_after);
                    known.entry(addr).or_insert((None, None));
                    if !recent {
                        start(addr, None, false, &mut busy);
                    }
                }
            }
            Some(done) = done_rx.recv() => {
                busy.remove(&done.addr);
                match done.result {
                    Ok(report) => {
                        let changed = report.stats.docs_changed > 0;
                        if done.office {
                            backoff = Duration::from_secs(1);
                            office_at = far;
                        } else {
                            // A peer that connected here is reachable at
                            // the address it came from (one socket dials
                            // and listens), so changes can be passed on.
                            known.insert(report.addr, (Some(report.peer.clone()), Some(Instant::now())));
                        }
                        let complete = report.is_complete();
                        let addr = report.addr;
                        let _ = events.send(Event::Synced(report));
                        if !complete && lost(&net, addr).await {
                            let _ = events.send(Event::PeerLost(addr));
                        }
                        if changed {
                            pass_on_at = Instant::now() + options.debounce;
                        }
                        // A peer answered: the network is back, so try the
                        // office now rather than at the end of its backoff.
                        if !done.office && office_at != far && backoff > Duration::from_secs(1) {
                            office_at = Instant::now();
                        }
                    }
                    Err(e) => {
                        let _ = events.send(Event::Failed { addr: done.addr, error: e.to_string() });
                        if lost(&net, done.addr).await {
                            let _ = events.send(Event::PeerLost(done.addr));
                        }
                        if done.office {
                            let wait = jitter(backoff);
                            office_at = Instant::now() + wait;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            let _ = events.send(Event::OfficeRetry(wait));
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(office_at) => {
                office_at = far;
                if let Some((addr, id)) = &options.office {
                    start(*addr, Some(id.clone()), true, &mut busy);
                }
            }
            _ = tokio::time::sleep_until(pass_on_at) => {
                pass_on_at = far;
                for (addr, (id, _)) in known.clone() {
                    start(addr, id, false, &mut busy);
                }
                if let Some((addr, id)) = &options.office {
                    start(*addr, Some(id.clone()), true, &mut busy);
                }
            }
        }
    }
    acceptor.abort();
    for d in &options.discovery {
        d.stop();
    }
    net.close().await;
    Ok(())
}
