//! A store in memory, for tests and the deterministic multi-replica harness.
//! It honours the same contract as the SQLite store (atomic batches, index
//! rows) and runs through the same conformance suite.

use std::collections::BTreeMap;

use super::{
    Batch, DocInfo, DocWrite, INDEX_VERSION, INDEX_VERSION_KEY, IndexOp, IndexedRecipient, Store,
    StoredDoc, weights_key,
};
use crate::doc::{DocKey, DocKind};
use crate::error::Result;
use crate::model::{Check, CheckId, Claim, DeviceId, Incident, RecipientId, Space, SpaceId};

#[derive(Clone, Default)]
struct MemDoc {
    snapshot: Option<Vec<u8>>,
    changes: Vec<Vec<u8>>,
    journal: Vec<Vec<u8>>,
    heads: Vec<automerge::ChangeHash>,
    pending: u64,
    version: u64,
    index_current: bool,
    incident: Option<Incident>,
    checks: BTreeMap<String, Check>,
    claims: BTreeMap<String, Claim>,
}

/// What puts one change to the store back.
type Undo = Box<dyn FnOnce(&mut MemoryStore) + Send>;

/// The in-memory store.
pub struct MemoryStore {
    docs: BTreeMap<DocKey, MemDoc>,
    spaces: BTreeMap<SpaceId, Space>,
    recipients: BTreeMap<SpaceId, BTreeMap<String, IndexedRecipient>>,
    peer_states: BTreeMap<(DeviceId, DocKey), Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
    audit: Vec<crate::audit::Entry>,
    quarantine: Vec<super::Quarantined>,
    /// Since [`Store::begin_write`]: what undoes each change, in order, for
    /// a rollback. An undo log rather than a copy of the store: a copy per
    /// write made every write cost the whole store (the simulator's 100
    /// devices spent most of their time copying).
    undo: Option<Vec<Undo>>,
    /// Writes so far (see [`Store::stamp`]).
    writes: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            docs: BTreeMap::new(),
            spaces: BTreeMap::new(),
            recipients: BTreeMap::new(),
            peer_states: BTreeMap::new(),
            meta: BTreeMap::from([(
                INDEX_VERSION_KEY.to_string(),
                INDEX_VERSION.to_string().into_bytes(),
            )]),
            audit: Vec::new(),
            quarantine: Vec::new(),
            undo: None,
            writes: 0,
        }
    }
}

/// Put `value` at `key` of `map` (remove it for `None`), keeping what
/// undoes it: `find` finds the same map again at a rollback (a field of
/// the store, or the rows of a document or space, which may be gone).
fn put<K, V>(
    undo: &mut Option<Vec<Undo>>,
    map: &mut BTreeMap<K, V>,
    key: K,
    value: Option<V>,
    find: impl FnOnce(&mut MemoryStore) -> Option<&mut BTreeMap<K, V>> + Send + 'static,
) where
    K: Ord + Clone + Send + 'static,
    V: Send + 'static,
{
    let old = match value {
        Some(v) => map.insert(key.clone(), v),
        None => map.remove(&key),
    };
    if let Some(log) = undo {
        log.push(Box::new(move |s| {
            if let Some(map) = find(s) {
                match old {
                    Some(v) => map.insert(key, v),
                    None => map.remove(&key),
                };
            }
        }));
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn apply_doc(&mut self, key: DocKey, w: &DocWrite) {
        let existed = self.docs.contains_key(&key);
        let doc = self.docs.entry(key.clone()).or_default();
        // The document's own fields, each moved out where it is replaced
        // and cut back where it is appended to.
        let (version, pending, index_current) = (doc.version, doc.pending, doc.index_current);
        let (journal_len, changes_len) = (doc.journal.len(), doc.changes.len());
        doc.version += 1;
        let old_journal =
            (w.flush_journal || w.snapshot.is_some()).then(|| std::mem::take(&mut doc.journal));
        doc.journal.extend(w.journal.iter().cloned());
        let (mut old_snapshot, mut old_changes) = (None, None);
        if let Some(s) = &w.snapshot {
            old_snapshot = Some(doc.snapshot.replace(s.clone()));
            old_changes = Some(std::mem::take(&mut doc.changes));
            doc.pending = 0;
        }
        doc.changes.extend(w.changes.iter().cloned());
        doc.pending += w.changes.len() as u64;
        let old_heads = (w.snapshot.is_some() || !w.changes.is_empty() || doc.heads.is_empty())
            .then(|| std::mem::replace(&mut doc.heads, w.heads.clone()));
        doc.index_current = true;
        if let Some(log) = &mut self.undo {
            let key = key.clone();
            log.push(Box::new(move |s| {
                if !existed {
                    s.docs.remove(&key);
                    return;
                }
                let Some(d) = s.docs.get_mut(&key) else {
                    return;
                };
                (d.version, d.pending, d.index_current) = (version, pending, index_current);
                match old_journal {
                    Some(j) => d.journal = j,
                    None => d.journal.truncate(journal_len),
                }
                match old_changes {
                    Some(c) => d.changes = c,
                    None => d.changes.truncate(changes_len),
                }
                if let Some(snapshot) = old_snapshot {
                    d.snapshot = snapshot;
                }
                if let Some(heads) = old_heads {
                    d.heads = heads;
                }
            }));
        }
        let undo = &mut self.undo;
        for op in &w.index {
            match op {
                IndexOp::Clear => {
                    for part in crate::doc::Part::of(&key.kind) {
                        put(
                            undo,
                            &mut self.meta,
                            super::part_key(&key, *part),
                            None,
                            |s| Some(&mut s.meta),
                        );
                    }
                    match key.kind {
                        DocKind::Roster => {
                            put(undo, &mut self.spaces, key.space.clone(), None, |s| {
                                Some(&mut s.spaces)
                            });
                            put(undo, &mut self.recipients, key.space.clone(), None, |s| {
                                Some(&mut s.recipients)
                            });
                            for k in [
                                weights_key(&key.space),
                                super::revoked_key(&key.space),
                                super::members_key(&key.space),
                            ] {
                                put(undo, &mut self.meta, k, None, |s| Some(&mut s.meta));
                            }
                        }
                        DocKind::Incident(_) => {
                            clear_rows(undo, &key, doc, true);
                        }
                    }
                }
                IndexOp::Part(part, bytes) => {
                    let k = super::part_key(&key, *part);
                    put(undo, &mut self.meta, k, Some(bytes.clone()), |s| {
                        Some(&mut s.meta)
                    });
                }
                IndexOp::Space(sp) => {
                    put(
                        undo,
                        &mut self.spaces,
                        key.space.clone(),
                        Some(sp.clone()),
                        |s| Some(&mut s.spaces),
                    );
                }
                IndexOp::Weights(wt) => {
                    let bytes = serde_json::to_vec(wt).expect("weights always serialize");
                    put(
                        undo,
                        &mut self.meta,
                        weights_key(&key.space),
                        Some(bytes),
                        |s| Some(&mut s.meta),
                    );
                }
                IndexOp::Revoked(devices) => {
                    let bytes = serde_json::to_vec(devices).expect("device ids always serialize");
                    let k = super::revoked_key(&key.space);
                    put(undo, &mut self.meta, k, Some(bytes), |s| Some(&mut s.meta));
                }
                IndexOp::Members(bytes) => {
                    let k = super::members_key(&key.space);
                    put(undo, &mut self.meta, k, Some(bytes.clone()), |s| {
                        Some(&mut s.meta)
                    });
                }
                IndexOp::Recipient(r) => {
                    if !self.recipients.contains_key(&key.space) {
                        let empty = Some(BTreeMap::new());
                        put(undo, &mut self.recipients, key.space.clone(), empty, |s| {
                            Some(&mut s.recipients)
                        });
                    }
                    let rs = self.recipients.get_mut(&key.space).expect("made above");
                    let space = key.space.clone();
                    put(
                        undo,
                        rs,
                        r.recipient.id.0.clone(),
                        Some((**r).clone()),
                        move |s| s.recipients.get_mut(&space),
                    );
                }
                IndexOp::RemoveRecipient(id) => {
                    if let Some(rs) = self.recipients.get_mut(&key.space) {
                        let space = key.space.clone();
                        put(undo, rs, id.0.clone(), None, move |s| {
                            s.recipients.get_mut(&space)
                        });
                    }
                }
                IndexOp::ClearRows => match key.kind {
                    DocKind::Roster => {
                        put(undo, &mut self.recipients, key.space.clone(), None, |s| {
                            Some(&mut s.recipients)
                        });
                    }
                    DocKind::Incident(_) => clear_rows(undo, &key, doc, false),
                },
                IndexOp::Incident(i) => {
                    let old = doc.incident.replace(i.clone());
                    if let Some(log) = undo {
                        let key = key.clone();
                        log.push(Box::new(move |s| {
                            if let Some(d) = s.docs.get_mut(&key) {
                                d.incident = old;
                            }
                        }));
                    }
                }
                IndexOp::Check(c) => {
                    let k = key.clone();
                    put(
                        undo,
                        &mut doc.checks,
                        c.id.to_string(),
                        Some(c.clone()),
                        move |s| s.docs.get_mut(&k).map(|d| &mut d.checks),
                    );
                }
                IndexOp::Claim(ck, c) => {
                    let k = key.clone();
                    put(
                        undo,
                        &mut doc.claims,
                        ck.clone(),
                        Some(c.clone()),
                        move |s| s.docs.get_mut(&k).map(|d| &mut d.claims),
                    );
                }
                IndexOp::RemoveClaim(ck) => {
                    let k = key.clone();
                    put(undo, &mut doc.claims, ck.clone(), None, move |s| {
                        s.docs.get_mut(&k).map(|d| &mut d.claims)
                    });
                }
                IndexOp::Newer(format) => {
                    let k = super::newer_key(&key);
                    let v = format.map(|f| f.to_string().into_bytes());
                    put(undo, &mut self.meta, k, v, |s| Some(&mut s.meta));
                }
            }
        }
    }
}

/// An incident's check rows cleared (and its claims and incident with
/// `all`), keeping what undoes it.
fn clear_rows(undo: &mut Option<Vec<Undo>>, key: &DocKey, doc: &mut MemDoc, all: bool) {
    let checks = std::mem::take(&mut doc.checks);
    let (claims, incident) = if all {
        (std::mem::take(&mut doc.claims), doc.incident.take())
    } else {
        (BTreeMap::new(), None)
    };
    if let Some(log) = undo {
        let key = key.clone();
        log.push(Box::new(move |s| {
            if let Some(d) = s.docs.get_mut(&key) {
                d.checks = checks;
                if all {
                    d.claims = claims;
                    d.incident = incident;
                }
            }
        }));
    }
}

impl Store for MemoryStore {
    fn write(&mut self, batch: Batch) -> Result<()> {
        // Every document's key is read before anything is applied: past
        // that, applying cannot fail, so a failing write leaves nothing.
        let keys = batch
            .docs
            .iter()
            .map(|w| w.doc_key().cloned())
            .collect::<Result<Vec<DocKey>>>()?;
        for (key, w) in keys.into_iter().zip(&batch.docs) {
            self.apply_doc(key, w);
        }
        let undo = &mut self.undo;
        for (peer, doc, state) in batch.peer_states {
            put(undo, &mut self.peer_states, (peer, doc), Some(state), |s| {
                Some(&mut s.peer_states)
            });
        }
        for (k, v) in batch.meta {
            put(undo, &mut self.meta, k, Some(v), |s| Some(&mut s.meta));
        }
        let (quarantined, audited, writes) = (self.quarantine.len(), self.audit.len(), self.writes);
        self.quarantine.extend(batch.quarantine);
        for r in batch.audit {
            let e = crate::audit::seal(self.audit.last(), r);
            self.audit.push(e);
        }
        self.writes += 1;
        if let Some(log) = &mut self.undo {
            log.push(Box::new(move |s| {
                s.quarantine.truncate(quarantined);
                s.audit.truncate(audited);
                s.writes = writes;
            }));
        }
        Ok(())
    }

    fn begin_write(&mut self) -> Result<()> {
        self.undo = Some(Vec::new());
        Ok(())
    }

    fn end_write(&mut self, commit: bool) -> Result<()> {
        match self.undo.take() {
            Some(log) if !commit => {
                for undo in log.into_iter().rev() {
                    undo(self);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn changed_elsewhere(&mut self) -> Result<bool> {
        // Only this process holds it.
        Ok(false)
    }

    fn stamp(&self) -> Result<(i64, u64)> {
        Ok((0, self.writes))
    }

    fn doc_versions(&self) -> Result<std::collections::HashMap<DocKey, u64>> {
        Ok(self
            .docs
            .iter()
            .map(|(k, d)| (k.clone(), d.version))
            .collect())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(key).cloned())
    }

    fn audit(&self) -> Result<Vec<crate::audit::Entry>> {
        Ok(self.audit.clone())
    }

    fn audit_from(&self, seq: u64, limit: usize) -> Result<Vec<crate::audit::Entry>> {
        Ok(self
            .audit
            .iter()
            .filter(|e| e.seq >= seq)
            .take(limit)
            .cloned()
            .collect())
    }

    fn audit_last(&self) -> Result<Option<crate::audit::Entry>> {
        Ok(self.audit.last().cloned())
    }

    fn quarantined(&self) -> Result<Vec<super::Quarantined>> {
        Ok(self.quarantine.clone())
    }

    fn docs(&self) -> Result<Vec<DocInfo>> {
        Ok(self
            .docs
            .iter()
            .map(|(k, d)| DocInfo {
                key: k.clone(),
                heads: d.heads.clone(),
                pending_changes: d.pending,
                pending_bytes: d.changes.iter().map(|c| c.len() as u64).sum(),
                journal_entries: d.journal.len() as u64,
                index_current: d.index_current,
                version: d.version,
            })
            .collect())
    }

    fn doc_keys(&self) -> Result<Vec<DocKey>> {
        Ok(self.docs.keys().cloned().collect())
    }

    fn newer_documents(&self) -> Result<Vec<(DocKey, u32)>> {
        super::newer_from_meta(self.meta.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    fn load(&self, key: &DocKey) -> Result<Option<StoredDoc>> {
        Ok(self.docs.get(key).map(|d| StoredDoc {
            snapshot: d.snapshot.clone(),
            changes: d.changes.clone(),
            journal: d.journal.clone(),
            version: d.version,
        }))
    }

    fn peer_state(&self, peer: &DeviceId, doc: &DocKey) -> Result<Option<Vec<u8>>> {
        Ok(self.peer_states.get(&(peer.clone(), doc.clone())).cloned())
    }

    fn spaces(&self) -> Result<Vec<Space>> {
        Ok(self.spaces.values().cloned().collect())
    }

    fn recipients(&self, space: &SpaceId) -> Result<Vec<IndexedRecipient>> {
        Ok(self
            .recipients
            .get(space)
            .map(|rs| rs.values().cloned().collect())
            .unwrap_or_default())
    }

    fn recipient(&self, space: &SpaceId, id: &RecipientId) -> Result<Option<IndexedRecipient>> {
        Ok(self
            .recipients
            .get(space)
            .and_then(|rs| rs.get(id.as_str()))
            .cloned())
    }

    fn incidents(&self, space: &SpaceId) -> Result<Vec<Incident>> {
        Ok(self
            .docs
            .iter()
            .filter(|(k, _)| &k.space == space)
            .filter_map(|(_, d)| d.incident.clone())
            .collect())
    }

    fn checks(&self, doc: &DocKey) -> Result<Vec<Check>> {
        Ok(self
            .docs
            .get(doc)
            .map(|d| d.checks.values().cloned().collect())
            .unwrap_or_default())
    }

    fn checks_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Check>> {
        Ok(self
            .checks(doc)?
            .into_iter()
            .filter(|c| &c.recipient == recipient)
            .collect())
    }

    fn check_ids_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<CheckId>> {
        Ok(self
            .checks_of(doc, recipient)?
            .iter()
            .map(|c| c.id)
            .collect())
    }

    fn claims_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Claim>> {
        Ok(self
            .claims(doc)?
            .into_iter()
            .filter(|c| &c.recipient == recipient)
            .collect())
    }

    fn claims(&self, doc: &DocKey) -> Result<Vec<Claim>> {
        Ok(self
            .docs
            .get(doc)
            .map(|d| d.claims.values().cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::store_conformance;

    store_conformance!(memory_conformance, MemoryStore::new());
}
