//! The sync protocol, sans-I/O: messages in, messages out, over automerge
//! documents held by the caller. It never opens a socket or a file; the
//! node persists what it changes, the network layer moves the bytes.
//!
//! ## Protocol
//!
//! A session is a conversation of [`Message`]s. The initiator sends a
//! `Hello` listing, per document, its heads — and, when it knows what the
//! peer already has (the shared heads persisted from the last session), the
//! changes since then. Every entry is answered by the rule in [`receive`]:
//!
//! - if we now have all of the peer's heads, we send exactly the changes the
//!   peer lacks (`get_changes(their_heads)`), or an acknowledgement if the
//!   entry carried data;
//! - if we lack some of their heads, we ask for them (`need`);
//! - if both sides lack something of the other's and neither knows where
//!   they diverged, we fall back to automerge's own sync protocol (Bloom
//!   filters) for that document.
//!
//! So a known peer with changes on one side syncs in one round trip, and the
//! bytes sent are the new changes only, packed as one deflated chunk. A peer
//! that has nothing of a document gets its saved form, which is smaller
//! than its changes.

use std::collections::{HashSet, VecDeque};

use automerge::sync::SyncDoc;
use automerge::{AutoCommit, Change, ChangeHash};

use crate::error::{Error, Result};
use crate::saved::{CHANGE_CHUNK, DOCUMENT_CHUNK};

pub use crate::saved::MAX_INFLATED_BYTES;

mod message;
mod pack;
mod verify;
pub use message::*;
pub use pack::*;
use verify::{chunk_type, split_chunks, verify_automerge_message};
pub use verify::{load_document, stored_form_is_sound, verified_change};

/// The chunks of an automerge sync message that pass `vet`: its changes
/// one by one, a whole document as the changes of it that fit — and the
/// gap: what changes set aside wait for (see [`asking_for_the_gap`]).
fn vetted_chunks(
    doc: &mut AutoCommit,
    chunks: &automerge::sync::ChunkList,
    vet: Vetting<'_>,
    refused: &mut Vec<(Change, String)>,
) -> Result<(automerge::sync::ChunkList, Vec<ChangeHash>)> {
    let before = refused.len();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut changes = Vec::new();
    for entry in chunks.iter() {
        for chunk in split_chunks(entry)? {
            if chunk_type(chunk) == Some(CHANGE_CHUNK) {
                changes.push(verified_change(chunk.to_vec())?);
                continue;
            }
            let mut whole = load_document(chunk)?;
            if vet.whole(&mut whole, chunk) {
                out.push(chunk.to_vec());
                continue;
            }
            let all = whole.get_changes(&[]);
            let count = all.len();
            let held = holds(doc, &all);
            let kept = vetted(&whole, &held, &HashSet::new(), all, vet, refused);
            if kept.len() == count {
                out.push(chunk.to_vec());
            } else {
                changes.extend(kept);
            }
        }
    }
    let held = holds(doc, &changes);
    // As with changes anpi packs ([`waiting`]): a change whose dependency
    // is neither here nor in the message is set aside, not judged without
    // it — refused as writing into an object that is not anpi's, with all
    // built on it (the simulator, standard world, one run in twenty) —
    // nor queued in automerge to be applied unjudged later.
    let waits = waiting(&held, &changes);
    let batch: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let mut gap: Vec<ChangeHash> = changes
        .iter()
        .filter(|c| waits.contains(&c.hash()))
        .flat_map(|c| c.deps().to_vec())
        .filter(|d| !held.contains(d) && !batch.contains(d))
        .collect();
    gap.sort();
    gap.dedup();
    let kept = vetted(doc, &held, &waits, changes, vet, refused);
    if refused.len() == before && waits.is_empty() {
        return Ok((
            chunks.iter().map(<[u8]>::to_vec).collect::<Vec<_>>().into(),
            gap,
        ));
    }
    out.extend(kept.into_iter().map(|c| c.raw_bytes().to_vec()));
    Ok((out.into(), gap))
}

/// The answer of automerge's protocol, asking for `gap` too: what changes
/// set aside wait for. automerge learns what to ask for only from the
/// changes it queued; told nothing, it asked again and again for the
/// heads built on what was set aside (a session did not settle in 64
/// messages). The gap is asked for by hash, and the peer told to send
/// again what it believes sent (`SYNC_RESET`): the set-aside changes.
fn asking_for_the_gap(
    doc: &mut AutoCommit,
    name: &str,
    peer: &mut PeerDoc,
    gap: &[ChangeHash],
) -> Result<Option<DocEntry>> {
    let answer = fallback(doc, name, peer);
    if gap.is_empty() {
        return Ok(answer);
    }
    let mut msg = match &answer {
        Some(DocEntry {
            data: Data::Automerge(bytes),
            ..
        }) => automerge::sync::Message::decode(bytes)
            .map_err(|e| Error::sync(format!("bad automerge sync message: {e}")))?,
        _ => automerge::sync::Message {
            heads: doc.get_heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: Vec::<Vec<u8>>::new().into(),
            flags: None,
            version: automerge::sync::MessageVersion::V1,
        },
    };
    // automerge writes a message's hashes sorted (and asserts it).
    msg.need.extend_from_slice(gap);
    msg.need.sort();
    msg.need.dedup();
    let mut flags = msg.flags.unwrap_or_else(automerge::sync::MessageFlags::new);
    flags.set(automerge::sync::MessageFlags::SYNC_RESET);
    flags.set(automerge::sync::MessageFlags::SUPPORTS_SYNC_RESET);
    msg.flags = Some(flags);
    Ok(Some(DocEntry {
        doc: name.to_string(),
        heads: heads_to_wire(&doc.get_heads()),
        need: false,
        data: Data::Automerge(msg.encode()),
        seals: Vec::new(),
    }))
}

pub(crate) fn heads_to_wire(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

pub(crate) fn heads_from_wire(heads: &[[u8; 32]]) -> Vec<ChangeHash> {
    heads.iter().map(|h| ChangeHash(*h)).collect()
}

/// What this device knows of one peer's copy of one document.
#[derive(Clone, Debug, Default)]
pub struct PeerDoc {
    /// Heads both sides are known to have (persisted between sessions).
    pub shared: Vec<ChangeHash>,
    /// The automerge sync state, once this session fell back to it.
    pub automerge: Option<automerge::sync::State>,
    /// This session refused some of the peer's changes already (not
    /// persisted): it does not ask for them again.
    pub refused: bool,
}

impl PeerDoc {
    /// From the persisted form (an automerge sync state).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let state = automerge::sync::State::decode(bytes)
            .map_err(|e| Error::corrupt(format!("saved sync state: {e}")))?;
        Ok(PeerDoc {
            shared: state.shared_heads,
            automerge: None,
            refused: false,
        })
    }

    /// The persisted form.
    pub fn encode(&self) -> Vec<u8> {
        let state = automerge::sync::State {
            shared_heads: self.shared.clone(),
            ..Default::default()
        };
        state.encode()
    }
}

fn has_all(doc: &mut AutoCommit, heads: &[ChangeHash]) -> bool {
    // Missing deps also names what changes waiting in the queue lack: only
    // `heads` themselves count here.
    !doc.get_missing_deps(heads)
        .iter()
        .any(|missing| heads.contains(missing))
}

/// The changes a document gained lately, step by step as they were
/// persisted (a flush of local edits, a merge of a peer's changes). A known
/// peer usually lacks exactly the steps since the last session, and
/// automerge 0.12 rebuilds every change it is asked for from its op set, at
/// a cost that grows with the document; serving them from here keeps a
/// session's work independent of the history (BENCHMARKS.md, "Sync").
#[derive(Clone, Debug, Default)]
pub struct Recent {
    steps: VecDeque<Step>,
    changes: usize,
}

#[derive(Clone, Debug)]
struct Step {
    from: Vec<ChangeHash>,
    to: Vec<ChangeHash>,
    changes: Vec<Change>,
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort_unstable();
    h
}

impl Recent {
    /// Most changes kept: a day of a busy device's checks; an import is
    /// larger and is not kept at all.
    pub const MAX_CHANGES: usize = 4096;

    /// The document went from heads `from` to heads `to` by exactly
    /// `changes`, in causal order.
    pub fn record(&mut self, from: &[ChangeHash], to: &[ChangeHash], changes: Vec<Change>) {
        let (from, to) = (sorted(from), sorted(to));
        if from == to {
            return;
        }
        if changes.len() > Self::MAX_CHANGES {
            self.clear();
            return;
        }
        if self.steps.back().is_some_and(|last| last.to != from) {
            // Not a continuation of what is kept: the older steps could no
            // longer be joined to the new one.
            self.clear();
        }
        self.changes += changes.len();
        self.steps.push_back(Step { from, to, changes });
        while self.changes > Self::MAX_CHANGES {
            let old = self
                .steps
                .pop_front()
                .expect("more changes than steps hold");
            self.changes -= old.changes.len();
        }
    }

    /// The changes from `from` to `heads` (the document's heads now), if
    /// the steps kept cover exactly that.
    pub fn since(&self, from: &[ChangeHash], heads: &[ChangeHash]) -> Option<Vec<&Change>> {
        let (from, heads) = (sorted(from), sorted(heads));
        if self.steps.back()?.to != heads {
            return None;
        }
        // A known peer is usually a step or two behind: look from the end.
        let at = self.steps.iter().rposition(|s| s.from == from)?;
        Some(
            self.steps
                .iter()
                .skip(at)
                .flat_map(|s| s.changes.iter())
                .collect(),
        )
    }

    /// Forget every step (the document was replaced or reloaded).
    pub fn clear(&mut self) {
        self.steps.clear();
        self.changes = 0;
    }
}

/// The changes `doc` has beyond `since`, packed: from `recent` when it
/// covers them, else from automerge. `None` when there are none.
fn packed_since(doc: &mut AutoCommit, recent: &Recent, since: &[ChangeHash]) -> Option<Vec<u8>> {
    let heads = doc.get_heads();
    if heads.iter().all(|h| since.contains(h)) {
        return None;
    }
    let packed = match recent.since(since, &heads) {
        Some(changes) => pack_changes(changes),
        None => pack_changes(&doc.get_changes(since)),
    };
    Some(packed)
}

/// The heads a document's changes are sent from: what the peer is known to
/// have, or — for a peer this device has not synced with — `guess`, what
/// this device last shared with anyone (two phones that both synced with
/// the office most likely both hold it). Empty when neither is of use.
fn base<'a>(doc: &mut AutoCommit, peer: &'a PeerDoc, guess: &'a [ChangeHash]) -> &'a [ChangeHash] {
    let base = if peer.shared.is_empty() {
        guess
    } else {
        &peer.shared
    };
    if !base.is_empty() && has_all(doc, base) {
        base
    } else {
        &[]
    }
}

/// The changes since [`base`], packed; `Data::None` without a base or
/// when there are none.
fn since_base(doc: &mut AutoCommit, recent: &Recent, peer: &PeerDoc, guess: &[ChangeHash]) -> Data {
    let from = base(doc, peer, guess).to_vec();
    if from.is_empty() {
        return Data::None;
    }
    packed_since(doc, recent, &from).map_or(Data::None, Data::Changes)
}

/// The entry that opens a session for `doc`: our heads, and the changes
/// since what the peer is known to have — or, with a peer met for the
/// first time, since `guess` (see [`base`]): each side then sends what it
/// has with its first message, and two phones meeting for the first time
/// sync in two round trips rather than three.
pub fn opening(
    doc: &mut AutoCommit,
    recent: &Recent,
    name: &str,
    peer: &PeerDoc,
    guess: &[ChangeHash],
) -> DocEntry {
    let heads = doc.get_heads();
    let data = since_base(doc, recent, peer, guess);
    DocEntry {
        doc: name.to_string(),
        heads: heads_to_wire(&heads),
        need: false,
        data,
        seals: Vec::new(),
    }
}

/// [`opening`] for a document not in memory, when it needs no data: there
/// is no base to send changes from, or the base already holds every one of
/// `heads` (the document's heads as stored). `None` when changes may have
/// to be sent: then the document is loaded and [`opening`] decides. Keeps
/// a session with a peer that has everything from loading documents of
/// 50,000 objects only to say so.
pub fn opening_without_doc(
    heads: &[ChangeHash],
    name: &str,
    peer: &PeerDoc,
    guess: &[ChangeHash],
) -> Option<DocEntry> {
    let base = if peer.shared.is_empty() {
        guess
    } else {
        &peer.shared
    };
    if !base.is_empty() && !heads.iter().all(|h| base.contains(h)) {
        return None;
    }
    Some(DocEntry {
        doc: name.to_string(),
        heads: heads_to_wire(heads),
        need: false,
        data: Data::None,
        seals: Vec::new(),
    })
}

/// [`receive`] for a document not in memory whose heads as stored are
/// `ours`, when the entry settles without it: it carries nothing, asks
/// nothing, and the peer holds exactly our heads. Returns whether it did;
/// if not, the document is loaded and [`receive`] decides.
pub fn receive_without_doc(peer: &mut PeerDoc, entry: &DocEntry, ours: &[ChangeHash]) -> bool {
    let theirs = heads_from_wire(&entry.heads);
    let settles = entry.data.is_none()
        && !entry.need
        && peer.automerge.is_none()
        && !theirs.is_empty()
        && sorted(&theirs) == sorted(ours);
    if settles {
        peer.shared = theirs;
    }
    settles
}

/// Whether the peer asks for a whole document (it holds none of it): the
/// answer is its saved form, which a device can send from its store
/// without loading it.
pub fn asks_for_whole(entry: &DocEntry) -> bool {
    entry.heads.is_empty() && entry.need && entry.data.is_none()
}

/// The answer to an entry for which [`asks_for_whole`] holds: `saved`, the
/// document as stored (a snapshot, with the changes stored after it), and
/// its `heads`.
pub fn whole(peer: &mut PeerDoc, name: &str, heads: &[ChangeHash], saved: Vec<u8>) -> DocEntry {
    peer.shared = Vec::new();
    DocEntry {
        doc: name.to_string(),
        heads: heads_to_wire(heads),
        need: false,
        data: Data::Snapshot(saved),
        seals: Vec::new(),
    }
}

/// The entry asking a peer for a document we do not have.
pub fn request(name: &str) -> DocEntry {
    DocEntry {
        doc: name.to_string(),
        heads: Vec::new(),
        need: true,
        data: Data::None,
        seals: Vec::new(),
    }
}

fn fallback(doc: &mut AutoCommit, name: &str, peer: &mut PeerDoc) -> Option<DocEntry> {
    let state = peer
        .automerge
        .get_or_insert_with(automerge::sync::State::new);
    let msg = doc.sync().generate_sync_message(state)?;
    Some(DocEntry {
        doc: name.to_string(),
        heads: heads_to_wire(&doc.get_heads()),
        need: false,
        data: Data::Automerge(msg.encode()),
        seals: Vec::new(),
    })
}

/// What [`receive`] did with a peer's entry.
#[derive(Debug, Default)]
pub struct Received {
    /// The answer for this document, if there is anything to say.
    pub reply: Option<DocEntry>,
    /// The changes the entry added to the document, in causal order, when
    /// they are known without asking automerge (the entry carried changes
    /// and all of them could be applied); `None` otherwise.
    pub applied: Option<Vec<Change>>,
    /// The peer's snapshot, when the document became exactly it: its
    /// bytes are the document's stored form, no need to save it again.
    pub whole: Option<Vec<u8>>,
    /// The changes refused by the structure check, and why (changes built
    /// on a refused one are refused with it).
    pub refused: Vec<(Change, String)>,
    /// How many changes the entry carried one by one (a whole document's
    /// not counted): what a session's bound counts.
    pub changes_carried: usize,
}

/// The structure check a peer's changes pass before they join a document
/// (the node gives `doc::vet` and `doc::whole_fits`). `sync` never looks
/// inside a document itself.
pub trait Vet {
    /// For each change, `None` when it fits, or why it does not. `doc`:
    /// the document the changes are to join.
    fn changes(&self, doc: &AutoCommit, changes: &[Change]) -> Vec<Option<String>>;
    /// Whether every change of a whole document (saved as `bytes`,
    /// loaded as `doc`) fits: `true` only when `changes` would let each
    /// of them through; `false` also when unsure, and then each change is
    /// checked.
    fn whole(&self, doc: &mut AutoCommit, bytes: &[u8]) -> bool;
}

type Vetting<'a> = &'a dyn Vet;

/// Keep the changes `vet` lets through over `doc`, and those not built on
/// a refused one; the rest, with why, go to `refused`.
///
/// A change this device holds already (in `held`, from [`holds`]) is kept
/// without a verdict: it was judged when it came, or
/// made here. Judged again it could only be refused wrongly — a peer that
/// passes a device's own changes back need not carry the seals they were
/// judged by — and everything built on it with it: two phones of different
/// offices meeting in an area space failed to sync that way (found by the
/// disaster-day simulator, docs/SIMULATION.md).
///
/// Changes in `waiting` ([`waiting`]) are judged with the rest — an
/// admin's seal over heads reaches the changes below it only through the
/// batch, and the heads may be among the waiting — and then set aside:
/// neither kept nor refused.
fn vetted(
    doc: &AutoCommit,
    held: &HashSet<ChangeHash>,
    waiting: &HashSet<ChangeHash>,
    changes: Vec<Change>,
    vet: Vetting<'_>,
    refused: &mut Vec<(Change, String)>,
) -> Vec<Change> {
    let (held, changes): (Vec<Change>, Vec<Change>) =
        changes.into_iter().partition(|c| held.contains(&c.hash()));
    let mut judged = Vec::new();
    let mut kept = vetted_new(doc, changes, vet, &mut judged);
    // What waits is built only on what waits: no verdict of it reached
    // the rest.
    refused.extend(
        judged
            .into_iter()
            .filter(|(c, _)| !waiting.contains(&c.hash())),
    );
    kept.retain(|c| !waiting.contains(&c.hash()));
    kept.extend(held);
    kept
}

/// The changes of a batch that wait: a dependency neither held nor in the
/// batch, or built on such a change.
///
/// Changes sent from a base the peer wrongly believed this device held
/// lack their dependencies. Judged anyway, they failed the structure check
/// (what they write into is not here yet: "not anpi's") or the seals (a
/// seal's chain runs through what is missing) and were refused with all
/// that is built on them, while the peer counted them as delivered: a
/// check passed on by a phone did not reach the next (found by the
/// disaster-day simulator, docs/SIMULATION.md). Set aside instead —
/// neither refused nor queued in automerge, which would apply them
/// unjudged once the rest came — they make the session's answer the one
/// for a peer whose idea of this device was wrong (`receive_vetted`:
/// ask for the gap, or fall back to automerge's protocol), and they come
/// again with what they need.
fn waiting(held: &HashSet<ChangeHash>, changes: &[Change]) -> HashSet<ChangeHash> {
    let batch: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let mut waiting: HashSet<ChangeHash> = changes
        .iter()
        .filter(|c| {
            c.deps()
                .iter()
                .any(|d| !held.contains(d) && !batch.contains(d))
        })
        .map(Change::hash)
        .collect();
    with_what_is_built_on(changes, &mut waiting);
    waiting
}

/// The changes an automerge sync message carries.
fn automerge_changes(msg: &automerge::sync::Message) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for entry in msg.changes.iter() {
        for chunk in split_chunks(entry)? {
            if chunk_type(chunk) == Some(CHANGE_CHUNK) {
                changes.push(verified_change(chunk.to_vec())?);
            } else {
                changes.extend(load_document(chunk)?.get_changes(&[]));
            }
        }
    }
    Ok(changes)
}

/// The changes an entry carries one by one (packed, or in an automerge
/// sync message); none for heads alone or a whole document.
pub(crate) fn carried(data: &Data) -> Result<Vec<Change>> {
    match data {
        Data::Changes(packed) => unpack_changes(packed),
        Data::Automerge(bytes) => automerge_changes(
            &automerge::sync::Message::decode(bytes)
                .map_err(|e| Error::sync(format!("bad automerge sync message: {e}")))?,
        ),
        Data::None | Data::Snapshot(_) => Ok(Vec::new()),
    }
}

/// `data` carrying `more` changes besides its own (packed changes or an
/// automerge sync message; heads alone or a whole document are left as
/// they are). A change the receiver holds already is ignored there.
pub(crate) fn add_changes(data: &mut Data, more: &[Change]) -> Result<()> {
    if more.is_empty() {
        return Ok(());
    }
    match data {
        Data::Changes(packed) => {
            let mut changes = unpack_changes(packed)?;
            changes.extend(more.iter().cloned());
            *packed = pack_changes(&changes);
        }
        Data::Automerge(bytes) => {
            let mut msg = automerge::sync::Message::decode(bytes)
                .map_err(|e| Error::sync(format!("bad automerge sync message: {e}")))?;
            let mut chunks: Vec<Vec<u8>> = msg.changes.iter().map(<[u8]>::to_vec).collect();
            chunks.extend(more.iter().map(|c| c.raw_bytes().to_vec()));
            msg.changes = chunks.into();
            *bytes = msg.encode();
        }
        Data::None | Data::Snapshot(_) => {}
    }
    Ok(())
}

/// Which of `changes` and their dependencies the document holds, from its
/// change graph (asking automerge for the changes themselves would rebuild
/// each from the op set).
///
/// A change automerge queued, waiting for its dependencies (its own sync
/// protocol does that when a Bloom filter wrongly says the peer has one),
/// is not held: taken as held, it was left out of the judging of the
/// batch that brings the gap, and an admin's seal over it no longer
/// reached the changes below it (found by the disaster-day simulator).
fn holds(doc: &mut AutoCommit, changes: &[Change]) -> HashSet<ChangeHash> {
    let asked: Vec<ChangeHash> = changes
        .iter()
        .flat_map(|c| std::iter::once(c.hash()).chain(c.deps().iter().copied()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let missing: HashSet<ChangeHash> = doc.get_missing_deps(&asked).into_iter().collect();
    // Nothing queued waits for nothing: a queue leaves a dependency missing.
    let queued = !doc.get_missing_deps(&[]).is_empty();
    let graph = doc.document();
    asked
        .into_iter()
        .filter(|h| !missing.contains(h) && (!queued || graph.get_change_meta_by_hash(h).is_some()))
        .collect()
}

/// [`vetted`] for the changes new to this device.
fn vetted_new(
    doc: &AutoCommit,
    changes: Vec<Change>,
    vet: Vetting<'_>,
    refused: &mut Vec<(Change, String)>,
) -> Vec<Change> {
    if changes.is_empty() {
        return changes;
    }
    let verdicts = vet.changes(doc, &changes);
    if verdicts.iter().all(Option::is_none) {
        return changes;
    }
    let mut out: HashSet<ChangeHash> = changes
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_some())
        .map(|(c, _)| c.hash())
        .collect();
    with_what_is_built_on(&changes, &mut out);
    let mut verdicts = verdicts;
    for (c, v) in changes.iter().zip(verdicts.iter_mut()) {
        if v.is_none() && out.contains(&c.hash()) {
            *v = Some("built on a refused change".to_string());
        }
    }
    let mut kept = Vec::with_capacity(changes.len());
    for (c, v) in changes.into_iter().zip(verdicts) {
        match v {
            None => kept.push(c),
            Some(why) => refused.push((c, why)),
        }
    }
    kept
}

/// Add to `out` every change of `changes` built on one in it, directly or
/// through others (a change may come before one it depends on: settled
/// until nothing more is added).
fn with_what_is_built_on(changes: &[Change], out: &mut HashSet<ChangeHash>) {
    loop {
        let before = out.len();
        for c in changes {
            if c.deps().iter().any(|d| out.contains(d)) {
                out.insert(c.hash());
            }
        }
        if out.len() == before {
            break;
        }
    }
}

/// Why a change is kept aside when another under its actor and sequence
/// number is here: the audit trail says it to the admins.
pub const TWIN_CHANGE: &str = "a second change under one author's sequence number (the device's key signed two histories, or its data was copied to another device): kept aside for an admin";

/// Apply `changes` to `doc`, keeping aside (into `refused`) a change whose
/// actor and sequence number the document, or another change of the
/// batch, holds under another hash, with what is built on it: automerge
/// refuses a whole batch for one such change, which would cut the device
/// off from everything else the peer sends. Returns what was applied.
fn apply_apart_from_twins(
    doc: &mut AutoCommit,
    mut changes: Vec<Change>,
    refused: &mut Vec<(Change, String)>,
) -> Result<Vec<Change>> {
    // automerge checks the whole batch before it applies any of it, so a
    // refused batch left the document as it was.
    for _ in 0..=changes.len() {
        match doc.apply_changes_batch(changes.iter().cloned()) {
            Ok(()) => return Ok(changes),
            Err(automerge::AutomergeError::DuplicateSeqNumber(seq, actor)) => {
                let mut out: HashSet<ChangeHash> = changes
                    .iter()
                    .filter(|c| c.actor_id() == &actor && c.seq() == seq)
                    .map(Change::hash)
                    .collect();
                if out.is_empty() {
                    return Err(Error::sync(format!(
                        "automerge refused a second change {seq} of an actor the batch does not hold"
                    )));
                }
                with_what_is_built_on(&changes, &mut out);
                let (twins, rest): (Vec<Change>, Vec<Change>) =
                    changes.into_iter().partition(|c| out.contains(&c.hash()));
                refused.extend(twins.into_iter().map(|c| (c, TWIN_CHANGE.to_string())));
                changes = rest;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::sync("changes kept failing to apply"))
}

/// Apply an entry from the peer to `doc` and decide the answer for this
/// document; changes the peer lacks come from `recent` when it covers them.
/// On error the caller must drop `doc` and reload it from the store: it
/// may hold part of what was received.
pub fn receive(
    doc: &mut AutoCommit,
    recent: &Recent,
    peer: &mut PeerDoc,
    entry: DocEntry,
    guess: &[ChangeHash],
    vet: Vetting<'_>,
) -> Result<Received> {
    receive_loaded(doc, recent, peer, entry, guess, None, vet)
}

/// [`receive`], with the entry's snapshot already loaded as `loaded` (the
/// node loads a new device's documents side by side, see `node`).
pub fn receive_loaded(
    doc: &mut AutoCommit,
    recent: &Recent,
    peer: &mut PeerDoc,
    entry: DocEntry,
    guess: &[ChangeHash],
    loaded: Option<AutoCommit>,
    vet: Vetting<'_>,
) -> Result<Received> {
    let mut refused = Vec::new();
    let mut carried = 0;
    let mut received = receive_vetted(
        doc,
        recent,
        peer,
        entry,
        guess,
        loaded,
        vet,
        &mut refused,
        &mut carried,
    )?;
    received.refused = refused;
    received.changes_carried = carried;
    Ok(received)
}

#[allow(clippy::too_many_arguments)]
fn receive_vetted(
    doc: &mut AutoCommit,
    recent: &Recent,
    peer: &mut PeerDoc,
    entry: DocEntry,
    guess: &[ChangeHash],
    loaded: Option<AutoCommit>,
    vet: Vetting<'_>,
    refused: &mut Vec<(Change, String)>,
    changes_carried: &mut usize,
) -> Result<Received> {
    let name = entry.doc;
    let their_heads = heads_from_wire(&entry.heads);
    let carried = !entry.data.is_none();
    let mut applied = None;
    let mut whole = None;
    // Changes set aside until their dependencies come ([`waiting`]).
    let mut aside = 0;
    match entry.data {
        Data::None => {}
        Data::Changes(packed) => {
            // Changes an earlier message left waiting for their
            // dependencies apply along with these: then only the document
            // can say which changes were added.
            let waited = !doc.get_missing_deps(&[]).is_empty();
            let changes = unpack_changes(&packed)?;
            *changes_carried += changes.len();
            let held = holds(doc, &changes);
            let waits = waiting(&held, &changes);
            aside = waits.len();
            let changes = vetted(doc, &held, &waits, changes, vet, refused);
            let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
            let new: HashSet<ChangeHash> = doc.get_missing_deps(&hashes).into_iter().collect();
            let kept = apply_apart_from_twins(doc, changes, refused)?;
            let added: Vec<Change> = kept
                .into_iter()
                .filter(|c| new.contains(&c.hash()))
                .collect();
            applied = (!waited).then_some(added);
        }
        Data::Snapshot(bytes) => {
            let mut other = match loaded {
                Some(other) => other,
                None => load_document(&bytes)?,
            };
            // The changes that fit, when not all do.
            let part = if vet.whole(&mut other, &bytes) {
                None
            } else {
                let all = other.get_changes(&[]);
                let count = all.len();
                let held = holds(doc, &all);
                let kept = vetted(&other, &held, &HashSet::new(), all, vet, refused);
                (kept.len() < count).then_some(kept)
            };
            let covered = doc
                .get_heads()
                .iter()
                .all(|h| other.get_change_by_hash(h).is_some());
            if let Some(kept) = part {
                // Some of it does not fit: only the rest joins.
                apply_apart_from_twins(doc, kept, refused)?;
            } else if covered {
                // The snapshot holds all this device had (a document new
                // to it holds only the genesis change): the merge would be
                // the snapshot itself, so take it as loaded rather than
                // apply its changes one by one, and keep its bytes as the
                // stored form.
                other.set_actor(doc.get_actor().clone());
                *doc = other;
                whole = Some(bytes);
            } else {
                // A merge, change by change: one twin must not fail it.
                let added = doc.get_changes_added(&mut other);
                apply_apart_from_twins(doc, added, refused)?;
            }
        }
        Data::Automerge(bytes) => {
            let mut msg = automerge::sync::Message::decode(&bytes)
                .map_err(|e| Error::sync(format!("bad automerge sync message: {e}")))?;
            verify_automerge_message(&msg)?;
            for entry in msg.changes.iter() {
                *changes_carried += split_chunks(entry)?
                    .iter()
                    .filter(|c| chunk_type(c) != Some(DOCUMENT_CHUNK))
                    .count();
            }
            let (vetted, gap) = vetted_chunks(doc, &msg.changes, vet, refused)?;
            msg.changes = vetted;
            let state = peer
                .automerge
                .get_or_insert_with(automerge::sync::State::new);
            let first = doc.sync().receive_sync_message(state, msg.clone());
            match first {
                Ok(()) => {}
                Err(automerge::AutomergeError::DuplicateSeqNumber(..)) => {
                    // Its changes as a batch, twins kept aside; then the
                    // message without them, for the protocol's state.
                    let changes = automerge_changes(&msg)?;
                    apply_apart_from_twins(doc, changes, refused)?;
                    msg.changes = Vec::<Vec<u8>>::new().into();
                    doc.sync().receive_sync_message(state, msg)?;
                }
                Err(e) => return Err(e.into()),
            }
            peer.shared = state.shared_heads.clone();
            // automerge's protocol goes on asking while the heads differ,
            // and they always will once something was refused: answer
            // once more (with what the peer lacks of ours), then let this
            // document's exchange end for the session.
            let again = peer.refused;
            peer.refused |= !refused.is_empty();
            return Ok(Received {
                reply: if again {
                    None
                } else {
                    asking_for_the_gap(doc, &name, peer, &gap)?
                },
                applied: None,
                whole,
                ..Default::default()
            });
        }
    }
    if !refused.is_empty() || (peer.refused && carried) {
        // The peer holds changes this device refuses (and whatever is
        // built on them): say what this device has and send what the peer
        // lacks of it, once a session; asking again would go round for
        // ever.
        let ours = doc.get_heads();
        let mut base: Vec<ChangeHash> = their_heads
            .iter()
            .filter(|h| doc.get_change_by_hash(h).is_some())
            .copied()
            .collect();
        if base.is_empty() {
            base = peer.shared.clone();
        }
        let data = packed_since(doc, recent, &base).map_or(Data::None, Data::Changes);
        let first = !peer.refused;
        peer.refused = true;
        return Ok(Received {
            reply: first.then(|| DocEntry {
                doc: name,
                heads: heads_to_wire(&ours),
                need: false,
                data,
                seals: Vec::new(),
            }),
            applied,
            whole,
            ..Default::default()
        });
    }
    let waiting = aside > 0 || !doc.get_missing_deps(&[]).is_empty();
    if waiting && carried && peer.automerge.is_none() && peer.shared.is_empty() && !entry.need {
        // A peer met for the first time sent its changes since a base this
        // device does not fully hold. They wait for their dependencies;
        // send ours since our own base and ask for what we lack: the peer
        // then has all of ours and sends the rest in its next message.
        let ours = doc.get_heads();
        let data = since_base(doc, recent, peer, guess);
        return Ok(Received {
            reply: Some(DocEntry {
                doc: name,
                heads: heads_to_wire(&ours),
                need: true,
                data,
                seals: Vec::new(),
            }),
            applied: None,
            whole,
            ..Default::default()
        });
    }
    if peer.automerge.is_some() || waiting {
        // Changes arrived whose dependencies we lack: the peer's idea of
        // what we have was wrong. Let automerge's protocol find the gap.
        return Ok(Received {
            reply: fallback(doc, &name, peer),
            applied: None,
            whole,
            ..Default::default()
        });
    }
    let ours = doc.get_heads();
    let reply = |data, need| {
        Some(DocEntry {
            doc: name.clone(),
            heads: heads_to_wire(&ours),
            need,
            data,
            seals: Vec::new(),
        })
    };
    if has_all(doc, &their_heads) {
        peer.shared = their_heads.clone();
        let data = if their_heads.is_empty() && !doc.is_empty() {
            Data::Snapshot(doc.save())
        } else {
            packed_since(doc, recent, &their_heads).map_or(Data::None, Data::Changes)
        };
        if data.is_none() && !carried && !entry.need {
            return Ok(Received {
                reply: None,
                applied,
                whole,
                ..Default::default()
            });
        }
        return Ok(Received {
            reply: reply(data, false),
            applied,
            whole,
            ..Default::default()
        });
    }
    if entry.need {
        // Each side lacks some of the other's: neither knows the base.
        return Ok(Received {
            reply: fallback(doc, &name, peer),
            applied,
            whole,
            ..Default::default()
        });
    }
    Ok(Received {
        reply: reply(Data::None, true),
        applied,
        whole,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
