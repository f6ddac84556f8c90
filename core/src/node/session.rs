//! Sync sessions on the node's side: what to offer, taking a peer's
//! message, and sessions between two nodes in one process.

use super::whole::Prepared;
use super::*;

/// What this build is, as a device tells its peers at every session.
pub fn this_build() -> sync::About {
    sync::About {
        software: env!("CARGO_PKG_VERSION").to_string(),
        format: doc::FORMAT_VERSION,
    }
}

impl Node {
    pub(super) fn doc_keys(&self, spaces: &BTreeSet<SpaceId>) -> Result<Vec<DocKey>> {
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
    pub(super) fn base_guess(&self, key: &DocKey, pd: &PeerDoc) -> Result<Vec<ChangeHash>> {
        if !pd.shared.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.peer_doc(&DeviceId(ANY_PEER.into()), key)?.shared)
    }

    pub(super) fn peer_doc(&self, peer: &DeviceId, key: &DocKey) -> Result<PeerDoc> {
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
    ) -> Result<(Session, Message)> {
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
    ) -> Result<(Session, Message)> {
        let mut session = Session::new(Some(peer.clone()), true);
        session.network = true;
        session.accept_new = accept_new;
        self.open_session(session, spaces)
    }

    pub(super) fn open_session(
        &mut self,
        mut session: Session,
        spaces: BTreeSet<SpaceId>,
    ) -> Result<(Session, Message)> {
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
            if let Some(heads) = self.unloaded_heads(&key)?
                && let Some(entry) =
                    sync::opening_without_doc(&heads, &key.to_string(), &pd, &guess)
            {
                docs.push(entry);
                session.peers.insert(key, pd);
                continue;
            }
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
        for d in &mut docs {
            if let Ok(key) = d.doc.parse::<DocKey>() {
                self.seal_outgoing(&key, d)?;
            }
        }
        let mut msg = Message {
            version: sync::PROTOCOL_VERSION,
            kind: Kind::Hello {
                device: self.device.clone(),
                spaces: spaces.into_iter().collect(),
            },
            docs,
            about: Some(this_build()),
            // With the peer known (always, over the network: its key is
            // proved before the hello), where the audit trails stand and
            // this device's clock, so that the peer measures it too.
            anchor: match session.peer.clone() {
                Some(p) => Some(self.anchor_for(&p)?),
                None => None,
            },
            clock: None,
        };
        msg.clock = msg.anchor.is_some().then(|| self.now().millis());
        if let Some(record) = self.provision(&session, &msg.docs)? {
            // Durable before the message leaves: a session that breaks off
            // after sending still shows what went to whom.
            self.store.write(Batch {
                audit: vec![record],
                ..Default::default()
            })?;
            session.provision_noted = true;
        }
        if let Some(peer) = &session.peer {
            msg.anchor = Some(self.anchor_for(peer)?);
        }
        session.stats.messages_sent += 1;
        session.stats.bytes_sent += sync::encoded_len(&msg);
        Ok((session, msg))
    }

    /// The audit record of data leaving in `docs` for the session's peer,
    /// unless none does or the session's provision is recorded already.
    fn provision(&mut self, session: &Session, docs: &[DocEntry]) -> Result<Option<audit::Record>> {
        let (Some(peer), false) = (&session.peer, session.provision_noted) else {
            return Ok(None);
        };
        let carrying: Vec<&DocEntry> = docs
            .iter()
            .filter(|d| !matches!(d.data, sync::Data::None))
            .collect();
        if carrying.is_empty() {
            return Ok(None);
        }
        let bytes: usize = carrying.iter().map(|d| sync::encoded_entry_len(d)).sum();
        let names: Vec<&str> = carrying.iter().map(|d| d.doc.as_str()).collect();
        let subject = self.device_named(peer);
        Ok(Some(self.audit_record(
            audit::Action::Shared,
            subject,
            format!("sync: sending {} ({bytes} bytes)", names.join(", ")),
        )))
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
    /// The transport decodes and encodes (see `net`); the counters count
    /// each message at its encoded size.
    pub fn sync_receive(&mut self, session: &mut Session, msg: Message) -> Result<Option<Message>> {
        session.stats.messages_received += 1;
        session.stats.bytes_received += sync::encoded_len(&msg);
        // Received changes are written as changes; journaled local ones must
        // be too, first, so that the stored changes stay in causal order.
        // All under the write lock, on the latest documents.
        let result = self.locked(|n| {
            n.flush_all()?;
            n.sync_receive_inner(session, msg)
        });
        if result.is_err() {
            // The documents in memory were dropped with the failed write:
            // start the next session from what is persisted.
            session.peers.clear();
        }
        let reply = result?;
        if let Some(r) = &reply {
            session.stats.messages_sent += 1;
            session.stats.bytes_sent += sync::encoded_len(r);
        }
        Ok(reply)
    }

    /// [`Node::sync_receive`] for a transport that carries whole encoded
    /// messages (a file, a test): decodes, answers, encodes.
    pub fn sync_receive_bytes(
        &mut self,
        session: &mut Session,
        bytes: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let msg = sync::decode(bytes)?;
        Ok(self.sync_receive(session, msg)?.map(|r| sync::encode(&r)))
    }

    pub(super) fn sync_receive_inner(
        &mut self,
        session: &mut Session,
        msg: Message,
    ) -> Result<Option<Message>> {
        if session.changes_taken > session.max_changes {
            return Err(Error::sync(format!(
                "the peer sent more than {} changes in this session: it ends here, keeping what came",
                session.max_changes
            )));
        }
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
        let about = msg.about.clone();
        let anchor = msg.anchor.clone();
        let clock = msg.clock;
        let mut prepared = self.prepare_new_documents(session, &msg.docs)?;
        let mut writes: Vec<DocWrite> = Vec::new();
        let mut states: Vec<(DeviceId, DocKey, Vec<u8>)> = Vec::new();
        let mut refusals: Vec<(audit::Record, crate::store::Quarantined)> = Vec::new();
        let mut kept_seals: Vec<(String, Vec<u8>)> = Vec::new();
        // Rosters first: a check's seal is judged by statements that may
        // arrive in this very message (a phone enrolled after this device
        // last synced).
        let mut docs = msg.docs;
        docs.sort_by_key(|e| !e.doc.ends_with("/roster"));
        for entry in docs {
            let key: DocKey = entry
                .doc
                .parse()
                .map_err(|_| Error::sync(format!("peer named a bad document {:?}", entry.doc)))?;
            if !self.may_take(session, &key)? {
                continue;
            }
            if !session.want.contains(&key.space) {
                // Shared already, or joining through the office: it
                // becomes shared.
                session.shared_spaces.insert(key.space.clone());
            }
            offered.insert(key.clone());
            // A document that cannot be taken (a change that does not fit, a
            // document this device cannot read) fails alone: its state in
            // memory is dropped, nothing of it is written, the peer keeps it
            // and offers it again, and the rest of the message is applied.
            let ready = prepared.remove(&entry.doc);
            let staged = ready.as_ref().is_some_and(|p| p.staged);
            match self.receive_entry(session, &peer, &key, entry, ready) {
                Ok(taken) => {
                    session.stats.changes_refused += taken.refused.len();
                    session.changes_taken += taken.changes_carried;
                    refusals.extend(self.refusals(&key, &peer, taken.refused)?);
                    writes.extend(taken.write);
                    kept_seals.extend(taken.meta);
                    if let Some((_, key, state)) = &taken.state {
                        // What this device last shared with anyone: the
                        // base it guesses for a peer met for the first time.
                        states.push((DeviceId(ANY_PEER.into()), key.clone(), state.clone()));
                    }
                    states.extend(taken.state);
                    replies.extend(taken.replies);
                }
                Err(e) => {
                    if staged {
                        self.unstage(&key)?;
                    }
                    self.docs.remove(&key);
                    session.peers.remove(&key);
                    session.fail(key, e);
                }
            }
        }
        for (name, p) in prepared {
            if let (true, Ok(key)) = (p.staged, name.parse::<DocKey>()) {
                self.unstage(&key)?;
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
                let (heads, saved) = match self.saved_whole(&key) {
                    Ok(whole) => whole,
                    Err(e) => {
                        self.unreadable.insert(key.clone(), e.to_string());
                        session.fail(key, e);
                        continue;
                    }
                };
                replies.push(DocEntry {
                    doc: key.to_string(),
                    heads: sync::heads_to_wire(&heads),
                    need: false,
                    data: sync::Data::Snapshot(saved),
                    seals: Vec::new(),
                });
            }
            for key in &offered {
                let name = key.to_string();
                if !replies.iter().any(|r| r.doc == name) && self.has_doc(key)? {
                    let heads = match self.unloaded_heads(key)? {
                        Some(heads) => heads,
                        None => match self.doc(key) {
                            Ok(doc) => doc.get_heads(),
                            Err(_) => continue,
                        },
                    };
                    replies.push(DocEntry {
                        doc: name,
                        heads: sync::heads_to_wire(&heads),
                        need: false,
                        data: sync::Data::None,
                        seals: Vec::new(),
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
        let mut exchanged = self.exchange_noted(&peer)?;
        exchanged.extend(kept_seals);
        if let Some(about) = &about {
            exchanged.extend(self.version_noted(&peer, about)?);
        }
        if let Some(clock) = clock {
            exchanged.extend(self.clock_noted(&peer, clock)?);
        }
        let (mut audit, quarantine): (Vec<audit::Record>, Vec<_>) = refusals.into_iter().unzip();
        if let Some(anchor) = anchor {
            let (meta, warnings) = self.anchor_noted(&peer, anchor)?;
            exchanged.extend(meta);
            audit.extend(warnings);
        }
        for r in &mut replies {
            if let Ok(key) = r.doc.parse::<DocKey>() {
                self.seal_outgoing(&key, r)?;
            }
        }
        let sealed = replies.iter().any(|r| !r.seals.is_empty());
        let provision = self.provision(session, &replies)?;
        let providing = provision.is_some();
        audit.extend(provision);
        self.write(Batch {
            docs: writes,
            peer_states: states,
            meta: exchanged,
            audit,
            quarantine,
        })?;
        session.provision_noted |= providing;
        for (key, heads) in written {
            if let Some(l) = self.docs.get_mut(&key) {
                l.persisted = heads;
            }
        }
        if replies.is_empty() && !is_hello {
            return Ok(None);
        }
        replies.sort_by_key(|r| r.doc.parse::<DocKey>().map(|k| k.kind).ok());
        Ok(Some(Message {
            version: sync::PROTOCOL_VERSION,
            kind: Kind::Reply {
                device: self.device.clone(),
            },
            docs: replies,
            // Each side says what it runs once: in the hello and its answer
            // — and again with seals, which a whole message carries after
            // them (`sync::encode`).
            about: (is_hello || sealed).then(this_build),
            anchor: if is_hello || sealed {
                Some(self.anchor_for(&peer)?)
            } else {
                None
            },
            clock: (is_hello || sealed).then(|| self.now().millis()),
        }))
    }

    /// The audit entry and the quarantined bytes of each change of `peer`
    /// refused for `key` (see `doc::vet`), for those not kept aside yet: a
    /// peer offers them again in every session. An admin sees them in the
    /// audit trail; the bytes stay for whoever looks into it.
    fn refusals(
        &self,
        key: &DocKey,
        peer: &DeviceId,
        refused: Vec<(automerge::Change, String)>,
    ) -> Result<Vec<(audit::Record, crate::store::Quarantined)>> {
        if refused.is_empty() {
            return Ok(Vec::new());
        }
        let kept: BTreeSet<String> = self
            .store
            .quarantined()?
            .into_iter()
            .map(|q| q.reason)
            .collect();
        let mut out = Vec::new();
        for (change, why) in refused {
            let reason = format!("change {} from {}: {why}", change.hash(), peer.readable());
            if kept.contains(&reason) {
                continue;
            }
            out.push((
                self.audit_record(audit::Action::Refused, key.to_string(), reason.clone()),
                crate::store::Quarantined {
                    doc: key.clone(),
                    reason,
                    bytes: change.raw_bytes().to_vec(),
                },
            ));
        }
        Ok(out)
    }

    /// Whether a document of a peer's message is taken in this session:
    /// its space is shared or asked for, or — joining through the office —
    /// this device holds no roster of it yet.
    pub(super) fn may_take(&self, session: &Session, key: &DocKey) -> Result<bool> {
        Ok(session.shared_spaces.contains(&key.space)
            || session.want.contains(&key.space)
            || (session.accept_new && !self.has_doc(&DocKey::roster(&key.space))?))
    }

    /// Take one document of a peer's message: apply it to the document in
    /// memory and return what to write and answer (nothing is written
    /// here). An error leaves the document in memory unusable: the caller
    /// drops it. `ready`: the entry's snapshot loaded and indexed already.
    pub(super) fn receive_entry(
        &mut self,
        session: &mut Session,
        peer: &DeviceId,
        key: &DocKey,
        mut entry: DocEntry,
        ready: Option<Prepared>,
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
            // The genesis alone, whatever the peer's format: its saved
            // form then covers it and is taken as it is.
            let fresh = doc::genesis(&key.kind).with_actor(self.actor.clone());
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
        if existed
            && pd.automerge.is_none()
            && let Some(ours) = self.unloaded_heads(key)?
        {
            // Settled from the store: the peer has exactly what we
            // have, or asks for all of it.
            if sync::receive_without_doc(&mut pd, &entry, &ours) {
                taken.state = Some((peer.clone(), key.clone(), pd.encode()));
                session.peers.insert(key.clone(), pd);
                return Ok(taken);
            }
            if sync::asks_for_whole(&entry) {
                let (heads, saved) = self.saved_whole(key)?;
                taken
                    .replies
                    .push(sync::whole(&mut pd, &entry.doc, &heads, saved));
                taken.state = Some((peer.clone(), key.clone(), pd.encode()));
                session.peers.insert(key.clone(), pd);
                return Ok(taken);
            }
        }
        let guess = self.base_guess(key, &pd)?;
        let judge = self.judge(&key.space, peer)?;
        let name = entry.doc.clone();
        let seals = std::mem::take(&mut entry.seals);
        let l = self.loaded(key)?;
        let doc = &mut l.doc;
        let before = if existed { doc.get_heads() } else { Vec::new() };
        let (loaded, index, fits) = match ready {
            Some(p) if !existed => (Some(p.doc), Some(p.index), Some(p.fits)),
            _ => (None, None, None),
        };
        let vet = Shape {
            kind: &key.kind,
            fits,
            name: &name,
            space: &key.space,
            seals: &seals,
            judge: &judge,
        };
        let received = sync::receive_loaded(doc, &l.recent, &mut pd, entry, &guess, loaded, &vet)?;
        taken.refused = received.refused;
        taken.changes_carried = received.changes_carried;
        let after = doc.get_heads();
        if after != before {
            // The index made beside the load holds only if the document
            // became exactly the snapshot.
            let index = index.filter(|_| received.whole.is_some());
            let write = self.merged_write(
                key,
                &before,
                existed,
                received.applied,
                received.whole,
                index,
            );
            taken.write = Some(match (write, taken.refused.first()) {
                (Ok(w), _) => w,
                // What the refused changes held is missing: say why, not
                // only that the rest cannot be read.
                (Err(e), Some((_, why))) => {
                    return Err(Error::sync(format!(
                        "{} of its changes refused ({why}), and without them it cannot be read: {e}",
                        taken.refused.len()
                    )));
                }
                (Err(e), None) => return Err(e),
            });
            session.stats.docs_changed += 1;
        }
        taken.meta.extend(self.seals_noted(key, &seals)?);
        taken.state = Some((peer.clone(), key.clone(), pd.encode()));
        session.peers.insert(key.clone(), pd);
        taken.replies.extend(received.reply);
        Ok(taken)
    }

    /// The write for a document that changed by merging: the new changes,
    /// and the index rows of what they touched.
    pub(super) fn merged_write(
        &mut self,
        key: &DocKey,
        before: &[ChangeHash],
        existed: bool,
        applied: Option<Vec<Change>>,
        whole: Option<Vec<u8>>,
        index: Option<Vec<IndexOp>>,
    ) -> Result<DocWrite> {
        let l = self.loaded(key)?;
        let doc = &mut l.doc;
        let heads = doc.get_heads();
        let mut w = DocWrite::new(key.clone(), heads.clone());
        if !existed {
            w.snapshot = Some(whole.unwrap_or_else(|| doc.save()));
            w.index = match index {
                Some(index) => index,
                // Rows staged as its saved form read may not be what it
                // became (some of its changes refused): none of them kept.
                None => std::iter::once(IndexOp::ClearRows)
                    .chain(full_index(doc, key)?)
                    .collect(),
            };
            return Ok(w);
        }
        let changes = applied.unwrap_or_else(|| doc.get_changes(before));
        w.changes = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        compact_if_large(&mut w, doc);
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
pub(super) struct Taken {
    write: Option<DocWrite>,
    refused: Vec<(automerge::Change, String)>,
    /// Changes the entry carried one by one.
    changes_carried: usize,
    state: Option<(DeviceId, DocKey, Vec<u8>)>,
    replies: Vec<DocEntry>,
    /// Settings to write with it (the seals kept).
    meta: Vec<(String, Vec<u8>)>,
}

/// Most changes one peer may send one by one in one session (a whole
/// document's are not counted): past them, its next message is refused and
/// the session ends, keeping what came. A first sync of 50,000 checks as
/// changes is 50,000; each change costs its check and its apply.
pub(super) const MAX_CHANGES_PER_SESSION: usize = 1_000_000;

/// Most messages one local session may take; real sessions take 2 to 4.
pub(super) const MAX_LOCAL_MESSAGES: usize = 64;

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
            to_a = b.sync_receive(&mut sb, m)?;
            if to_a.is_some() {
                round_trips += 1;
            }
        } else if let Some(m) = to_a.take() {
            to_b = a.sync_receive(&mut sa, m)?;
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

/// What a peer's changes to a document of `kind` must pass, for `sync`:
/// the structure check (`doc::vet`), and the seals (`seal`): each change
/// covered by a seal of the device it names or of an admin, unless it is
/// the peer's own.
struct Shape<'a> {
    kind: &'a doc::DocKind,
    /// The whole document's answer when it was found already, beside its
    /// load (`prepare_new_documents`).
    fits: Option<bool>,
    name: &'a str,
    space: &'a SpaceId,
    seals: &'a [crate::seal::Seal],
    judge: &'a seals::Judge,
}

impl Shape<'_> {
    /// Whether this is a roster new to this device: no statements here
    /// judge its seals, so those that arrive with it do (they prove
    /// themselves: signed, rooted in the founding the space id commits to).
    fn new_roster(&self) -> bool {
        matches!(self.kind, doc::DocKind::Roster) && self.judge.knows_nobody()
    }

    fn judge_by(&self, ledger: &membership::Ledger) -> seals::Judge {
        seals::Judge::from_ledger(self.space, ledger, self.judge.peer())
    }
}

impl sync::Vet for Shape<'_> {
    fn changes(&self, d: &AutoCommit, changes: &[automerge::Change]) -> Vec<Option<String>> {
        // A roster new to this device: the statements of those of its
        // changes that fit the structure, applied to what they join, judge
        // who wrote them.
        let own = self.new_roster().then(|| {
            let structure = doc::vet(d, self.kind, changes, &doc::Anyone);
            let mut scratch = d.clone();
            let fitting = changes
                .iter()
                .zip(&structure)
                .filter(|(_, v)| v.is_none())
                .map(|(c, _)| c.clone());
            let ledger = scratch
                .apply_changes(fitting)
                .ok()
                .and_then(|()| doc::ledger(&scratch, self.space).ok())
                .unwrap_or_default();
            self.judge_by(&ledger)
        });
        let judge = own.as_ref().unwrap_or(self.judge);
        let mut verdicts = doc::vet(d, self.kind, changes, judge);
        let sealed = judge.verdicts(self.name, &judge.links(changes), self.seals);
        for (v, s) in verdicts.iter_mut().zip(sealed) {
            if v.is_none() {
                *v = s;
            }
        }
        verdicts
    }

    fn whole(&self, d: &mut AutoCommit, bytes: &[u8]) -> bool {
        let fits = self
            .fits
            .unwrap_or_else(|| doc::whole_fits(d, self.kind, bytes));
        // A roster new to this device: the statements it holds.
        let own = if self.new_roster() {
            let Ok(ledger) = doc::ledger(d, self.space) else {
                return false;
            };
            Some(self.judge_by(&ledger))
        } else {
            None
        };
        let judge = own.as_ref().unwrap_or(self.judge);
        let links: Vec<crate::seal::Link> = d
            .document()
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| crate::seal::Link {
                hash: m.hash,
                owner: judge.owner(&m.actor),
                deps: m.deps,
            })
            .collect();
        let v = judge.verdicts(self.name, &links, self.seals);
        if !fits || v.iter().any(Option::is_some) {
            return false;
        }
        // What its changes say, change by change — unless an admin sends
        // it, which vouches for its content as its seal does (and is where
        // devices take documents whole, so a new phone's first sync from
        // the office costs nothing more).
        if judge.is_admin(judge.peer()) {
            return true;
        }
        let all = d.get_changes(&[]);
        doc::vet(d, self.kind, &all, judge)
            .iter()
            .all(Option::is_none)
    }
}
