//! The audit trail beyond its own hash chain: what peers saw of it. A
//! chain shows an entry changed, removed or moved inside the trail; it
//! cannot show entries cut off its end, since what is left is a chain too.
//! So at every session each device tells its peer where its trail ends,
//! keeps where the peer's ended, and tells it back at the next session
//! (`sync::Anchor`). A trail that now ends before, or differs from, what a
//! peer saw was cut (or restored from a backup): both sides write a warning
//! into their own trails, and `verify_audit` says so until the peer has
//! seen the trail as it is now.

use super::*;
use crate::sync::{Anchor, AuditHead};

/// Where peers' trails ended when they last said, and where they saw this
/// device's end.
const META_ANCHORS: &str = "audit_anchors";

/// The settings to write and the warnings to record, from a peer's anchor.
type Noted = (Vec<(String, Vec<u8>)>, Vec<audit::Record>);

/// What this device keeps of the anchors.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Anchors {
    /// Each peer's trail's last entry, as it last showed it, and when.
    #[serde(default)]
    theirs: BTreeMap<DeviceId, (AuditHead, Timestamp)>,
    /// This device's trail's last entry as each peer last saw it, and
    /// when it said so.
    #[serde(default)]
    seen: BTreeMap<DeviceId, (AuditHead, Timestamp)>,
}

use crate::audit::Broken;

/// How an entry is told to a peer.
fn head_of(e: &audit::Entry) -> AuditHead {
    let mut hash = [0u8; 16];
    let bytes = data_encoding::HEXLOWER
        .decode(e.hash.as_bytes())
        .unwrap_or_default();
    for (to, from) in hash.iter_mut().zip(bytes) {
        *to = from;
    }
    AuditHead { seq: e.seq, hash }
}

impl Node {
    fn anchors(&self) -> Result<Anchors> {
        // What peers saw is a hint to compare with, never a reason to stop
        // syncing: unreadable, it is started afresh.
        Ok(self
            .store
            .meta(META_ANCHORS)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default())
    }

    fn audit_head(&self) -> Result<Option<AuditHead>> {
        Ok(self.store.audit_last()?.map(|e| head_of(&e)))
    }

    /// What this device tells `peer` of the audit trails at a session's
    /// start: where its own ends now, and where the peer's ended last time.
    pub(super) fn anchor_for(&self, peer: &DeviceId) -> Result<Anchor> {
        Ok(Anchor {
            mine: self.audit_head()?,
            yours: self.anchors()?.theirs.get(peer).map(|(h, _)| h.clone()),
        })
    }

    /// Take what `peer` told of the audit trails: the settings to write,
    /// and a warning for each trail found cut (the peer's, or this
    /// device's own).
    pub(super) fn anchor_noted(&mut self, peer: &DeviceId, anchor: Anchor) -> Result<Noted> {
        let mut all = self.anchors()?;
        let now = Timestamp::now();
        let mut warnings: Vec<String> = Vec::new();
        if let Some((before, when)) = all.theirs.get(peer) {
            let cut = match &anchor.mine {
                None => true,
                Some(now) => {
                    now.seq < before.seq || (now.seq == before.seq && now.hash != before.hash)
                }
            };
            if cut {
                let ends = anchor.mine.as_ref().map_or(0, |h| h.seq);
                warnings.push(format!(
                    "its audit trail ends at entry {ends}, but it showed entry {} on {when}: entries were cut from it (or it was restored from a backup)",
                    before.seq
                ));
            }
        }
        match anchor.mine {
            Some(head) => {
                all.theirs.insert(peer.clone(), (head, now));
            }
            None => {
                all.theirs.remove(peer);
            }
        }
        if let Some(seen) = anchor.yours {
            if let Some(why) = self.missing(&seen)? {
                warnings.push(format!(
                    "this device's audit trail {why}: entry {} was seen there by this peer",
                    seen.seq
                ));
            }
            all.seen.insert(peer.clone(), (seen, now));
        }
        let bytes = serde_json::to_vec(&all).expect("anchors always serialize");
        let named = if warnings.is_empty() {
            String::new()
        } else {
            self.device_named(peer)
        };
        let records = warnings
            .into_iter()
            .map(|w| self.audit_record(audit::Action::Warned, named.clone(), w))
            .collect();
        Ok((vec![(META_ANCHORS.into(), bytes)], records))
    }

    /// Why this device's trail lacks `seen` as a peer saw it, if it does.
    fn missing(&self, seen: &AuditHead) -> Result<Option<String>> {
        if seen.seq == 0 {
            return Ok(None);
        }
        Ok(
            match self.store.audit_from(seen.seq, 1)?.into_iter().next() {
                Some(e) if e.seq == seen.seq && head_of(&e).hash == seen.hash => None,
                Some(e) if e.seq == seen.seq => {
                    Some("holds another entry in its place".to_string())
                }
                _ => Some("no longer holds it".to_string()),
            },
        )
    }

    /// Check this device's audit trail: its hash chain, and that it still
    /// holds the last entry each peer saw of it. The number of entries,
    /// or the first that does not check out.
    pub fn verify_audit(&self) -> Result<(usize, std::result::Result<(), Broken>)> {
        let trail = self.store.audit()?;
        if let Err(broken) = audit::verify(&trail) {
            return Ok((trail.len(), Err(broken)));
        }
        for (peer, (seen, when)) in &self.anchors()?.seen {
            if let Some(why) = self.missing(seen)? {
                return Ok((
                    trail.len(),
                    Err(Broken {
                        seq: seen.seq,
                        why: format!(
                            "entries were cut from the trail's end: it {why}, and device {} saw it on {when}",
                            peer.readable()
                        ),
                    }),
                ));
            }
        }
        Ok((trail.len(), Ok(())))
    }
}
