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

/// The in-memory store.
#[derive(Clone)]
pub struct MemoryStore {
    docs: BTreeMap<DocKey, MemDoc>,
    spaces: BTreeMap<SpaceId, Space>,
    recipients: BTreeMap<SpaceId, BTreeMap<String, IndexedRecipient>>,
    peer_states: BTreeMap<(DeviceId, DocKey), Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
    audit: Vec<crate::audit::Entry>,
    quarantine: Vec<super::Quarantined>,
    /// The store as it was at [`Store::begin_write`], for a rollback.
    before_write: Option<Box<MemoryStore>>,
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
            before_write: None,
            writes: 0,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn apply_doc(&mut self, w: &DocWrite) -> Result<()> {
        let key = w.doc_key()?.clone();
        let doc = self.docs.entry(key.clone()).or_default();
        doc.version += 1;
        if w.flush_journal || w.snapshot.is_some() {
            doc.journal.clear();
        }
        doc.journal.extend(w.journal.iter().cloned());
        if let Some(s) = &w.snapshot {
            doc.snapshot = Some(s.clone());
            doc.changes.clear();
            doc.pending = 0;
        }
        doc.changes.extend(w.changes.iter().cloned());
        doc.pending += w.changes.len() as u64;
        if w.snapshot.is_some() || !w.changes.is_empty() || doc.heads.is_empty() {
            doc.heads = w.heads.clone();
        }
        doc.index_current = true;
        for op in &w.index {
            match op {
                IndexOp::Clear => {
                    for part in crate::doc::Part::of(&key.kind) {
                        self.meta.remove(&super::part_key(&key, *part));
                    }
                    match key.kind {
                        DocKind::Roster => {
                            self.spaces.remove(&key.space);
                            self.recipients.remove(&key.space);
                            self.meta.remove(&weights_key(&key.space));
                            self.meta.remove(&super::revoked_key(&key.space));
                            self.meta.remove(&super::members_key(&key.space));
                        }
                        DocKind::Incident(_) => {
                            doc.incident = None;
                            doc.checks.clear();
                            doc.claims.clear();
                        }
                    }
                }
                IndexOp::Part(part, bytes) => {
                    self.meta
                        .insert(super::part_key(&key, *part), bytes.clone());
                }
                IndexOp::Space(s) => {
                    self.spaces.insert(key.space.clone(), s.clone());
                }
                IndexOp::Weights(w) => {
                    let bytes = serde_json::to_vec(w).expect("weights always serialize");
                    self.meta.insert(weights_key(&key.space), bytes);
                }
                IndexOp::Revoked(devices) => {
                    let bytes = serde_json::to_vec(devices).expect("device ids always serialize");
                    self.meta.insert(super::revoked_key(&key.space), bytes);
                }
                IndexOp::Members(bytes) => {
                    self.meta
                        .insert(super::members_key(&key.space), bytes.clone());
                }
                IndexOp::Recipient(r) => {
                    self.recipients
                        .entry(key.space.clone())
                        .or_default()
                        .insert(r.recipient.id.0.clone(), (**r).clone());
                }
                IndexOp::RemoveRecipient(id) => {
                    if let Some(rs) = self.recipients.get_mut(&key.space) {
                        rs.remove(id.as_str());
                    }
                }
                IndexOp::ClearRows => match key.kind {
                    DocKind::Roster => {
                        self.recipients.remove(&key.space);
                    }
                    DocKind::Incident(_) => doc.checks.clear(),
                },
                IndexOp::Incident(i) => doc.incident = Some(i.clone()),
                IndexOp::Check(c) => {
                    doc.checks.insert(c.id.to_string(), c.clone());
                }
                IndexOp::Claim(k, c) => {
                    doc.claims.insert(k.clone(), c.clone());
                }
                IndexOp::RemoveClaim(k) => {
                    doc.claims.remove(k);
                }
                IndexOp::Newer(Some(format)) => {
                    self.meta
                        .insert(super::newer_key(&key), format.to_string().into_bytes());
                }
                IndexOp::Newer(None) => {
                    self.meta.remove(&super::newer_key(&key));
                }
            }
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn write(&mut self, batch: Batch) -> Result<()> {
        // Apply to a copy and swap it in, so a failing write leaves nothing.
        let before_write = self.before_write.take();
        let mut next = self.clone();
        self.before_write = before_write;
        for w in &batch.docs {
            next.apply_doc(w)?;
        }
        for (peer, doc, state) in batch.peer_states {
            next.peer_states.insert((peer, doc), state);
        }
        next.meta.extend(batch.meta);
        next.quarantine.extend(batch.quarantine);
        for r in batch.audit {
            let e = crate::audit::seal(next.audit.last(), r);
            next.audit.push(e);
        }
        next.before_write = self.before_write.take();
        next.writes += 1;
        *self = next;
        Ok(())
    }

    fn begin_write(&mut self) -> Result<()> {
        let mut before = self.clone();
        before.before_write = None;
        self.before_write = Some(Box::new(before));
        Ok(())
    }

    fn end_write(&mut self, commit: bool) -> Result<()> {
        match self.before_write.take() {
            Some(before) if !commit => *self = *before,
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
