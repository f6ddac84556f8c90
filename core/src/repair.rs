//! Reading a document whose stored changes clash: two different changes
//! under one (actor, sequence number).
//!
//! automerge refuses to load such a document at all. Earlier versions of
//! anpi wrote them when two processes recorded into one data folder at once
//! (each wrote "its" next change of the device), after which the folder
//! refused every check and every sync. Nothing of what they recorded may be
//! lost, so loading repairs instead:
//!
//! - the changes that fit are kept as they are, in the order they were
//!   stored: the first of two clashing changes was written first, so it is
//!   the one any peer may already hold;
//! - each later clashing change (and whatever was built on it) is applied
//!   to a copy of the document at the point it was made, and what it did
//!   there (its patches: puts and deletes at paths of map keys, all anpi
//!   documents are made of) is done again on the kept document under a
//!   **new actor**, so that no (actor, sequence number) is ever used twice;
//! - a change that cannot be read or applied even so is returned to be
//!   kept aside (the store's quarantine), never dropped.

use std::collections::{BTreeSet, HashMap};

use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, AutomergeError, Change, ChangeHash, ObjId, ObjType, Patch, PatchAction,
    Prop, ROOT, ReadDoc, Value,
};

use crate::error::{Error, Result};

/// A stored change that could not be brought back, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The change's bytes, as stored.
    pub bytes: Vec<u8>,
    /// Why.
    pub reason: String,
}

/// What [`load_repairing`] did to a document that did not load as stored.
#[derive(Debug, Default)]
pub struct Repair {
    /// Clashing changes whose effect was written again under the new actor.
    pub rebased: usize,
    /// Changes that could not be brought back (to be kept aside).
    pub unreadable: Vec<Unreadable>,
}

/// Load a snapshot and the changes stored after it, repairing clashing
/// changes (see the module documentation). Returns the document, ready to
/// be changed by `actor`, and what was repaired; `None` when it loaded as
/// stored. A repaired document must be saved whole and written on by
/// `new_actor` from then on.
pub fn load_repairing(
    snapshot: Option<&[u8]>,
    changes: &[Vec<u8>],
    actor: &ActorId,
    new_actor: &ActorId,
) -> Result<(AutoCommit, Option<Repair>)> {
    let mut all = Vec::with_capacity(snapshot.map_or(0, <[u8]>::len));
    if let Some(s) = snapshot {
        all.extend_from_slice(s);
    }
    for c in changes {
        all.extend_from_slice(c);
    }
    match AutoCommit::load(&all) {
        Ok(mut doc) => {
            doc.set_actor(actor.clone());
            return Ok((doc, None));
        }
        Err(AutomergeError::DuplicateSeqNumber(..)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut repair = Repair::default();
    let base = || -> Result<AutoCommit> {
        Ok(match snapshot {
            Some(s) => AutoCommit::load(s)?,
            None => AutoCommit::new(),
        })
    };
    // Find the changes that fit, applying them one by one in stored order.
    let mut parsed: Vec<(Change, Vec<u8>)> = Vec::new();
    let mut doc = base()?;
    let mut clashing: BTreeSet<usize> = BTreeSet::new();
    for bytes in changes {
        let change = match Change::from_bytes(bytes.clone()) {
            Ok(c) => c,
            Err(e) => {
                repair.unreadable.push(Unreadable {
                    bytes: bytes.clone(),
                    reason: format!("stored change does not parse: {e}"),
                });
                continue;
            }
        };
        let i = parsed.len();
        parsed.push((change.clone(), bytes.clone()));
        if doc.get_change_by_hash(&change.hash()).is_some() {
            continue;
        }
        match doc.apply_changes([change]) {
            Ok(()) => {}
            Err(AutomergeError::DuplicateSeqNumber(..)) => {
                clashing.insert(i);
            }
            Err(e) => {
                return Err(Error::corrupt(format!(
                    "a stored change does not apply: {e}"
                )));
            }
        }
    }
    // Changes still waiting for a dependency were built on a clashing one.
    let outside: BTreeSet<usize> = (0..parsed.len())
        .filter(|&i| clashing.contains(&i) || doc.get_change_by_hash(&parsed[i].0.hash()).is_none())
        .collect();
    // The kept document, made again without them (nothing left queued).
    let mut kept = base()?;
    kept.apply_changes(
        parsed
            .iter()
            .enumerate()
            .filter(|(i, _)| !outside.contains(i))
            .map(|(_, (c, _))| c.clone()),
    )?;
    kept.set_actor(new_actor.clone());
    let by_hash: HashMap<ChangeHash, usize> =
        outside.iter().map(|&i| (parsed[i].0.hash(), i)).collect();
    for &i in &outside {
        // This change and the outside changes it was built on, in stored
        // order; what it was built on otherwise is in the kept document.
        let mut line: BTreeSet<usize> = BTreeSet::new();
        let mut todo = vec![i];
        while let Some(j) = todo.pop() {
            if line.insert(j) {
                todo.extend(
                    parsed[j]
                        .0
                        .deps()
                        .iter()
                        .filter_map(|d| by_hash.get(d).copied()),
                );
            }
        }
        let base_heads: Vec<ChangeHash> = line
            .iter()
            .flat_map(|&j| parsed[j].0.deps().to_vec())
            .filter(|d| !by_hash.contains_key(d))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match replay(&mut kept, &line, i, &parsed, &base_heads) {
            Ok(()) => repair.rebased += 1,
            Err(e) => repair.unreadable.push(Unreadable {
                bytes: parsed[i].1.clone(),
                reason: format!("clashing change not brought back: {e}"),
            }),
        }
    }
    kept.commit();
    Ok((kept, Some(repair)))
}

/// Do again on `kept` what change `i` did, applied after the rest of
/// `line` to the document as it was at `base_heads`.
fn replay(
    kept: &mut AutoCommit,
    line: &BTreeSet<usize>,
    i: usize,
    parsed: &[(Change, Vec<u8>)],
    base_heads: &[ChangeHash],
) -> Result<()> {
    let mut side = kept.fork_at(base_heads)?;
    side.apply_changes(
        line.iter()
            .filter(|&&j| j != i)
            .map(|&j| parsed[j].0.clone()),
    )?;
    let before = side.get_heads();
    side.apply_changes([parsed[i].0.clone()])?;
    let after = side.get_heads();
    if side.get_change_by_hash(&parsed[i].0.hash()).is_none() {
        return Err(Error::corrupt("it does not apply where it was made"));
    }
    for patch in side.diff(&before, &after) {
        redo(kept, &patch)?;
    }
    Ok(())
}

/// Do one patch again on `doc`, finding its object by the map keys of its
/// path (object ids differ between the two documents).
fn redo(doc: &mut AutoCommit, patch: &Patch) -> Result<()> {
    let mut obj = ROOT;
    for (_, prop) in &patch.path {
        let Prop::Map(key) = prop else {
            return Err(Error::corrupt("a list in an anpi document"));
        };
        obj = map_at(doc, &obj, key)?;
    }
    match &patch.action {
        PatchAction::PutMap {
            key,
            value: (Value::Object(ObjType::Map), _),
            ..
        } => {
            map_at(doc, &obj, key)?;
        }
        PatchAction::PutMap {
            key,
            value: (Value::Scalar(v), _),
            ..
        } => {
            doc.put(&obj, key.as_str(), v.clone().into_owned())?;
        }
        PatchAction::DeleteMap { key } => {
            if doc.get(&obj, key.as_str())?.is_some() {
                doc.delete(&obj, key.as_str())?;
            }
        }
        // Says that a key holds several values now: the puts say which.
        PatchAction::Conflict { .. } => {}
        other => {
            return Err(Error::corrupt(format!(
                "an operation anpi does not write: {other:?}"
            )));
        }
    }
    Ok(())
}

/// The map at `key` in `obj`, made if there is none.
fn map_at(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<ObjId> {
    match doc.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Ok(doc.put_object(obj, key, ObjType::Map)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{self, DocKind};
    use crate::model::{Check, DeviceId};

    fn device() -> DeviceId {
        DeviceId("ab".repeat(16))
    }

    /// A document stored as two processes of one device wrote it: a common
    /// start, then each its own "next" change of the device.
    fn clashing() -> (Vec<u8>, Vec<Vec<u8>>, Vec<Check>) {
        let actor = doc::actor_for(&device());
        let mut base = doc::create(&DocKind::Incident("flood-2026-11-21".into()), &actor);
        let first = Check::sample("R1", device().as_str());
        doc::put_check(&mut base, &first).unwrap();
        let snapshot = base.save();
        let mut a = AutoCommit::load(&snapshot)
            .unwrap()
            .with_actor(actor.clone());
        let mut b = AutoCommit::load(&snapshot)
            .unwrap()
            .with_actor(actor.clone());
        let (ca, cb, cb2) = (
            Check::sample("R2", device().as_str()),
            Check::sample("R3", device().as_str()),
            Check::sample("R4", device().as_str()),
        );
        let heads = a.get_heads();
        doc::put_check(&mut a, &ca).unwrap();
        a.commit();
        doc::put_check(&mut b, &cb).unwrap();
        b.commit();
        doc::put_check(&mut b, &cb2).unwrap();
        b.commit();
        let mut changes: Vec<Vec<u8>> = a
            .get_changes(&heads)
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect();
        changes.extend(b.get_changes(&heads).iter().map(|c| c.raw_bytes().to_vec()));
        assert_eq!(changes.len(), 3);
        (snapshot, changes, vec![first, ca, cb, cb2])
    }

    #[test]
    fn clashing_changes_are_brought_back_under_a_new_actor() {
        let (snapshot, changes, checks) = clashing();
        let actor = doc::actor_for(&device());
        let mut all = snapshot.clone();
        for c in &changes {
            all.extend_from_slice(c);
        }
        assert!(
            matches!(
                AutoCommit::load(&all),
                Err(AutomergeError::DuplicateSeqNumber(..))
            ),
            "the stored form does not load as it is"
        );
        let fresh = ActorId::random();
        let (mut doc, repair) = load_repairing(Some(&snapshot), &changes, &actor, &fresh).unwrap();
        let repair = repair.expect("a repair");
        assert_eq!(
            repair.rebased, 2,
            "the clashing change and the one built on it"
        );
        assert!(repair.unreadable.is_empty());
        let mut have: Vec<_> = doc::checks(&doc)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut want: Vec<_> = checks.iter().map(|c| c.id).collect();
        have.sort();
        want.sort();
        assert_eq!(have, want, "every check of both processes");
        // Saved, it loads as it is; the kept change of the first process
        // is still there under its hash (a peer may hold it).
        let saved = doc.save();
        let again = AutoCommit::load(&saved).unwrap();
        let kept = Change::from_bytes(changes[0].clone()).unwrap().hash();
        assert!(again.get_change_by_hash(&kept).is_some());
        assert_eq!(doc::checks(&again).unwrap().len(), 4);
    }

    #[test]
    fn a_document_that_loads_is_left_as_it_is() {
        let actor = doc::actor_for(&device());
        let mut d = doc::create(&DocKind::Roster, &actor);
        let snapshot = d.save();
        let (_, repair) = load_repairing(Some(&snapshot), &[], &actor, &ActorId::random()).unwrap();
        assert!(repair.is_none());
    }
}
