//! The network adapter: the only code that touches sockets. It moves the
//! sync engine's messages (see [`crate::sync`]) over QUIC between devices
//! that proved their keys to each other (see [`tls`]), finds peers on the
//! local network ([`discovery`]), and keeps the office link ([`serve`]).
//!
//! ## On the wire
//!
//! One QUIC connection per session, ALPN `anpi/1.1` (or `anpi/1` with an
//! older build: changes packed by zlib, not LZMA), mutual TLS 1.3. The
//! initiator opens one bidirectional stream and both sides exchange sync
//! messages on it in turn: each message's control frame there, each of its
//! documents on a unidirectional stream of its own, incident documents
//! first (`wire`). A side with nothing left to say finishes its send
//! direction; when both have, the session is over. Everything a message
//! carries is applied and written in one durable transaction. A
//! side that cannot accept a message closes the connection with the reason
//! as text, so the peer can say what went wrong.

pub mod discovery;
mod join;
pub mod serve;
mod stream;
pub mod tls;
pub mod wire;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::identity::{Identity, device_of_cert};
use crate::model::{DeviceId, SpaceId};
use crate::node::{Gate, Node, SyncStats};

pub use join::{JoinBy, join_office};
use stream::{converse, describe, finish, send_message};
pub use tls::{ALPN, ALPN_ZLIB, PROTOCOLS, Trust};

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A session with no traffic for this long is dropped (nothing is lost:
/// the next session resumes from the persisted sync state).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a whole session may take.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(300);

/// Application close codes.
const CLOSE_DONE: u32 = 0;
const CLOSE_ERROR: u32 = 1;

/// A node shared between the network tasks and whoever else uses it.
pub type SharedNode = Arc<Mutex<Node>>;

/// What one session moved, from this device's side.
#[derive(Clone, Debug)]
pub struct SyncReport {
    /// The peer's device id (proven by its key).
    pub peer: DeviceId,
    /// Its address.
    pub addr: SocketAddr,
    /// Counters of the session.
    pub stats: SyncStats,
    /// Messages of ours the peer answered (initiator), or messages we
    /// answered (responder).
    pub round_trips: usize,
    /// Whether this device started the session.
    pub initiator: bool,
    /// UDP bytes this device sent on the connection (QUIC and TLS included).
    pub wire_sent: u64,
    /// UDP bytes it received.
    pub wire_received: u64,
    /// Documents that failed alone in this session (this device could not
    /// read them, or could not take what the peer sent), with the reason.
    pub failures: Vec<(crate::doc::DocKey, String)>,
}

impl SyncReport {
    /// Whether every document of the session moved. A session in which a
    /// document was refused or dropped (by either side) did not sync that
    /// peer, and is never reported as synced.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// The error an incomplete session is reported as, naming each
    /// document that did not move and why.
    pub fn incomplete(&self) -> Option<Error> {
        if self.is_complete() {
            return None;
        }
        let which: Vec<String> = self
            .failures
            .iter()
            .map(|(doc, why)| format!("{doc}: {why}"))
            .collect();
        Some(Error::network(format!(
            "{}: not synced in full ({})",
            self.addr,
            which.join("; ")
        )))
    }
}

/// A device on the network: its node, its QUIC endpoint (listening and
/// dialling from one socket, so a peer can reach back the address it saw),
/// and the set of devices it accepts.
pub struct NetNode {
    node: SharedNode,
    identity: Identity,
    device: DeviceId,
    trust: Trust,
    /// Asked at every handshake (see [`tls::PeerCheck`]).
    check: tls::PeerCheck,
    /// What `check` judges by.
    gate: GateCell,
    /// What this node presents as a server (its membership proof in it).
    server_cert: tls::ServerCert,
    endpoint: Endpoint,
    protocols: Vec<&'static [u8]>,
    /// Connections in a session now, so that a device revoked meanwhile is
    /// cut off at once rather than at its next handshake.
    active: Mutex<Vec<(DeviceId, Connection)>>,
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        IDLE_TIMEOUT
            .try_into()
            .expect("the idle timeout fits QUIC's range"),
    ));
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    // Sessions are short and most are small: path-MTU probes would cost
    // more bytes (and radio time) than larger packets save.
    t.mtu_discovery_config(None);
    Arc::new(t)
}

/// Run `f` on the node on a blocking thread: node calls write to disk.
impl NetNode {
    /// The store's upkeep after a session (`Node::settle`), off the
    /// session's path: its peer and its caller do not wait for it. Called
    /// last, once nothing of the session needs the node any more.
    pub(super) fn settle_later(&self) {
        let node = self.node.clone();
        tokio::spawn(async move {
            let _ = with_node(&node, |n| n.settle()).await;
        });
    }
}

async fn with_node<T: Send + 'static>(
    node: &SharedNode,
    f: impl FnOnce(&mut Node) -> Result<T> + Send + 'static,
) -> Result<T> {
    let node = node.clone();
    tokio::task::spawn_blocking(move || {
        let mut n = node.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut n)
    })
    .await
    .map_err(|e| Error::network(format!("node task failed: {e}")))?
}

/// The certificate `identity` presents: with `proof` in it, unless it
/// proves nothing (a founder, or a device not yet in any space).
fn presented(identity: &Identity, proof: &crate::membership::Proof) -> Result<Identity> {
    if proof.is_empty() {
        Ok(identity.clone())
    } else {
        identity.with_proof(&proof.encode())
    }
}

/// What the handshake judges keys by: the node's [`Gate`], read at bind
/// and after anything that may change it (a session, a change of
/// membership here, another process's write seen by `serve`).
type GateCell = Arc<std::sync::RwLock<Arc<Gate>>>;

/// The check of every key at the handshake, by the node's gate: read
/// anew first when the folder changed since it was read (a device revoked
/// or added, an invite made, here or by another process) and the node is
/// free at that moment; otherwise as last read. The handshake never waits
/// for the node, and a stranger cannot make it read anything twice. A
/// member at once; a certificate naming an invite or carrying a membership
/// proof, checked against the gate.
fn peer_check(node: SharedNode, cell: GateCell) -> tls::PeerCheck {
    tls::PeerCheck(Arc::new(
        move |device: &DeviceId, cert: &CertificateDer<'_>| {
            // The gate read anew (and kept) when the folder changed and the
            // node is free within `wait`.
            let refreshed = |gate: &Gate, wait| {
                let fresh = fresher(&node, gate, wait)?;
                *cell.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
                Some(fresh)
            };
            let mut gate = cell.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(fresh) = refreshed(&gate, Duration::ZERO) {
                gate = fresh;
            }
            if admits_cert(&gate, device, cert) {
                return true;
            }
            // Not let in by what was last read: an admin may have enrolled
            // it a moment ago in another process while this node was busy
            // (the dashboard, `anpi device add`). Wait a little for the node
            // and read again — strangers' refusals come later by as much,
            // never waiting on the node for long.
            refreshed(&gate, NOT_ADMITTED_WAIT)
                .is_some_and(|fresh| admits_cert(&fresh, device, cert))
        },
    ))
}

/// Whether `gate` lets in `device` presenting `cert`: a member at once
/// (its certificate is not read further), else by the invite its names
/// redeem or the membership proof it carries.
fn admits_cert(gate: &Gate, device: &DeviceId, cert: &CertificateDer<'_>) -> bool {
    gate.trusted.contains(device)
        || gate.admits(
            device,
            &crate::identity::names_of_cert(cert),
            cert_proof(cert).as_ref(),
            crate::model::Timestamp::now(),
        )
}

/// How long a handshake the gate refuses waits for a busy node to read
/// the gate anew.
const NOT_ADMITTED_WAIT: Duration = Duration::from_millis(500);

/// The gate read anew, if the folder changed since `gate` was read and the
/// node is free now, or becomes free within `wait`.
fn fresher(node: &SharedNode, gate: &Gate, wait: Duration) -> Option<Arc<Gate>> {
    let until = std::time::Instant::now() + wait;
    let mut n = loop {
        match node.try_lock() {
            Ok(n) => break n,
            Err(std::sync::TryLockError::Poisoned(e)) => break e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    };
    if n.gate_is_current(gate) {
        return None;
    }
    n.reload_changed()
        .and_then(|()| n.gate())
        .ok()
        .map(Arc::new)
}

/// The membership proof a certificate carries, if it carries one.
fn cert_proof(cert: &[u8]) -> Option<crate::membership::Proof> {
    crate::identity::proof_of_cert(cert).and_then(|bytes| crate::membership::Proof::decode(&bytes))
}

/// The certificate a connection's peer presented.
fn peer_cert(conn: &Connection) -> Option<CertificateDer<'static>> {
    conn.peer_identity()
        .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().cloned())
}

/// The device id a connection's peer proved in the handshake.
pub fn peer_device(conn: &Connection) -> Result<DeviceId> {
    let identity = conn
        .peer_identity()
        .ok_or_else(|| Error::network("peer presented no certificate"))?;
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| Error::network("peer identity is not a certificate chain"))?;
    let cert = certs
        .first()
        .ok_or_else(|| Error::network("peer presented no certificate"))?;
    device_of_cert(cert)
}

/// The names in the certificate a connection's peer presented.
fn peer_names(conn: &Connection) -> Vec<String> {
    conn.peer_identity()
        .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().map(|c| crate::identity::names_of_cert(c)))
        .unwrap_or_default()
}

impl NetNode {
    /// Bind a QUIC endpoint at `listen` for `node` (use port 0 for any).
    pub fn bind(node: SharedNode, listen: SocketAddr) -> Result<Self> {
        Self::bind_with_alpn(node, listen, PROTOCOLS)
    }

    /// As [`NetNode::bind`], speaking only the given application protocols:
    /// for testing how an older or incompatible peer is met.
    #[doc(hidden)]
    pub fn bind_with_alpn(
        node: SharedNode,
        listen: SocketAddr,
        protocols: &[&'static [u8]],
    ) -> Result<Self> {
        Self::bind_endpoint(node, protocols, |server| {
            Endpoint::server(server, listen)
                .map_err(|e| Error::network(format!("cannot listen on {listen}: {e}")))
        })
    }

    /// As [`NetNode::bind`], over `socket` rather than a UDP socket of its
    /// own: for tests of links that lose, delay, reorder or duplicate
    /// datagrams under the real transport.
    #[doc(hidden)]
    pub fn bind_over(node: SharedNode, socket: Arc<dyn quinn::AsyncUdpSocket>) -> Result<Self> {
        Self::bind_endpoint(node, PROTOCOLS, |server| {
            Endpoint::new_with_abstract_socket(
                quinn::EndpointConfig::default(),
                Some(server),
                socket,
                Arc::new(quinn::TokioRuntime),
            )
            .map_err(|e| Error::network(format!("cannot listen on the given socket: {e}")))
        })
    }

    fn bind_endpoint(
        node: SharedNode,
        protocols: &[&'static [u8]],
        endpoint: impl FnOnce(quinn::ServerConfig) -> Result<Endpoint>,
    ) -> Result<Self> {
        let (identity, device, gate, presented) = {
            let mut n = node.lock().unwrap_or_else(|e| e.into_inner());
            let identity = n.identity().clone();
            let presented = presented(&identity, &n.membership_proof()?)?;
            (identity, n.device().clone(), n.gate()?, presented)
        };
        let trust = Trust::default();
        trust.set(gate.trusted.clone());
        let gate: GateCell = Arc::new(std::sync::RwLock::new(Arc::new(gate)));
        let check = peer_check(node.clone(), gate.clone());
        let server_cert = tls::ServerCert::new(&presented)?;
        let tls = tls::server_config(
            server_cert.clone(),
            trust.clone(),
            Some(check.clone()),
            protocols,
        )?;
        let quic = QuicServerConfig::try_from(tls)
            .map_err(|e| Error::network(format!("QUIC setup: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport());
        let endpoint = endpoint(server)?;
        Ok(NetNode {
            node,
            identity,
            device,
            trust,
            check,
            gate,
            server_cert,
            endpoint,
            protocols: protocols.to_vec(),
            active: Mutex::new(Vec::new()),
        })
    }

    /// The address this node listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.endpoint
            .local_addr()
            .map_err(|e| Error::network(format!("no local address: {e}")))
    }

    /// This device's id.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// Read the node's gate now and judge handshakes by it (a host that
    /// changed membership or invites on the node itself calls this before
    /// its next step; waits for the node, so never from a handshake).
    pub fn read_gate(&self) -> Result<()> {
        let gate = {
            let mut n = self.node.lock().unwrap_or_else(|e| e.into_inner());
            n.reload_changed()?;
            n.gate()?
        };
        self.set_gate(gate);
        Ok(())
    }

    /// Judge handshakes by `gate` from now on; its members.
    fn set_gate(&self, gate: impl Into<Arc<Gate>>) {
        let gate = gate.into();
        self.trust.set(gate.trusted.clone());
        *self.gate.write().unwrap_or_else(|e| e.into_inner()) = gate;
    }

    /// The node.
    pub fn node(&self) -> &SharedNode {
        &self.node
    }

    /// Re-read the member lists into the set of accepted devices, and
    /// close the connections of devices no longer in it (revoked).
    pub async fn refresh_trust(&self) -> Result<()> {
        let identity = self.identity.clone();
        let (gate, presented) = with_node(&self.node, move |n| {
            n.reload_changed()?;
            // What ends by the clock (invites) stays ended if it is set
            // back: a running node notes how far it has seen it go.
            n.note_clock()?;
            let presented = presented(&identity, &n.membership_proof()?)?;
            Ok((n.gate()?, presented))
        })
        .await?;
        self.set_gate(gate);
        // A space joined since: the certificate proves it from now on.
        self.server_cert.set(&presented)?;
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        for (device, conn) in active.iter() {
            if !self.trust.accepts(device) {
                conn.close(
                    VarInt::from_u32(CLOSE_ERROR),
                    b"this device was revoked from the space",
                );
            }
        }
        Ok(())
    }

    /// Each session is a provision of data to another device: the audit
    /// trail names the device and who carries it.
    async fn audit_session(&self, peer: &DeviceId, stats: &SyncStats) -> Result<()> {
        let peer = peer.clone();
        let (sent, received) = (stats.bytes_sent, stats.bytes_received);
        with_node(&self.node, move |n| {
            let subject = n.device_named(&peer);
            n.record_audit(
                crate::audit::Action::Shared,
                subject,
                format!("sync ended: {sent} bytes sent, {received} received"),
            )
        })
        .await
    }

    fn track(&self, device: &DeviceId, conn: &Connection) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((device.clone(), conn.clone()));
    }

    fn untrack(&self, conn: &Connection) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, c)| c.stable_id() != conn.stable_id());
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        expected: Option<&DeviceId>,
        pinned: bool,
    ) -> Result<Connection> {
        // A peer this device synced with before holds its membership; any
        // other may not have heard of it yet (enrolled on another day):
        // the certificate then carries the proof.
        let identity = self.identity.clone();
        let known = expected.cloned();
        let presented = with_node(&self.node, move |n| {
            let needed = match &known {
                Some(peer) => !n.knows_peer(peer)?,
                None => true,
            };
            if needed && !pinned {
                presented(&identity, &n.membership_proof()?)
            } else {
                Ok(identity)
            }
        })
        .await?;
        self.connect_as(
            &presented,
            addr,
            expected.cloned().map(tls::Expected::Device),
            pinned,
        )
        .await
    }

    /// After every handshake: whether the peer may in, by the membership
    /// as it is now (the handshake's check and this one may straddle a
    /// revocation another process wrote).
    async fn still_admitted(&self, conn: &Connection, peer: &DeviceId) -> Result<()> {
        let Some(cert) = peer_cert(conn) else {
            return Err(Error::network("the peer presented no certificate"));
        };
        // The gate as it is now: read anew if another process revoked or
        // added a device since the handshake's reading (which may have
        // found the node busy).
        let held = self.gate.read().unwrap_or_else(|e| e.into_inner()).clone();
        let gate = with_node(&self.node, move |n| {
            if n.gate_is_current(&held) {
                return Ok(held);
            }
            n.reload_changed()?;
            n.gate().map(Arc::new)
        })
        .await?;
        let admitted = admits_cert(&gate, peer, &cert);
        self.set_gate(gate);
        if admitted {
            return Ok(());
        }
        conn.close(
            VarInt::from_u32(CLOSE_ERROR),
            b"refused: not a current member of a space this device holds",
        );
        Err(Error::network(
            "refused at the handshake: the peer is not a current member of a space this device holds (revoked?)",
        ))
    }

    /// After the handshake: a peer the member lists do not hold got in by
    /// the membership proof in its certificate. Write what it proved into
    /// the rosters, as a sync would have brought it, so that the session
    /// exchanges those spaces and the peer is known from now on.
    async fn admit_by_proof(&self, conn: &Connection, peer: &DeviceId) -> Result<()> {
        if self.trust.accepts(peer) {
            return Ok(());
        }
        let Some(proof) = peer_cert(conn).and_then(|c| cert_proof(&c)) else {
            return Ok(());
        };
        let p = peer.clone();
        let spaces = with_node(&self.node, move |n| n.take_proof(&p, &proof)).await?;
        if !spaces.is_empty() {
            self.refresh_trust().await?;
        }
        Ok(())
    }

    async fn connect_as(
        &self,
        identity: &Identity,
        addr: SocketAddr,
        expected: Option<tls::Expected>,
        pinned: bool,
    ) -> Result<Connection> {
        let tls = tls::client_config(
            identity,
            self.trust.clone(),
            Some(self.check.clone()),
            expected,
            pinned,
            &self.protocols,
        )?;
        let quic = QuicClientConfig::try_from(tls)
            .map_err(|e| Error::network(format!("QUIC setup: {e}")))?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(transport());
        let connecting = self
            .endpoint
            .connect_with(config, addr, "anpi")
            .map_err(|e| Error::network(format!("cannot connect to {addr}: {e}")))?;
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => Err(Error::network(format!(
                "{addr}: no answer within {CONNECT_TIMEOUT:?}"
            ))),
            Ok(Err(e)) => Err(Error::network(format!("{addr}: {}", describe(&e)))),
            Ok(Ok(conn)) => Ok(conn),
        }
    }

    /// Sync with the device at `addr`. With `expected`, it must be that
    /// device; otherwise any device this one accepts.
    pub async fn sync_with(
        &self,
        addr: SocketAddr,
        expected: Option<&DeviceId>,
    ) -> Result<SyncReport> {
        let result = async {
            let conn = self.connect(addr, expected, false).await?;
            self.initiate(conn, addr, false).await
        }
        .await;
        self.note_session(addr, &result).await;
        self.settle_later();
        result
    }

    /// Tell the node how a session with `addr` ended (its book of peers,
    /// which every host reads).
    async fn note_session(&self, addr: SocketAddr, result: &Result<SyncReport>) {
        let outcome: std::result::Result<DeviceId, String> = match result {
            Ok(r) => match r.incomplete() {
                None => Ok(r.peer.clone()),
                Some(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let _ = with_node(&self.node, move |n| {
            Ok(n.session_ended(
                addr,
                outcome.as_ref().map_err(String::as_str),
                crate::model::Timestamp::now(),
            ))
        })
        .await;
    }

    async fn initiate(&self, conn: Connection, addr: SocketAddr, join: bool) -> Result<SyncReport> {
        let peer = peer_device(&conn)?;
        if !join {
            self.still_admitted(&conn, &peer).await?;
            self.admit_by_proof(&conn, &peer).await?;
        }
        self.track(&peer, &conn);
        let result = tokio::time::timeout(SESSION_TIMEOUT, async {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| Error::network(describe(&e)))?;
            let p = peer.clone();
            let (session, hello) = with_node(&self.node, move |n| {
                n.reload_changed()?;
                let spaces = if join {
                    BTreeSet::new()
                } else {
                    n.spaces_shared_with(&p)?
                };
                if spaces.is_empty() && !join {
                    // Revoked meanwhile, or of no space here: nothing may
                    // move, and nothing must be reported as synced.
                    return Err(Error::network(
                        "this device and the peer share no space in which both are current members",
                    ));
                }
                n.sync_start_network(&p, spaces, join)
            })
            .await?;
            send_message(&conn, &mut send, &hello).await?;
            converse(&self.node, &conn, session, &mut send, &mut recv).await
        })
        .await
        .unwrap_or_else(|_| Err(Error::network("the session took too long")));
        finish(&conn, &result);
        self.untrack(&conn);
        let (session, round_trips) = result?;
        self.refresh_trust().await?;
        self.audit_session(&peer, &session.stats).await?;
        let udp = conn.stats();
        Ok(SyncReport {
            peer,
            addr,
            stats: session.stats,
            round_trips,
            initiator: true,
            wire_sent: udp.udp_tx.bytes,
            wire_received: udp.udp_rx.bytes,
            failures: session.failures,
        })
    }

    /// Answer one incoming connection (already past the handshake).
    pub async fn respond(&self, conn: Connection) -> Result<SyncReport> {
        let addr = conn.remote_address();
        let result = self.respond_inner(conn).await;
        self.note_session(addr, &result).await;
        self.settle_later();
        result
    }

    async fn respond_inner(&self, conn: Connection) -> Result<SyncReport> {
        let peer = peer_device(&conn)?;
        let addr = conn.remote_address();
        // Reads the gate as it is now (a device added by another process
        // since the handshake included).
        self.still_admitted(&conn, &peer).await?;
        self.admit_by_proof(&conn, &peer).await?;
        if !self.trust.accepts(&peer) {
            // Past the handshake without being a member: it holds an
            // invite. Redeem it before anything is sent.
            let names = peer_names(&conn);
            let p = peer.clone();
            let joined = with_node(&self.node, move |n| n.redeem_invite(&p, &names)).await?;
            if joined.is_none() {
                conn.close(VarInt::from_u32(CLOSE_ERROR), b"not a member");
                return Err(Error::network("a non-member got past the handshake"));
            }
            self.refresh_trust().await?;
        }
        self.track(&peer, &conn);
        let result = tokio::time::timeout(SESSION_TIMEOUT, async {
            let (mut send, mut recv) = conn
                .accept_bi()
                .await
                .map_err(|e| Error::network(describe(&e)))?;
            let p = peer.clone();
            let session = with_node(&self.node, move |n| {
                n.reload_changed()?;
                let spaces: BTreeSet<SpaceId> = n.spaces_shared_with(&p)?;
                if spaces.is_empty() {
                    // Revoked since the handshake (another process), or of
                    // no space here: refused, so the peer never thinks it
                    // synced.
                    return Err(Error::network(
                        "this device is not a current member of any space the peer holds (revoked?)",
                    ));
                }
                Ok(n.sync_accept_network(&p, spaces))
            })
            .await?;
            converse(&self.node, &conn, session, &mut send, &mut recv).await
        })
        .await
        .unwrap_or_else(|_| Err(Error::network("the session took too long")));
        if result.is_err() {
            finish(&conn, &result);
        } else {
            // The initiator closes once it has our last word.
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        self.untrack(&conn);
        let (session, round_trips) = result?;
        self.refresh_trust().await?;
        self.audit_session(&peer, &session.stats).await?;
        let udp = conn.stats();
        Ok(SyncReport {
            peer,
            addr,
            stats: session.stats,
            round_trips,
            initiator: false,
            wire_sent: udp.udp_tx.bytes,
            wire_received: udp.udp_rx.bytes,
            failures: session.failures,
        })
    }

    /// The next incoming connection that passed the handshake, or the
    /// refusal of one that did not. `None` once the endpoint is closed.
    ///
    /// Not for `select!`: dropping this future in the middle of a
    /// handshake aborts the peer's session. A loop that waits for other
    /// things too takes [`NetNode::incoming`].
    pub async fn accept(&self) -> Option<Accepted> {
        let incoming = self.endpoint.accept().await?;
        Some(handshake(incoming).await)
    }

    /// Every incoming connection, each handshake in a task of its own, as
    /// a channel: receiving from it is safe in `select!` (nothing in flight
    /// is dropped with the receive), and a slow peer does not hold up the
    /// next. The returned task accepts until the endpoint closes; abort it
    /// to stop accepting sooner.
    pub fn incoming(
        &self,
    ) -> (
        mpsc::UnboundedReceiver<Accepted>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let endpoint = self.endpoint.clone();
        let acceptor = tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(handshake(incoming).await);
                });
            }
        });
        (rx, acceptor)
    }

    /// Close the endpoint and wait until the peers were told.
    pub async fn close(&self) {
        self.endpoint
            .close(VarInt::from_u32(CLOSE_DONE), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// An incoming connection after its handshake, or the refusal of one.
pub type Accepted = std::result::Result<Connection, (SocketAddr, Error)>;

async fn handshake(incoming: quinn::Incoming) -> Accepted {
    let addr = incoming.remote_address();
    incoming
        .await
        .map_err(|e| (addr, Error::network(describe(&e))))
}

#[cfg(test)]
mod lossy;
#[cfg(test)]
mod tests;
