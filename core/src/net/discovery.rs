//! Finding peers on the local network. [`Discovery`] is a trait so that a
//! host that discovers better (iOS Bonjour, Android NSD) can feed peers in
//! itself; [`Mdns`] is the default, on mdns-sd.
//!
//! What is advertised says nothing about who or what: service
//! `_anpi._udp.local.`, a random instance name per start, and TXT `v` (the
//! protocol version) and `t` (tokens). A token is a keyed hash of a space
//! and the current hour: members of the space recognise it, nobody else can
//! link it to a space, a device or the previous hour's token.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::{Error, Result};
use crate::model::SpaceId;
use crate::sync::PROTOCOL_VERSION;

/// The DNS-SD service type.
pub const SERVICE: &str = "_anpi._udp.local.";

/// A device heard on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPeer {
    /// Where to reach it.
    pub addrs: Vec<SocketAddr>,
}

/// A way to find peers. `start` advertises this device's port with its
/// tokens and reports peers whose tokens match one of `tokens`.
pub trait Discovery: Send + Sync {
    /// Begin advertising and browsing.
    fn start(&self, port: u16, tokens: Tokens, found: UnboundedSender<FoundPeer>) -> Result<()>;
    /// Stop both.
    fn stop(&self);
}

/// The tokens of this device's spaces, for the current and the previous
/// hour (a peer whose clock is a little behind still matches).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Advertised: the current hour's token of each space.
    pub advertised: Vec<String>,
    /// Accepted from peers.
    pub accepted: BTreeSet<String>,
}

fn hour_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or_default()
}

/// A space's token for an hour. The key is the space id, which only
/// members hold; a later issue gives spaces a secret of their own.
pub fn token(space: &SpaceId, hour: u64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, space.as_str().as_bytes());
    let tag = ring::hmac::sign(&key, format!("anpi-discovery/{hour}").as_bytes());
    data_encoding::HEXLOWER.encode(&tag.as_ref()[..8])
}

impl Tokens {
    /// The tokens of `spaces` now.
    pub fn for_spaces<'a>(spaces: impl IntoIterator<Item = &'a SpaceId>) -> Self {
        let hour = hour_now();
        let mut t = Tokens::default();
        for s in spaces {
            t.advertised.push(token(s, hour));
            t.accepted.insert(token(s, hour));
            t.accepted.insert(token(s, hour.saturating_sub(1)));
            t.accepted.insert(token(s, hour + 1));
        }
        t
    }
}

/// Peers the host finds itself (iOS Bonjour through NWBrowser, Android NSD,
/// a QR code on the shelter wall): each [`Manual::add_peer`] is reported as
/// found, while started.
#[derive(Default)]
pub struct Manual {
    found: std::sync::Mutex<Option<UnboundedSender<FoundPeer>>>,
}

impl Manual {
    /// A host-fed discovery.
    pub fn new() -> Self {
        Self::default()
    }

    /// Report a peer at `addr`. Returns `false` when discovery is not
    /// running (the peer is not remembered).
    pub fn add_peer(&self, addr: SocketAddr) -> bool {
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(FoundPeer { addrs: vec![addr] }).is_ok())
    }
}

impl Discovery for Manual {
    fn start(&self, _port: u16, _tokens: Tokens, found: UnboundedSender<FoundPeer>) -> Result<()> {
        *self.found.lock().unwrap_or_else(|e| e.into_inner()) = Some(found);
        Ok(())
    }

    fn stop(&self) {
        self.found.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// mDNS discovery restricted to named interfaces: it never sends on any
/// other, so a test or a demo cannot multicast on the machine's real
/// network by accident.
pub struct Mdns {
    daemon: ServiceDaemon,
    registered: std::sync::Mutex<Option<String>>,
}

impl Mdns {
    /// A daemon bound to `interfaces` only (at least one).
    pub fn new(interfaces: &[String]) -> Result<Self> {
        if interfaces.is_empty() {
            return Err(Error::invalid(
                "mDNS needs at least one --interface to advertise on (anpi never multicasts on every interface)",
            ));
        }
        let daemon = ServiceDaemon::new().map_err(|e| Error::network(format!("mDNS: {e}")))?;
        daemon
            .disable_interface(IfKind::All)
            .map_err(|e| Error::network(format!("mDNS: {e}")))?;
        for name in interfaces {
            daemon
                .enable_interface(IfKind::Name(name.clone()))
                .map_err(|e| Error::network(format!("mDNS interface {name}: {e}")))?;
        }
        Ok(Mdns {
            daemon,
            registered: std::sync::Mutex::new(None),
        })
    }
}

impl Discovery for Mdns {
    fn start(&self, port: u16, tokens: Tokens, found: UnboundedSender<FoundPeer>) -> Result<()> {
        let instance = format!("anpi-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let host = format!("{instance}.local.");
        let props = [
            ("v", PROTOCOL_VERSION.to_string()),
            ("t", tokens.advertised.join(",")),
        ];
        // The daemon fills in the addresses of the enabled interfaces.
        let info = ServiceInfo::new(SERVICE, &instance, &host, "", port, &props[..])
            .map_err(|e| Error::network(format!("mDNS: {e}")))?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_string();
        self.daemon
            .register(info)
            .map_err(|e| Error::network(format!("mDNS: {e}")))?;
        *self.registered.lock().unwrap_or_else(|e| e.into_inner()) = Some(fullname.clone());
        let events = self
            .daemon
            .browse(SERVICE)
            .map_err(|e| Error::network(format!("mDNS: {e}")))?;
        tokio::spawn(async move {
            while let Ok(event) = events.recv_async().await {
                let ServiceEvent::ServiceResolved(s) = event else {
                    continue;
                };
                if s.fullname == fullname {
                    continue;
                }
                let version_ok = s
                    .get_property_val_str("v")
                    .is_some_and(|v| v == PROTOCOL_VERSION.to_string());
                let theirs = s.get_property_val_str("t").unwrap_or_default();
                let ours = theirs.split(',').any(|t| tokens.accepted.contains(t));
                if !version_ok || !ours {
                    continue;
                }
                let addrs = s
                    .get_addresses_v4()
                    .into_iter()
                    .map(|ip| SocketAddr::new(IpAddr::V4(ip), s.port))
                    .collect();
                if found.send(FoundPeer { addrs }).is_err() {
                    break;
                }
            }
        });
        Ok(())
    }

    fn stop(&self) {
        if let Some(name) = self
            .registered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = self.daemon.unregister(&name);
        }
        let _ = self.daemon.stop_browse(SERVICE);
    }
}

impl Drop for Mdns {
    fn drop(&mut self) {
        self.stop();
        let _ = self.daemon.shutdown();
    }
}
