//! What this device knows of its peers while it runs: when each was last
//! synced, why the last try failed, and how many local changes it has not
//! had yet. The network layer reports every session here; every host (the
//! SDK's status, the CLI's `sync` and `serve`, a dashboard) reads the same.

use std::net::SocketAddr;

use super::*;

/// One peer as this device sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Where it was reached (or heard).
    pub address: SocketAddr,
    /// Its device id, once a session proved it.
    pub device: Option<DeviceId>,
    /// Whether it is the office this device joined through.
    pub office: bool,
    /// The end of the last session that synced in full.
    pub last_sync: Option<Timestamp>,
    /// Why the last session failed, if the last one did.
    pub last_error: Option<String>,
    /// Changes made on this device since the last full sync with it (all
    /// since the node opened, for a peer not synced yet).
    pub pending_changes: u64,
}

/// What a finished session changed in what this device knows of the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerChange {
    /// Synced in full.
    Synced,
    /// Failed; the peer was not reachable before either (or never was).
    Failed,
    /// Failed after the last session had synced: the peer was lost.
    Lost,
}

#[derive(Clone, Debug, Default)]
struct Entry {
    device: Option<DeviceId>,
    last_sync: Option<Timestamp>,
    last_error: Option<String>,
    changes_at_sync: u64,
    last_change: Option<PeerChange>,
}

/// The node's book of peers (in memory: it starts empty each time the
/// node opens).
#[derive(Debug, Default)]
pub(super) struct Peers {
    by_address: BTreeMap<SocketAddr, Entry>,
    /// Local changes since the node opened.
    local_changes: u64,
    /// The stored last exchanges, as last read or written here (dropped
    /// when another process wrote the folder).
    exchanges: Option<BTreeMap<DeviceId, Timestamp>>,
}

impl Peers {
    pub(super) fn local_change(&mut self) {
        self.local_changes += 1;
    }

    /// Another process wrote the folder: read the stored times again.
    pub(super) fn forget_stored(&mut self) {
        self.exchanges = None;
    }
}

impl Node {
    /// When this device last took a message from each peer, kept in the
    /// store (unlike [`Node::peer_statuses`], it survives a restart): what
    /// the office's board shows as each device's last sync.
    pub fn last_exchanges(&self) -> Result<BTreeMap<DeviceId, Timestamp>> {
        match self.store.meta(META_LAST_EXCHANGE)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("last exchanges: {e}"))),
        }
    }

    /// What each peer said it runs (anpi build and the newest data format
    /// it reads), at its latest session with this device: the office sees
    /// which phones must be updated before their data can be read.
    pub fn peer_versions(&self) -> Result<BTreeMap<DeviceId, sync::About>> {
        match self.store.meta(META_PEER_VERSIONS)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("peer versions: {e}"))),
        }
    }

    /// What each device runs as far as this device knows: itself, and
    /// each peer as it said at its latest session with this device.
    pub fn device_versions(&self) -> Result<BTreeMap<DeviceId, sync::About>> {
        let mut all = self.peer_versions()?;
        all.insert(self.device.clone(), this_build());
        Ok(all)
    }

    /// The meta entry recording what `peer` runs, when it changed.
    pub(super) fn version_noted(
        &mut self,
        peer: &DeviceId,
        about: &sync::About,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut all = self.peer_versions()?;
        if all.get(peer) == Some(about) {
            return Ok(Vec::new());
        }
        all.insert(peer.clone(), about.clone());
        let bytes = serde_json::to_vec(&all).expect("versions always serialize");
        Ok(vec![(META_PEER_VERSIONS.into(), bytes)])
    }

    /// The meta entry that records a message taken from `peer` now,
    /// written with the message's own batch (no write of its own); nothing
    /// when the time kept is under a minute old (a session's messages, a
    /// burst of syncs), which is as close as a board shows it.
    pub(super) fn exchange_noted(&mut self, peer: &DeviceId) -> Result<Vec<(String, Vec<u8>)>> {
        let mut all = match self.peers.exchanges.take() {
            Some(all) => all,
            None => self.last_exchanges()?,
        };
        let now = Timestamp::now();
        if all
            .get(peer)
            .is_some_and(|t| (now.0 - t.0).num_seconds().abs() < 60)
        {
            self.peers.exchanges = Some(all);
            return Ok(Vec::new());
        }
        all.insert(peer.clone(), now);
        let bytes = serde_json::to_vec(&all).expect("timestamps always serialize");
        self.peers.exchanges = Some(all);
        Ok(vec![(META_LAST_EXCHANGE.into(), bytes)])
    }

    /// A peer this device will sync with (configured, or heard on the
    /// local network): listed before its first session.
    pub fn peer_known(&mut self, address: SocketAddr, device: Option<&DeviceId>) {
        let e = self.peers.by_address.entry(address).or_default();
        if e.device.is_none() {
            e.device = device.cloned();
        }
    }

    /// A session with `address` ended: synced in full with `device`, or
    /// failed for the reason given. A session in which a document was
    /// refused or dropped is a failure (the network layer says so).
    pub fn session_ended(
        &mut self,
        address: SocketAddr,
        outcome: std::result::Result<&DeviceId, &str>,
        at: Timestamp,
    ) -> PeerChange {
        let changes = self.peers.local_changes;
        let e = self.peers.by_address.entry(address).or_default();
        let change = match outcome {
            Ok(device) => {
                e.device = Some(device.clone());
                e.last_sync = Some(at);
                e.last_error = None;
                // What the session started with is on the peer now; a
                // change made during it may not be, and stays counted only
                // until the next session.
                e.changes_at_sync = changes;
                PeerChange::Synced
            }
            Err(why) => {
                let was_reached = e.last_sync.is_some() && e.last_error.is_none();
                e.last_error = Some(why.to_string());
                if was_reached {
                    PeerChange::Lost
                } else {
                    PeerChange::Failed
                }
            }
        };
        e.last_change = Some(change);
        change
    }

    /// What the last session with `address` changed (see
    /// [`Node::session_ended`]).
    pub fn last_peer_change(&self, address: SocketAddr) -> Option<PeerChange> {
        self.peers.by_address.get(&address)?.last_change
    }

    /// Every peer this device synced with, tried, or was told of since it
    /// opened, by address.
    pub fn peer_statuses(&self) -> Result<Vec<PeerStatus>> {
        let office = self.office()?;
        let office_address = office.as_ref().and_then(|o| o.address.parse().ok());
        Ok(self
            .peers
            .by_address
            .iter()
            .map(|(address, e)| PeerStatus {
                address: *address,
                device: e.device.clone(),
                office: Some(*address) == office_address
                    || office
                        .as_ref()
                        .is_some_and(|o| e.device.as_ref() == Some(&o.device)),
                last_sync: e.last_sync,
                last_error: e.last_error.clone(),
                pending_changes: self.peers.local_changes.saturating_sub(e.changes_at_sync),
            })
            .collect())
    }
}

/// What a device runs, in the person's words, for device lists: "anpi
/// 0.1.0・データ形式 2", with a call to update when it reads an older data
/// format than this build writes; empty when it has not said (`None`:
/// never synced with this device, or a build from before versions). See
/// [`Node::device_versions`].
pub fn version_label(about: Option<&sync::About>, lang: crate::codes::Lang) -> String {
    use crate::codes::Lang;
    let Some(about) = about else {
        return String::new();
    };
    let older = about.format < doc::FORMAT_VERSION;
    match (lang, older) {
        (Lang::Ja, false) => format!("anpi {}・データ形式 {}", about.software, about.format),
        (Lang::Ja, true) => format!(
            "anpi {}・データ形式 {}（古い版: 更新してください）",
            about.software, about.format
        ),
        (Lang::En, false) => format!("anpi {}, data format {}", about.software, about.format),
        (Lang::En, true) => format!(
            "anpi {}, data format {} (older: please update)",
            about.software, about.format
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{office, recipient};
    use super::*;

    #[test]
    fn a_peer_is_lost_when_a_session_fails_after_one_synced_and_pending_counts_local_changes() {
        let (mut n, space) = office();
        let a: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        let phone = DeviceId("ab".repeat(16));
        let t = Timestamp::from_millis(1_000);
        n.peer_known(a, None);
        // Never synced: everything since the node opened (making the space).
        let made = n.peer_statuses().unwrap()[0].pending_changes;
        assert!(made > 0);
        assert_eq!(n.session_ended(a, Err("no answer"), t), PeerChange::Failed);
        n.upsert_recipients(&space, vec![recipient("R71")]).unwrap();
        let before = n.peer_statuses().unwrap();
        assert_eq!(before[0].pending_changes, made + 1);
        assert_eq!(before[0].last_error.as_deref(), Some("no answer"));
        assert_eq!(n.session_ended(a, Ok(&phone), t), PeerChange::Synced);
        let synced = &n.peer_statuses().unwrap()[0];
        assert_eq!(
            (
                synced.device.as_ref(),
                synced.last_sync,
                synced.pending_changes
            ),
            (Some(&phone), Some(t), 0)
        );
        assert!(synced.last_error.is_none());
        n.upsert_recipients(&space, vec![recipient("R72")]).unwrap();
        assert_eq!(n.peer_statuses().unwrap()[0].pending_changes, 1);
        assert_eq!(n.session_ended(a, Err("timed out"), t), PeerChange::Lost);
        assert_eq!(n.last_peer_change(a), Some(PeerChange::Lost));
        assert_eq!(n.session_ended(a, Err("timed out"), t), PeerChange::Failed);
        // The office this device joined through is marked as such.
        n.set_office(&OfficeLink {
            address: a.to_string(),
            device: phone.clone(),
        })
        .unwrap();
        assert!(n.peer_statuses().unwrap()[0].office);
    }

    #[test]
    fn the_last_exchange_with_each_peer_is_kept_in_the_store() {
        let (mut office, _space) = office();
        let mut phone = Node::open(crate::store::MemoryStore::new()).unwrap();
        let before = Timestamp::now();
        let want = office_spaces(&office);
        crate::node::sync_local(&mut phone, &mut office, &want).unwrap();
        let seen = office.last_exchanges().unwrap();
        assert!(
            seen.get(phone.device()).is_some_and(|t| *t >= before),
            "{seen:?}"
        );
        let seen = phone.last_exchanges().unwrap();
        assert!(seen.contains_key(office.device()), "{seen:?}");
    }

    fn office_spaces(n: &Node) -> Vec<SpaceId> {
        n.spaces().unwrap().into_iter().map(|s| s.id).collect()
    }
}
