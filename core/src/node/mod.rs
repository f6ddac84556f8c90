//! A device's node: the documents it holds, its store, and what its people
//! do with them (import, start an incident, record a check, claim, sync).
//!
//! Every user action is one durable [`Batch`]: the automerge change, the new
//! heads and the index rows land together, and the call returns only once
//! they are on disk. If the write fails, the in-memory document is dropped
//! and reloaded from the store, so memory never runs ahead of disk.

mod area;
#[cfg(test)]
mod attacks;
mod clock;
mod incidents;
mod index;
mod logins;
mod maintain;
mod members;
mod peers;
mod roster;
mod seals;
mod session;
mod staffing;
#[cfg(any(test, feature = "attacks"))]
mod tamper;
#[cfg(test)]
mod tests;
mod trail;
mod types;
mod whole;

use index::{Rows, full_index, full_index_from, membership_index, touched_index};
pub use logins::LoginInfo;
pub use members::Gate;
pub use peers::{PeerChange, PeerStatus, version_label};
use roster::put_recipients;
pub use session::{LocalSync, share_a_space, sync_local, this_build};
pub use staffing::{NewReport, Select, StaffImport};
pub use types::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Change, ChangeHash};

use crate::audit;
use crate::doc::{self, DocKey, DocKind, Ending, Opening};
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::invite::{Invite, Pending};
use crate::io::form2;
use crate::membership::{self, Founding, SignedMember};
use crate::model::{
    Check, CheckId, CheckMethod, CheckResult, Claim, ConsentRecord, DeviceId, Exception, Incident,
    IncidentId, IncidentKind, KnownClaim, Member, MemberStanding, PriorityOverride, Recipient,
    RecipientId, Revocation, Role, Space, SpaceId, Staff, Timestamp,
};
use crate::priority::PriorityConfig;
use crate::sharing;
use crate::store::{
    Batch, DocWrite, INDEX_VERSION, INDEX_VERSION_KEY, IndexOp, IndexedRecipient, Store,
};
use crate::sync::{self, DocEntry, Kind, Message, PeerDoc};
use serde::{Deserialize, Serialize};

const META_DEVICE: &str = "device_id";
const META_IDENTITY: &str = "identity";
const META_STAFF: &str = "staff";
const META_OFFICE: &str = "office";
const META_INVITES: &str = "invites";
/// The latest time the clock showed, as a running node noted it.
const META_CLOCK_SEEN: &str = "clock_seen";
/// The automerge actor this device writes under, when it is not the one
/// derived from its id: after a restore from a backup, or a repair, so that
/// no (actor, sequence number) is ever used twice (ARCHITECTURE.md).
const META_ACTOR: &str = "actor";
/// When this device last exchanged data with each peer (see `peers.rs`).
const META_LAST_EXCHANGE: &str = "last_exchange";
/// What each peer runs, as it said at its latest session (`peers.rs`).
const META_PEER_VERSIONS: &str = "peer_versions";

/// The peer-state row holding what this device last shared with any peer,
/// per document (not a device id: those are hex).
const ANY_PEER: &str = "~any";

/// Changes appended since the last snapshot before [`Node::maintain`]
/// compacts a document.
pub const COMPACT_AFTER_CHANGES: u64 = 500;

/// Bytes of changes stored after a document's snapshot before it is
/// compacted. A roster import of 50,000 recipients is one change of about
/// 20 MB, where the saved document is under 2 MB: stored as a change, a new
/// device's first sync would carry ten times what it needs.
pub const COMPACT_AFTER_BYTES: u64 = 1 << 20;

/// Journal entries of one document before they are written as changes
/// during a user action. Flushing costs one pass over the document in
/// automerge, so it is done before syncs and when idle, not per check.
pub const FLUSH_AFTER_JOURNAL_ENTRIES: usize = 1000;

/// A local operation as the journal keeps it: durable as soon as the user
/// is told it is saved, replayed onto the document after a restart, and
/// replaced by the automerge changes it produced when the journal is
/// flushed. Each is a plain put or delete of a key only this device writes
/// (or a field edit that overwrites), so replaying it after a crash yields
/// the same document state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum JournalOp {
    SpaceName(String),
    SpaceFounding(Founding),
    PriorityWeights(Box<PriorityConfig>),
    /// Written by builds before signed exceptions: kept so that their
    /// journals replay (the exception then grants nothing).
    PutException(Box<Exception>),
    PutSignedException(Box<membership::SignedException>),
    PutMember(Box<SignedMember>),
    /// A membership statement: its key and stored bytes.
    PutStatement(String, String),
    PutRecipient(Box<Recipient>),
    RemoveRecipient(RecipientId),
    OpenIncident(DeviceId, Opening),
    EndIncident(DeviceId, Ending),
    PutCheck(Box<Check>),
    CopyCheck(DeviceId, Box<Check>),
    PutClaim(Claim),
    RemoveClaim(DeviceId, RecipientId),
    PutStaffMember(Box<crate::model::StaffMember>),
    RemoveStaffMember(crate::model::StaffId),
    PutReport(Box<crate::model::SafetyReport>),
    PutDecision(Box<crate::model::Decision>),
    PutAssignment(Box<crate::model::Assignment>),
    RemoveAssignment(RecipientId),
}

impl JournalOp {
    fn apply(&self, d: &mut AutoCommit) -> Result<()> {
        match self {
            JournalOp::SpaceName(name) => doc::set_space_name(d, name),
            JournalOp::SpaceFounding(f) => doc::set_space_founding(d, f),
            JournalOp::PriorityWeights(w) => doc::set_priority_weights(d, w),
            JournalOp::PutException(e) => doc::put_unsigned_exception(d, e),
            JournalOp::PutSignedException(e) => doc::put_exception(d, e),
            JournalOp::PutMember(m) => doc::put_member(d, m),
            JournalOp::PutStatement(key, stored) => doc::put_statement(d, key, stored),
            JournalOp::PutRecipient(r) => doc::put_recipient(d, r),
            JournalOp::RemoveRecipient(id) => doc::remove_recipient(d, id),
            JournalOp::OpenIncident(device, o) => doc::open_incident(d, device, o),
            JournalOp::EndIncident(device, e) => doc::end_incident(d, device, e),
            JournalOp::PutCheck(c) => doc::put_check(d, c),
            JournalOp::CopyCheck(writer, c) => doc::put_check_by(d, writer, c),
            JournalOp::PutClaim(c) => doc::put_claim(d, c),
            JournalOp::RemoveClaim(device, r) => doc::remove_claim(d, device, r).map(|_| ()),
            JournalOp::PutStaffMember(m) => doc::put_staff_member(d, m),
            JournalOp::RemoveStaffMember(id) => doc::remove_staff_member(d, id),
            JournalOp::PutReport(r) => doc::put_report(d, r),
            JournalOp::PutDecision(x) => doc::put_decision(d, x),
            JournalOp::PutAssignment(a) => doc::put_assignment(d, a),
            JournalOp::RemoveAssignment(r) => doc::remove_assignment(d, r),
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("journal entries always serialize")
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::corrupt(format!("journal entry: {e}")))
    }
}

/// A local edit in progress: applies operations to the document and keeps
/// them for the journal.
struct Edit<'a> {
    doc: &'a mut AutoCommit,
    ops: Vec<JournalOp>,
}

impl Edit<'_> {
    fn apply(&mut self, op: JournalOp) -> Result<()> {
        op.apply(self.doc)?;
        self.ops.push(op);
        Ok(())
    }

    fn doc(&self) -> &AutoCommit {
        self.doc
    }
}

/// A document in memory: what the store holds (`persisted` heads, written as
/// changes) plus the journal entries replayed on top.
struct Loaded {
    doc: AutoCommit,
    persisted: Vec<ChangeHash>,
    journal: usize,
    /// The changes persisted lately, which the next session will send.
    recent: sync::Recent,
    /// The store's version of the document this copy reflects: when the
    /// store's has moved, another process wrote it, and this copy is
    /// dropped and read again.
    version: u64,
}

/// A device's node.
pub struct Node {
    store: Box<dyn Store>,
    /// What the next change records in the audit trail, written in the
    /// same transaction.
    pending_audit: Vec<audit::Record>,
    identity: Identity,
    device: DeviceId,
    /// The automerge actor of this device's changes.
    actor: ActorId,
    staff: Staff,
    docs: HashMap<DocKey, Loaded>,
    /// Inside [`Node::locked`]: this process holds the store's write lock.
    locked: bool,
    /// Documents found unreadable since the node opened, with the reason
    /// (see [`Node::unreadable`]).
    unreadable: BTreeMap<DocKey, String>,
    /// Peers synced with or tried since the node opened.
    peers: peers::Peers,
    /// A person acting through this device (a dashboard login), inside
    /// [`Node::as_person`].
    acting: Option<crate::access::Person>,
    /// Who may vouch for what in each space, as judged at the roster's
    /// heads: every session judges seals by it, and reading the statements
    /// from the roster and checking their signatures again each time was a
    /// fifth of a sync with a known peer.
    judges: HashMap<SpaceId, (Vec<ChangeHash>, seals::Judge)>,
    /// The clock this device reads where clocks are compared (see
    /// [`Node::set_clock`]); the system's unless a simulator gives one.
    clock: Option<Clock>,
}

/// A clock a simulator gives a node: what it reads as now.
pub type Clock = std::sync::Arc<dyn Fn() -> Timestamp + Send + Sync>;

impl Node {
    /// Open a node on `store`: its device id is created on first open and
    /// kept; a missing or stale index is rebuilt from the documents.
    pub fn open(store: impl Store + 'static) -> Result<Self> {
        Self::open_with(Box::new(store), true)
    }

    /// What a process killed now leaves of this node: its store, with
    /// nothing flushed and nothing of its memory kept (edits not yet
    /// committed are in the journal, as on a disk). Open it again with
    /// [`Node::reopen`]: the simulator's phone whose battery dies
    /// mid-session.
    #[doc(hidden)]
    pub fn killed(mut self) -> Box<dyn Store> {
        // With nothing in memory, the destructor's flush has nothing to do.
        self.docs.clear();
        self.pending_audit.clear();
        std::mem::replace(&mut self.store, Box::new(crate::store::MemoryStore::new()))
    }

    /// A node on the store a [`Node::killed`] one left.
    #[doc(hidden)]
    pub fn reopen(store: Box<dyn Store>) -> Result<Self> {
        Self::open_with(store, false)
    }

    /// Open a node on a store that must hold a device already: one without
    /// an identity is [`Error::Damaged`], never a new device.
    pub fn open_existing(store: impl Store + 'static) -> Result<Self> {
        Self::open_with(Box::new(store), false)
    }

    fn open_with(mut store: Box<dyn Store>, may_create: bool) -> Result<Self> {
        let identity = match store.meta(META_IDENTITY)? {
            Some(bytes) => Identity::decode(&bytes)?,
            None if !may_create => {
                return Err(Error::Damaged(
                    "its database holds no device identity. Restore the folder from a backup (anpi restore), or move it aside and enroll this device again".into(),
                ));
            }
            // Made under the write lock: two processes opening a new folder
            // at once must not each make (and keep) an identity of its own.
            None => {
                store.begin_write()?;
                let made = first_identity(store.as_mut());
                store.end_write(made.is_ok())?;
                made?
            }
        };
        let device = identity.device()?;
        let staff = match store.meta(META_STAFF)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("staff setting: {e}")))?,
            None => Staff::default(),
        };
        // This build writes under a sealing actor (`seal`); a folder an
        // older build wrote takes one now, once.
        let actor = match sealing_actor(store.as_mut(), &device)? {
            Some(actor) => actor,
            // Under the write lock, as the identity: two processes opening
            // the folder at once take one actor.
            None => {
                store.begin_write()?;
                let taken = first_sealing_actor(store.as_mut(), &device);
                store.end_write(taken.is_ok())?;
                taken?
            }
        };
        let mut node = Node {
            store,
            pending_audit: Vec::new(),
            identity,
            device,
            actor,
            staff,
            docs: HashMap::new(),
            locked: false,
            unreadable: BTreeMap::new(),
            peers: peers::Peers::default(),
            acting: None,
            judges: HashMap::new(),
            clock: None,
        };
        node.rebuild_stale_index()?;
        Ok(node)
    }

    /// Run `f` holding the store's write lock, on documents that are the
    /// latest on disk: whatever another process wrote since they were read
    /// is read again first. Everything `f` writes becomes durable together
    /// when it succeeds, and none of it when it fails (memory too: the
    /// documents in memory are dropped and read again). Inside `f`, nested
    /// calls run as part of it.
    fn locked<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.locked {
            return f(self);
        }
        if let Err(e) = self.store.begin_write() {
            self.pending_audit.clear();
            return Err(e);
        }
        self.locked = true;
        let result = self.refresh().and_then(|()| f(self));
        self.locked = false;
        let ended = self.store.end_write(result.is_ok());
        match (result, ended) {
            (Ok(value), Ok(())) => Ok(value),
            (Err(e), _) | (Ok(_), Err(e)) => {
                self.pending_audit.clear();
                self.docs.clear();
                Err(e)
            }
        }
    }

    /// Drop the documents in memory that another process wrote since they
    /// were read (an admin's `anpi device add`, `import` or `check` while
    /// this node runs as `anpi serve`), so that the next use reads them
    /// again. Cheap when nothing changed: one question to SQLite.
    fn refresh(&mut self) -> Result<()> {
        if self.docs.is_empty() || !self.store.changed_elsewhere()? {
            return Ok(());
        }
        self.peers.forget_stored();
        let versions = self.store.doc_versions()?;
        self.docs
            .retain(|key, l| versions.get(key) == Some(&l.version));
        Ok(())
    }

    /// Write `batch` (inside [`Node::locked`]) and move the versions of the
    /// documents held in memory with it.
    fn write(&mut self, batch: Batch) -> Result<()> {
        debug_assert!(self.locked, "documents are written under the write lock");
        let keys: Vec<DocKey> = batch.docs.iter().filter_map(|w| w.key.clone()).collect();
        self.store.write(batch)?;
        for key in keys {
            if let Some(l) = self.docs.get_mut(&key) {
                l.version += 1;
            }
        }
        Ok(())
    }

    /// Documents this node found it cannot read (a damaged file, data of a
    /// newer version), with the reason. Each stays out of lists and
    /// sessions; everything else works.
    pub fn unreadable(&self) -> Vec<(DocKey, String)> {
        self.unreadable
            .iter()
            .map(|(k, why)| (k.clone(), why.clone()))
            .collect()
    }

    /// Write under a new automerge actor from now on (after a restore from
    /// a backup): what this device wrote after the backup may exist on
    /// other devices under the old actor's sequence numbers, and reusing
    /// them would cut this device off from every peer that holds them. The
    /// audit trail says why.
    pub fn begin_new_actor(&mut self, why: &str) -> Result<()> {
        let fresh = crate::seal::fresh_actor(&self.device);
        self.note(audit::Action::Changed, "device", why);
        self.locked(|n| {
            let audit = std::mem::take(&mut n.pending_audit);
            n.write(Batch {
                meta: vec![(META_ACTOR.into(), fresh.to_bytes().to_vec())],
                audit,
                ..Default::default()
            })
        })?;
        // Documents in memory carry the old actor; they are read again.
        self.docs.clear();
        self.actor = fresh;
        Ok(())
    }

    /// This device's id.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// This device's key pair and certificate, for the network layer.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Who uses this device (recorded on checks and claims).
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// Write one of this device's own settings (a meta row, never synced)
    /// with the audit entries noted for it, in one transaction.
    fn write_setting(&mut self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let audit = std::mem::take(&mut self.pending_audit);
        self.store.write(Batch {
            meta: vec![(key.into(), bytes)],
            audit,
            ..Default::default()
        })
    }

    /// Set who uses this device.
    pub fn set_staff(&mut self, staff: Staff) -> Result<()> {
        let bytes = serde_json::to_vec(&staff).expect("staff always serializes");
        self.store.write(Batch {
            meta: vec![(META_STAFF.into(), bytes)],
            ..Default::default()
        })?;
        self.staff = staff;
        Ok(())
    }

    /// Remember the office this device syncs with (set when joining).
    pub fn set_office(&mut self, office: &OfficeLink) -> Result<()> {
        let bytes = serde_json::to_vec(office).expect("an office link always serializes");
        self.store.write(Batch {
            meta: vec![(META_OFFICE.into(), bytes)],
            ..Default::default()
        })
    }

    /// After joining through `office`: remember it, and take on the person
    /// and organisation an admin entered for this device (unless the device
    /// already has a carrier). Returns the spaces this device now holds; an
    /// error when the office added it to none.
    pub fn adopt_office(&mut self, office: &OfficeLink) -> Result<Vec<Space>> {
        let spaces = self.spaces()?;
        if spaces.is_empty() {
            return Err(Error::NotFound(format!(
                "membership: the office {} has not added this device ({}) to any space",
                office.address,
                self.device.readable()
            )));
        }
        self.set_office(office)?;
        if self.staff.name.is_empty() {
            let me = self.device.clone();
            for s in &spaces {
                if let Some((m, _)) = self
                    .members(&s.id)?
                    .into_iter()
                    .find(|(m, _)| m.device == me)
                {
                    self.set_staff(m.staff)?;
                    break;
                }
            }
        }
        Ok(spaces)
    }

    /// The office this device syncs with, if it joined through one.
    pub fn office(&self) -> Result<Option<OfficeLink>> {
        match self.store.meta(META_OFFICE)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::corrupt(format!("office setting: {e}"))),
        }
    }

    fn note(
        &mut self,
        action: audit::Action,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) {
        let record = self.audit_record(action, subject, detail);
        self.pending_audit.push(record);
    }

    pub(super) fn audit_record(
        &self,
        action: audit::Action,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> audit::Record {
        audit::Record {
            at: Timestamp::now(),
            device: self.device.clone(),
            staff: self.staff.clone(),
            action,
            subject: subject.into(),
            detail: detail.into(),
        }
    }

    /// Record in the audit trail something that changes no document: a
    /// record viewed, a form exported, data shared with a peer.
    pub fn record_audit(
        &mut self,
        action: audit::Action,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> Result<()> {
        self.note(action, subject, detail);
        let audit = std::mem::take(&mut self.pending_audit);
        self.store.write(Batch {
            audit,
            ..Default::default()
        })
    }

    /// How the audit trail names another device: its id and who carries
    /// it (as a space's member list says).
    pub fn device_named(&mut self, peer: &DeviceId) -> String {
        let carrier = self
            .spaces()
            .unwrap_or_default()
            .into_iter()
            .find_map(|s| {
                self.members(&s.id)
                    .ok()?
                    .into_iter()
                    .find(|(m, _)| &m.device == peer)
            })
            .map(|(m, _)| format!("{}（{}）", m.staff.name, m.staff.organisation))
            .unwrap_or_default();
        format!("device {} {carrier}", peer.readable())
    }

    /// This device's audit trail, oldest first.
    pub fn audit_trail(&self) -> Result<Vec<audit::Entry>> {
        self.store.audit()
    }

    /// The store (read access, for tools and tests).
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn rebuild_stale_index(&mut self) -> Result<()> {
        let stale = |store: &dyn Store| -> Result<(bool, Vec<DocKey>)> {
            let all = store.index_version()? != Some(INDEX_VERSION);
            // Documents of a newer format that this build reads now (anpi
            // was updated): indexed in full at last.
            let readable_now: BTreeSet<DocKey> = store
                .newer_documents()?
                .into_iter()
                .filter(|(_, f)| *f <= doc::FORMAT_VERSION)
                .map(|(k, _)| k)
                .collect();
            let keys = store
                .docs()?
                .into_iter()
                .filter(|info| all || info.index_is_stale() || readable_now.contains(&info.key))
                .map(|info| info.key)
                .collect();
            Ok((all, keys))
        };
        // Looked at first without the lock: a read-only folder opens.
        let (all, keys) = stale(self.store.as_ref())?;
        if !all && keys.is_empty() {
            return Ok(());
        }
        self.locked(|n| {
            let (all, keys) = stale(n.store.as_ref())?;
            for key in keys {
                // One document that cannot be read must not keep the device
                // from opening: it stays out of the lists, and is reported.
                let index = match n.doc(&key).and_then(|d| full_index(d, &key)) {
                    Ok(index) => index,
                    Err(e) => {
                        n.docs.remove(&key);
                        n.unreadable.insert(key, e.to_string());
                        continue;
                    }
                };
                let heads = n.doc(&key)?.get_heads();
                let index = [IndexOp::Clear].into_iter().chain(index).collect();
                let mut w = DocWrite::new(key, heads);
                w.index = index;
                n.write(Batch {
                    docs: vec![w],
                    ..Default::default()
                })?;
            }
            if all && n.unreadable.is_empty() {
                n.write(Batch {
                    meta: vec![(
                        INDEX_VERSION_KEY.into(),
                        INDEX_VERSION.to_string().into_bytes(),
                    )],
                    ..Default::default()
                })?;
            }
            Ok(())
        })
    }

    fn loaded(&mut self, key: &DocKey) -> Result<&mut Loaded> {
        if !self.locked {
            self.refresh()?;
        }
        if !self.docs.contains_key(key) {
            let l = self.read_doc(key)?;
            self.docs.insert(key.clone(), l);
        }
        Ok(self
            .docs
            .get_mut(key)
            .expect("the document was just inserted"))
    }

    /// A document as stored, with its journal replayed on top.
    fn read_doc(&mut self, key: &DocKey) -> Result<Loaded> {
        let stored = self
            .store
            .load(key)?
            .ok_or_else(|| Error::NotFound(format!("document {key}")))?;
        let fresh = crate::seal::fresh_actor(&self.device);
        let (mut d, repair) = crate::repair::load_repairing(
            stored.snapshot.as_deref(),
            &stored.changes,
            &self.actor,
            &fresh,
        )?;
        if let Some(repair) = repair {
            if !self.locked {
                // The repair is written: under the lock, on what is stored
                // then.
                return self.locked(|n| n.read_doc(key));
            }
            return self.write_repair(key, d, repair, &stored, fresh);
        }
        let mut persisted = d.get_heads();
        let mut recent = sync::Recent::default();
        for entry in &stored.journal {
            JournalOp::decode(entry)?.apply(&mut d)?;
        }
        let mut journal = stored.journal.len();
        let mut version = stored.version;
        if journal > 0 && self.locked {
            // A journal left by a crash, a failed write or another
            // process: written as changes now, before anything else
            // changes the document, so that the stored changes stay in
            // causal order. (Read without the lock, as when a read-only
            // folder is shown, it stays in memory only.)
            let (w, changes) = settled_write(key, &mut d, &persisted);
            let heads = w.heads.clone();
            // Sealed as any flush is: a phone that died mid-shift sent the
            // change made of its journal with the seal of the one before,
            // and a device passing it on had none that covered it (the
            // simulator, devices killed mid-session).
            let sealed = self.own_sealed(key, &changes)?;
            self.store.write(Batch {
                docs: vec![w],
                meta: sealed.into_iter().collect(),
                ..Default::default()
            })?;
            recent.record(&persisted, &heads, changes);
            persisted = heads;
            journal = 0;
            version += 1;
        }
        Ok(Loaded {
            doc: d,
            persisted,
            journal,
            recent,
            version,
        })
    }

    /// Store a repaired document (see [`crate::repair`]) whole, with its
    /// journal, its index made again, what could not be brought back kept
    /// aside, and the device's new actor; the audit trail says so.
    fn write_repair(
        &mut self,
        key: &DocKey,
        mut d: AutoCommit,
        repair: crate::repair::Repair,
        stored: &crate::store::StoredDoc,
        fresh: ActorId,
    ) -> Result<Loaded> {
        for entry in &stored.journal {
            JournalOp::decode(entry)?.apply(&mut d)?;
        }
        let heads = d.get_heads();
        let mut w = DocWrite::new(key.clone(), heads.clone());
        w.snapshot = Some(d.save());
        w.index = vec![IndexOp::Clear];
        w.index.extend(full_index(&d, key)?);
        let record = audit::Record {
            at: Timestamp::now(),
            device: self.device.clone(),
            staff: self.staff.clone(),
            action: audit::Action::Changed,
            subject: key.to_string(),
            detail: format!(
                "repaired on open: {} clashing changes (written by two processes at once) applied again under a new actor; {} kept aside",
                repair.rebased,
                repair.unreadable.len()
            ),
        };
        self.store.write(Batch {
            docs: vec![w],
            meta: vec![(META_ACTOR.into(), fresh.to_bytes().to_vec())],
            audit: vec![record],
            quarantine: repair
                .unreadable
                .into_iter()
                .map(|u| crate::store::Quarantined {
                    doc: key.clone(),
                    reason: u.reason,
                    bytes: u.bytes,
                })
                .collect(),
            ..Default::default()
        })?;
        // Everything this device writes from now on, in every document.
        for l in self.docs.values_mut() {
            l.doc.set_actor(fresh.clone());
        }
        self.actor = fresh;
        Ok(Loaded {
            doc: d,
            persisted: heads,
            journal: 0,
            recent: sync::Recent::default(),
            version: stored.version + 1,
        })
    }

    fn doc(&mut self, key: &DocKey) -> Result<&mut AutoCommit> {
        Ok(&mut self.loaded(key)?.doc)
    }

    /// Write a document's journaled operations as automerge changes.
    fn flush(&mut self, key: &DocKey) -> Result<()> {
        self.locked(|n| {
            let Some(l) = n.docs.get_mut(key) else {
                return Ok(());
            };
            if l.journal == 0 {
                return Ok(());
            }
            let from = l.persisted.clone();
            let (w, changes) = settled_write(key, &mut l.doc, &from);
            let to = w.heads.clone();
            let sealed = n.own_sealed(key, &changes)?;
            n.write(Batch {
                docs: vec![w],
                meta: sealed.into_iter().collect(),
                ..Default::default()
            })?;
            if let Some(l) = n.docs.get_mut(key) {
                l.recent.record(&from, &to, changes);
                l.persisted = to;
                l.journal = 0;
            }
            Ok(())
        })
    }

    /// Write every journaled operation as automerge changes. Runs before any
    /// sync: a change must be on disk as a change before a peer may see it,
    /// or a crash could make this device reuse its sequence number.
    pub fn flush_all(&mut self) -> Result<()> {
        // A document with a journal it wrote is in memory: a document
        // gaining entries stays loaded (a write that fails drops it, and
        // reading it again finds the journal on disk). A journal another
        // process left is flushed when the document is next loaded under
        // the lock, or by [`Node::maintain`].
        if !self.docs.values().any(|l| l.journal > 0) {
            return Ok(());
        }
        self.locked(|n| {
            let keys: Vec<DocKey> = n
                .docs
                .iter()
                .filter(|(_, l)| l.journal > 0)
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                n.flush(&key)?;
            }
            Ok(())
        })
    }

    /// The documents this device holds that a newer anpi made, in a format
    /// it cannot read, each with the oldest format that reads it: kept and
    /// passed on unchanged, shown nowhere. When there are any, its people
    /// are told to update ([`doc::format::update_notice`]).
    pub fn newer_documents(&self) -> Result<Vec<(DocKey, u32)>> {
        Ok(self
            .store
            .newer_documents()?
            .into_iter()
            .filter(|(_, f)| *f > doc::FORMAT_VERSION)
            .collect())
    }

    fn has_doc(&self, key: &DocKey) -> Result<bool> {
        Ok(self.docs.contains_key(key) || self.store.doc_info(key)?.is_some())
    }

    /// A document's heads as stored, when it is not in memory and what is
    /// stored is the whole of it (no journal to replay, not found
    /// unreadable): a session may answer from these without loading it.
    /// At 50,000 recipients a loaded roster and incident hold over 300 MB.
    fn unloaded_heads(&self, key: &DocKey) -> Result<Option<Vec<ChangeHash>>> {
        if self.docs.contains_key(key) {
            return Ok(None);
        }
        self.stored_heads(key)
    }

    /// A document's heads as stored, when nothing of it waits in a journal
    /// and it was not found unreadable.
    fn stored_heads(&self, key: &DocKey) -> Result<Option<Vec<ChangeHash>>> {
        if self.unreadable.contains_key(key) {
            return Ok(None);
        }
        Ok(self
            .store
            .doc_info(key)?
            .filter(|i| i.journal_entries == 0)
            .map(|i| i.heads))
    }

    /// [`Node::unloaded_heads`], and also for a document in memory with
    /// nothing unwritten: what is stored then holds all of it (or more,
    /// when another process wrote since). An office that serves keeps its
    /// documents in memory, and saving a 50,000-recipient roster again for
    /// each new phone cost 0.14 s of its first sync, the incident as much.
    fn stored_whole_heads(&mut self, key: &DocKey) -> Result<Option<Vec<ChangeHash>>> {
        let Some(l) = self.docs.get_mut(key) else {
            return self.unloaded_heads(key);
        };
        if l.journal > 0 || l.persisted != l.doc.get_heads() {
            return Ok(None);
        }
        self.stored_heads(key)
    }

    /// A document whole, for a peer that holds none of it: its heads and
    /// its saved form. Settled on disk, it is the stored snapshot with the
    /// changes stored after it, sent as they are — automerge loads the
    /// two together — so a new device's first sync loads nothing here.
    /// A stored form that does not look sound is loaded (and so repaired
    /// or reported) instead; one whose changes clash with its snapshot,
    /// which only earlier versions wrote, would fail on the receiving side
    /// for that document alone until this device's next load repairs it.
    fn saved_whole(&mut self, key: &DocKey) -> Result<(Vec<ChangeHash>, Vec<u8>)> {
        if let Some(heads) = self.stored_whole_heads(key)?
            && let Some(stored) = self.store.load(key)?.filter(|s| {
                s.journal.is_empty()
                    && sync::stored_form_is_sound(s.snapshot.as_deref(), &s.changes)
            })
        {
            return Ok((heads, stored.bytes()));
        }
        let doc = self.doc(key)?;
        Ok((doc.get_heads(), doc.save()))
    }

    /// Run `edit` on a document and persist its operations (journal) with
    /// the index rows `edit` returns, in one durable write. A new document
    /// is created first if `create`.
    fn change<T>(
        &mut self,
        key: &DocKey,
        create: bool,
        edit: impl FnOnce(&mut Edit<'_>) -> Result<(T, Vec<IndexOp>)>,
    ) -> Result<T> {
        // Under the write lock, on the latest document: two processes
        // writing one folder never both add to one version of it.
        self.locked(|n| {
            let mut snapshot = None;
            if create && !n.has_doc(key)? {
                let mut fresh = doc::create(&key.kind, &n.actor);
                snapshot = Some(fresh.save());
                let persisted = fresh.get_heads();
                n.docs.insert(
                    key.clone(),
                    Loaded {
                        doc: fresh,
                        persisted,
                        journal: 0,
                        recent: sync::Recent::default(),
                        version: 0,
                    },
                );
            }
            n.step_format(key)?;
            let audit = std::mem::take(&mut n.pending_audit);
            let value = n.change_loaded(key, snapshot, audit, edit)?;
            if n.docs
                .get(key)
                .is_some_and(|l| l.journal >= FLUSH_AFTER_JOURNAL_ENTRIES)
            {
                n.flush(key)?;
            }
            Ok(value)
        })
    }

    /// Before a local change: a document of a newer format is refused (it
    /// is only kept and passed on), and an older one is brought to this
    /// code's format by its steps ([`doc::format`]), written as their own
    /// changes with an entry in the audit trail. The steps are the same
    /// changes on every device, so two devices stepping one document at
    /// once converge.
    fn step_format(&mut self, key: &DocKey) -> Result<()> {
        let f = doc::format::format(&self.loaded(key)?.doc)?;
        if !f.readable() {
            return Err(Error::NewerFormat {
                doc: key.to_string(),
                found: f.readable_from,
                known: doc::FORMAT_VERSION,
            });
        }
        if !f.older() {
            return Ok(());
        }
        // The steps are changes of their own: what is journaled goes first.
        self.flush(key)?;
        let l = self.loaded(key)?;
        let from = l.persisted.clone();
        if doc::format::upgrade(&mut l.doc, &key.kind)?.is_empty() {
            return Ok(());
        }
        let (w, changes) = settled_write(key, &mut l.doc, &from);
        let to = w.heads.clone();
        let record = self.audit_record(
            audit::Action::Changed,
            format!("document {key}"),
            format!("data format {} → {}", f.version, doc::FORMAT_VERSION),
        );
        self.write_settled(key, w, vec![record])?;
        if let Some(l) = self.docs.get_mut(key) {
            l.recent.record(&from, &to, changes);
        }
        Ok(())
    }

    fn change_loaded<T>(
        &mut self,
        key: &DocKey,
        snapshot: Option<Vec<u8>>,
        audit: Vec<audit::Record>,
        edit: impl FnOnce(&mut Edit<'_>) -> Result<(T, Vec<IndexOp>)>,
    ) -> Result<T> {
        let l = self.loaded(key)?;
        let before = l.doc.pending_ops();
        let mut e = Edit {
            doc: &mut l.doc,
            ops: Vec::new(),
        };
        let (value, index) = edit(&mut e)?;
        let ops = e.ops;
        // The edit stays in automerge's open transaction: the journal holds
        // it durably, and the flush before the next sync (or anything that
        // asks for the heads) commits every edit since as one change. One
        // change per check would cost a hash, a dependency graph node and a
        // header each, in every later save, load and sync.
        if l.doc.pending_ops() == before && snapshot.is_none() {
            return Ok(value);
        }
        if l.journal + ops.len() >= FLUSH_AFTER_JOURNAL_ENTRIES {
            // A bulk edit (an import) would be flushed at once anyway:
            // write its changes directly instead of journal entries that
            // are deleted again in the next transaction.
            let from = l.persisted.clone();
            let (mut w, changes) = settled_write(key, &mut l.doc, &from);
            let to = w.heads.clone();
            // A large edit comes back compacted: that snapshot holds the
            // new document's first one too.
            if w.snapshot.is_none() {
                w.snapshot = snapshot;
            }
            w.index = index;
            self.write_settled(key, w, audit)?;
            if let Some(l) = self.docs.get_mut(key) {
                l.recent.record(&from, &to, changes);
            }
            self.peers.local_change();
            return Ok(value);
        }
        let mut w = DocWrite::new(key.clone(), l.persisted.clone());
        w.snapshot = snapshot;
        w.journal = ops.iter().map(JournalOp::encode).collect();
        w.index = index;
        let entries = w.journal.len();
        self.write(Batch {
            docs: vec![w],
            audit,
            ..Default::default()
        })?;
        if let Some(l) = self.docs.get_mut(key) {
            l.journal += entries;
        }
        self.peers.local_change();
        Ok(value)
    }
}

/// The device's identity in a store that has none yet (under the write
/// lock: another process may have made it meanwhile).
/// The sealing actor this folder writes under (`seal`), if it has one.
fn sealing_actor(store: &mut dyn Store, device: &DeviceId) -> Result<Option<ActorId>> {
    Ok(store
        .meta(META_ACTOR)?
        .map(ActorId::from)
        .filter(|a| crate::seal::owner_of(a).as_ref() == Some(device)))
}

fn first_sealing_actor(store: &mut dyn Store, device: &DeviceId) -> Result<ActorId> {
    if let Some(actor) = sealing_actor(store, device)? {
        return Ok(actor);
    }
    let fresh = crate::seal::fresh_actor(device);
    store.write(Batch {
        meta: vec![(META_ACTOR.into(), fresh.to_bytes().to_vec())],
        ..Default::default()
    })?;
    Ok(fresh)
}

fn first_identity(store: &mut dyn Store) -> Result<Identity> {
    if let Some(bytes) = store.meta(META_IDENTITY)? {
        return Identity::decode(&bytes);
    }
    let identity = Identity::generate()?;
    store.write(Batch {
        meta: vec![
            (META_IDENTITY.into(), identity.encode()),
            (META_DEVICE.into(), identity.device()?.0.into_bytes()),
        ],
        ..Default::default()
    })?;
    Ok(identity)
}

/// A write of everything after `persisted` as automerge changes, which makes
/// the document's journal redundant.
fn settled_write(
    key: &DocKey,
    doc: &mut AutoCommit,
    persisted: &[ChangeHash],
) -> (DocWrite, Vec<Change>) {
    let mut w = DocWrite::new(key.clone(), doc.get_heads());
    let changes = doc.get_changes(persisted);
    w.changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
    w.flush_journal = true;
    compact_if_large(&mut w, doc);
    (w, changes)
}

/// Write the whole document as a snapshot instead of `w`'s changes when
/// they are large (see [`COMPACT_AFTER_BYTES`]): the document is in memory
/// already, so this costs one save and no load.
fn compact_if_large(w: &mut DocWrite, doc: &mut AutoCommit) {
    let bytes: usize = w.changes.iter().map(Vec::len).sum();
    if bytes as u64 >= COMPACT_AFTER_BYTES {
        w.snapshot = Some(doc.save());
        w.changes.clear();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Best effort: what is not flushed stays in the journal, durable,
        // and is replayed on the next open.
        let _ = self.flush_all();
    }
}
