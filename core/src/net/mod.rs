//! The network adapter: the only code that touches sockets. It moves the
//! sync engine's messages (see [`crate::sync`]) over QUIC between devices
//! that proved their keys to each other (see [`tls`]), finds peers on the
//! local network ([`discovery`]), and keeps the office link ([`serve`]).
//!
//! ## On the wire
//!
//! One QUIC connection per session, ALPN `anpi/1`, mutual TLS 1.3. The
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
pub mod tls;
pub mod wire;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, RecvStream, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::identity::{Identity, device_of_cert};
use crate::model::{DeviceId, SpaceId};
use crate::node::{Node, Session, SyncStats};
use crate::sync::Message;

pub use join::{JoinBy, join_office};
pub use tls::{ALPN, Trust};

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
    /// What this node presents as a server (its membership proof in it).
    server_cert: tls::ServerCert,
    endpoint: Endpoint,
    alpn: Vec<u8>,
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

/// The check of every key at the handshake: the node's membership as it
/// is now on disk (another process may have revoked or added a device since
/// the last session), a pending invite, or a membership proof in the
/// certificate that this device can check itself.
fn peer_check(node: SharedNode, trust: Trust) -> tls::PeerCheck {
    tls::PeerCheck(Arc::new(
        move |device: &DeviceId, cert: &CertificateDer<'_>| {
            let mut n = node.lock().unwrap_or_else(|e| e.into_inner());
            if n.reload_changed().is_ok()
                && let Ok(trusted) = n.trusted_peers()
            {
                let known = trusted.contains(device);
                trust.set(trusted);
                if known {
                    return true;
                }
            }
            if n.invite_admits(device, &crate::identity::names_of_cert(cert)) {
                return true;
            }
            cert_proof(cert).is_some_and(|proof| {
                n.admitted_by_proof(device, &proof)
                    .is_ok_and(|spaces| !spaces.is_empty())
            })
        },
    ))
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

fn describe(e: &quinn::ConnectionError) -> String {
    // A refused key shows as a certificate error, or — when the peer sends
    // no reason — as the TLS alert alone (42 bad_certificate, 46
    // certificate_unknown, 48 unknown_ca, 116 certificate_required).
    let refused = |text: &str| {
        text.contains("certificate")
            || text.contains("Certificate")
            || ["error 42", "error 46", "error 48", "error 116"]
                .iter()
                .any(|code| text.ends_with(code) || text.contains(&format!("{code}:")))
    };
    let alpn = |text: &str| {
        text.contains("error 120")
            || text.contains("no_application_protocol")
            || text.contains("known protocol")
    };
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => {
            let reason = String::from_utf8_lossy(&c.reason).into_owned();
            if reason.is_empty() {
                "the peer closed the connection".into()
            } else {
                format!("the peer ended the session: {reason}")
            }
        }
        quinn::ConnectionError::TimedOut => "no answer (timed out)".into(),
        // Raised here: this device's verifier refused the peer's key.
        quinn::ConnectionError::TransportError(t) if refused(&t.to_string()) => {
            "refused at the handshake: the peer's key is not the expected device, or not a current member of a space this device holds".into()
        }
        quinn::ConnectionError::TransportError(t) if alpn(&t.to_string()) => {
            "the peer speaks an incompatible protocol version (ALPN anpi/1 refused)".into()
        }
        // Sent by the peer: it refused this device's key.
        quinn::ConnectionError::ConnectionClosed(c) if refused(&c.to_string()) => {
            "refused at the handshake: the peer does not accept this device (an admin adds it with `anpi device add`; a revoked device stays refused)".into()
        }
        quinn::ConnectionError::ConnectionClosed(c) if alpn(&c.to_string()) => {
            "the peer speaks an incompatible protocol version (ALPN anpi/1 refused)".into()
        }
        other => other.to_string(),
    }
}

fn write_error(e: quinn::WriteError) -> Error {
    match e {
        quinn::WriteError::ConnectionLost(e) => Error::network(describe(&e)),
        other => Error::network(format!("send failed: {other}")),
    }
}

/// Send one sync message: its control frame on the session's stream, then
/// each document on a stream of its own, in order (incident documents
/// first). The peer accepts the document streams as it reads them, so
/// QUIC's stream limit paces a message of many documents.
async fn send_message(conn: &Connection, control: &mut SendStream, msg: &Message) -> Result<()> {
    let (head, docs) = wire::split_message(msg)?;
    control.write_all(&head).await.map_err(write_error)?;
    for frame in docs {
        let mut stream = conn
            .open_uni()
            .await
            .map_err(|e| Error::network(describe(&e)))?;
        stream.write_all(&frame).await.map_err(write_error)?;
        let _ = stream.finish();
    }
    Ok(())
}

/// The next sync message put back together from its control frame and
/// its document streams, or `None` once the peer finished its side.
async fn receive_message(conn: &Connection, control: &mut RecvStream) -> Result<Option<Message>> {
    let Some(frame) = read_frame(control).await? else {
        return Ok(None);
    };
    let (count, head) = wire::decode_control(&frame)?;
    let mut docs = Vec::with_capacity(count);
    let mut bytes = frame.len();
    for _ in 0..count {
        let mut stream = conn
            .accept_uni()
            .await
            .map_err(|e| Error::network(describe(&e)))?;
        let frame = read_frame(&mut stream)
            .await?
            .ok_or_else(|| Error::network("the peer sent an empty document stream"))?;
        bytes += frame.len();
        if bytes > crate::sync::MAX_MESSAGE_BYTES {
            return Err(Error::network(format!(
                "the peer's documents passed the message limit of {} bytes",
                crate::sync::MAX_MESSAGE_BYTES
            )));
        }
        docs.push(wire::decode_entry(&frame)?);
    }
    wire::join_message(head, docs, bytes).map(Some)
}

/// The next message, or `None` once the peer finished its side.
async fn read_frame(recv: &mut RecvStream) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => {
            return Err(Error::network("the peer sent a truncated message"));
        }
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(
            quinn::ConnectionError::ApplicationClosed(c),
        ))) if c.error_code == VarInt::from_u32(CLOSE_DONE) => return Ok(None),
        Err(quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e))) => {
            return Err(Error::network(describe(&e)));
        }
        Err(quinn::ReadExactError::ReadError(e)) => {
            return Err(Error::network(format!("receive failed: {e}")));
        }
    }
    let len = wire::frame_len(len)?;
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(|e| match e {
        quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e)) => {
            Error::network(describe(&e))
        }
        _ => Error::network("the peer sent a truncated message"),
    })?;
    Ok(Some(buf))
}

impl NetNode {
    /// Bind a QUIC endpoint at `listen` for `node` (use port 0 for any).
    pub fn bind(node: SharedNode, listen: SocketAddr) -> Result<Self> {
        Self::bind_with_alpn(node, listen, ALPN)
    }

    /// As [`NetNode::bind`], speaking another application protocol when
    /// dialling: only for testing how an incompatible peer is told apart.
    #[doc(hidden)]
    pub fn bind_with_alpn(node: SharedNode, listen: SocketAddr, alpn: &[u8]) -> Result<Self> {
        let (identity, device, trusted, presented) = {
            let mut n = node.lock().unwrap_or_else(|e| e.into_inner());
            let identity = n.identity().clone();
            let presented = presented(&identity, &n.membership_proof()?)?;
            (identity, n.device().clone(), n.trusted_peers()?, presented)
        };
        let trust = Trust::default();
        trust.set(trusted);
        let check = peer_check(node.clone(), trust.clone());
        let server_cert = tls::ServerCert::new(&presented)?;
        let tls = tls::server_config(server_cert.clone(), trust.clone(), Some(check.clone()))?;
        let quic = QuicServerConfig::try_from(tls)
            .map_err(|e| Error::network(format!("QUIC setup: {e}")))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport());
        let endpoint = Endpoint::server(server, listen)
            .map_err(|e| Error::network(format!("cannot listen on {listen}: {e}")))?;
        Ok(NetNode {
            node,
            identity,
            device,
            trust,
            check,
            server_cert,
            endpoint,
            alpn: alpn.to_vec(),
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

    /// The node.
    pub fn node(&self) -> &SharedNode {
        &self.node
    }

    /// Re-read the member lists into the set of accepted devices, and
    /// close the connections of devices no longer in it (revoked).
    pub async fn refresh_trust(&self) -> Result<()> {
        let identity = self.identity.clone();
        let (trusted, presented) = with_node(&self.node, move |n| {
            n.reload_changed()?;
            let presented = presented(&identity, &n.membership_proof()?)?;
            Ok((n.trusted_peers()?, presented))
        })
        .await?;
        self.trust.set(trusted);
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
            let carrier = n
                .spaces()?
                .into_iter()
                .find_map(|s| {
                    n.members(&s.id)
                        .ok()?
                        .into_iter()
                        .find(|(m, _)| m.device == peer)
                })
                .map(|(m, _)| format!("{}（{}）", m.staff.name, m.staff.organisation))
                .unwrap_or_default();
            n.record_audit(
                crate::audit::Action::Shared,
                format!("device {} {carrier}", peer.readable()),
                format!("sync: {sent} bytes sent, {received} received"),
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
        self.connect_as(&presented, addr, expected, pinned).await
    }

    /// After every handshake: whether the peer may in, by the membership
    /// as it is now (the handshake's check and this one may straddle a
    /// revocation another process wrote).
    async fn still_admitted(&self, conn: &Connection, peer: &DeviceId) -> Result<()> {
        let Some(cert) = peer_cert(conn) else {
            return Err(Error::network("the peer presented no certificate"));
        };
        let check = self.check.clone();
        let p = peer.clone();
        let admitted = tokio::task::spawn_blocking(move || (check.0)(&p, &cert))
            .await
            .map_err(|e| Error::network(format!("membership check failed: {e}")))?;
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
        expected: Option<&DeviceId>,
        pinned: bool,
    ) -> Result<Connection> {
        let tls = tls::client_config(
            identity,
            self.trust.clone(),
            Some(self.check.clone()),
            expected.cloned(),
            pinned,
            &self.alpn,
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
        result
    }

    async fn respond_inner(&self, conn: Connection) -> Result<SyncReport> {
        let peer = peer_device(&conn)?;
        let addr = conn.remote_address();
        self.still_admitted(&conn, &peer).await?;
        if !self.trust.accepts(&peer) {
            // Added by another process since the lists were last read?
            self.refresh_trust().await?;
        }
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

fn finish<T>(conn: &Connection, result: &Result<T>) {
    match result {
        Ok(_) => conn.close(VarInt::from_u32(CLOSE_DONE), b"done"),
        Err(e) => {
            let mut reason = e.to_string();
            reason.truncate(400);
            conn.close(VarInt::from_u32(CLOSE_ERROR), reason.as_bytes());
        }
    }
}

/// Take turns until both sides have finished: apply each message, answer
/// it or finish our side when there is nothing to say.
async fn converse(
    node: &SharedNode,
    conn: &Connection,
    mut session: Session,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Result<(Session, usize)> {
    let mut finished = false;
    let mut answered = 0;
    loop {
        match receive_message(conn, recv).await? {
            None => {
                if !finished {
                    let _ = send.finish();
                }
                // Let the peer read our end before the connection closes:
                // a close discards whatever is still in flight.
                let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
                return Ok((session, answered));
            }
            Some(msg) => {
                if finished {
                    return Err(Error::network("the peer spoke after the session ended"));
                }
                answered += 1;
                let (s, reply) = with_node(node, move |n| {
                    let reply = n.sync_receive(&mut session, msg);
                    Ok((session, reply))
                })
                .await?;
                session = s;
                match reply? {
                    Some(r) => send_message(conn, send, &r).await?,
                    None => {
                        let _ = send.finish();
                        finished = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckMethod, CheckResult, Recipient, RecipientId, Role, Staff};
    use crate::node::NewCheck;
    use crate::store::MemoryStore;

    fn shared(node: Node) -> SharedNode {
        Arc::new(Mutex::new(node))
    }

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    fn staff(name: &str) -> Staff {
        Staff {
            name: name.into(),
            organisation: "ひまわり".into(),
        }
    }

    /// An office holding recipient R1, and a phone it added as a member
    /// (not yet joined).
    fn office_and_phone() -> (Node, Node, SpaceId) {
        let mut office = Node::open(MemoryStore::new()).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        office
            .upsert_recipients(
                &space,
                vec![Recipient {
                    id: RecipientId("R1".into()),
                    name: "山田 花子".into(),
                    ..Default::default()
                }],
            )
            .unwrap();
        let phone = Node::open(MemoryStore::new()).unwrap();
        office
            .add_member(&space, phone.device(), staff("佐藤"), Role::CareManager)
            .unwrap();
        (office, phone, space)
    }

    /// Answer every incoming connection of `net`, as a running node would.
    fn answer_all(net: Arc<NetNode>) {
        tokio::spawn(async move {
            while let Some(incoming) = net.accept().await {
                if let Ok(conn) = incoming {
                    let n = net.clone();
                    tokio::spawn(async move { n.respond(conn).await });
                }
            }
        });
    }

    /// Start a flood incident on `node` (or reuse the open one) and record
    /// one check of R1 there.
    fn record(node: &SharedNode, space: &SpaceId, method: CheckMethod) {
        let mut n = node.lock().unwrap();
        let incident = match n.open_incident(space).unwrap() {
            Some(i) => i,
            None => n
                .start_incident(
                    space,
                    crate::model::IncidentKind::Flood,
                    "水害",
                    crate::model::Timestamp::now(),
                )
                .unwrap(),
        };
        n.record_check(
            space,
            &incident.id,
            NewCheck::new(RecipientId("R1".into()), method, CheckResult::Safe),
        )
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_joins_syncs_and_a_stranger_is_refused() {
        let (office, phone, space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        answer_all(office.clone());

        let phone = NetNode::bind(shared(phone), loopback()).unwrap();
        let report = phone.join(office_addr, &office_id).await.unwrap();
        assert_eq!(report.peer, office_id);
        assert!(report.stats.docs_changed > 0);
        assert_eq!(phone.node().lock().unwrap().spaces().unwrap().len(), 1);
        record(phone.node(), &space, CheckMethod::Visit);
        phone
            .sync_with(office_addr, Some(&office_id))
            .await
            .unwrap();
        // A known peer and one side changed: one round trip.
        record(phone.node(), &space, CheckMethod::Phone);
        let report = phone
            .sync_with(office_addr, Some(&office_id))
            .await
            .unwrap();
        assert_eq!(report.round_trips, 1, "{report:?}");
        {
            let n = office.node().lock().unwrap();
            let incidents = n.incidents(&space).unwrap();
            assert_eq!(n.checks(&space, &incidents[0].id).unwrap().len(), 2);
        }

        // Once revoked, the phone is refused at the handshake.
        {
            let phone_id = phone.device().clone();
            let mut n = office.node().lock().unwrap();
            n.revoke_member(&space, &phone_id).unwrap();
        }
        office.refresh_trust().await.unwrap();
        let err = phone
            .sync_with(office_addr, Some(&office_id))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("refused at the handshake"),
            "{err}"
        );

        // A device nobody added is refused during the handshake.
        let stranger =
            NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
        let err = stranger.join(office_addr, &office_id).await.unwrap_err();
        assert!(
            err.to_string().contains("refused at the handshake"),
            "{err}"
        );
        // And a device that expects another office id refuses this one.
        let wrong = DeviceId("0".repeat(32));
        let err = phone
            .sync_with(office_addr, Some(&wrong))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("refused at the handshake"),
            "{err}"
        );
    }

    /// The office enrolls A, A joins; weeks later it enrolls B, B joins;
    /// then the office goes dark. A has never heard of B. They meet and
    /// sync, whichever dials: each proves its membership in its
    /// certificate. A phone revoked meanwhile, showing its old entry, is
    /// refused by a device that knows the revocation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn phones_enrolled_on_different_days_sync_with_each_other_while_the_office_is_down() {
        let (office, a, space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        answer_all(office.clone());
        let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
        a.join(office_addr, &office_id).await.unwrap();
        // Days later: B and C are enrolled, after A's last sync.
        let b = Node::open(MemoryStore::new()).unwrap();
        let c = Node::open(MemoryStore::new()).unwrap();
        {
            let mut n = office.node().lock().unwrap();
            n.add_member(&space, b.device(), staff("鈴木"), Role::CareManager)
                .unwrap();
            n.add_member(&space, c.device(), staff("田中"), Role::CareManager)
                .unwrap();
        }
        let b = Arc::new(NetNode::bind(shared(b), loopback()).unwrap());
        let c = Arc::new(NetNode::bind(shared(c), loopback()).unwrap());
        b.join(office_addr, &office_id).await.unwrap();
        c.join(office_addr, &office_id).await.unwrap();
        // C is lost and revoked; B learns it, A does not.
        let c_id = c.device().clone();
        office
            .node()
            .lock()
            .unwrap()
            .revoke_member(&space, &c_id)
            .unwrap();
        b.sync_with(office_addr, Some(&office_id)).await.unwrap();
        office.close().await;

        record(a.node(), &space, CheckMethod::Visit);
        record(b.node(), &space, CheckMethod::Phone);
        answer_all(a.clone());
        answer_all(b.clone());
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // B dials A (A has never heard of B): B's proof gets it in.
        let report = b.sync_with(a_addr, None).await.unwrap();
        assert!(report.failures.is_empty(), "{report:?}");
        assert!(report.stats.docs_changed > 0);
        record(a.node(), &space, CheckMethod::Family);
        // And A dials B (A knows B now, from the roster B brought).
        let report = a.sync_with(b_addr, None).await.unwrap();
        assert!(report.failures.is_empty(), "{report:?}");
        for n in [&a, &b] {
            let n = n.node().lock().unwrap();
            let incident = n.open_incident(&space).unwrap().unwrap();
            assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 3);
        }
        // C shows its old entry to B, which knows the revocation: refused.
        let err = c.sync_with(b_addr, None).await.unwrap_err();
        assert!(
            err.to_string().contains("refused at the handshake"),
            "{err}"
        );
        // A learnt the revocation from B: refused there too.
        let err = c.sync_with(a_addr, None).await.unwrap_err();
        assert!(
            err.to_string().contains("refused at the handshake"),
            "{err}"
        );
    }

    /// A fresh pair: the first device to dial is the one nobody knows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_device_nobody_has_heard_of_dials_first_and_is_admitted_by_its_proof() {
        let (office, a, space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        answer_all(office.clone());
        let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
        a.join(office_addr, &office_id).await.unwrap();
        let b = Node::open(MemoryStore::new()).unwrap();
        office
            .node()
            .lock()
            .unwrap()
            .add_member(&space, b.device(), staff("鈴木"), Role::CareManager)
            .unwrap();
        let b = Arc::new(NetNode::bind(shared(b), loopback()).unwrap());
        b.join(office_addr, &office_id).await.unwrap();
        office.close().await;
        // A (which does not know B) dials B: B's server certificate proves.
        answer_all(b.clone());
        record(a.node(), &space, CheckMethod::Visit);
        let report = a.sync_with(b.local_addr().unwrap(), None).await.unwrap();
        assert!(report.failures.is_empty(), "{report:?}");
        let n = b.node().lock().unwrap();
        let incident = n.open_incident(&space).unwrap().unwrap();
        assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 1);
    }

    /// Two peers that dial each other at the same moment, many times: every
    /// session ends synced on both sides, and they converge.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_peers_dialing_each_other_at_once_both_end_synced() {
        let (office, a, space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        answer_all(office.clone());
        let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
        a.join(office_addr, &office_id).await.unwrap();
        answer_all(a.clone());
        let a_addr = a.local_addr().unwrap();
        let a_id = a.device().clone();
        record(office.node(), &space, CheckMethod::Visit);
        for round in 0..30 {
            record(a.node(), &space, CheckMethod::Phone);
            record(office.node(), &space, CheckMethod::Family);
            let (x, y) = tokio::join!(
                a.sync_with(office_addr, Some(&office_id)),
                office.sync_with(a_addr, Some(&a_id)),
            );
            let x = x.unwrap_or_else(|e| panic!("round {round}, the phone's session: {e}"));
            let y = y.unwrap_or_else(|e| panic!("round {round}, the office's session: {e}"));
            assert!(
                x.failures.is_empty() && y.failures.is_empty(),
                "{x:?} {y:?}"
            );
        }
        a.sync_with(office_addr, Some(&office_id)).await.unwrap();
        let heads = |n: &NetNode| n.node().lock().unwrap().heads().unwrap();
        assert_eq!(heads(&a), heads(&office));
        let n = a.node().lock().unwrap();
        let incident = n.open_incident(&space).unwrap().unwrap();
        assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 61);
    }

    /// An office running its node (`serve::run`, with `debounce` before it
    /// passes its own changes on) and a phone that joined it from an
    /// endpoint of its own, since closed: the SDK's scenario.
    struct ServingOffice {
        net: Arc<NetNode>,
        id: DeviceId,
        addr: SocketAddr,
        phone: SharedNode,
        space: SpaceId,
        changes: Arc<tokio::sync::Notify>,
        stop: tokio::sync::watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<()>>,
    }

    impl ServingOffice {
        async fn start(debounce: Duration) -> ServingOffice {
            let (office, phone, space) = office_and_phone();
            let id = office.device().clone();
            let net = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
            let addr = net.local_addr().unwrap();
            let options = serve::Options {
                debounce,
                ..Default::default()
            };
            let changes = options.local_changes.clone();
            let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(serve::run(net.clone(), options, events, stop_rx));
            let phone = shared(phone);
            let joining = NetNode::bind(phone.clone(), loopback()).unwrap();
            joining.join(addr, &id).await.unwrap();
            joining.close().await;
            ServingOffice {
                net,
                id,
                addr,
                phone,
                space,
                changes,
                stop,
                task,
            }
        }

        /// The phone syncs from a new endpoint, as the SDK's `syncNow`
        /// does; the session must succeed whole.
        async fn phone_syncs(&self, round: usize) {
            let net = NetNode::bind(self.phone.clone(), loopback()).unwrap();
            let r = net.sync_with(self.addr, Some(&self.id)).await;
            net.close().await;
            let r = r.unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(r.failures.is_empty(), "round {round}: {r:?}");
        }

        async fn stop(self) {
            self.stop.send(true).unwrap();
            self.task.await.unwrap().unwrap();
        }
    }

    fn checks_at(node: &SharedNode, space: &SpaceId) -> usize {
        let n = node.lock().unwrap();
        let incident = n.open_incident(space).unwrap().unwrap();
        n.checks(space, &incident.id).unwrap().len()
    }

    /// A serving node wakes for many things while a phone's handshake is in
    /// flight (its own changes, a finished session, a peer found): none of
    /// them may cut the handshake. Here the office's own changes arrive
    /// every millisecond while a phone syncs again and again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handshake_in_flight_survives_the_serving_node_waking_for_other_things() {
        let office = ServingOffice::start(Duration::from_secs(3600)).await;
        let changes = office.changes.clone();
        let nudger = tokio::spawn(async move {
            for _ in 0..20_000 {
                changes.notify_one();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        for round in 0..20 {
            record(&office.phone, &office.space, CheckMethod::Visit);
            office.phone_syncs(round).await;
        }
        nudger.abort();
        let (node, space) = (office.net.node().clone(), office.space.clone());
        office.stop().await;
        assert_eq!(checks_at(&node, &space), 20);
    }

    /// The phone SDK's scenario, many times: the office runs its node (which
    /// passes its own changes on to the peers it heard from), while a phone
    /// joins and then syncs from short-lived endpoints of its own, right
    /// after the office recorded something. No session of the phone may
    /// fail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_phone_syncing_while_the_office_pushes_its_own_changes_never_fails() {
        let office = ServingOffice::start(Duration::from_millis(20)).await;
        for round in 0..25 {
            record(office.net.node(), &office.space, CheckMethod::Phone);
            office.changes.notify_one();
            record(&office.phone, &office.space, CheckMethod::Visit);
            office.phone_syncs(round).await;
        }
        let (phone, space) = (office.phone.clone(), office.space.clone());
        office.stop().await;
        assert_eq!(checks_at(&phone, &space), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_incompatible_protocol_version_gets_a_clear_error() {
        let (office, phone, _space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let addr = office.local_addr().unwrap();
        let server = office.clone();
        let refused = tokio::spawn(async move {
            match server.accept().await {
                Some(Err((_, e))) => e.to_string(),
                other => format!("unexpected: {:?}", other.map(|r| r.is_ok())),
            }
        });
        // A later anpi speaking anpi/2 only.
        let newer = NetNode::bind_with_alpn(shared(phone), loopback(), b"anpi/2").unwrap();
        let err = newer.join(addr, &office_id).await.unwrap_err();
        assert!(
            err.to_string().contains("incompatible protocol version"),
            "{err}"
        );
        let seen = refused.await.unwrap();
        assert!(seen.contains("incompatible protocol version"), "{seen}");
    }

    async fn next_sync(rx: &mut tokio::sync::mpsc::UnboundedReceiver<serve::Event>) -> SyncReport {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(serve::Event::Synced(r))) => return r,
                Ok(Some(_)) => continue,
                other => panic!("no sync within 10 s: {other:?}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_running_node_syncs_peers_the_host_feeds_in_and_passes_local_changes_on() {
        use serve::Options;
        let (office, phone, space) = office_and_phone();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        let (office_events, _office_rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_office, stop_rx) = tokio::sync::watch::channel(false);
        let office_task = tokio::spawn(serve::run(
            office.clone(),
            Options::default(),
            office_events,
            stop_rx,
        ));

        let phone_net = Arc::new(NetNode::bind(shared(phone), loopback()).unwrap());
        phone_net.join(office_addr, &office_id).await.unwrap();
        let manual = Arc::new(discovery::Manual::new());
        let options = Options {
            discovery: vec![manual.clone()],
            debounce: Duration::from_millis(100),
            ..Default::default()
        };
        let changes = options.local_changes.clone();
        let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_phone, stop_rx) = tokio::sync::watch::channel(false);
        let phone_task = tokio::spawn(serve::run(phone_net.clone(), options, events, stop_rx));
        // The host found the office itself (say, through Bonjour).
        while !manual.add_peer(office_addr) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(next_sync(&mut rx).await.peer, office_id);
        // A check recorded here reaches the office after the debounce.
        record(phone_net.node(), &space, CheckMethod::Visit);
        changes.notify_one();
        assert_eq!(next_sync(&mut rx).await.peer, office_id);
        {
            let n = office.node().lock().unwrap();
            let incident = n.open_incident(&space).unwrap().unwrap();
            assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 1);
        }
        stop_phone.send(true).unwrap();
        stop_office.send(true).unwrap();
        phone_task.await.unwrap().unwrap();
        office_task.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invite_enrolls_one_device_once_before_it_expires() {
        let mut office = Node::open(MemoryStore::new()).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let addr = office.local_addr().unwrap();
        answer_all(office.clone());
        let invite = |valid_ms: i64| {
            let mut n = office.node().lock().unwrap();
            n.create_invite(
                &space,
                staff("佐藤"),
                Role::CareManager,
                vec![addr.to_string()],
                crate::model::Timestamp::from_millis(
                    crate::model::Timestamp::now().millis() + valid_ms,
                ),
            )
            .unwrap()
        };
        let code = invite(600_000).encode();

        let phone =
            NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
        let parsed = crate::invite::Invite::decode(&code).unwrap();
        let report = phone.join_invite(&parsed).await.unwrap();
        assert!(report.stats.docs_changed > 0);
        assert_eq!(phone.node().lock().unwrap().spaces().unwrap().len(), 1);
        let members = office.node().lock().unwrap().members(&space).unwrap();
        assert!(members.iter().any(|(m, s)| &m.device == phone.device()
            && *s == crate::model::MemberStanding::Active
            && m.staff.name == "佐藤"));
        // The enrolled phone now syncs as a member.
        phone.sync_with(addr, Some(office.device())).await.unwrap();

        // The same code again, from another device: refused.
        let other =
            NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
        let err = other.join_invite(&parsed).await.unwrap_err();
        assert!(err.to_string().contains("refused this invite"), "{err}");
        // An expired invite is refused before it is even tried.
        let stale = invite(-1);
        let err = other.join_invite(&stale).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        // And the office refuses it too, whatever the phone's clock says.
        let mut lying = stale.clone();
        lying.expires = crate::model::Timestamp::now().plus_minutes(60 * 24 * 365);
        let err = other.join_invite(&lying).await.unwrap_err();
        assert!(err.to_string().contains("refused this invite"), "{err}");
    }
}
