//! Keeping the folder in shape: flushing journals, compacting documents.

use super::*;

impl Node {
    /// The store's upkeep left for after a session (`Store::settle`: the
    /// WAL of a new device's first sync copied into the database). Hosts
    /// call it when a session is over; [`Node::maintain`] calls it too.
    pub fn settle(&mut self) -> Result<()> {
        if self.locked {
            return Ok(());
        }
        self.store.settle()
    }

    /// Compact documents with many appended changes into one snapshot each.
    /// Call when idle (the CLI after each command, the phone when in the
    /// background). Returns how many documents were compacted.
    pub fn maintain(&mut self) -> Result<usize> {
        self.settle()?;
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
                if info.pending_changes >= COMPACT_AFTER_CHANGES
                    || info.pending_bytes >= COMPACT_AFTER_BYTES
                {
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
    pub(super) fn write_settled(
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

    /// Every document of `space` as a plain saved Automerge file, named
    /// `roster.automerge` and `incident-<id>.automerge` (docs/FORMAT.md),
    /// for other tools: a city's own systems, an auditor. They hold
    /// personal and health information, so the export is written to the
    /// audit trail here, with where it went (`to`): no host exports
    /// unlogged. Documents of a newer format go as they are.
    pub fn export_automerge(
        &mut self,
        space: &SpaceId,
        to: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let keys: Vec<DocKey> = self
            .documents()?
            .into_iter()
            .filter(|k| &k.space == space)
            .collect();
        if keys.is_empty() {
            return Err(Error::NotFound(format!("space {space}")));
        }
        self.flush_all()?;
        let mut out = Vec::new();
        for key in keys {
            let name = match &key.kind {
                DocKind::Roster => "roster.automerge".to_string(),
                DocKind::Incident(id) => format!("incident-{id}.automerge"),
            };
            out.push((name, self.saved_document(&key)?));
        }
        match self.record_audit(
            audit::Action::Exported,
            format!("space {space}"),
            format!("{} Automerge documents to {to}", out.len()),
        ) {
            Ok(()) | Err(Error::ReadOnly) => Ok(out),
            Err(e) => Err(e),
        }
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
}
