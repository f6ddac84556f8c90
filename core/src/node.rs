//! A device's node: the documents it holds, its store, and what its people
//! do with them (import, start an incident, record a check, claim, sync).
//!
//! Every user action is one durable [`Batch`]: the automerge change, the new
//! heads and the index rows land together, and the call returns only once
//! they are on disk. If the write fails, the in-memory document is dropped
//! and reloaded from the store, so memory never runs ahead of disk.

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
/// The automerge actor this device writes under, when it is not the one
/// derived from its id: after a restore from a backup, or a repair, so that
/// no (actor, sequence number) is ever used twice (ARCHITECTURE.md).
const META_ACTOR: &str = "actor";

/// The peer-state row holding what this device last shared with any peer,
/// per document (not a device id: those are hex).
const ANY_PEER: &str = "~any";

/// Changes appended since the last snapshot before [`Node::maintain`]
/// compacts a document.
pub const COMPACT_AFTER_CHANGES: u64 = 500;

/// A check as a person records it; the node adds who, where and what was
/// known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCheck {
    /// Whom.
    pub recipient: RecipientId,
    /// How.
    pub method: CheckMethod,
    /// Result.
    pub result: CheckResult,
    /// Note.
    pub note: String,
    /// Shelter, if relevant.
    pub shelter: Option<String>,
    /// The check this one corrects.
    pub supersedes: Option<CheckId>,
    /// When (the device clock, unless entered by hand).
    pub at: Timestamp,
    /// Who, if not the device's staff member.
    pub staff: Option<Staff>,
}

impl NewCheck {
    /// A check of `recipient` now.
    pub fn new(recipient: RecipientId, method: CheckMethod, result: CheckResult) -> Self {
        NewCheck {
            recipient,
            method,
            result,
            note: String::new(),
            shelter: None,
            supersedes: None,
            at: Timestamp::now(),
            staff: None,
        }
    }
}

impl NewCheck {
    /// Trimmed like an imported roster, and refused with a clear error if
    /// its text holds control characters (a note may keep line breaks): a
    /// note from any member is shown on every office's screen.
    fn cleaned(mut self) -> Result<Self> {
        let field = |name: &str, value: &str, free: bool| {
            crate::text::check(value, free).map_err(|m| Error::invalid(format!("{name}: {m}")))
        };
        self.note = self.note.trim().to_string();
        field("note", &self.note, true)?;
        self.shelter = self
            .shelter
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(s) = &self.shelter {
            field("shelter", s, false)?;
        }
        if let Some(staff) = &mut self.staff {
            staff.name = staff.name.trim().to_string();
            staff.organisation = staff.organisation.trim().to_string();
            field("staff", &staff.name, false)?;
            field("organisation", &staff.organisation, false)?;
        }
        Ok(self)
    }
}

/// What [`Node::open_incident_for`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// The incident is new.
    New,
    /// It was open already (another device, or this one, started it).
    Joined,
    /// It had ended and is open again.
    Reopened,
}

/// Form 2 as exported ([`Node::export_form2`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Form2Export {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The incident whose results it shows, if there is one.
    pub incident: Option<Incident>,
    /// Whether the export was written to the audit trail (not on a
    /// read-only folder).
    pub logged: bool,
}

/// One recipient's page ([`Node::recipient_page`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientPage {
    /// The record, with any concurrently edited fields.
    pub record: IndexedRecipient,
    /// The incident shown, if there is one.
    pub incident: Option<Incident>,
    /// The recipient's checks in it.
    pub checks: Vec<Check>,
    /// The recipient's claims in it (revoked devices' left out).
    pub claims: Vec<Claim>,
    /// Whether the view was written to the audit trail (not on a
    /// read-only folder).
    pub logged: bool,
}

impl RecipientPage {
    /// The page as people read it: history with relations, the deciding
    /// check, disagreement, live claims.
    pub fn detail(&self, now: Timestamp) -> crate::views::RecipientDetail<'_> {
        crate::views::recipient_detail(
            &self.record.recipient,
            &self.record.conflicts,
            &self.checks,
            &self.claims,
            now,
        )
    }
}

/// What an import changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New recipients.
    pub added: usize,
    /// Recipients with changed fields.
    pub updated: usize,
    /// Recipients exactly as before.
    pub unchanged: usize,
}

/// What importing a roster file did ([`Node::import_roster`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Added, updated, unchanged.
    pub counts: ImportCounts,
    /// Recipients of the space the file did not list, kept as they were,
    /// ordered by id.
    pub missing: Vec<RecipientId>,
}

/// The data one incident's views are computed from, read from the index.
#[derive(Clone, Debug, Default)]
pub struct IncidentData {
    /// The space's recipients.
    pub recipients: Vec<Recipient>,
    /// The incident, if one was given.
    pub incident: Option<Incident>,
    /// Its checks.
    pub checks: Vec<Check>,
    /// Its claims, live or expired.
    pub claims: Vec<Claim>,
    /// The office's priority weights.
    pub weights: PriorityConfig,
}

impl IncidentData {
    /// The priority list of this data, by the office's weights.
    pub fn priority_list(&self, now: Timestamp) -> Vec<crate::views::PriorityEntry<'_>> {
        crate::views::priority_list(
            &self.recipients,
            self.incident.as_ref(),
            &self.checks,
            &self.claims,
            &self.weights,
            now,
        )
    }
}

/// Where the office node is: an address as people typed it (HOST:PORT) and
/// the id its key must prove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeLink {
    /// HOST:PORT.
    pub address: String,
    /// The office device's id.
    pub device: DeviceId,
}

/// What one provision to an area space did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareReport {
    /// Recipients shared because their consent is recorded.
    pub with_consent: usize,
    /// Recipients shared without consent under a disaster exception.
    pub under_exception: usize,
    /// Recipients not shared (no recorded consent, no exception).
    pub withheld: usize,
    /// The exception in force, if any.
    pub exception: Option<Exception>,
    /// What changed in the area space.
    pub counts: ImportCounts,
    /// Records taken out of the area space: shared before, but their
    /// consent is withdrawn now (and no exception covers them).
    pub removed: usize,
}

/// What [`Node::collect_area_checks`] brought in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectReport {
    /// The office's incident they went into.
    pub incident: Incident,
    /// Partners' checks brought in now.
    pub collected: usize,
    /// Partners' checks brought in before.
    pub already: usize,
}

/// Counters of one sync session, for people and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Messages sent.
    pub messages_sent: usize,
    /// Messages received.
    pub messages_received: usize,
    /// Bytes sent.
    pub bytes_sent: usize,
    /// Bytes received.
    pub bytes_received: usize,
    /// Documents that changed here.
    pub docs_changed: usize,
    /// Documents that could not be read here or taken from the peer (see
    /// [`Session::failures`]).
    pub docs_failed: usize,
}

/// One sync session with one peer, from this device's side.
#[derive(Debug)]
pub struct Session {
    peer: Option<DeviceId>,
    /// A hello was sent (initiator) or received (responder).
    greeted: bool,
    /// A network session: the spaces are fixed by membership before the
    /// first message, whatever the peer lists.
    network: bool,
    /// Spaces this device does not hold may arrive (joining through the
    /// office, whose key the person joining named).
    accept_new: bool,
    want: BTreeSet<SpaceId>,
    shared_spaces: BTreeSet<SpaceId>,
    peers: HashMap<DocKey, PeerDoc>,
    /// Counters.
    pub stats: SyncStats,
    /// Documents this side could not read, or could not take from the
    /// peer, with the reason: each failure stays with its document (the
    /// rest of the session goes on) and is reported here.
    pub failures: Vec<(DocKey, String)>,
    /// The documents this side's hello offered, until the peer's first
    /// reply: one it does not answer, it did not take.
    offered: Option<BTreeSet<DocKey>>,
}

impl Session {
    fn new(peer: Option<DeviceId>, initiator: bool) -> Self {
        Session {
            peer,
            greeted: initiator,
            network: false,
            accept_new: false,
            want: BTreeSet::new(),
            shared_spaces: BTreeSet::new(),
            peers: HashMap::new(),
            stats: SyncStats::default(),
            failures: Vec::new(),
            offered: None,
        }
    }

    fn fail(&mut self, key: DocKey, why: impl std::fmt::Display) {
        self.stats.docs_failed += 1;
        self.failures.push((key, why.to_string()));
    }

    /// The peer, once its hello arrived (or it answered ours).
    pub fn peer(&self) -> Option<&DeviceId> {
        self.peer.as_ref()
    }
}

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
    PutException(Box<Exception>),
    PutMember(Box<SignedMember>),
    PutRecipient(Box<Recipient>),
    RemoveRecipient(RecipientId),
    OpenIncident(DeviceId, Opening),
    EndIncident(DeviceId, Ending),
    PutCheck(Box<Check>),
    CopyCheck(DeviceId, Box<Check>),
    PutClaim(Claim),
    RemoveClaim(DeviceId, RecipientId),
}

impl JournalOp {
    fn apply(&self, d: &mut AutoCommit) -> Result<()> {
        match self {
            JournalOp::SpaceName(name) => doc::set_space_name(d, name),
            JournalOp::SpaceFounding(f) => doc::set_space_founding(d, f),
            JournalOp::PriorityWeights(w) => doc::set_priority_weights(d, w),
            JournalOp::PutException(e) => doc::put_exception(d, e),
            JournalOp::PutMember(m) => doc::put_member(d, m),
            JournalOp::PutRecipient(r) => doc::put_recipient(d, r),
            JournalOp::RemoveRecipient(id) => doc::remove_recipient(d, id),
            JournalOp::OpenIncident(device, o) => doc::open_incident(d, device, o),
            JournalOp::EndIncident(device, e) => doc::end_incident(d, device, e),
            JournalOp::PutCheck(c) => doc::put_check(d, c),
            JournalOp::CopyCheck(writer, c) => doc::put_check_by(d, writer, c),
            JournalOp::PutClaim(c) => doc::put_claim(d, c),
            JournalOp::RemoveClaim(device, r) => doc::remove_claim(d, device, r).map(|_| ()),
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
}

impl Node {
    /// Open a node on `store`: its device id is created on first open and
    /// kept; a missing or stale index is rebuilt from the documents.
    pub fn open(store: impl Store + 'static) -> Result<Self> {
        Self::open_with(Box::new(store), true)
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
        let actor = match store.meta(META_ACTOR)? {
            Some(bytes) => ActorId::from(bytes),
            None => doc::actor_for(&device),
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
        let fresh = ActorId::random();
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
        self.pending_audit.push(audit::Record {
            at: Timestamp::now(),
            device: self.device.clone(),
            staff: self.staff.clone(),
            action,
            subject: subject.into(),
            detail: detail.into(),
        });
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
            let keys = store
                .docs()?
                .into_iter()
                .filter(|info| all || info.index_is_stale())
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
        let fresh = ActorId::random();
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
            self.store.write(Batch {
                docs: vec![w],
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
            n.write(Batch {
                docs: vec![w],
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

    fn has_doc(&self, key: &DocKey) -> Result<bool> {
        Ok(self.docs.contains_key(key) || self.store.load(key)?.is_some())
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
            w.snapshot = snapshot;
            w.index = index;
            self.write_settled(key, w, audit)?;
            if let Some(l) = self.docs.get_mut(key) {
                l.recent.record(&from, &to, changes);
            }
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
        Ok(value)
    }

    // ------------------------------------------------------------ spaces

    /// Create a new space with this device as its first member.
    pub fn create_space(&mut self, name: &str) -> Result<Space> {
        // The id commits to this device's key: no one else can claim to
        // have founded the space (see `membership`).
        let (id, founding) = Founding::new(&self.identity)?;
        let space = Space {
            id,
            name: name.to_string(),
        };
        let key = DocKey::roster(&space.id);
        let s = space.clone();
        let me = SignedMember::sign(
            &space.id,
            Member {
                device: self.device.clone(),
                staff: self.staff.clone(),
                role: Role::Admin,
                added_by: self.device.clone(),
                added_at: Timestamp::now(),
                revoked: None,
            },
            &self.identity,
        )?;
        self.change(&key, true, |e| {
            e.apply(JournalOp::SpaceName(name.to_string()))?;
            e.apply(JournalOp::SpaceFounding(founding))?;
            e.apply(JournalOp::PutMember(Box::new(me)))?;
            Ok(((), vec![IndexOp::Space(s)]))
        })?;
        Ok(space)
    }

    // -------------------------------------------------------- membership

    /// Every member entry of a space with its standing (active, revoked,
    /// or ignored: not added by an admin, or not signed by who it claims).
    pub fn members(&mut self, space: &SpaceId) -> Result<Vec<(Member, MemberStanding)>> {
        let d = self.doc(&DocKey::roster(space))?;
        let founding = doc::space_founding(d)?;
        let entries = doc::member_versions(d)?;
        Ok(membership::standing(space, founding.as_ref(), &entries))
    }

    /// What this device shows a peer that has not heard of it yet: for each
    /// space it is an active member of (and did not found), its signed
    /// entry and the admins' entries it rests on (see
    /// [`membership::Proof`]).
    pub fn membership_proof(&mut self) -> Result<membership::Proof> {
        let me = self.device.clone();
        let mut proof = membership::Proof::default();
        for space in self.spaces()? {
            let Ok(d) = self.doc(&DocKey::roster(&space.id)) else {
                continue;
            };
            let founding = doc::space_founding(d)?;
            let entries = doc::member_versions(d)?;
            proof.spaces.extend(membership::proof_for(
                &space.id,
                founding.as_ref(),
                &entries,
                &me,
            ));
        }
        Ok(proof)
    }

    /// The spaces in which `device` is an active member by what this device
    /// knows together with `proof`, among those this device is an active
    /// member of. A revocation this device knows wins.
    pub fn admitted_by_proof(
        &mut self,
        device: &DeviceId,
        proof: &membership::Proof,
    ) -> Result<BTreeSet<SpaceId>> {
        let me = self.device.clone();
        let mut out = BTreeSet::new();
        for part in &proof.spaces {
            if !self.has_doc(&DocKey::roster(&part.space))? {
                continue;
            }
            let Some(active) = self.members_if_readable(&part.space)? else {
                continue;
            };
            if !active.contains(&me) {
                continue;
            }
            let d = self.doc(&DocKey::roster(&part.space))?;
            let founding = doc::space_founding(d)?;
            let entries = doc::member_versions(d)?;
            if membership::admits(&part.space, founding.as_ref(), &entries, part, device) {
                out.insert(part.space.clone());
            }
        }
        Ok(out)
    }

    /// Admit `device` by its `proof` (see [`Node::admitted_by_proof`]): its
    /// entries this device did not hold are written into the spaces'
    /// rosters, as if a sync had brought them, so that the session with it
    /// exchanges those spaces and it is known from now on. Returns the
    /// spaces it was admitted to.
    pub fn take_proof(
        &mut self,
        device: &DeviceId,
        proof: &membership::Proof,
    ) -> Result<BTreeSet<SpaceId>> {
        let spaces = self.admitted_by_proof(device, proof)?;
        for part in proof.spaces.iter().filter(|p| spaces.contains(&p.space)) {
            let key = DocKey::roster(&part.space);
            let entries = part.entries.clone();
            let space = part.space.clone();
            self.note(
                audit::Action::Changed,
                format!("member {}", device.readable()),
                "admitted by its membership proof (enrolled after this device last synced)",
            );
            self.change(&key, false, |e| {
                let known: BTreeSet<String> = doc::member_versions(e.doc())?
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                for entry in entries {
                    if !known.contains(entry.member.device.as_str()) {
                        e.apply(JournalOp::PutMember(Box::new(entry)))?;
                    }
                }
                Ok(((), vec![revoked_index(e.doc(), &space)?]))
            })?;
        }
        Ok(spaces)
    }

    /// Whether this device has synced with `peer` before (so the peer holds
    /// its membership and needs no proof).
    pub fn knows_peer(&self, peer: &DeviceId) -> Result<bool> {
        for key in self.store.doc_keys()? {
            if self.store.peer_state(peer, &key)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The active members of a space, or `None` when its roster cannot be
    /// read (reported in [`Node::unreadable`]): one damaged space must not
    /// stop the device syncing its others.
    fn members_if_readable(&mut self, space: &SpaceId) -> Result<Option<BTreeSet<DeviceId>>> {
        match self.active_members(space) {
            Ok(active) => Ok(Some(active)),
            Err(e @ (Error::Automerge(_) | Error::Corrupt(_) | Error::Hydrate(_))) => {
                self.unreadable.insert(DocKey::roster(space), e.to_string());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn active_members(&mut self, space: &SpaceId) -> Result<BTreeSet<DeviceId>> {
        Ok(self
            .members(space)?
            .into_iter()
            .filter(|(_, s)| *s == MemberStanding::Active)
            .map(|(m, _)| m.device)
            .collect())
    }

    /// Add a device to a space (or change its entry). Only an active admin
    /// of the space may; the entry is signed with this device's key.
    pub fn add_member(
        &mut self,
        space: &SpaceId,
        device: &DeviceId,
        staff: Staff,
        role: Role,
    ) -> Result<Member> {
        self.ensure_admin(space)?;
        let member = Member {
            device: device.clone(),
            staff,
            role,
            added_by: self.device.clone(),
            added_at: Timestamp::now(),
            revoked: None,
        };
        self.put_member(space, member)
    }

    /// Revoke a device (lost, or its carrier left): every device refuses
    /// its key as soon as this entry reaches it. Only an active admin may.
    pub fn revoke_member(&mut self, space: &SpaceId, device: &DeviceId) -> Result<Member> {
        self.ensure_admin(space)?;
        if device == &self.device {
            return Err(Error::invalid("a device cannot revoke itself"));
        }
        let mut member = self
            .members(space)?
            .into_iter()
            .find(|(m, s)| &m.device == device && *s != MemberStanding::BadSignature)
            .map(|(m, _)| m)
            .ok_or_else(|| Error::NotFound(format!("member {}", device.readable())))?;
        member.revoked = Some(Revocation {
            by: self.device.clone(),
            at: Timestamp::now(),
        });
        self.put_member(space, member)
    }

    /// Make an invite to `space` for `staff` with `role`, redeemable once at
    /// this device (listening at `addresses`) until `expires`. Admins only.
    pub fn create_invite(
        &mut self,
        space: &SpaceId,
        staff: Staff,
        role: Role,
        addresses: Vec<String>,
        expires: Timestamp,
    ) -> Result<Invite> {
        self.ensure_admin(space)?;
        if addresses.is_empty() {
            return Err(Error::invalid(
                "an invite needs the address (HOST:PORT) where this office listens",
            ));
        }
        let invite = Invite::new(space.clone(), self.device.clone(), addresses, expires);
        // Read and written under the lock: an invite made by another
        // process at the same moment is kept too.
        self.locked(|n| {
            let mut all = n.invites()?;
            // Expired invites are of no further use; keep the list short.
            let now = Timestamp::now();
            all.retain(|p| !p.invite.expired(now) || p.used.is_some());
            n.note(
                audit::Action::Changed,
                format!("invite {}", invite.id),
                format!(
                    "for {} ({}), {}",
                    staff.name,
                    staff.organisation,
                    role.code()
                ),
            );
            all.push(Pending {
                invite: invite.clone(),
                staff,
                role,
                used: None,
            });
            n.write_invites(&all)?;
            Ok(invite)
        })
    }

    /// The invites this device made (read from disk each time: an invite
    /// made by another process is seen by a running node at once).
    pub fn invites(&self) -> Result<Vec<Pending>> {
        match self.store.meta(META_INVITES)? {
            None => Ok(Vec::new()),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(format!("invites: {e}")))
            }
        }
    }

    fn write_invites(&mut self, all: &[Pending]) -> Result<()> {
        let bytes = serde_json::to_vec(all).expect("invites always serialize");
        let audit = std::mem::take(&mut self.pending_audit);
        self.store.write(Batch {
            meta: vec![(META_INVITES.into(), bytes)],
            audit,
            ..Default::default()
        })
    }

    /// Whether `device`, presenting certificate `names`, holds a pending
    /// invite of this device (checked during the handshake).
    pub fn invite_admits(&self, device: &DeviceId, names: &[String]) -> bool {
        let now = Timestamp::now();
        self.invites().is_ok_and(|all| {
            all.iter()
                .any(|p| names.iter().any(|n| p.admits(device, n, now)))
        })
    }

    /// Redeem the invite `device` presented: add it as a member (signed by
    /// this device) and mark the invite used, in one transaction. The space
    /// joined, if any.
    pub fn redeem_invite(
        &mut self,
        device: &DeviceId,
        names: &[String],
    ) -> Result<Option<SpaceId>> {
        let now = Timestamp::now();
        // Under one lock: an invite is used once, whichever process of
        // this office answers the phone.
        self.locked(|n| {
            let mut all = n.invites()?;
            let Some(i) = all
                .iter()
                .position(|p| names.iter().any(|name| p.admits(device, name, now)))
            else {
                return Ok(None);
            };
            let p = all[i].clone();
            n.add_member(&p.invite.space, device, p.staff, p.role)?;
            all[i].used = Some((device.clone(), now));
            n.write_invites(&all)?;
            Ok(Some(p.invite.space))
        })
    }

    // ----------------------------------------------------------- sharing

    /// Disaster exceptions declared in an area space (every member sees
    /// them).
    pub fn exceptions(&mut self, area: &SpaceId) -> Result<Vec<Exception>> {
        doc::exceptions(self.doc(&DocKey::roster(area))?)
    }

    /// Declare a disaster exception for the recipients of office `origin`
    /// in area space `area`: for `hours`, recipients without recorded
    /// consent may be shared there to protect life. Only an admin of the
    /// office may; it is kept in the area space, visible to all its
    /// members, and in the audit trail.
    pub fn declare_exception(
        &mut self,
        origin: &SpaceId,
        area: &SpaceId,
        hours: i64,
        reason: &str,
    ) -> Result<Exception> {
        self.ensure_admin(origin)?;
        self.ensure_member(area)?;
        if hours <= 0 || reason.trim().is_empty() {
            return Err(Error::invalid(
                "a disaster exception needs a duration in hours and a reason",
            ));
        }
        let now = Timestamp::now();
        let e = Exception {
            id: CheckId::new().to_string(),
            origin: origin.clone(),
            by: self.device.clone(),
            staff: self.staff.clone(),
            from: now,
            until: now.plus_minutes(hours * 60),
            reason: reason.to_string(),
        };
        self.note(
            audit::Action::Changed,
            format!("disaster exception {}", e.id),
            format!("sharing without consent until {}: {}", e.until, e.reason),
        );
        let x = e.clone();
        self.change(&DocKey::roster(area), false, |ed| {
            ed.apply(JournalOp::PutException(Box::new(x)))?;
            Ok(((), Vec::new()))
        })?;
        Ok(e)
    }

    fn ensure_member(&mut self, space: &SpaceId) -> Result<()> {
        let me = self.device.clone();
        if self.active_members(space)?.contains(&me) {
            Ok(())
        } else {
            Err(Error::invalid("this device is not a member of that space"))
        }
    }

    /// Share the recipients of office `origin` with area space `area`:
    /// those whose consent is recorded, and, while a disaster exception
    /// declared by an admin of the office is in force, the others too —
    /// each with only the fields safety checks need
    /// ([`sharing::shared_record`]). Logged in the audit trail with the
    /// items provided. Only an admin of the office may.
    pub fn share_to_area(&mut self, origin: &SpaceId, area: &SpaceId) -> Result<ShareReport> {
        self.ensure_admin(origin)?;
        self.ensure_member(area)?;
        if origin == area {
            return Err(Error::invalid("an office shares with another (area) space"));
        }
        let now = Timestamp::now();
        let admins: BTreeSet<DeviceId> = self
            .members(origin)?
            .into_iter()
            .filter(|(m, s)| *s == MemberStanding::Active && m.role == Role::Admin)
            .map(|(m, _)| m.device)
            .collect();
        let organisation = self
            .spaces()?
            .into_iter()
            .find(|s| &s.id == origin)
            .map(|s| s.name)
            .unwrap_or_default();
        let kind = self.open_incident(origin)?.map(|i| i.kind);
        let weights = self.priority_weights(origin)?;
        let exceptions = self.exceptions(area)?;
        let roster = self.recipients(origin)?.into_iter().map(|r| r.recipient);
        let existing: HashMap<RecipientId, IndexedRecipient> = self
            .store
            .recipients(area)?
            .into_iter()
            .map(|r| (r.recipient.id.clone(), r))
            .collect();
        let office = sharing::Office {
            space: origin,
            organisation: &organisation,
            admins: &admins,
            kind,
            weights: &weights,
        };
        let provision =
            sharing::provision(&office, roster, &exceptions, existing.keys().cloned(), now);
        let mut report = ShareReport {
            exception: provision.exception.clone(),
            with_consent: provision.with_consent,
            under_exception: provision.under_exception,
            withheld: provision.withheld,
            removed: provision.stale.len(),
            ..Default::default()
        };
        let (shared, stale, exception) = (provision.records, provision.stale, provision.exception);
        let area_name = self
            .spaces()?
            .into_iter()
            .find(|s| &s.id == area)
            .map(|s| s.name)
            .unwrap_or_default();
        // The organisations that receive them: the area's other members.
        let own = self.staff.organisation.clone();
        let mut receivers: Vec<String> = self
            .members(area)?
            .into_iter()
            .filter(|(m, s)| *s == MemberStanding::Active && m.staff.organisation != own)
            .map(|(m, _)| m.staff.organisation)
            .collect();
        receivers.sort();
        receivers.dedup();
        // Logged in the same transaction as the provision itself.
        self.note(
            audit::Action::Shared,
            format!("area space {area_name} ({})", receivers.join(", ")),
            format!(
                "{} recipients ({} with consent, {} under a disaster exception{}); {} withheld; {} removed (consent withdrawn); items: {}",
                report.with_consent + report.under_exception,
                report.with_consent,
                report.under_exception,
                exception
                    .as_ref()
                    .map(|e| format!(" until {}", e.until))
                    .unwrap_or_default(),
                report.withheld,
                stale.len(),
                sharing::SHARED_ITEMS
            ),
        );
        let counts = self.change(&DocKey::roster(area), false, |e| {
            let (counts, mut index) = put_recipients(e, shared, &existing, &mut |_, _| {})?;
            for id in stale {
                e.apply(JournalOp::RemoveRecipient(id.clone()))?;
                index.push(IndexOp::RemoveRecipient(id));
            }
            Ok((counts, index))
        })?;
        report.counts = counts;
        Ok(report)
    }

    /// 支援代行: bring the checks partner agencies recorded in the area
    /// space for this office's shared recipients into the office's own open
    /// incident, so that its priority list, duplicates and 様式2 show them.
    /// Each keeps its id, who made it, when and how, so collecting again
    /// (or on another device of the office) adds nothing twice.
    pub fn collect_area_checks(
        &mut self,
        origin: &SpaceId,
        area: &SpaceId,
    ) -> Result<CollectReport> {
        self.ensure_member(origin)?;
        self.ensure_member(area)?;
        if origin == area {
            return Err(Error::invalid(
                "checks are collected from another (area) space",
            ));
        }
        let incident = self.open_incident(origin)?.ok_or_else(|| {
            Error::NotFound("open incident in the office space (start one first)".into())
        })?;
        let ours = sharing::shared_id(origin, &RecipientId(String::new())).0;
        let roster: BTreeSet<RecipientId> = self
            .recipients(origin)?
            .into_iter()
            .map(|r| r.recipient.id)
            .collect();
        let mut found = Vec::new();
        for inc in self.incidents(area)? {
            for c in self.checks(area, &inc.id)? {
                let Some(id) = c.recipient.as_str().strip_prefix(&ours) else {
                    continue;
                };
                let id = RecipientId(id.to_string());
                if roster.contains(&id) {
                    found.push(Check { recipient: id, ..c });
                }
            }
        }
        let (collected, already) = self.copy_checks(origin, &incident, found, |new| {
            let organisations: BTreeSet<&str> =
                new.iter().map(|c| c.staff.organisation.as_str()).collect();
            (
                format!("area space {area}"),
                format!(
                    "{} checks by partner agencies collected ({})",
                    new.len(),
                    organisations.into_iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        Ok(CollectReport {
            incident,
            collected,
            already,
        })
    }

    /// Copy checks recorded elsewhere into `incident`, keeping their ids,
    /// into this device's buckets, with one audit entry that `describe`
    /// words from the checks copied. Checks the incident holds already are
    /// skipped, so copying again adds nothing. Returns (copied, skipped).
    fn copy_checks(
        &mut self,
        space: &SpaceId,
        incident: &Incident,
        found: Vec<Check>,
        describe: impl FnOnce(&[Check]) -> (String, String),
    ) -> Result<(usize, usize)> {
        let have: BTreeSet<CheckId> = self
            .checks(space, &incident.id)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let (old, new): (Vec<Check>, Vec<Check>) =
            found.into_iter().partition(|c| have.contains(&c.id));
        let new: Vec<Check> = new
            .into_iter()
            .map(|c| Check {
                incident: incident.id.clone(),
                ..c
            })
            .collect();
        if !new.is_empty() {
            let (subject, detail) = describe(&new);
            self.note(audit::Action::Recorded, subject, detail);
            let writer = self.device.clone();
            self.change(&DocKey::incident(space, &incident.id), false, |e| {
                let mut index = Vec::new();
                for c in &new {
                    e.apply(JournalOp::CopyCheck(writer.clone(), Box::new(c.clone())))?;
                    index.push(IndexOp::Check(c.clone()));
                }
                Ok(((), index))
            })?;
        }
        Ok((new.len(), old.len()))
    }

    /// Two incidents that are one disaster (phones that started it on
    /// either side of midnight get two ids): copy `from`'s checks into
    /// `into`, keeping their ids, authors and times, and end `from` so that
    /// devices record into `into` once this reaches them. Safe to repeat
    /// (checks recorded into `from` meanwhile come over then).
    pub fn merge_incidents(
        &mut self,
        space: &SpaceId,
        from: &IncidentId,
        into: &IncidentId,
    ) -> Result<CollectReport> {
        if from == into {
            return Err(Error::invalid("an incident is merged into another one"));
        }
        let source = self.incident(space, from)?;
        let target = self.incident(space, into)?;
        if !target.is_open() {
            return Err(Error::invalid(format!(
                "incident {into} has ended; merge into the open one"
            )));
        }
        let found = self.checks(space, from)?;
        let (collected, already) = self.copy_checks(space, &target, found, |new| {
            (
                DocKey::incident(space, into).to_string(),
                format!("{} checks of incident {from} merged in", new.len()),
            )
        })?;
        if source.is_open() {
            self.end_incident(space, from, Timestamp::now())?;
        }
        Ok(CollectReport {
            incident: target,
            collected,
            already,
        })
    }

    fn put_member(&mut self, space: &SpaceId, member: Member) -> Result<Member> {
        let entry = SignedMember::sign(space, member.clone(), &self.identity)?;
        self.note(
            audit::Action::Changed,
            format!("member {}", member.device.readable()),
            if member.revoked.is_some() {
                "revoked".to_string()
            } else {
                format!(
                    "{} ({}), {}",
                    member.staff.name,
                    member.staff.organisation,
                    member.role.code()
                )
            },
        );
        let space_id = space.clone();
        self.change(&DocKey::roster(space), false, |e| {
            e.apply(JournalOp::PutMember(Box::new(entry)))?;
            Ok(((), vec![revoked_index(e.doc(), &space_id)?]))
        })?;
        Ok(member)
    }

    fn ensure_admin(&mut self, space: &SpaceId) -> Result<()> {
        let me = self.device.clone();
        let admin = self
            .members(space)?
            .iter()
            .any(|(m, s)| m.device == me && m.role == Role::Admin && *s == MemberStanding::Active);
        if admin {
            Ok(())
        } else {
            Err(Error::NotAllowed(
                "only an admin of the space may change its members (this device is not one)".into(),
            ))
        }
    }

    /// Drop documents in memory that another process changed on disk since
    /// (an admin's `anpi device add`, `import` or `check` while this node
    /// runs as `anpi serve`), so that the next read sees them. Cheap when
    /// nothing changed: one question to SQLite.
    pub fn reload_changed(&mut self) -> Result<()> {
        self.refresh()
    }

    /// The spaces both this device and `peer` are active members of: what a
    /// network session with `peer` may exchange.
    pub fn spaces_shared_with(&mut self, peer: &DeviceId) -> Result<BTreeSet<SpaceId>> {
        let me = self.device.clone();
        let mut out = BTreeSet::new();
        for space in self.spaces()? {
            let Some(active) = self.members_if_readable(&space.id)? else {
                continue;
            };
            if active.contains(peer) && active.contains(&me) {
                out.insert(space.id);
            }
        }
        Ok(out)
    }

    /// Every device this device may sync with over the network: active
    /// members of a space this device is an active member of.
    pub fn trusted_peers(&mut self) -> Result<BTreeSet<DeviceId>> {
        let me = self.device.clone();
        let mut out = BTreeSet::new();
        for space in self.spaces()? {
            let Some(active) = self.members_if_readable(&space.id)? else {
                continue;
            };
            if active.contains(&me) {
                out.extend(active);
            }
        }
        out.remove(&me);
        Ok(out)
    }

    /// Devices revoked from a space (from the index): their claims count
    /// for nothing.
    pub fn revoked_devices(&self, space: &SpaceId) -> Result<BTreeSet<DeviceId>> {
        match self.store.meta(&crate::store::revoked_key(space))? {
            None => Ok(BTreeSet::new()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("revoked devices of {space}: {e}"))),
        }
    }

    /// The office's priority weights: what an admin set for the space
    /// (shared by every device of it), else the defaults.
    pub fn priority_weights(&self, space: &SpaceId) -> Result<PriorityConfig> {
        match self.store.meta(&crate::store::weights_key(space))? {
            None => Ok(PriorityConfig::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("priority weights of {space}: {e}"))),
        }
    }

    /// Set the office's priority weights (admins): every device of the
    /// space ranks recipients by them once this reaches it.
    pub fn set_priority_weights(&mut self, space: &SpaceId, weights: PriorityConfig) -> Result<()> {
        self.ensure_admin(space)?;
        self.note(
            audit::Action::Changed,
            format!("priority weights of {space}"),
            serde_json::to_string(&weights).unwrap_or_default(),
        );
        self.change(&DocKey::roster(space), false, |e| {
            e.apply(JournalOp::PriorityWeights(Box::new(weights.clone())))?;
            Ok(((), vec![IndexOp::Weights(Box::new(weights))]))
        })
    }

    /// The spaces this device holds.
    pub fn spaces(&self) -> Result<Vec<Space>> {
        self.store.spaces()
    }

    /// The only space, or an error that says what to choose from.
    pub fn only_space(&self) -> Result<Space> {
        let mut spaces = self.spaces()?;
        match spaces.len() {
            1 => Ok(spaces.remove(0)),
            0 => Err(Error::NotFound("space (create one first)".into())),
            _ => Err(Error::invalid(format!(
                "this device holds {} spaces; name one of: {}",
                spaces.len(),
                spaces
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    // ------------------------------------------------------------ roster

    /// Insert or update recipients in one durable write. Fields that did not
    /// change produce no operations; a manual priority survives an import
    /// that does not carry one.
    pub fn upsert_recipients(
        &mut self,
        space: &SpaceId,
        recipients: Vec<Recipient>,
    ) -> Result<ImportCounts> {
        self.upsert_recipients_with_progress(space, recipients, &mut |_, _| {})
    }

    /// [`Node::upsert_recipients`], telling `progress(done, total)` as it
    /// goes (for a progress bar on long imports).
    pub fn upsert_recipients_with_progress(
        &mut self,
        space: &SpaceId,
        recipients: Vec<Recipient>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ImportCounts> {
        let total = recipients.len();
        let existing: HashMap<RecipientId, IndexedRecipient> = self
            .store
            .recipients(space)?
            .into_iter()
            .map(|r| (r.recipient.id.clone(), r))
            .collect();
        let key = DocKey::roster(space);
        self.ensure_space(space)?;
        self.note(
            audit::Action::Changed,
            "roster",
            format!("import of {total} rows"),
        );
        self.change(&key, false, |e| {
            put_recipients(e, recipients, &existing, progress)
        })
    }

    /// Import a whole roster file's recipients ([`crate::io::roster`]):
    /// [`Node::upsert_recipients_with_progress`], and the recipients this
    /// space holds that the file no longer lists. They are not deleted (a
    /// roster exported for one care manager, or a client moved to a
    /// hospital, must not vanish from every phone); people are told.
    pub fn import_roster(
        &mut self,
        space: &SpaceId,
        recipients: Vec<Recipient>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ImportReport> {
        let listed: std::collections::HashSet<RecipientId> =
            recipients.iter().map(|r| r.id.clone()).collect();
        let counts = self.upsert_recipients_with_progress(space, recipients, progress)?;
        let missing = self
            .store
            .recipient_list(space)?
            .into_iter()
            .map(|r| r.id)
            .filter(|id| !listed.contains(id))
            .collect();
        Ok(ImportReport { counts, missing })
    }

    /// Record a recipient's consent to share with other agencies (or, with
    /// `None`, its withdrawal).
    pub fn record_consent(
        &mut self,
        space: &SpaceId,
        id: &RecipientId,
        consent: Option<ConsentRecord>,
    ) -> Result<()> {
        let what = if consent.is_some() {
            "consent to share recorded"
        } else {
            "consent to share withdrawn"
        };
        self.edit_recipient(space, id, what, |r| {
            r.consent = Some(consent.is_some());
            r.consent_record = consent;
        })
    }

    /// Set or clear a care manager's manual priority.
    pub fn set_priority_override(
        &mut self,
        space: &SpaceId,
        id: &RecipientId,
        value: Option<PriorityOverride>,
    ) -> Result<()> {
        self.edit_recipient(space, id, "manual priority", |r| {
            r.priority_override = value;
        })
    }

    /// Change one recipient as `edit` says, recorded in the audit trail as
    /// `what`.
    fn edit_recipient(
        &mut self,
        space: &SpaceId,
        id: &RecipientId,
        what: &str,
        edit: impl FnOnce(&mut Recipient),
    ) -> Result<()> {
        let mut r = self
            .store
            .recipient(space, id)?
            .ok_or_else(|| Error::NotFound(format!("recipient {id}")))?
            .recipient;
        edit(&mut r);
        self.note(audit::Action::Changed, id.as_str(), what);
        self.change(&DocKey::roster(space), false, |e| {
            e.apply(JournalOp::PutRecipient(Box::new(r.clone())))?;
            let conflicts = doc::recipient_conflicts(e.doc(), &r.id)?;
            Ok(((), vec![IndexOp::recipient(r, conflicts)]))
        })
    }

    fn ensure_space(&self, space: &SpaceId) -> Result<()> {
        if self.store.spaces()?.iter().any(|s| &s.id == space) {
            Ok(())
        } else {
            Err(Error::NotFound(format!("space {space}")))
        }
    }

    /// Recipients of a space (from the index).
    pub fn recipients(&self, space: &SpaceId) -> Result<Vec<IndexedRecipient>> {
        self.store.recipients(space)
    }

    /// One recipient (from the index).
    pub fn recipient(&self, space: &SpaceId, id: &RecipientId) -> Result<IndexedRecipient> {
        self.store
            .recipient(space, id)?
            .ok_or_else(|| Error::NotFound(format!("recipient {id}")))
    }

    // --------------------------------------------------------- incidents

    /// Start (or join) the incident of `kind` that began on the JST day of
    /// `at`. Devices that do this independently end in the same incident.
    pub fn start_incident(
        &mut self,
        space: &SpaceId,
        kind: IncidentKind,
        name: &str,
        at: Timestamp,
    ) -> Result<Incident> {
        self.open_incident_for(space, kind, name, at)
            .map(|(incident, _)| incident)
    }

    /// [`Node::start_incident`], saying what it did: started the incident,
    /// joined it (open already), or opened it again after it had ended
    /// (the next round, see [`doc::Opening`]): an aftershock after a
    /// mistaken end must be recordable.
    pub fn open_incident_for(
        &mut self,
        space: &SpaceId,
        kind: IncidentKind,
        name: &str,
        at: Timestamp,
    ) -> Result<(Incident, Started)> {
        self.ensure_space(space)?;
        let id = IncidentId::derive(kind, at);
        let key = DocKey::incident(space, &id);
        let device = self.device.clone();
        let staff = self.staff.clone();
        let (space, iid) = (space.clone(), id.clone());
        let name = name.trim().to_string();
        self.note(
            audit::Action::Changed,
            key.to_string(),
            "incident started here",
        );
        self.change(&key, true, |e| {
            let before = doc::incident(e.doc(), &space, &iid)?;
            let (round, started) = match &before {
                None => (0, Started::New),
                Some(i) if i.is_open() => (i.round, Started::Joined),
                Some(i) => (i.round + 1, Started::Reopened),
            };
            if !doc::has_opened(e.doc(), &device, round)? {
                e.apply(JournalOp::OpenIncident(
                    device.clone(),
                    Opening {
                        kind,
                        name: name.clone(),
                        at,
                        staff: staff.clone(),
                        round,
                    },
                ))?;
            }
            let incident = doc::incident(e.doc(), &space, &iid)?
                .ok_or_else(|| Error::corrupt("incident without an opening"))?;
            Ok((
                (incident.clone(), started),
                vec![IndexOp::Incident(incident)],
            ))
        })
    }

    /// End an incident (the round this device knows; see [`doc::Opening`]).
    pub fn end_incident(
        &mut self,
        space: &SpaceId,
        id: &IncidentId,
        at: Timestamp,
    ) -> Result<Incident> {
        let key = DocKey::incident(space, id);
        if !self.has_doc(&key)? {
            return Err(Error::NotFound(format!("incident {id}")));
        }
        let staff = self.staff.clone();
        let device = self.device.clone();
        let (space, iid) = (space.clone(), id.clone());
        self.note(
            audit::Action::Changed,
            key.to_string(),
            "incident ended here",
        );
        self.change(&key, false, |e| {
            let round = doc::incident(e.doc(), &space, &iid)?.map_or(0, |i| i.round);
            e.apply(JournalOp::EndIncident(
                device.clone(),
                Ending {
                    at,
                    staff: staff.clone(),
                    round,
                },
            ))?;
            let incident = doc::incident(e.doc(), &space, &iid)?
                .ok_or_else(|| Error::corrupt("incident without an opening"))?;
            Ok((incident.clone(), vec![IndexOp::Incident(incident)]))
        })
    }

    /// Incidents of a space, newest first.
    pub fn incidents(&self, space: &SpaceId) -> Result<Vec<Incident>> {
        let mut all = self.store.incidents(space)?;
        all.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// The newest open incident.
    pub fn open_incident(&self, space: &SpaceId) -> Result<Option<Incident>> {
        Ok(self.incidents(space)?.into_iter().find(|i| i.is_open()))
    }

    /// The incident a page shows: the open one, else the latest (after an
    /// incident ends, its history is still what people look at). Every
    /// host shows the same.
    pub fn shown_incident(&self, space: &SpaceId) -> Result<Option<Incident>> {
        let all = self.incidents(space)?;
        Ok(all.iter().find(|i| i.is_open()).or(all.first()).cloned())
    }

    /// Form 2 (様式2) of the incident shown ([`Node::shown_incident`]) as
    /// the list stands at `now`. It holds health information of every
    /// recipient, so the export is written to the audit trail here, with
    /// where it went (`to`, e.g. a file name): no host can export unlogged.
    pub fn export_form2(
        &mut self,
        space: &SpaceId,
        format: form2::Format,
        group_by: form2::GroupBy,
        to: &str,
        now: Timestamp,
    ) -> Result<Form2Export> {
        let name = self
            .spaces()?
            .into_iter()
            .find(|s| &s.id == space)
            .ok_or_else(|| Error::NotFound(format!("space {space}")))?
            .name;
        let incident = self.shown_incident(space)?;
        let data = self.incident_data(space, incident.as_ref().map(|i| &i.id))?;
        let list = data.priority_list(now);
        let form = form2::build(
            &name,
            incident.as_ref().map(|i| i.name.as_str()),
            &list,
            group_by,
            now.jst(),
        );
        let (bytes, what) = match format {
            form2::Format::Html => (form2::to_html(&form).into_bytes(), "HTML"),
            form2::Format::Csv(encoding) => (
                form2::to_csv(&form, encoding).map_err(|e| Error::invalid(e.to_string()))?,
                "CSV",
            ),
        };
        let logged =
            match self.record_audit(audit::Action::Exported, "form 2", format!("{what} to {to}")) {
                Ok(()) => true,
                Err(Error::ReadOnly) => false,
                Err(e) => return Err(e),
            };
        Ok(Form2Export {
            bytes,
            incident,
            logged,
        })
    }

    /// One recipient's page: the record, and the checks and claims of the
    /// incident shown ([`Node::shown_incident`]), read for that recipient
    /// alone (a page costs the same at 50,000 recipients as at 50). Health
    /// information is looked at, so the audit trail records who did; on a
    /// read-only folder that entry cannot be written and `logged` says so.
    pub fn recipient_page(&mut self, space: &SpaceId, id: &RecipientId) -> Result<RecipientPage> {
        let record = self.recipient(space, id)?;
        let incident = self.shown_incident(space)?;
        let (checks, claims) = match &incident {
            None => (Vec::new(), Vec::new()),
            Some(i) => {
                let key = DocKey::incident(space, &i.id);
                let revoked = self.revoked_devices(space)?;
                let claims = self
                    .store
                    .claims_of(&key, &record.recipient.id)?
                    .into_iter()
                    .filter(|c| !revoked.contains(&c.device))
                    .collect();
                (self.store.checks_of(&key, &record.recipient.id)?, claims)
            }
        };
        let logged = match self.record_audit(audit::Action::Viewed, id.as_str(), "recipient record")
        {
            Ok(()) => true,
            Err(Error::ReadOnly) => false,
            Err(e) => return Err(e),
        };
        Ok(RecipientPage {
            record,
            incident,
            checks,
            claims,
            logged,
        })
    }

    fn incident(&self, space: &SpaceId, id: &IncidentId) -> Result<Incident> {
        self.store
            .incidents(space)?
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| Error::NotFound(format!("incident {id}")))
    }

    // ------------------------------------------------------------ checks

    /// Record a safety check. It notes which checks of the recipient this
    /// device had already received and which other people's claims were
    /// live: that knowledge is what duplicates are judged by.
    pub fn record_check(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        new: NewCheck,
    ) -> Result<Check> {
        let new = new.cleaned()?;
        let key = DocKey::incident(space, incident);
        let inc = self.incident(space, incident)?;
        if !inc.is_open() {
            return Err(Error::invalid(format!(
                "incident {incident} has ended; checks can no longer be recorded"
            )));
        }
        if self.store.recipient(space, &new.recipient)?.is_none() {
            return Err(Error::NotFound(format!("recipient {}", new.recipient)));
        }
        let mut known = self.store.check_ids_of(&key, &new.recipient)?;
        if let Some(s) = new.supersedes
            && !known.contains(&s)
        {
            return Err(Error::NotFound(format!(
                "check {s} of recipient {} (the check to correct)",
                new.recipient
            )));
        }
        let staff = new.staff.unwrap_or_else(|| self.staff.clone());
        let revoked = self.revoked_devices(space)?;
        let checks_of = self.store.checks_of(&key, &new.recipient)?;
        let known_claims = self
            .store
            .claims_of(&key, &new.recipient)?
            .into_iter()
            .filter(|c| c.device != self.device && !revoked.contains(&c.device))
            .filter(|c| c.is_live(new.at) && !crate::views::claim_ended(c, &checks_of))
            .map(|c| KnownClaim {
                device: c.device,
                staff: c.staff,
            })
            .collect();
        known.sort();
        let check = Check {
            id: CheckId::new(),
            recipient: new.recipient,
            incident: incident.clone(),
            staff,
            device: self.device.clone(),
            at: new.at,
            method: new.method,
            result: new.result,
            note: new.note,
            shelter: new.shelter,
            supersedes: new.supersedes,
            known,
            known_claims,
        };
        let c = check.clone();
        self.note(
            audit::Action::Recorded,
            c.recipient.as_str(),
            format!("check {} {} ({})", c.method.code(), c.result.code(), c.id),
        );
        let device = self.device.clone();
        self.change(&key, false, |e| {
            e.apply(JournalOp::PutCheck(Box::new(c.clone())))?;
            let mut index = vec![IndexOp::Check(c.clone())];
            // The visit or call it announced is made: this device's claim
            // on the recipient ends with the check.
            let claim = format!("{device}/{}", c.recipient);
            if doc::claim(e.doc(), &claim)?.is_some() {
                e.apply(JournalOp::RemoveClaim(device.clone(), c.recipient.clone()))?;
                index.push(IndexOp::RemoveClaim(claim));
            }
            Ok(((), index))
        })?;
        Ok(check)
    }

    /// Claim a recipient ("向かっています") for `minutes`.
    pub fn claim(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        recipient: &RecipientId,
        minutes: i64,
        now: Timestamp,
    ) -> Result<Claim> {
        if self.store.recipient(space, recipient)?.is_none() {
            return Err(Error::NotFound(format!("recipient {recipient}")));
        }
        let inc = self.incident(space, incident)?;
        if !inc.is_open() {
            return Err(Error::invalid(format!("incident {incident} has ended")));
        }
        if !(1..=crate::model::MAX_CLAIM_MINUTES).contains(&minutes) {
            return Err(Error::invalid(format!(
                "a claim lasts from 1 to {} minutes (12 hours), not {minutes}",
                crate::model::MAX_CLAIM_MINUTES
            )));
        }
        let claim = Claim {
            recipient: recipient.clone(),
            staff: self.staff.clone(),
            device: self.device.clone(),
            since: now,
            expires: now.plus_minutes(minutes),
        };
        let key = DocKey::incident(space, incident);
        let c = claim.clone();
        self.note(
            audit::Action::Recorded,
            c.recipient.as_str(),
            format!("claim for {minutes} minutes"),
        );
        self.change(&key, false, |e| {
            e.apply(JournalOp::PutClaim(c.clone()))?;
            Ok((
                (),
                vec![IndexOp::Claim(format!("{}/{}", c.device, c.recipient), c)],
            ))
        })?;
        Ok(claim)
    }

    /// Withdraw this device's claim. Returns whether there was one.
    pub fn release(
        &mut self,
        space: &SpaceId,
        incident: &IncidentId,
        recipient: &RecipientId,
    ) -> Result<bool> {
        let key = DocKey::incident(space, incident);
        if !self.has_doc(&key)? {
            return Err(Error::NotFound(format!("incident {incident}")));
        }
        let device = self.device.clone();
        let k = format!("{device}/{recipient}");
        self.change(&key, false, |e| {
            let had = doc::claim(e.doc(), &k)?.is_some();
            if had {
                e.apply(JournalOp::RemoveClaim(device.clone(), recipient.clone()))?;
            }
            Ok((
                had,
                if had {
                    vec![IndexOp::RemoveClaim(k)]
                } else {
                    vec![]
                },
            ))
        })
    }

    /// Everything the views of one incident need, from the index.
    pub fn incident_data(
        &self,
        space: &SpaceId,
        incident: Option<&IncidentId>,
    ) -> Result<IncidentData> {
        let weights = self.priority_weights(space)?;
        let Some(id) = incident else {
            return Ok(IncidentData {
                recipients: self.store.recipient_list(space)?,
                weights,
                ..Default::default()
            });
        };
        let inputs = self
            .store
            .list_inputs(space, &DocKey::incident(space, id))?;
        // A revoked device's claims count for nothing: nobody is on the way.
        let revoked = self.revoked_devices(space)?;
        Ok(IncidentData {
            recipients: inputs.recipients,
            incident: Some(self.incident(space, id)?),
            checks: inputs.checks,
            claims: inputs
                .claims
                .into_iter()
                .filter(|c| !revoked.contains(&c.device))
                .collect(),
            weights,
        })
    }

    /// Checks of an incident (from the index).
    pub fn checks(&self, space: &SpaceId, incident: &IncidentId) -> Result<Vec<Check>> {
        self.store.checks(&DocKey::incident(space, incident))
    }

    // ------------------------------------------------------- maintenance

    /// Compact documents with many appended changes into one snapshot each.
    /// Call when idle (the CLI after each command, the phone when in the
    /// background). Returns how many documents were compacted.
    pub fn maintain(&mut self) -> Result<usize> {
        self.flush_all()?;
        let mut n = 0;
        for info in self.store.docs()? {
            if self.unreadable.contains_key(&info.key) {
                continue;
            }
            let tidied = (|| -> Result<bool> {
                if info.journal_entries > 0 {
                    // A journal another process left (it ended before its
                    // flush): loading under the lock writes it as changes.
                    self.locked(|n| {
                        n.docs.remove(&info.key);
                        n.loaded(&info.key).map(|_| ())
                    })?;
                }
                if info.pending_changes >= COMPACT_AFTER_CHANGES {
                    self.compact(&info.key)?;
                    return Ok(true);
                }
                Ok(false)
            })();
            match tidied {
                Ok(compacted) => n += usize::from(compacted),
                // Unreadable: left as it is, reported; the others are tidied.
                Err(e @ (Error::Automerge(_) | Error::Corrupt(_) | Error::Hydrate(_))) => {
                    self.unreadable.insert(info.key.clone(), e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Write `w`, which holds the document up to its heads as changes or a
    /// snapshot, and drop the journal it makes redundant.
    fn write_settled(
        &mut self,
        key: &DocKey,
        mut w: DocWrite,
        audit: Vec<audit::Record>,
    ) -> Result<()> {
        w.flush_journal = true;
        let heads = w.heads.clone();
        self.write(Batch {
            docs: vec![w],
            audit,
            ..Default::default()
        })?;
        if let Some(l) = self.docs.get_mut(key) {
            l.persisted = heads;
            l.journal = 0;
        }
        Ok(())
    }

    /// Replace a document's stored changes with one snapshot.
    pub fn compact(&mut self, key: &DocKey) -> Result<()> {
        self.locked(|n| {
            let l = n.loaded(key)?;
            let heads = l.doc.get_heads();
            let mut w = DocWrite::new(key.clone(), heads);
            // The snapshot holds the journaled operations too.
            w.snapshot = Some(l.doc.save());
            n.write_settled(key, w, Vec::new())
        })
    }

    /// Every document this device holds.
    pub fn documents(&self) -> Result<Vec<DocKey>> {
        self.store.doc_keys()
    }

    /// A document's whole saved form (`automerge` save format), for tools
    /// and benchmarks.
    pub fn saved_document(&mut self, key: &DocKey) -> Result<Vec<u8>> {
        Ok(self.doc(key)?.save())
    }

    /// Heads of every document held, for convergence checks.
    pub fn heads(&mut self) -> Result<BTreeMap<DocKey, Vec<ChangeHash>>> {
        self.flush_all()?;
        Ok(self
            .store
            .docs()?
            .into_iter()
            .map(|d| (d.key, d.heads))
            .collect())
    }

    // -------------------------------------------------------------- sync

    fn doc_keys(&self, spaces: &BTreeSet<SpaceId>) -> Result<Vec<DocKey>> {
        let mut keys: Vec<DocKey> = self
            .store
            .doc_keys()?
            .into_iter()
            .filter(|k| spaces.contains(&k.space))
            .collect();
        // Incident documents first: safety status before roster edits.
        keys.sort_by(|a, b| (&a.kind, &a.space).cmp(&(&b.kind, &b.space)));
        Ok(keys)
    }

    /// For a peer this device has not synced `key` with: the heads it last
    /// shared with anyone (see [`sync::opening`]). Empty otherwise.
    fn base_guess(&self, key: &DocKey, pd: &PeerDoc) -> Result<Vec<ChangeHash>> {
        if !pd.shared.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.peer_doc(&DeviceId(ANY_PEER.into()), key)?.shared)
    }

    fn peer_doc(&self, peer: &DeviceId, key: &DocKey) -> Result<PeerDoc> {
        match self.store.peer_state(peer, key)? {
            Some(bytes) => PeerDoc::decode(&bytes),
            None => Ok(PeerDoc::default()),
        }
    }

    /// Open a session as the initiator. `want` names spaces this device
    /// does not hold yet but asks for (joining a team).
    pub fn sync_start(
        &mut self,
        peer: Option<&DeviceId>,
        want: &[SpaceId],
    ) -> Result<(Session, Vec<u8>)> {
        let mut spaces: BTreeSet<SpaceId> = self.spaces()?.into_iter().map(|s| s.id).collect();
        spaces.extend(want.iter().cloned());
        let mut session = Session::new(peer.cloned(), true);
        session.want = want.iter().cloned().collect();
        self.open_session(session, spaces)
    }

    /// Open a session with a network peer whose key the handshake proved:
    /// only `spaces` (those both are members of, [`Node::spaces_shared_with`])
    /// are exchanged. With `accept_new`, spaces this device does not hold
    /// yet are taken from the peer: joining through the office.
    pub fn sync_start_network(
        &mut self,
        peer: &DeviceId,
        spaces: BTreeSet<SpaceId>,
        accept_new: bool,
    ) -> Result<(Session, Vec<u8>)> {
        let mut session = Session::new(Some(peer.clone()), true);
        session.network = true;
        session.accept_new = accept_new;
        self.open_session(session, spaces)
    }

    fn open_session(
        &mut self,
        mut session: Session,
        spaces: BTreeSet<SpaceId>,
    ) -> Result<(Session, Vec<u8>)> {
        self.flush_all()?;
        session.shared_spaces = spaces.clone();
        let mut docs = Vec::new();
        for key in self.doc_keys(&spaces)? {
            let pd = match &session.peer {
                Some(p) => self.peer_doc(p, &key)?,
                None => PeerDoc::default(),
            };
            // A document that cannot be read stays out of the session; the
            // others sync.
            let guess = self.base_guess(&key, &pd)?;
            let l = match self.loaded(&key) {
                Ok(l) => l,
                Err(e) => {
                    self.unreadable.insert(key.clone(), e.to_string());
                    session.fail(key, e);
                    continue;
                }
            };
            docs.push(sync::opening(
                &mut l.doc,
                &l.recent,
                &key.to_string(),
                &pd,
                &guess,
            ));
            session.peers.insert(key, pd);
        }
        session.offered = Some(session.peers.keys().cloned().collect());
        let msg = Message {
            version: sync::PROTOCOL_VERSION,
            kind: Kind::Hello {
                device: self.device.clone(),
                spaces: spaces.into_iter().collect(),
            },
            docs,
        };
        let bytes = sync::encode(&msg);
        session.stats.messages_sent += 1;
        session.stats.bytes_sent += bytes.len();
        Ok((session, bytes))
    }

    /// A session as the responder, before the peer's hello.
    pub fn sync_accept(&self) -> Session {
        Session::new(None, false)
    }

    /// A session as the responder to a network peer whose key the handshake
    /// proved: only `spaces` are exchanged, and a hello naming another
    /// device ends it.
    pub fn sync_accept_network(&self, peer: &DeviceId, spaces: BTreeSet<SpaceId>) -> Session {
        let mut session = Session::new(Some(peer.clone()), false);
        session.network = true;
        session.shared_spaces = spaces;
        session
    }

    /// Handle a message from the peer: apply what it carries, persist it
    /// with the new sync states in one write, and return the answer, if any.
    /// An error ends the session; nothing of the failing message is kept.
    pub fn sync_receive(&mut self, session: &mut Session, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        session.stats.messages_received += 1;
        session.stats.bytes_received += bytes.len();
        // Received changes are written as changes; journaled local ones must
        // be too, first, so that the stored changes stay in causal order.
        // All under the write lock, on the latest documents.
        let result = self.locked(|n| {
            n.flush_all()?;
            n.sync_receive_inner(session, bytes)
        });
        if result.is_err() {
            // The documents in memory were dropped with the failed write:
            // start the next session from what is persisted.
            session.peers.clear();
        }
        let reply = result?;
        if let Some(r) = &reply {
            session.stats.messages_sent += 1;
            session.stats.bytes_sent += r.len();
        }
        Ok(reply)
    }

    fn sync_receive_inner(
        &mut self,
        session: &mut Session,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let msg = sync::decode(bytes)?;
        let is_hello = matches!(msg.kind, Kind::Hello { .. });
        let mut replies: Vec<DocEntry> = Vec::new();
        let mut offered: BTreeSet<DocKey> = BTreeSet::new();
        if let Kind::Hello { device, spaces } = &msg.kind {
            if device == &self.device {
                return Err(Error::sync("peer has this device's own id"));
            }
            if session.peer.as_ref().is_some_and(|p| p != device) {
                return Err(Error::sync("peer changed its device id mid-session"));
            }
            if session.greeted {
                return Err(Error::sync("peer sent a second hello"));
            }
            session.greeted = true;
            session.peer = Some(device.clone());
            if !session.network {
                let mine: BTreeSet<SpaceId> = self.spaces()?.into_iter().map(|s| s.id).collect();
                // A space moves when one side holds it and the other holds
                // or wants it.
                session.shared_spaces = spaces
                    .iter()
                    .filter(|s| mine.contains(*s))
                    .cloned()
                    .collect();
            }
        } else if let Kind::Reply { device } = &msg.kind {
            if !session.greeted {
                return Err(Error::sync("reply before hello"));
            }
            if session.peer.as_ref().is_some_and(|p| p != device) {
                return Err(Error::sync(format!(
                    "expected device {} but {device} answered",
                    session
                        .peer
                        .as_ref()
                        .map(|p| p.as_str())
                        .unwrap_or_default()
                )));
            }
            session.peer = Some(device.clone());
            // The first reply answers every document the hello offered that
            // the peer takes: one it leaves out, it refused (not a member
            // of that space there). Never counted as synced.
            if let Some(offered) = session.offered.take().filter(|_| session.network) {
                for key in offered {
                    let name = key.to_string();
                    if !msg.docs.iter().any(|d| d.doc == name) {
                        session.fail(key, "the peer did not take it (this device is not a member of its space there)");
                    }
                }
            }
        }
        let peer = session.peer.clone().expect("hello or reply named the peer");
        let mut writes: Vec<DocWrite> = Vec::new();
        let mut states: Vec<(DeviceId, DocKey, Vec<u8>)> = Vec::new();
        for entry in msg.docs {
            let key: DocKey = entry
                .doc
                .parse()
                .map_err(|_| Error::sync(format!("peer named a bad document {:?}", entry.doc)))?;
            let mut allowed =
                session.shared_spaces.contains(&key.space) || session.want.contains(&key.space);
            if !allowed && session.accept_new && !self.has_doc(&DocKey::roster(&key.space))? {
                session.shared_spaces.insert(key.space.clone());
                allowed = true;
            }
            if !allowed {
                continue;
            }
            offered.insert(key.clone());
            // A document that cannot be taken (a change that does not fit, a
            // document this device cannot read) fails alone: its state in
            // memory is dropped, nothing of it is written, the peer keeps it
            // and offers it again, and the rest of the message is applied.
            match self.receive_entry(session, &peer, &key, entry) {
                Ok(taken) => {
                    writes.extend(taken.write);
                    if let Some((_, key, state)) = &taken.state {
                        // What this device last shared with anyone: the
                        // base it guesses for a peer met for the first time.
                        states.push((DeviceId(ANY_PEER.into()), key.clone(), state.clone()));
                    }
                    states.extend(taken.state);
                    replies.extend(taken.replies);
                }
                Err(e) => {
                    self.docs.remove(&key);
                    session.peers.remove(&key);
                    session.fail(key, e);
                }
            }
        }
        if is_hello {
            // Offer what the initiator did not mention: whole documents it
            // lacks, and an answer for every document so it learns our heads.
            let spaces = session.shared_spaces.clone();
            for key in self.doc_keys(&spaces)? {
                if offered.contains(&key) {
                    continue;
                }
                let doc = match self.doc(&key) {
                    Ok(doc) => doc,
                    Err(e) => {
                        self.unreadable.insert(key.clone(), e.to_string());
                        session.fail(key, e);
                        continue;
                    }
                };
                replies.push(DocEntry {
                    doc: key.to_string(),
                    heads: sync::heads_to_wire(&doc.get_heads()),
                    need: false,
                    data: sync::Data::Snapshot(doc.save()),
                });
            }
            for key in &offered {
                let name = key.to_string();
                if !replies.iter().any(|r| r.doc == name) && self.has_doc(key)? {
                    let Ok(doc) = self.doc(key) else {
                        continue;
                    };
                    let heads = doc.get_heads();
                    replies.push(DocEntry {
                        doc: name,
                        heads: sync::heads_to_wire(&heads),
                        need: false,
                        data: sync::Data::None,
                    });
                }
            }
        }
        // Spaces received for the first time become known spaces once
        // their roster arrives (its index op names the space).
        let written: Vec<(DocKey, Vec<ChangeHash>)> = writes
            .iter()
            .filter_map(|w| w.key.clone().map(|k| (k, w.heads.clone())))
            .collect();
        self.write(Batch {
            docs: writes,
            peer_states: states,
            ..Default::default()
        })?;
        for (key, heads) in written {
            if let Some(l) = self.docs.get_mut(&key) {
                l.persisted = heads;
            }
        }
        if replies.is_empty() && !is_hello {
            return Ok(None);
        }
        replies.sort_by_key(|r| r.doc.parse::<DocKey>().map(|k| k.kind).ok());
        Ok(Some(sync::encode(&Message {
            version: sync::PROTOCOL_VERSION,
            kind: Kind::Reply {
                device: self.device.clone(),
            },
            docs: replies,
        })))
    }

    /// Take one document of a peer's message: apply it to the document in
    /// memory and return what to write and answer (nothing is written
    /// here). An error leaves the document in memory unusable: the caller
    /// drops it.
    fn receive_entry(
        &mut self,
        session: &mut Session,
        peer: &DeviceId,
        key: &DocKey,
        entry: DocEntry,
    ) -> Result<Taken> {
        let mut taken = Taken::default();
        let mut pd = match session.peers.remove(key) {
            Some(pd) => pd,
            None => self.peer_doc(peer, key)?,
        };
        let existed = self.has_doc(key)?;
        if !existed {
            if matches!(entry.data, sync::Data::None) {
                // We do not have it: ask for all of it.
                taken.replies.push(sync::request(&entry.doc));
                session.peers.insert(key.clone(), pd);
                return Ok(taken);
            }
            let fresh = doc::create(&key.kind, &self.actor);
            self.docs.insert(
                key.clone(),
                Loaded {
                    doc: fresh,
                    persisted: Vec::new(),
                    journal: 0,
                    recent: sync::Recent::default(),
                    version: 0,
                },
            );
        }
        let guess = self.base_guess(key, &pd)?;
        let l = self.loaded(key)?;
        let doc = &mut l.doc;
        let before = if existed { doc.get_heads() } else { Vec::new() };
        let received = sync::receive(doc, &l.recent, &mut pd, entry, &guess)?;
        let after = doc.get_heads();
        if after != before {
            taken.write =
                Some(self.merged_write(key, &before, existed, received.applied, received.whole)?);
            session.stats.docs_changed += 1;
        }
        taken.state = Some((peer.clone(), key.clone(), pd.encode()));
        session.peers.insert(key.clone(), pd);
        taken.replies.extend(received.reply);
        Ok(taken)
    }

    /// The write for a document that changed by merging: the new changes,
    /// and the index rows of what they touched.
    fn merged_write(
        &mut self,
        key: &DocKey,
        before: &[ChangeHash],
        existed: bool,
        applied: Option<Vec<Change>>,
        whole: Option<Vec<u8>>,
    ) -> Result<DocWrite> {
        let l = self.loaded(key)?;
        let doc = &mut l.doc;
        let heads = doc.get_heads();
        let mut w = DocWrite::new(key.clone(), heads.clone());
        if !existed {
            w.snapshot = Some(whole.unwrap_or_else(|| doc.save()));
            w.index = full_index(doc, key)?;
            return Ok(w);
        }
        let changes = applied.unwrap_or_else(|| doc.get_changes(before));
        w.changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        let touched = doc::touched_by(doc, &changes)?;
        w.index = touched_index(doc, key, &touched)?;
        // Kept before the write lands: a failed write drops the document,
        // and with it these steps.
        l.recent.record(before, &heads, changes);
        Ok(w)
    }
}

/// What taking one document of a peer's message gives.
#[derive(Default)]
struct Taken {
    write: Option<DocWrite>,
    state: Option<(DeviceId, DocKey, Vec<u8>)>,
    replies: Vec<DocEntry>,
}

/// The device's identity in a store that has none yet (under the write
/// lock: another process may have made it meanwhile).
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
    (w, changes)
}

impl Drop for Node {
    fn drop(&mut self) {
        // Best effort: what is not flushed stays in the journal, durable,
        // and is replayed on the next open.
        let _ = self.flush_all();
    }
}

/// Write the recipients that differ from `existing` (the index as it
/// stands) into the roster being edited; a manual priority survives a row
/// that does not carry one. Returns the counts and the index rows.
fn put_recipients(
    e: &mut Edit<'_>,
    recipients: Vec<Recipient>,
    existing: &HashMap<RecipientId, IndexedRecipient>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(ImportCounts, Vec<IndexOp>)> {
    let total = recipients.len();
    let mut counts = ImportCounts::default();
    let mut index = Vec::new();
    for (done, mut r) in recipients.into_iter().enumerate() {
        if done % 64 == 0 {
            progress(done, total);
        }
        let old = existing.get(&r.id);
        if r.priority_override.is_none() {
            r.priority_override = old.and_then(|o| o.recipient.priority_override.clone());
        }
        match old {
            // The same row over a conflict is written again: the
            // office's roster settles what two edits left open.
            Some(o) if o.recipient == r && o.conflicts.is_empty() => {
                counts.unchanged += 1;
                continue;
            }
            Some(_) => counts.updated += 1,
            None => counts.added += 1,
        }
        e.apply(JournalOp::PutRecipient(Box::new(r.clone())))?;
        // A recipient new to this device has no concurrent values yet.
        let conflicts = match old {
            Some(_) => doc::recipient_conflicts(e.doc(), &r.id)?,
            None => Vec::new(),
        };
        index.push(IndexOp::recipient(r, conflicts));
    }
    progress(total, total);
    Ok((counts, index))
}

/// The index row of the devices revoked from the space whose roster `d` is.
fn revoked_index(d: &AutoCommit, space: &SpaceId) -> Result<IndexOp> {
    let founding = doc::space_founding(d)?;
    let entries = doc::member_versions(d)?;
    Ok(IndexOp::Revoked(
        membership::standing(space, founding.as_ref(), &entries)
            .into_iter()
            .filter(|(_, s)| *s == MemberStanding::Revoked)
            .map(|(m, _)| m.device)
            .collect(),
    ))
}

/// Every index row of a document.
fn full_index(d: &AutoCommit, key: &DocKey) -> Result<Vec<IndexOp>> {
    let mut ops = Vec::new();
    match &key.kind {
        DocKind::Roster => {
            ops.push(IndexOp::Space(Space {
                id: key.space.clone(),
                name: doc::space_name(d)?,
            }));
            if let Some(w) = doc::priority_weights(d)? {
                ops.push(IndexOp::Weights(Box::new(w)));
            }
            ops.push(revoked_index(d, &key.space)?);
            for (r, conflicts) in doc::recipients_with_conflicts(d)? {
                ops.push(IndexOp::recipient(r, conflicts));
            }
        }
        DocKind::Incident(id) => {
            if let Some(i) = doc::incident(d, &key.space, id)? {
                ops.push(IndexOp::Incident(i));
            }
            for c in doc::checks(d)? {
                ops.push(IndexOp::Check(c));
            }
            let now = Timestamp::now();
            for c in doc::claims(d)? {
                ops.push(IndexOp::Claim(
                    format!("{}/{}", c.device, c.recipient),
                    c.judged(now),
                ));
            }
        }
    }
    Ok(ops)
}

/// The index rows of what a merge touched.
fn touched_index(d: &AutoCommit, key: &DocKey, t: &doc::Touched) -> Result<Vec<IndexOp>> {
    let mut ops = Vec::new();
    match &key.kind {
        DocKind::Roster => {
            if t.meta {
                ops.push(IndexOp::Space(Space {
                    id: key.space.clone(),
                    name: doc::space_name(d)?,
                }));
                if let Some(w) = doc::priority_weights(d)? {
                    ops.push(IndexOp::Weights(Box::new(w)));
                }
                ops.push(revoked_index(d, &key.space)?);
            }
            for id in &t.recipients {
                let rid = RecipientId(id.clone());
                match doc::recipient(d, &rid)? {
                    Some(r) => {
                        let conflicts = doc::recipient_conflicts(d, &rid)?;
                        ops.push(IndexOp::recipient(r, conflicts))
                    }
                    None => ops.push(IndexOp::RemoveRecipient(rid)),
                }
            }
        }
        DocKind::Incident(id) => {
            if t.meta
                && let Some(i) = doc::incident(d, &key.space, id)?
            {
                ops.push(IndexOp::Incident(i));
            }
            for ((bucket, id), written) in &t.checks {
                if let Some(check) = doc::touched_check(d, bucket, id, written.as_deref())? {
                    if check.id.to_string() != *id {
                        return Err(Error::sync(format!(
                            "peer stored check {} under the key {id:?}",
                            check.id
                        )));
                    }
                    ops.push(IndexOp::Check(check));
                }
            }
            let now = Timestamp::now();
            for k in &t.claims {
                match doc::claim(d, k)? {
                    // Judged by this device's clock: a phone whose clock runs
                    // ahead must not keep everyone away for a year.
                    Some(c) => ops.push(IndexOp::Claim(k.clone(), c.judged(now))),
                    None => ops.push(IndexOp::RemoveClaim(k.clone())),
                }
            }
        }
    }
    Ok(ops)
}

/// Most messages one local session may take; real sessions take 2 to 4.
const MAX_LOCAL_MESSAGES: usize = 64;

/// What a session between two local nodes moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalSync {
    /// The initiator's counters.
    pub initiator: SyncStats,
    /// The responder's counters.
    pub responder: SyncStats,
    /// Messages of the initiator that were answered.
    pub round_trips: usize,
    /// Documents that failed alone, on either side, with the reason.
    pub failures: Vec<(DocKey, String)>,
}

impl LocalSync {
    /// Bytes both ways.
    pub fn bytes(&self) -> usize {
        self.initiator.bytes_sent + self.responder.bytes_sent
    }
}

/// Whether two nodes hold a space in common (otherwise a merge has nothing
/// to move).
pub fn share_a_space(a: &Node, b: &Node) -> Result<bool> {
    let theirs: BTreeSet<SpaceId> = b.spaces()?.into_iter().map(|s| s.id).collect();
    Ok(a.spaces()?.iter().any(|s| theirs.contains(&s.id)))
}

/// Sync two nodes this process holds (two data folders, as when merging
/// from a USB stick) until neither has anything left to say. `a` asks for
/// the spaces in `want` that it does not hold yet.
pub fn sync_local(a: &mut Node, b: &mut Node, want: &[SpaceId]) -> Result<LocalSync> {
    if want.is_empty() && !share_a_space(a, b)? {
        return Err(Error::invalid(
            "the two data folders share no space: nothing was merged",
        ));
    }
    let peer = b.device().clone();
    let (mut sa, hello) = a.sync_start(Some(&peer), want)?;
    let mut sb = b.sync_accept();
    let mut round_trips = 0;
    let mut to_b = Some(hello);
    let mut to_a = None;
    for _ in 0..MAX_LOCAL_MESSAGES {
        if let Some(m) = to_b.take() {
            to_a = b.sync_receive(&mut sb, &m)?;
            if to_a.is_some() {
                round_trips += 1;
            }
        } else if let Some(m) = to_a.take() {
            to_b = a.sync_receive(&mut sa, &m)?;
        } else {
            let mut failures = sa.failures;
            failures.extend(sb.failures);
            return Ok(LocalSync {
                initiator: sa.stats,
                responder: sb.stats,
                round_trips,
                failures,
            });
        }
    }
    Err(Error::sync(format!(
        "session did not settle within {MAX_LOCAL_MESSAGES} messages"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Household, RecipientId};
    use crate::store::{MemoryStore, SqliteStore};

    fn recipient(id: &str) -> Recipient {
        Recipient {
            id: RecipientId(id.into()),
            name: format!("利用者{id}"),
            household: Some(Household::Alone),
            ..Default::default()
        }
    }

    fn office() -> (Node, SpaceId) {
        let mut n = Node::open(MemoryStore::new()).unwrap();
        let space = n.create_space("ひまわり").unwrap().id;
        n.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
            .unwrap();
        (n, space)
    }

    #[test]
    fn a_page_read_and_a_form_2_export_each_leave_an_audit_entry() {
        let (mut n, space) = office();
        let incident = n
            .start_incident(&space, IncidentKind::Earthquake, "地震", Timestamp::now())
            .unwrap();
        n.end_incident(&space, &incident.id, Timestamp::now())
            .unwrap();
        let page = n.recipient_page(&space, &"R1".into()).unwrap();
        // After the end, the page and the form show the last incident.
        assert_eq!(page.incident.unwrap().id, incident.id);
        let form = n
            .export_form2(
                &space,
                form2::Format::Csv(form2::CsvEncoding::Utf8Bom),
                form2::GroupBy::Area,
                "/media/usb/form2.csv",
                Timestamp::now(),
            )
            .unwrap();
        assert!(form.logged && page.logged);
        assert_eq!(form.incident.unwrap().id, incident.id);
        assert!(String::from_utf8_lossy(&form.bytes).contains("R1"));
        let trail = n.audit_trail().unwrap();
        let entry = |action: audit::Action, subject: &str| {
            trail
                .iter()
                .find(|e| e.record.action == action && e.record.subject == subject)
                .map(|e| e.record.detail.clone())
        };
        assert!(entry(audit::Action::Viewed, "R1").is_some(), "{trail:?}");
        assert_eq!(
            entry(audit::Action::Exported, "form 2").as_deref(),
            Some("CSV to /media/usb/form2.csv")
        );
    }

    /// An office whose R1 consented to sharing, and an area space.
    fn office_with_area() -> (Node, SpaceId, SpaceId) {
        use crate::model::{ConsentRecord, Date};
        let (mut n, office) = office();
        let mut r1 = recipient("R1");
        r1.consent = Some(true);
        r1.consent_record = Some(ConsentRecord {
            date: Date::from_ymd(2026, 4, 1).unwrap(),
            scope: "安否確認のため連携先へ".into(),
            obtained_by: "佐藤".into(),
        });
        n.upsert_recipients(&office, vec![r1]).unwrap();
        let area = n.create_space("東地区連携").unwrap().id;
        (n, office, area)
    }

    #[test]
    fn reimporting_the_same_roster_changes_nothing() {
        let (mut n, space) = office();
        let heads = n.heads().unwrap();
        let counts = n
            .upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
            .unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                added: 0,
                updated: 0,
                unchanged: 2
            }
        );
        assert_eq!(n.heads().unwrap(), heads);
        let mut changed = recipient("R2");
        changed.phone = "03-1234-5678".into();
        let counts = n
            .upsert_recipients(&space, vec![changed, recipient("R3")])
            .unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                added: 1,
                updated: 1,
                unchanged: 0
            }
        );
    }

    #[test]
    fn an_import_keeps_a_manual_priority() {
        let (mut n, space) = office();
        let o = PriorityOverride {
            score: 999,
            reason: "退院直後".into(),
            by: "佐藤".into(),
            at: Timestamp::from_millis(0),
        };
        n.set_priority_override(&space, &"R1".into(), Some(o.clone()))
            .unwrap();
        n.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
        let r = n.recipient(&space, &"R1".into()).unwrap().recipient;
        assert_eq!(r.priority_override, Some(o));
    }

    #[test]
    fn checks_need_an_open_incident_a_known_recipient_and_a_real_correction() {
        let (mut n, space) = office();
        let inc = n
            .start_incident(
                &space,
                IncidentKind::Flood,
                "大雨",
                Timestamp::from_millis(0),
            )
            .unwrap();
        let unknown = n.record_check(
            &space,
            &inc.id,
            NewCheck::new("R9".into(), CheckMethod::Phone, CheckResult::Safe),
        );
        assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
        let mut bad_fix = NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe);
        bad_fix.supersedes = Some(CheckId::new());
        assert!(n.record_check(&space, &inc.id, bad_fix).is_err());
        let first = n
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Unreachable),
            )
            .unwrap();
        let mut fix = NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe);
        fix.supersedes = Some(first.id);
        let second = n.record_check(&space, &inc.id, fix).unwrap();
        assert_eq!(
            second.known,
            vec![first.id],
            "the device knew the first check"
        );
        n.end_incident(&space, &inc.id, Timestamp::from_millis(10))
            .unwrap();
        let closed = n.record_check(
            &space,
            &inc.id,
            NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Safe),
        );
        assert!(matches!(closed, Err(Error::Invalid(_))), "{closed:?}");
        assert_eq!(n.checks(&space, &inc.id).unwrap().len(), 2);
    }

    #[test]
    fn claims_expire_and_are_released() {
        let (mut n, space) = office();
        let t0 = Timestamp::from_millis(0);
        let inc = n
            .start_incident(&space, IncidentKind::Earthquake, "", t0)
            .unwrap();
        let c = n.claim(&space, &inc.id, &"R1".into(), 30, t0).unwrap();
        assert!(c.is_live(t0.plus_minutes(29)));
        assert!(!c.is_live(t0.plus_minutes(30)));
        assert!(n.release(&space, &inc.id, &"R1".into()).unwrap());
        assert!(!n.release(&space, &inc.id, &"R1".into()).unwrap());
        assert!(
            n.incident_data(&space, Some(&inc.id))
                .unwrap()
                .claims
                .is_empty()
        );
    }

    #[test]
    fn a_claim_is_bounded_and_no_input_panics() {
        let (mut n, space) = office();
        let t0 = Timestamp::now();
        let inc = n
            .start_incident(&space, IncidentKind::Earthquake, "", t0)
            .unwrap();
        for minutes in [
            0,
            -5,
            721,
            99_999_999_999,
            5_000_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let r = n.claim(&space, &inc.id, &"R1".into(), minutes, t0);
            assert!(matches!(r, Err(Error::Invalid(_))), "{minutes}: {r:?}");
        }
        let c = n
            .claim(
                &space,
                &inc.id,
                &"R1".into(),
                crate::model::MAX_CLAIM_MINUTES,
                t0,
            )
            .unwrap();
        assert_eq!(c.expires, t0.plus_minutes(720));
        // The ends of time saturate rather than panic.
        assert!(t0.plus_minutes(i64::MAX) > t0);
        assert!(t0.plus_minutes(i64::MIN) < t0);
    }

    #[test]
    fn a_check_by_the_claiming_device_ends_its_claim_everywhere() {
        let (mut office, space) = office();
        let t0 = Timestamp::now();
        let inc = office
            .start_incident(&space, IncidentKind::Earthquake, "", t0)
            .unwrap();
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        phone.claim(&space, &inc.id, &"R1".into(), 60, t0).unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        let live = |n: &Node| {
            let d = n.incident_data(&space, Some(&inc.id)).unwrap();
            d.priority_list(t0.plus_minutes(1))
                .iter()
                .find(|e| e.recipient.id.as_str() == "R1")
                .unwrap()
                .live_claims
                .len()
        };
        assert_eq!(live(&office), 1);
        phone
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
            )
            .unwrap();
        assert_eq!(live(&phone), 0);
        sync_local(&mut phone, &mut office, &[]).unwrap();
        assert_eq!(live(&office), 0, "the claim ended with the visit");
        assert!(
            office
                .incident_data(&space, Some(&inc.id))
                .unwrap()
                .claims
                .is_empty()
        );
    }

    /// A phone whose clock runs a year ahead claims R1 for an hour. On the
    /// office the claim holds for that hour from when it arrived, not for
    /// a year, and does not mark later visits as made despite a claim.
    #[test]
    fn a_claim_from_a_clock_a_year_ahead_is_judged_by_the_receiving_clock() {
        let (mut office, space) = office();
        let now = Timestamp::now();
        let inc = office
            .start_incident(&space, IncidentKind::Earthquake, "", now)
            .unwrap();
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        let ahead = now.plus_minutes(365 * 24 * 60);
        phone
            .claim(&space, &inc.id, &"R1".into(), 60, ahead)
            .unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        let claims = office.incident_data(&space, Some(&inc.id)).unwrap().claims;
        assert_eq!(claims.len(), 1);
        assert!(claims[0].expires <= Timestamp::now().plus_minutes(60));
        let data = office.incident_data(&space, Some(&inc.id)).unwrap();
        let later = now.plus_minutes(120);
        let list = data.priority_list(later);
        assert!(list.iter().all(|e| e.live_claims.is_empty()));
        let mut visit = NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe);
        visit.at = later;
        let c = office.record_check(&space, &inc.id, visit).unwrap();
        assert!(c.known_claims.is_empty(), "{:?}", c.known_claims);
    }

    #[test]
    fn a_revoked_devices_claims_count_for_nothing() {
        let (mut office, space) = office();
        let now = Timestamp::now();
        let inc = office
            .start_incident(&space, IncidentKind::Earthquake, "", now)
            .unwrap();
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        office
            .add_member(&space, phone.device(), Staff::default(), Role::CareManager)
            .unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        phone
            .claim(&space, &inc.id, &"R1".into(), 600, now)
            .unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        assert_eq!(
            office
                .incident_data(&space, Some(&inc.id))
                .unwrap()
                .claims
                .len(),
            1
        );
        let lost = phone.device().clone();
        office.revoke_member(&space, &lost).unwrap();
        assert!(
            office
                .incident_data(&space, Some(&inc.id))
                .unwrap()
                .claims
                .is_empty()
        );
        let c = office
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
            )
            .unwrap();
        assert!(c.known_claims.is_empty());
        // Also on a device that learns of the revocation by syncing.
        let mut other = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut other, &mut office, std::slice::from_ref(&space)).unwrap();
        assert!(
            other
                .incident_data(&space, Some(&inc.id))
                .unwrap()
                .claims
                .is_empty()
        );
    }

    /// An aftershock after a mistaken end, the same day: starting again
    /// opens the incident (the next round), and checks can be recorded.
    /// Two devices that reopen it offline converge on one round; an end
    /// made unaware of a reopening does not close it again.
    #[test]
    fn an_ended_incident_started_again_the_same_day_is_open_again() {
        let (mut office, space) = office();
        let t = Timestamp::now();
        let (inc, how) = office
            .open_incident_for(&space, IncidentKind::Earthquake, "地震", t)
            .unwrap();
        assert_eq!(how, Started::New);
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        assert_eq!(
            phone
                .open_incident_for(&space, IncidentKind::Earthquake, "", t)
                .unwrap()
                .1,
            Started::Joined
        );
        // A third device that will hear of nothing until the end.
        let mut late = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut late, &mut office, std::slice::from_ref(&space)).unwrap();
        office.end_incident(&space, &inc.id, t).unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        assert!(phone.open_incident(&space).unwrap().is_none());
        // Both reopen, offline.
        let (again, how) = office
            .open_incident_for(&space, IncidentKind::Earthquake, "余震", t.plus_minutes(30))
            .unwrap();
        assert_eq!(
            (how, again.round, again.id.clone()),
            (Started::Reopened, 1, inc.id.clone())
        );
        assert!(again.is_open());
        assert_eq!(again.name, "余震");
        let (p, how) = phone
            .open_incident_for(&space, IncidentKind::Earthquake, "", t.plus_minutes(31))
            .unwrap();
        assert_eq!((how, p.round), (Started::Reopened, 1));
        office
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Injured),
            )
            .unwrap();
        // The third device, which saw neither the end nor the reopening,
        // ends the incident as it knows it (round 0).
        sync_local(&mut phone, &mut office, &[]).unwrap();
        late.end_incident(&space, &inc.id, t.plus_minutes(40))
            .unwrap();
        sync_local(&mut late, &mut office, &[]).unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        for n in [&office, &phone, &late] {
            let i = n.open_incident(&space).unwrap().expect("open everywhere");
            assert_eq!((i.round, i.name.as_str()), (1, "余震"));
        }
        // Ending it now ends round 1 everywhere.
        phone
            .end_incident(&space, &inc.id, t.plus_minutes(50))
            .unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        assert!(office.open_incident(&space).unwrap().is_none());
    }

    /// One document that cannot be read (damaged bytes) fails alone: the
    /// device opens, lists and syncs everything else, and says which.
    #[test]
    fn an_unreadable_document_fails_alone_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let (office, area, inc) = {
            let (mut n, office, area) = office_with_area();
            let mut n2 = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
            sync_local(&mut n2, &mut n, &[office.clone(), area.clone()]).unwrap();
            let inc = n2
                .start_incident(&area, IncidentKind::Flood, "", Timestamp::now())
                .unwrap();
            n2.flush_all().unwrap();
            (office, area, inc)
        };
        let key = DocKey::incident(&area, &inc.id);
        let mut store = SqliteStore::open(&path).unwrap();
        let mut w = DocWrite::new(key.clone(), vec![]);
        w.changes = vec![b"\x85\x6f\x4a\x83 not a change".to_vec()];
        store
            .write(Batch {
                docs: vec![w],
                ..Default::default()
            })
            .unwrap();
        drop(store);

        let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        assert_eq!(n.recipients(&office).unwrap().len(), 2);
        let mut peer = Node::open(MemoryStore::new()).unwrap();
        let x = sync_local(&mut peer, &mut n, &[office.clone(), area.clone()]).unwrap();
        assert_eq!(
            peer.recipients(&office).unwrap().len(),
            2,
            "the office synced"
        );
        assert_eq!(x.responder.docs_failed, 1, "{x:?}");
        n.maintain().unwrap();
        assert!(
            n.unreadable().iter().any(|(k, _)| k == &key),
            "{:?}",
            n.unreadable()
        );
    }

    #[test]
    fn an_index_of_another_layout_is_rebuilt_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let space = {
            let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
            let space = n.create_space("ひまわり").unwrap().id;
            n.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
            space
        };
        let mut s = SqliteStore::open(&path).unwrap();
        s.write(Batch {
            meta: vec![(INDEX_VERSION_KEY.into(), b"0".to_vec())],
            ..Default::default()
        })
        .unwrap();
        s.drop_index_for_test().unwrap();
        let n = Node::open(s).unwrap();
        assert_eq!(n.store().index_version().unwrap(), Some(INDEX_VERSION));
        assert_eq!(n.recipients(&space).unwrap().len(), 1);
        assert_eq!(n.spaces().unwrap()[0].name, "ひまわり");
    }

    #[test]
    fn journaled_checks_survive_a_crash_and_sync_cleanly_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let mut office = Node::open(MemoryStore::new()).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        office
            .upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
            .unwrap();
        let inc = office
            .start_incident(&space, IncidentKind::Flood, "", Timestamp::from_millis(0))
            .unwrap();
        let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        let mut ids = Vec::new();
        for r in ["R1", "R2", "R1"] {
            let c = phone
                .record_check(
                    &space,
                    &inc.id,
                    NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe),
                )
                .unwrap();
            ids.push(c.id);
        }
        assert_eq!(
            phone
                .store()
                .docs()
                .unwrap()
                .iter()
                .map(|d| d.journal_entries)
                .sum::<u64>(),
            3
        );
        // A crash: no flush, no destructor.
        std::mem::forget(phone);

        let mut phone = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let mut have: Vec<CheckId> = phone
            .checks(&space, &inc.id)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        have.sort();
        ids.sort();
        assert_eq!(have, ids, "the index had them");
        sync_local(&mut phone, &mut office, &[]).unwrap();
        let mut at_office: Vec<CheckId> = office
            .checks(&space, &inc.id)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        at_office.sort();
        assert_eq!(at_office, ids, "replayed from the journal and synced");
        // And the device goes on recording and syncing with the same actor.
        phone
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Safe),
            )
            .unwrap();
        sync_local(&mut office, &mut phone, &[]).unwrap();
        assert_eq!(office.heads().unwrap(), phone.heads().unwrap());
        assert_eq!(office.checks(&space, &inc.id).unwrap().len(), 4);
    }

    #[test]
    fn the_device_id_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let first = Node::open(SqliteStore::open(&path).unwrap())
            .unwrap()
            .device()
            .clone();
        let again = Node::open(SqliteStore::open(&path).unwrap())
            .unwrap()
            .device()
            .clone();
        assert_eq!(first, again);
    }

    #[test]
    fn only_consented_recipients_reach_an_area_space_outside_an_exception() {
        let (mut n, office, area) = office_with_area();
        let mut r2 = recipient("R2");
        r2.name = "同意なし 太郎".into();
        r2.consent = Some(false);
        n.upsert_recipients(&office, vec![r2]).unwrap();

        let report = n.share_to_area(&office, &area).unwrap();
        assert_eq!((report.with_consent, report.withheld), (1, 1));
        let shared: Vec<String> = n
            .recipients(&area)
            .unwrap()
            .into_iter()
            .map(|r| r.recipient.name)
            .collect();
        assert_eq!(shared, ["利用者R1"]);
        // Not a byte of the withheld recipient in the area's documents.
        for key in n
            .documents()
            .unwrap()
            .into_iter()
            .filter(|k| k.space == area)
        {
            let bytes = n.saved_document(&key).unwrap();
            let name = "同意なし 太郎".as_bytes();
            assert!(!bytes.windows(name.len()).any(|w| w == name));
        }
        // A declared exception lets the others through, visibly.
        n.declare_exception(&office, &area, 72, "震度6強、安否不明者多数")
            .unwrap();
        let report = n.share_to_area(&office, &area).unwrap();
        assert_eq!(report.under_exception, 1);
        assert_eq!(n.recipients(&area).unwrap().len(), 2);
        assert_eq!(n.exceptions(&area).unwrap().len(), 1);
        let trail = n.audit_trail().unwrap();
        assert!(
            trail
                .iter()
                .any(|e| e.record.action == audit::Action::Shared
                    && e.record.detail.contains("1 withheld"))
        );
        assert!(
            trail
                .iter()
                .any(|e| e.record.subject.starts_with("disaster exception"))
        );
    }

    #[test]
    fn a_withdrawn_consent_takes_the_record_out_of_the_area_at_the_next_share() {
        let (mut n, office, area) = office_with_area();
        let before = n.share_to_area(&office, &area).unwrap();
        assert_eq!(n.recipients(&area).unwrap().len(), 1);

        n.record_consent(&office, &RecipientId("R1".into()), None)
            .unwrap();
        let report = n.share_to_area(&office, &area).unwrap();
        assert_eq!((report.withheld, report.removed), (before.withheld + 1, 1));
        assert!(n.recipients(&area).unwrap().is_empty());
        // Also after reopening (the index and the document agree).
        let key = DocKey::roster(&area);
        let doc = AutoCommit::load(&n.saved_document(&key).unwrap()).unwrap();
        assert!(doc::recipient_ids(&doc).unwrap().is_empty());
        assert!(
            n.audit_trail()
                .unwrap()
                .iter()
                .any(|e| e.record.detail.contains("1 removed (consent withdrawn)"))
        );
    }

    #[test]
    fn checks_partners_made_in_the_area_come_into_the_office_list_once() {
        let (mut n, office, area) = office_with_area();
        n.share_to_area(&office, &area).unwrap();
        let at = Timestamp::now();
        let own = n
            .start_incident(&office, IncidentKind::Earthquake, "地震", at)
            .unwrap();
        let shared = n
            .start_incident(&area, IncidentKind::Earthquake, "地震", at)
            .unwrap();
        // A partner's visit to the shared record (its staff and organisation).
        let copy = sharing::shared_id(&office, &RecipientId("R1".into()));
        let mut visit = NewCheck::new(copy, CheckMethod::Visit, CheckResult::Safe);
        visit.staff = Some(Staff {
            name: "見守り 一郎".into(),
            organisation: "あおば訪問看護".into(),
        });
        let partner = n.record_check(&area, &shared.id, visit).unwrap();

        let report = n.collect_area_checks(&office, &area).unwrap();
        assert_eq!((report.collected, report.already), (1, 0));
        let checks = n.checks(&office, &own.id).unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].id, partner.id);
        assert_eq!(checks[0].recipient.as_str(), "R1");
        assert_eq!(checks[0].staff.organisation, "あおば訪問看護");
        let again = n.collect_area_checks(&office, &area).unwrap();
        assert_eq!((again.collected, again.already), (0, 1));
        assert_eq!(n.checks(&office, &own.id).unwrap().len(), 1);
    }

    #[test]
    fn an_incident_started_either_side_of_midnight_merges_into_one() {
        let (mut n, space) = office();
        let before = Timestamp::from_millis(1_763_736_600_000); // 2025-11-21 23:50 JST
        let after = before.plus_minutes(20); // 00:10 the next day
        let late = n
            .start_incident(&space, IncidentKind::Earthquake, "地震", before)
            .unwrap();
        let early = n
            .start_incident(&space, IncidentKind::Earthquake, "地震", after)
            .unwrap();
        assert_ne!(late.id, early.id);
        let a = n
            .record_check(
                &space,
                &late.id,
                NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
            )
            .unwrap();
        n.record_check(
            &space,
            &early.id,
            NewCheck::new("R2".into(), CheckMethod::Phone, CheckResult::Absent),
        )
        .unwrap();

        let report = n.merge_incidents(&space, &late.id, &early.id).unwrap();
        assert_eq!((report.collected, report.already), (1, 0));
        let merged = n.checks(&space, &early.id).unwrap();
        assert_eq!(merged.len(), 2);
        assert!(
            merged
                .iter()
                .any(|c| c.id == a.id && c.incident == early.id)
        );
        assert!(!n.incident(&space, &late.id).unwrap().is_open());
        assert_eq!(n.open_incident(&space).unwrap().unwrap().id, early.id);
        let again = n.merge_incidents(&space, &late.id, &early.id).unwrap();
        assert_eq!((again.collected, again.already), (0, 1));
        assert!(n.merge_incidents(&space, &early.id, &late.id).is_err());
    }

    /// Two nodes on one file, as two processes are: each records while the
    /// other holds the incident in memory. Before the write lock, each
    /// flushed "its" next change of the device and the document never
    /// loaded again ("duplicate seq").
    #[test]
    fn two_nodes_on_one_file_write_in_turn_and_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let mut a = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let space = a.create_space("ひまわり").unwrap().id;
        a.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
            .unwrap();
        let inc = a
            .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
            .unwrap();
        let mut b = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let mut ids = Vec::new();
        for round in 0..5 {
            for (n, r) in [(&mut a, "R1"), (&mut b, "R2")] {
                let c = n
                    .record_check(
                        &space,
                        &inc.id,
                        NewCheck::new(r.into(), CheckMethod::Visit, CheckResult::Safe),
                    )
                    .unwrap();
                ids.push(c.id);
                if round % 2 == 1 {
                    n.flush_all().unwrap();
                }
            }
        }
        drop(a);
        drop(b);
        let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let key = DocKey::incident(&space, &inc.id);
        let mut in_doc: Vec<CheckId> = doc::checks(n.doc(&key).unwrap())
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        in_doc.sort();
        ids.sort();
        assert_eq!(in_doc, ids);
        let mut other = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut other, &mut n, std::slice::from_ref(&space)).unwrap();
        assert_eq!(other.checks(&space, &inc.id).unwrap().len(), 10);
    }

    /// A folder as two processes of earlier versions left it: the incident
    /// stored with two different changes under one (actor, sequence
    /// number). The next open repairs it, losing no check, and it syncs.
    #[test]
    fn a_folder_with_clashing_changes_is_repaired_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let (space, inc, key, device) = {
            let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
            let space = n.create_space("ひまわり").unwrap().id;
            n.upsert_recipients(&space, vec![recipient("R1"), recipient("R2")])
                .unwrap();
            let inc = n
                .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
                .unwrap();
            n.flush_all().unwrap();
            let key = DocKey::incident(&space, &inc.id);
            (space, inc, key, n.device().clone())
        };
        // Two processes, each with the document as stored, each recording
        // one check and writing it as the device's next change.
        let mut store = SqliteStore::open(&path).unwrap();
        let bytes = store.load(&key).unwrap().unwrap().bytes();
        let actor = doc::actor_for(&device);
        let mut checks = Vec::new();
        for r in ["R1", "R2"] {
            let mut d = doc::load(&bytes, &actor).unwrap();
            let before = d.get_heads();
            let mut c = Check::sample(r, device.as_str());
            c.incident = inc.id.clone();
            doc::put_check(&mut d, &c).unwrap();
            let change = d.get_changes(&before)[0].raw_bytes().to_vec();
            let mut w = DocWrite::new(key.clone(), d.get_heads());
            w.changes = vec![change];
            w.index = vec![IndexOp::Check(c.clone())];
            store
                .write(Batch {
                    docs: vec![w],
                    ..Default::default()
                })
                .unwrap();
            checks.push(c);
        }
        drop(store);
        assert!(
            AutoCommit::load(
                &SqliteStore::open(&path)
                    .unwrap()
                    .load(&key)
                    .unwrap()
                    .unwrap()
                    .bytes()
            )
            .is_err(),
            "the folder is broken as reported"
        );

        let mut n = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let c3 = n
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
            )
            .unwrap();
        let mut other = Node::open(MemoryStore::new()).unwrap();
        sync_local(&mut other, &mut n, std::slice::from_ref(&space)).unwrap();
        let mut got: Vec<CheckId> = other
            .checks(&space, &inc.id)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        got.sort();
        let mut want: Vec<CheckId> = checks.iter().map(|c| c.id).chain([c3.id]).collect();
        want.sort();
        assert_eq!(got, want, "every check of both processes, and the new one");
        assert!(n.store().quarantined().unwrap().is_empty());
        assert!(
            n.audit_trail()
                .unwrap()
                .iter()
                .any(|e| e.record.detail.contains("repaired on open"))
        );
        drop(n);
        // It stays repaired: the stored form loads as it is.
        let store = SqliteStore::open(&path).unwrap();
        AutoCommit::load(&store.load(&key).unwrap().unwrap().bytes()).unwrap();
    }

    #[test]
    fn only_documents_changed_by_another_process_are_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let mut a = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        let space = a.create_space("ひまわり").unwrap().id;
        a.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
        let incident = a
            .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
            .unwrap();
        a.record_check(
            &space,
            &incident.id,
            NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
        let cached = a.docs.len();
        // Nothing changed underneath: everything stays cached.
        a.reload_changed().unwrap();
        assert_eq!(a.docs.len(), cached);
        // Another process (another node on the same file) adds a recipient.
        let mut b = Node::open(SqliteStore::open(&path).unwrap()).unwrap();
        b.upsert_recipients(&space, vec![recipient("R2")]).unwrap();
        drop(b);
        a.reload_changed().unwrap();
        assert_eq!(a.docs.len(), cached - 1, "only the roster is dropped");
        let roster = doc::recipient_ids(a.doc(&DocKey::roster(&space)).unwrap()).unwrap();
        assert_eq!(roster.len(), 2);
    }
}
