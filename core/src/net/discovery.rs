//! Finding peers on the local network. [`Discovery`] is a trait so that a
//! host that discovers better (iOS Bonjour, Android NSD) can feed peers in
//! itself; [`Mdns`] is the default, on mdns-sd.
//!
//! What is advertised says nothing about who or what: service
//! `_anpi._udp.local.`, a random instance name, and TXT `v` (the protocol
//! version) and `t` (tokens). A token is a keyed hash of a space and the
//! current hour: members of the space recognise it, nobody else can link it
//! to a space, a device or the previous hour's token. Every hour the
//! advertisement is made anew, with that hour's tokens under a new name.

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

/// The tokens of this device's spaces: for each hour, what it advertises
/// and what it accepts from peers (the hour before and after too, for a
/// peer whose clock is a little off). Worked out for the hour at hand each
/// time, so that a device that runs for days keeps matching its peers and
/// its own advertisement changes every hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    spaces: Vec<SpaceId>,
    /// How long an "hour" is: an hour, but a test may not wait so long.
    hour: std::time::Duration,
}

/// The length of a token's hour.
pub const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// A space's token for an hour. The key is the space id, which only
/// members hold; a later issue gives spaces a secret of their own.
pub fn token(space: &SpaceId, hour: u64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, space.as_str().as_bytes());
    let tag = ring::hmac::sign(&key, format!("anpi-discovery/{hour}").as_bytes());
    data_encoding::HEXLOWER.encode(&tag.as_ref()[..8])
}

impl Tokens {
    /// The tokens of `spaces`.
    pub fn for_spaces<'a>(spaces: impl IntoIterator<Item = &'a SpaceId>) -> Self {
        Tokens {
            spaces: spaces.into_iter().cloned().collect(),
            hour: HOUR,
        }
    }

    /// The same, with hours of `hour` (tests of the rotation).
    pub fn with_hour(mut self, hour: std::time::Duration) -> Self {
        self.hour = hour.max(std::time::Duration::from_millis(1));
        self
    }

    /// The hour now (hours since the epoch), and how long until the next.
    pub fn now(&self) -> (u64, std::time::Duration) {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let len = self.hour.as_millis().max(1);
        let hour = since.as_millis() / len;
        let next = std::time::Duration::from_millis(
            u64::try_from(len - since.as_millis() % len).unwrap_or(u64::MAX),
        );
        (u64::try_from(hour).unwrap_or(u64::MAX), next)
    }

    /// What this device advertises in `hour`.
    pub fn advertised(&self, hour: u64) -> Vec<String> {
        self.spaces.iter().map(|s| token(s, hour)).collect()
    }

    /// Whether a peer's token is one of this device's spaces' in `hour` (or
    /// the hour before or after).
    pub fn accepts(&self, theirs: &str, hour: u64) -> bool {
        self.spaces.iter().any(|s| {
            [hour.saturating_sub(1), hour, hour + 1]
                .iter()
                .any(|h| token(s, *h) == theirs)
        })
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
    /// The advertisement now (its full name), and the task that renews it
    /// every hour.
    running: std::sync::Mutex<Option<Advertising>>,
}

struct Advertising {
    fullname: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    rotation: tokio::task::AbortHandle,
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
            running: std::sync::Mutex::new(None),
        })
    }
}

/// Advertise `port` with the tokens of `hour`, under a new random name
/// (nothing links it to the last hour's); returns its full name.
fn advertise(daemon: &ServiceDaemon, port: u16, tokens: &Tokens, hour: u64) -> Result<String> {
    let instance = format!("anpi-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let host = format!("{instance}.local.");
    let props = [
        ("v", PROTOCOL_VERSION.to_string()),
        ("t", tokens.advertised(hour).join(",")),
    ];
    // The daemon fills in the addresses of the enabled interfaces.
    let info = ServiceInfo::new(SERVICE, &instance, &host, "", port, &props[..])
        .map_err(|e| Error::network(format!("mDNS: {e}")))?
        .enable_addr_auto();
    let fullname = info.get_fullname().to_string();
    daemon
        .register(info)
        .map_err(|e| Error::network(format!("mDNS: {e}")))?;
    Ok(fullname)
}

impl Discovery for Mdns {
    fn start(&self, port: u16, tokens: Tokens, found: UnboundedSender<FoundPeer>) -> Result<()> {
        self.stop();
        let (hour, mut next) = tokens.now();
        let fullname = std::sync::Arc::new(std::sync::Mutex::new(Some(advertise(
            &self.daemon,
            port,
            &tokens,
            hour,
        )?)));
        let events = self
            .daemon
            .browse(SERVICE)
            .map_err(|e| Error::network(format!("mDNS: {e}")))?;
        // Each hour, the advertisement is withdrawn and made anew with that
        // hour's tokens.
        let rotation = {
            let daemon = self.daemon.clone();
            let fullname = fullname.clone();
            let tokens = tokens.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(next).await;
                    let (hour, until) = tokens.now();
                    next = until;
                    let old = fullname.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(old) = old {
                        let _ = daemon.unregister(&old);
                    }
                    let new = advertise(&daemon, port, &tokens, hour).ok();
                    *fullname.lock().unwrap_or_else(|e| e.into_inner()) = new;
                }
            })
            .abort_handle()
        };
        let ours_now = fullname.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv_async().await {
                let ServiceEvent::ServiceResolved(s) = event else {
                    continue;
                };
                if ours_now
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_deref()
                    == Some(s.fullname.as_str())
                {
                    continue;
                }
                let version_ok = s
                    .get_property_val_str("v")
                    .is_some_and(|v| v == PROTOCOL_VERSION.to_string());
                let (hour, _) = tokens.now();
                let theirs = s.get_property_val_str("t").unwrap_or_default();
                let ours = theirs.split(',').any(|t| tokens.accepts(t, hour));
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
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Advertising { fullname, rotation });
        Ok(())
    }

    fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(a) = running {
            a.rotation.abort();
            let name = a.fullname.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(name) = name {
                let _ = self.daemon.unregister(&name);
            }
            let _ = self.daemon.stop_browse(SERVICE);
        }
    }
}

impl Drop for Mdns {
    fn drop(&mut self) {
        self.stop();
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_never_starts_on_every_interface() {
        let err = Mdns::new(&[]).err().expect("no interface named: refused");
        assert!(err.to_string().contains("--interface"), "{err}");
    }

    /// Issue 20, 11: a device's advertisement changes every hour, and what
    /// it accepts follows the hour at hand (before, both were worked out
    /// once at start: a device running for two hours stopped finding
    /// peers started later, and its token linked it across the day).
    #[test]
    fn tokens_follow_the_hour() {
        let space = SpaceId("ab".repeat(16));
        let other = SpaceId("cd".repeat(16));
        let t = Tokens::for_spaces([&space]);
        let (hour, next) = t.now();
        assert!(next <= HOUR);
        let now = t.advertised(hour);
        assert_ne!(now, t.advertised(hour + 1));
        for h in [hour - 1, hour, hour + 1] {
            assert!(t.accepts(&token(&space, h), hour));
        }
        assert!(!t.accepts(&token(&space, hour + 2), hour));
        assert!(!t.accepts(&token(&space, hour - 2), hour));
        assert!(!t.accepts(&token(&other, hour), hour));
        // Hours of another length, for tests of the rotation.
        let quick = Tokens::for_spaces([&space]).with_hour(std::time::Duration::from_secs(2));
        let (h, next) = quick.now();
        assert!(next <= std::time::Duration::from_secs(2));
        assert!(h > hour * 1000);
    }
}
