//! A device's node: the documents it holds, its store, and what its people
//! do with them (import, start an incident, record a check, claim, sync).
//!
//! Every user action is one durable [`Batch`]: the automerge change, the new
//! heads and the index rows land together, and the call returns only once
//! they are on disk. If the write fails, the in-memory document is dropped
//! and reloaded from the store, so memory never runs ahead of disk.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::{AutoCommit, ChangeHash};

use crate::doc::{self, DocKey, DocKind, Ending, Opening};
use crate::error::{Error, Result};
use crate::model::{
    Check, CheckId, CheckMethod, CheckResult, Claim, DeviceId, Incident, IncidentId, IncidentKind,
    KnownClaim, PriorityOverride, Recipient, RecipientId, Space, SpaceId, Staff, Timestamp,
};
use crate::store::{
    Batch, DocWrite, INDEX_VERSION, INDEX_VERSION_KEY, IndexOp, IndexedRecipient, Store,
};
use crate::sync::{self, DocEntry, Kind, Message, PeerDoc};

const META_DEVICE: &str = "device_id";
const META_STAFF: &str = "staff";

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
}

/// One sync session with one peer, from this device's side.
#[derive(Debug)]
pub struct Session {
    peer: Option<DeviceId>,
    want: BTreeSet<SpaceId>,
    shared_spaces: BTreeSet<SpaceId>,
    peers: HashMap<DocKey, PeerDoc>,
    /// Counters.
    pub stats: SyncStats,
}

impl Session {
    /// The peer, once its hello arrived (or it answered ours).
    pub fn peer(&self) -> Option<&DeviceId> {
        self.peer.as_ref()
    }
}

/// A device's node.
pub struct Node {
    store: Box<dyn Store>,
    device: DeviceId,
    staff: Staff,
    docs: HashMap<DocKey, AutoCommit>,
}

impl Node {
    /// Open a node on `store`: its device id is created on first open and
    /// kept; a missing or stale index is rebuilt from the documents.
    pub fn open(store: impl Store + 'static) -> Result<Self> {
        let mut store: Box<dyn Store> = Box::new(store);
        let device = match store.meta(META_DEVICE)? {
            Some(bytes) => DeviceId(
                String::from_utf8(bytes).map_err(|_| Error::corrupt("device id is not text"))?,
            ),
            None => {
                let id = DeviceId::random();
                store.write(Batch {
                    meta: vec![(META_DEVICE.into(), id.0.clone().into_bytes())],
                    ..Default::default()
                })?;
                id
            }
        };
        let staff = match store.meta(META_STAFF)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(format!("staff setting: {e}")))?,
            None => Staff::default(),
        };
        let mut node = Node {
            store,
            device,
            staff,
            docs: HashMap::new(),
        };
        node.rebuild_stale_index()?;
        Ok(node)
    }

    /// This device's id.
    pub fn device(&self) -> &DeviceId {
        &self.device
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

    /// The store (read access, for tools and tests).
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn rebuild_stale_index(&mut self) -> Result<()> {
        let all = self.store.index_version()? != Some(INDEX_VERSION);
        for info in self.store.docs()? {
            if all || info.index_is_stale() {
                let key = info.key.clone();
                let heads = self.doc(&key)?.get_heads();
                let mut index = vec![IndexOp::Clear];
                index.extend(full_index(self.doc(&key)?, &key)?);
                let mut w = DocWrite::new(key, heads);
                w.index = index;
                self.store.write(Batch {
                    docs: vec![w],
                    ..Default::default()
                })?;
            }
        }
        if all {
            self.store.write(Batch {
                meta: vec![(
                    INDEX_VERSION_KEY.into(),
                    INDEX_VERSION.to_string().into_bytes(),
                )],
                ..Default::default()
            })?;
        }
        Ok(())
    }

    fn doc(&mut self, key: &DocKey) -> Result<&mut AutoCommit> {
        if !self.docs.contains_key(key) {
            let stored = self
                .store
                .load(key)?
                .ok_or_else(|| Error::NotFound(format!("document {key}")))?;
            let loaded = doc::load(&stored.bytes(), &self.device)?;
            self.docs.insert(key.clone(), loaded);
        }
        Ok(self
            .docs
            .get_mut(key)
            .expect("the document was just inserted"))
    }

    fn has_doc(&self, key: &DocKey) -> Result<bool> {
        Ok(self.docs.contains_key(key) || self.store.load(key)?.is_some())
    }

    /// Run `edit` on a document, commit, and persist the change with the
    /// index rows `edit` returns. A new document is created first if `create`.
    fn change<T>(
        &mut self,
        key: &DocKey,
        create: bool,
        edit: impl FnOnce(&mut AutoCommit) -> Result<(T, Vec<IndexOp>)>,
    ) -> Result<T> {
        let mut snapshot = None;
        if create && !self.has_doc(key)? {
            let mut fresh = doc::create(&key.kind, &self.device);
            snapshot = Some(fresh.save());
            self.docs.insert(key.clone(), fresh);
        }
        let result = self.change_loaded(key, snapshot, edit);
        if result.is_err() {
            // Memory may hold what the disk does not: reload next time.
            self.docs.remove(key);
        }
        result
    }

    fn change_loaded<T>(
        &mut self,
        key: &DocKey,
        snapshot: Option<Vec<u8>>,
        edit: impl FnOnce(&mut AutoCommit) -> Result<(T, Vec<IndexOp>)>,
    ) -> Result<T> {
        let doc = self.doc(key)?;
        let before = doc.get_heads();
        let (value, index) = edit(doc)?;
        doc.commit();
        let heads = doc.get_heads();
        if heads == before && snapshot.is_none() {
            return Ok(value);
        }
        let changes = match doc.get_last_local_change() {
            Some(c) if heads != before && c.deps() == before.as_slice() => {
                vec![c.raw_bytes().to_vec()]
            }
            _ => doc
                .get_changes(&before)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
        };
        let mut w = DocWrite::new(key.clone(), heads);
        w.snapshot = snapshot;
        w.changes = changes;
        w.index = index;
        self.store.write(Batch {
            docs: vec![w],
            ..Default::default()
        })?;
        Ok(value)
    }

    // ------------------------------------------------------------ spaces

    /// Create a new space with this device as its first member.
    pub fn create_space(&mut self, name: &str) -> Result<Space> {
        let space = Space {
            id: SpaceId::random(),
            name: name.to_string(),
        };
        let key = DocKey::roster(&space.id);
        let s = space.clone();
        self.change(&key, true, |d| {
            doc::set_space_name(d, name)?;
            Ok(((), vec![IndexOp::Space(s)]))
        })?;
        Ok(space)
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
        let existing: HashMap<RecipientId, IndexedRecipient> = self
            .store
            .recipients(space)?
            .into_iter()
            .map(|r| (r.recipient.id.clone(), r))
            .collect();
        let key = DocKey::roster(space);
        self.ensure_space(space)?;
        self.change(&key, false, |d| {
            let mut counts = ImportCounts::default();
            let mut index = Vec::new();
            for mut r in recipients {
                let old = existing.get(&r.id);
                if r.priority_override.is_none() {
                    r.priority_override = old.and_then(|o| o.recipient.priority_override.clone());
                }
                match old {
                    Some(o) if o.recipient == r => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(_) => counts.updated += 1,
                    None => counts.added += 1,
                }
                doc::put_recipient(d, &r)?;
                let conflicts = doc::recipient_conflicts(d, &r.id)?;
                index.push(IndexOp::recipient(r, conflicts));
            }
            Ok((counts, index))
        })
    }

    /// Set or clear a care manager's manual priority.
    pub fn set_priority_override(
        &mut self,
        space: &SpaceId,
        id: &RecipientId,
        value: Option<PriorityOverride>,
    ) -> Result<()> {
        let mut r = self
            .store
            .recipient(space, id)?
            .ok_or_else(|| Error::NotFound(format!("recipient {id}")))?
            .recipient;
        r.priority_override = value;
        let key = DocKey::roster(space);
        self.change(&key, false, |d| {
            doc::put_recipient(d, &r)?;
            let conflicts = doc::recipient_conflicts(d, &r.id)?;
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
        self.ensure_space(space)?;
        let id = IncidentId::derive(kind, at);
        let key = DocKey::incident(space, &id);
        let opening = Opening {
            kind,
            name: name.to_string(),
            at,
            staff: self.staff.clone(),
        };
        let device = self.device.clone();
        let (space, iid) = (space.clone(), id.clone());
        self.change(&key, true, |d| {
            if !doc::has_opened(d, &device)? {
                doc::open_incident(d, &device, &opening)?;
            }
            let incident = doc::incident(d, &space, &iid)?
                .ok_or_else(|| Error::corrupt("incident without an opening"))?;
            Ok((incident.clone(), vec![IndexOp::Incident(incident)]))
        })
    }

    /// End an incident.
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
        let ending = Ending {
            at,
            staff: self.staff.clone(),
        };
        let device = self.device.clone();
        let (space, iid) = (space.clone(), id.clone());
        self.change(&key, false, |d| {
            doc::end_incident(d, &device, &ending)?;
            let incident = doc::incident(d, &space, &iid)?
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
        let known_claims = self
            .store
            .claims_of(&key, &new.recipient)?
            .into_iter()
            .filter(|c| c.device != self.device)
            .filter(|c| c.is_live(new.at))
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
        self.change(&key, false, |d| {
            doc::put_check(d, &c)?;
            Ok(((), vec![IndexOp::Check(c)]))
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
        if minutes <= 0 {
            return Err(Error::invalid("a claim must last at least one minute"));
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
        self.change(&key, false, |d| {
            doc::put_claim(d, &c)?;
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
        self.change(&key, false, |d| {
            let had = doc::remove_claim(d, &device, recipient)?;
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
        let recipients = self
            .store
            .recipients(space)?
            .into_iter()
            .map(|r| r.recipient)
            .collect();
        let Some(id) = incident else {
            return Ok(IncidentData {
                recipients,
                ..Default::default()
            });
        };
        let key = DocKey::incident(space, id);
        Ok(IncidentData {
            recipients,
            incident: Some(self.incident(space, id)?),
            checks: self.store.checks(&key)?,
            claims: self.store.claims(&key)?,
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
        let mut n = 0;
        for info in self.store.docs()? {
            if info.pending_changes >= COMPACT_AFTER_CHANGES {
                self.compact(&info.key)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Replace a document's stored changes with one snapshot.
    pub fn compact(&mut self, key: &DocKey) -> Result<()> {
        let doc = self.doc(key)?;
        let heads = doc.get_heads();
        let mut w = DocWrite::new(key.clone(), heads);
        w.snapshot = Some(doc.save());
        self.store.write(Batch {
            docs: vec![w],
            ..Default::default()
        })
    }

    /// Heads of every document held, for convergence checks.
    pub fn heads(&self) -> Result<BTreeMap<DocKey, Vec<ChangeHash>>> {
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
            .docs()?
            .into_iter()
            .map(|d| d.key)
            .filter(|k| spaces.contains(&k.space))
            .collect();
        // Incident documents first: safety status before roster edits.
        keys.sort_by(|a, b| (&a.kind, &a.space).cmp(&(&b.kind, &b.space)));
        Ok(keys)
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
        let mut session = Session {
            peer: peer.cloned(),
            want: want.iter().cloned().collect(),
            shared_spaces: spaces.clone(),
            peers: HashMap::new(),
            stats: SyncStats::default(),
        };
        let mut docs = Vec::new();
        for key in self.doc_keys(&spaces)? {
            let pd = match peer {
                Some(p) => self.peer_doc(p, &key)?,
                None => PeerDoc::default(),
            };
            docs.push(sync::opening(self.doc(&key)?, &key.to_string(), &pd));
            session.peers.insert(key, pd);
        }
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
        Session {
            peer: None,
            want: BTreeSet::new(),
            shared_spaces: BTreeSet::new(),
            peers: HashMap::new(),
            stats: SyncStats::default(),
        }
    }

    /// Handle a message from the peer: apply what it carries, persist it
    /// with the new sync states in one write, and return the answer, if any.
    /// An error ends the session; nothing of the failing message is kept.
    pub fn sync_receive(&mut self, session: &mut Session, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        session.stats.messages_received += 1;
        session.stats.bytes_received += bytes.len();
        let result = self.sync_receive_inner(session, bytes);
        if result.is_err() {
            // Forget in-memory state the failed message may have touched and
            // start the next session from what is persisted.
            self.docs.clear();
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
            session.peer = Some(device.clone());
            let mine: BTreeSet<SpaceId> = self.spaces()?.into_iter().map(|s| s.id).collect();
            // A space moves when one side holds it and the other holds or
            // wants it.
            session.shared_spaces = spaces
                .iter()
                .filter(|s| mine.contains(*s))
                .cloned()
                .collect();
        } else if let Kind::Reply { device } = &msg.kind {
            if session.shared_spaces.is_empty() && session.want.is_empty() {
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
        }
        let peer = session.peer.clone().expect("hello or reply named the peer");
        let mut writes: Vec<DocWrite> = Vec::new();
        let mut states: Vec<(DeviceId, DocKey, Vec<u8>)> = Vec::new();
        for entry in msg.docs {
            let key: DocKey = entry
                .doc
                .parse()
                .map_err(|_| Error::sync(format!("peer named a bad document {:?}", entry.doc)))?;
            let allowed =
                session.shared_spaces.contains(&key.space) || session.want.contains(&key.space);
            if !allowed {
                continue;
            }
            offered.insert(key.clone());
            let mut pd = match session.peers.remove(&key) {
                Some(pd) => pd,
                None => self.peer_doc(&peer, &key)?,
            };
            let existed = self.has_doc(&key)?;
            if !existed {
                if matches!(entry.data, sync::Data::None) {
                    // We do not have it: ask for all of it.
                    replies.push(sync::request(&entry.doc));
                    session.peers.insert(key, pd);
                    continue;
                }
                self.docs
                    .insert(key.clone(), doc::create(&key.kind, &self.device));
            }
            let doc = self.doc(&key)?;
            let before = if existed { doc.get_heads() } else { Vec::new() };
            let reply = sync::receive(doc, &mut pd, entry)?;
            let after = doc.get_heads();
            if after != before {
                writes.push(self.merged_write(&key, &before, existed)?);
                session.stats.docs_changed += 1;
            }
            states.push((peer.clone(), key.clone(), pd.encode()));
            session.peers.insert(key, pd);
            replies.extend(reply);
        }
        if is_hello {
            // Offer what the initiator did not mention: whole documents it
            // lacks, and an answer for every document so it learns our heads.
            let spaces = session.shared_spaces.clone();
            for key in self.doc_keys(&spaces)? {
                if offered.contains(&key) {
                    continue;
                }
                let doc = self.doc(&key)?;
                replies.push(DocEntry {
                    doc: key.to_string(),
                    heads: sync::heads_to_wire(&doc.get_heads()),
                    need: false,
                    data: sync::Data::Snapshot(doc.save()),
                });
            }
            for key in &offered {
                let name = key.to_string();
                if !replies.iter().any(|r| r.doc == name) {
                    let heads = self.doc(key)?.get_heads();
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
        self.store.write(Batch {
            docs: writes,
            peer_states: states,
            meta: vec![],
        })?;
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

    /// The write for a document that changed by merging: the new changes,
    /// and the index rows of what they touched.
    fn merged_write(
        &mut self,
        key: &DocKey,
        before: &[ChangeHash],
        existed: bool,
    ) -> Result<DocWrite> {
        let doc = self.doc(key)?;
        let heads = doc.get_heads();
        let mut w = DocWrite::new(key.clone(), heads.clone());
        if !existed {
            w.snapshot = Some(doc.save());
            w.index = full_index(doc, key)?;
            return Ok(w);
        }
        let changes = doc.get_changes(before);
        w.changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        let touched = doc::touched_by(doc, &changes)?;
        w.index = touched_index(doc, key, &touched)?;
        Ok(w)
    }
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
            for r in doc::recipients(d)? {
                let conflicts = doc::recipient_conflicts(d, &r.id)?;
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
            for c in doc::claims(d)? {
                ops.push(IndexOp::Claim(format!("{}/{}", c.device, c.recipient), c));
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
            for c in &t.checks {
                let cid: CheckId = c
                    .parse()
                    .map_err(|_| Error::sync(format!("peer wrote a check with a bad id {c:?}")))?;
                if let Some(check) = doc::check(d, &cid)? {
                    ops.push(IndexOp::Check(check));
                }
            }
            for k in &t.claims {
                match doc::claim(d, k)? {
                    Some(c) => ops.push(IndexOp::Claim(k.clone(), c)),
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalSync {
    /// The initiator's counters.
    pub initiator: SyncStats,
    /// The responder's counters.
    pub responder: SyncStats,
    /// Messages of the initiator that were answered.
    pub round_trips: usize,
}

impl LocalSync {
    /// Bytes both ways.
    pub fn bytes(&self) -> usize {
        self.initiator.bytes_sent + self.responder.bytes_sent
    }
}

/// Sync two nodes this process holds (two data folders, as when merging
/// from a USB stick) until neither has anything left to say. `a` asks for
/// the spaces in `want` that it does not hold yet.
pub fn sync_local(a: &mut Node, b: &mut Node, want: &[SpaceId]) -> Result<LocalSync> {
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
            return Ok(LocalSync {
                initiator: sa.stats,
                responder: sb.stats,
                round_trips,
            });
        }
    }
    Err(Error::sync(format!(
        "session did not settle within {MAX_LOCAL_MESSAGES} messages"
    )))
}
