//! The network adapter: the only code that touches sockets. It moves the
//! sync engine's messages (see [`crate::sync`]) over QUIC between devices
//! that proved their keys to each other (see [`tls`]), finds peers on the
//! local network ([`discovery`]), and keeps the office link ([`serve`]).
//!
//! ## On the wire
//!
//! One QUIC connection per session, ALPN `anpi/1`, mutual TLS 1.3. The
//! initiator opens one bidirectional stream and both sides exchange
//! length-prefixed sync messages (4 bytes big-endian, then the message) in
//! turn. A side with nothing left to say finishes its send direction; when
//! both have, the session is over. Everything a message carries is applied
//! and written in one durable transaction, so the whole message is the unit
//! (ARCHITECTURE.md says why this is one stream, not one per document). A
//! side that cannot accept a message closes the connection with the reason
//! as text, so the peer can say what went wrong.

pub mod discovery;
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

use crate::error::{Error, Result};
use crate::identity::{Identity, device_of_cert};
use crate::model::{DeviceId, SpaceId};
use crate::node::{Node, Session, SyncStats};

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
}

/// A device on the network: its node, its QUIC endpoint (listening and
/// dialling from one socket, so a peer can reach back the address it saw),
/// and the set of devices it accepts.
pub struct NetNode {
    node: SharedNode,
    identity: Identity,
    device: DeviceId,
    trust: Trust,
    endpoint: Endpoint,
    alpn: Vec<u8>,
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

fn describe(e: &quinn::ConnectionError) -> String {
    let refused = |text: &str| text.contains("certificate") || text.contains("Certificate");
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

async fn write_frame(send: &mut SendStream, msg: &[u8]) -> Result<()> {
    send.write_all(&wire::encode_frame(msg)?)
        .await
        .map_err(write_error)
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
        let (identity, device, trusted) = {
            let mut n = node.lock().unwrap_or_else(|e| e.into_inner());
            (n.identity().clone(), n.device().clone(), n.trusted_peers()?)
        };
        let trust = Trust::default();
        trust.set(trusted);
        let tls = tls::server_config(&identity, trust.clone())?;
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
            endpoint,
            alpn: alpn.to_vec(),
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

    /// Re-read the member lists into the set of accepted devices.
    pub async fn refresh_trust(&self) -> Result<()> {
        let trusted = with_node(&self.node, |n| n.trusted_peers()).await?;
        self.trust.set(trusted);
        Ok(())
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        expected: Option<&DeviceId>,
        pinned: bool,
    ) -> Result<Connection> {
        let tls = tls::client_config(
            &self.identity,
            self.trust.clone(),
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
        let conn = self.connect(addr, expected, false).await?;
        self.initiate(conn, addr, false).await
    }

    /// Join through the office at `addr` whose id the person typed: the
    /// office is trusted by that id alone, and every space it shares with
    /// this device (the office added it as a member) is taken.
    pub async fn join(&self, addr: SocketAddr, office: &DeviceId) -> Result<SyncReport> {
        let conn = self.connect(addr, Some(office), true).await?;
        let report = self.initiate(conn, addr, true).await?;
        self.refresh_trust().await?;
        Ok(report)
    }

    async fn initiate(&self, conn: Connection, addr: SocketAddr, join: bool) -> Result<SyncReport> {
        let peer = peer_device(&conn)?;
        let result = tokio::time::timeout(SESSION_TIMEOUT, async {
            let (mut send, mut recv) = conn
                .open_bi()
                .await
                .map_err(|e| Error::network(describe(&e)))?;
            let p = peer.clone();
            let (session, hello) = with_node(&self.node, move |n| {
                let spaces = if join {
                    BTreeSet::new()
                } else {
                    n.spaces_shared_with(&p)?
                };
                n.sync_start_network(&p, spaces, join)
            })
            .await?;
            write_frame(&mut send, &hello).await?;
            converse(&self.node, &conn, session, &mut send, &mut recv).await
        })
        .await
        .unwrap_or_else(|_| Err(Error::network("the session took too long")));
        finish(&conn, &result);
        let (session, round_trips) = result?;
        self.refresh_trust().await?;
        let udp = conn.stats();
        Ok(SyncReport {
            peer,
            addr,
            stats: session.stats,
            round_trips,
            initiator: true,
            wire_sent: udp.udp_tx.bytes,
            wire_received: udp.udp_rx.bytes,
        })
    }

    /// Answer one incoming connection (already past the handshake).
    pub async fn respond(&self, conn: Connection) -> Result<SyncReport> {
        let peer = peer_device(&conn)?;
        let addr = conn.remote_address();
        let result = tokio::time::timeout(SESSION_TIMEOUT, async {
            let (mut send, mut recv) = conn
                .accept_bi()
                .await
                .map_err(|e| Error::network(describe(&e)))?;
            let p = peer.clone();
            let session = with_node(&self.node, move |n| {
                let spaces: BTreeSet<SpaceId> = n.spaces_shared_with(&p)?;
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
        let (session, round_trips) = result?;
        self.refresh_trust().await?;
        let udp = conn.stats();
        Ok(SyncReport {
            peer,
            addr,
            stats: session.stats,
            round_trips,
            initiator: false,
            wire_sent: udp.udp_tx.bytes,
            wire_received: udp.udp_rx.bytes,
        })
    }

    /// The next incoming connection that passed the handshake, or the
    /// refusal of one that did not. `None` once the endpoint is closed.
    pub async fn accept(&self) -> Option<std::result::Result<Connection, (SocketAddr, Error)>> {
        let incoming = self.endpoint.accept().await?;
        let addr = incoming.remote_address();
        Some(match incoming.await {
            Ok(conn) => Ok(conn),
            Err(e) => Err((addr, Error::network(describe(&e)))),
        })
    }

    /// Close the endpoint and wait until the peers were told.
    pub async fn close(&self) {
        self.endpoint
            .close(VarInt::from_u32(CLOSE_DONE), b"shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
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
    let _ = conn;
    let mut finished = false;
    let mut answered = 0;
    loop {
        match read_frame(recv).await? {
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
                    let reply = n.sync_receive(&mut session, &msg);
                    Ok((session, reply))
                })
                .await?;
                session = s;
                match reply? {
                    Some(r) => write_frame(send, &r).await?,
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
        let phone_id = phone.device().clone();
        office
            .add_member(&space, &phone_id, staff("佐藤"), Role::CareManager)
            .unwrap();
        let office_id = office.device().clone();
        let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let office_addr = office.local_addr().unwrap();
        let server = office.clone();
        tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                if let Ok(conn) = incoming {
                    let s = server.clone();
                    tokio::spawn(async move { s.respond(conn).await });
                }
            }
        });

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_incompatible_protocol_version_gets_a_clear_error() {
        let mut office = Node::open(MemoryStore::new()).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        let phone = Node::open(MemoryStore::new()).unwrap();
        office
            .add_member(&space, phone.device(), staff("佐藤"), Role::CareManager)
            .unwrap();
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
}
