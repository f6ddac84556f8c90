//! Seals: a device's signature over the changes it made (docs/SECURITY.md,
//! "Changes").
//!
//! A signature cannot ride inside an automerge change (its hash covers its
//! bytes), so a device signs the hash of its latest change in a document.
//! That seals the change and every earlier change of its own there: each
//! change names what it was built on, so they are all in the sealed one's
//! causal past. An admin's seal over the heads it holds vouches for
//! everything in their past, whoever wrote it: the changes of builds that
//! sealed nothing, and of actors that name no device.
//!
//! A change counts only when a seal covers it (or it came straight from
//! its author over an authenticated session): a member that forges a
//! change under another device's actor has nothing to seal it with, and
//! the forgery is refused alone — it can no longer take the victim's next
//! sequence number and cut the victim off.

use std::collections::HashMap;

use automerge::{ActorId, ChangeHash};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::identity::{Identity, device_of_public_key, verify};
use crate::model::DeviceId;

/// Bytes of a device id that begin every actor the device writes under.
pub const DEVICE_BYTES: usize = 16;

/// What follows the device id in a sealing actor: the actor's changes
/// count only sealed. Then six random bytes.
const SEALING: &[u8] = b"s1";

/// Bytes of a sealing actor.
const SEALING_ACTOR_BYTES: usize = DEVICE_BYTES + 2 + 6;

/// What a signature is over: this prefix, the document's name, a zero
/// byte, then the sealed hashes.
const DOMAIN: &[u8] = b"anpi-seal/v1\0";

/// A device's signature over changes of one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// The signer's public key (P-256, uncompressed): its device id is
    /// derived from it, so no one seals under another device's name.
    pub key: Vec<u8>,
    /// The changes sealed: the signer's latest, or an admin's heads.
    pub hashes: Vec<[u8; 32]>,
    /// ECDSA P-256 over [`DOMAIN`], the document's name and the hashes.
    pub signature: Vec<u8>,
}

fn message(doc: &str, hashes: &[[u8; 32]]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + doc.len() + 1 + 32 * hashes.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(doc.as_bytes());
    m.push(0);
    for h in hashes {
        m.extend_from_slice(h);
    }
    m
}

impl Seal {
    /// Seal `hashes` of document `doc` with this device's key.
    pub fn sign(identity: &Identity, doc: &str, hashes: &[ChangeHash]) -> Result<Seal> {
        let hashes: Vec<[u8; 32]> = hashes.iter().map(|h| h.0).collect();
        Ok(Seal {
            key: identity.public_key()?,
            signature: identity.sign(&message(doc, &hashes))?,
            hashes,
        })
    }

    /// The device that signed it.
    pub fn signer(&self) -> DeviceId {
        device_of_public_key(&self.key)
    }

    /// Whether the signature holds for document `doc`.
    pub fn holds(&self, doc: &str) -> bool {
        !self.hashes.is_empty() && verify(&self.key, &message(doc, &self.hashes), &self.signature)
    }

    /// The sealed hashes.
    pub fn sealed(&self) -> impl Iterator<Item = ChangeHash> + '_ {
        self.hashes.iter().map(|h| ChangeHash(*h))
    }
}

/// The device a *sealing* actor belongs to: the one whose id its first
/// [`DEVICE_BYTES`] are. A device running this build writes only under a
/// sealing actor. `None` for every other actor (see [`author_of`]).
pub fn owner_of(actor: &ActorId) -> Option<DeviceId> {
    let bytes = actor.to_bytes();
    (bytes.len() == SEALING_ACTOR_BYTES && &bytes[DEVICE_BYTES..DEVICE_BYTES + 2] == SEALING)
        .then(|| DeviceId(data_encoding::HEXLOWER.encode(&bytes[..DEVICE_BYTES])))
}

/// The device an actor names: a sealing actor's device, or for any other
/// actor the device whose id is the actor's bytes (a build before seals
/// wrote under its device's id; for an actor no device bears, a name no
/// device has). `None` for the genesis's and the format steps' fixed
/// actors, which the structure check vouches for. Which of these need a
/// seal is the node's judgement (it knows the members).
pub fn author_of(actor: &ActorId) -> Option<DeviceId> {
    if crate::doc::is_fixed_actor(actor) {
        return None;
    }
    owner_of(actor).or_else(|| Some(DeviceId(data_encoding::HEXLOWER.encode(actor.to_bytes()))))
}

/// A new sealing actor for `device`: its id's bytes, the sealing mark and
/// six random bytes (new after a restore, so that no sequence number is
/// used twice).
pub fn fresh_actor(device: &DeviceId) -> ActorId {
    let mut bytes = crate::doc::actor_for(device).to_bytes().to_vec();
    bytes.truncate(DEVICE_BYTES);
    bytes.extend_from_slice(SEALING);
    bytes.extend_from_slice(&ActorId::random().to_bytes()[..6]);
    ActorId::from(bytes)
}

/// What a seal's signer may vouch for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Its own changes (a member, or a former one).
    Own,
    /// Every change in the sealed past (an admin now).
    All,
}

/// One change as the cover sees it.
#[derive(Clone, Debug)]
pub struct Link {
    /// The change's hash.
    pub hash: ChangeHash,
    /// What it was built on.
    pub deps: Vec<ChangeHash>,
    /// The device whose seal it needs (the node judges which, from
    /// [`author_of`]); `None`: it needs none.
    pub owner: Option<DeviceId>,
}

/// For each of `links` (changes that are to join a document, or a whole
/// document's), whether a seal covers it: a seal of signer S with power
/// `power(S)` covers, among the changes in the past of its hashes (walked
/// through `links` only — what the document held before was judged when
/// it came), S's own changes, or all of them for [`Power::All`]. Seals
/// whose signature does not hold for `doc`, or whose signer has no power,
/// cover nothing.
pub fn covered(
    doc: &str,
    links: &[Link],
    seals: &[Seal],
    power: &mut dyn FnMut(&DeviceId) -> Option<Power>,
) -> Vec<bool> {
    let at: HashMap<ChangeHash, usize> =
        links.iter().enumerate().map(|(i, l)| (l.hash, i)).collect();
    let mut out = vec![false; links.len()];
    for seal in seals {
        if out.iter().all(|c| *c) {
            break;
        }
        let reaches = seal.sealed().any(|h| at.contains_key(&h));
        if !reaches || !seal.holds(doc) {
            continue;
        }
        let signer = seal.signer();
        let Some(power) = power(&signer) else {
            continue;
        };
        let mut seen = vec![false; links.len()];
        let mut todo: Vec<usize> = seal.sealed().filter_map(|h| at.get(&h).copied()).collect();
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let l = &links[i];
            if power == Power::All || l.owner.as_ref() == Some(&signer) {
                out[i] = true;
            }
            todo.extend(l.deps.iter().filter_map(|d| at.get(d).copied()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: u8, deps: &[u8], owner: &DeviceId) -> Link {
        Link {
            hash: ChangeHash([n; 32]),
            deps: deps.iter().map(|d| ChangeHash([*d; 32])).collect(),
            owner: Some(owner.clone()),
        }
    }

    #[test]
    fn a_seal_covers_its_signers_changes_in_its_past_and_an_admins_covers_all() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        let (da, db) = (a.device().unwrap(), b.device().unwrap());
        // 1 (a) <- 2 (b) <- 3 (a); 4 (a) stands apart, a forgery under a's
        // actor that a never built on.
        let links = vec![
            link(1, &[], &da),
            link(2, &[1], &db),
            link(3, &[2], &da),
            link(4, &[], &da),
        ];
        let by_a = Seal::sign(&a, "s/incident/x", &[ChangeHash([3; 32])]).unwrap();
        let mut members = |_: &DeviceId| Some(Power::Own);
        assert_eq!(
            covered(
                "s/incident/x",
                &links,
                std::slice::from_ref(&by_a),
                &mut members
            ),
            vec![true, false, true, false],
            "a's seal covers a's changes in its past, not b's, not the forgery"
        );
        // Another document's name: the signature does not hold there.
        assert_eq!(
            covered(
                "s/incident/y",
                &links,
                std::slice::from_ref(&by_a),
                &mut members
            ),
            vec![false; 4]
        );
        // A seal whose hashes were changed after signing covers nothing.
        let mut moved = by_a.clone();
        moved.hashes = vec![[4; 32]];
        assert_eq!(
            covered("s/incident/x", &links, &[moved], &mut members),
            vec![false; 4]
        );
        // b as an admin vouches for everything before its heads.
        let by_b = Seal::sign(&b, "s/incident/x", &[ChangeHash([3; 32])]).unwrap();
        let mut b_admin = |d: &DeviceId| Some(if d == &db { Power::All } else { Power::Own });
        assert_eq!(
            covered(
                "s/incident/x",
                &links,
                std::slice::from_ref(&by_b),
                &mut b_admin
            ),
            vec![true, true, true, false]
        );
        // A signer with no standing vouches for nothing.
        let mut nobody = |_: &DeviceId| None;
        assert_eq!(
            covered("s/incident/x", &links, &[by_b], &mut nobody),
            vec![false; 4]
        );
    }

    #[test]
    fn a_sealing_actor_names_its_device_even_after_a_restore() {
        let id = Identity::generate().unwrap();
        let device = id.device().unwrap();
        let fresh = fresh_actor(&device);
        assert_eq!(owner_of(&fresh), Some(device.clone()));
        assert_ne!(fresh_actor(&device), fresh, "a restore writes anew");
        // Actors of builds before seals need none.
        assert_eq!(owner_of(&crate::doc::actor_for(&device)), None);
        assert_eq!(owner_of(&ActorId::from(b"anpi-genesis-v1".to_vec())), None);
        // But they are their devices' to seal; fixed actors nobody's.
        assert_eq!(
            author_of(&crate::doc::actor_for(&device)),
            Some(device.clone())
        );
        assert_eq!(author_of(&fresh), Some(device));
        assert_eq!(author_of(&ActorId::from(b"anpi-genesis-v1".to_vec())), None);
        assert_eq!(author_of(&ActorId::from(b"anpi-format-v3".to_vec())), None);
        assert!(author_of(&ActorId::random()).is_some());
    }
}
