//! The roster: importing, editing and reading recipients, and a
//! recipient's page.

use super::*;

impl Node {
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
        let existing = self.recipients_by_id(space)?;
        self.upsert_over(space, recipients, &existing, progress)
    }

    /// The space's recipients as the index holds them, by id.
    fn recipients_by_id(&self, space: &SpaceId) -> Result<HashMap<RecipientId, IndexedRecipient>> {
        Ok(self
            .store
            .recipients(space)?
            .into_iter()
            .map(|r| (r.recipient.id.clone(), r))
            .collect())
    }

    /// Write `recipients` over `existing` (what the space held) in one
    /// durable write, only the fields that changed.
    fn upsert_over(
        &mut self,
        space: &SpaceId,
        recipients: Vec<Recipient>,
        existing: &HashMap<RecipientId, IndexedRecipient>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ImportCounts> {
        let total = recipients.len();
        let key = DocKey::roster(space);
        self.ensure_space(space)?;
        self.require(space, crate::access::Permission::ImportRoster)?;
        self.note(
            audit::Action::Changed,
            "roster",
            format!("import of {total} rows"),
        );
        self.change(&key, false, |e| {
            put_recipients(e, recipients, existing, progress)
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
        let existing = self.recipients_by_id(space)?;
        let missing = not_listed(&existing, &recipients);
        let counts = self.upsert_over(space, recipients, &existing, progress)?;
        Ok(ImportReport { counts, missing })
    }

    /// What [`Node::import_roster`] would do with `recipients`, without
    /// writing anything: the dry run an office looks at before confirming.
    pub fn preview_import(
        &self,
        space: &SpaceId,
        recipients: &[Recipient],
    ) -> Result<ImportReport> {
        let existing = self.recipients_by_id(space)?;
        let mut counts = ImportCounts::default();
        for r in recipients {
            counts.count(&mut r.clone(), existing.get(&r.id));
        }
        let missing = not_listed(&existing, recipients);
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
    pub(super) fn edit_recipient(
        &mut self,
        space: &SpaceId,
        id: &RecipientId,
        what: &str,
        edit: impl FnOnce(&mut Recipient),
    ) -> Result<()> {
        // Every device takes roster edits only from admins (`doc::vet`).
        self.require(space, crate::access::Permission::ImportRoster)?;
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

    pub(super) fn ensure_space(&self, space: &SpaceId) -> Result<()> {
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
}

impl ImportCounts {
    /// Count `r` against the record it replaces, and say whether it must be
    /// written. A manual priority survives a row that does not carry one;
    /// the same row over a conflict is written again (the office's roster
    /// settles what two edits left open).
    fn count(&mut self, r: &mut Recipient, old: Option<&IndexedRecipient>) -> bool {
        if r.priority_override.is_none() {
            r.priority_override = old.and_then(|o| o.recipient.priority_override.clone());
        }
        match old {
            Some(o) if o.recipient == *r && o.conflicts.is_empty() => {
                self.unchanged += 1;
                false
            }
            Some(_) => {
                self.updated += 1;
                true
            }
            None => {
                self.added += 1;
                true
            }
        }
    }
}

/// The recipients of `existing` that `listed` does not hold, by id.
fn not_listed(
    existing: &HashMap<RecipientId, IndexedRecipient>,
    listed: &[Recipient],
) -> Vec<RecipientId> {
    let listed: std::collections::HashSet<&RecipientId> = listed.iter().map(|r| &r.id).collect();
    let mut missing: Vec<RecipientId> = existing
        .keys()
        .filter(|id| !listed.contains(id))
        .cloned()
        .collect();
    missing.sort();
    missing
}

/// Write the recipients that differ from `existing` (the index as it
/// stands) into the roster being edited; a manual priority survives a row
/// that does not carry one. Returns the counts and the index rows.
pub(super) fn put_recipients(
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
        if !counts.count(&mut r, old) {
            continue;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::*;

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
        // The dry run says what the import will do, and writes nothing.
        let preview = n
            .preview_import(&space, &[changed.clone(), recipient("R3")])
            .unwrap();
        assert_eq!(n.heads().unwrap(), heads);
        assert_eq!(preview.missing, vec![RecipientId::from("R1")]);
        let counts = n
            .upsert_recipients(&space, vec![changed, recipient("R3")])
            .unwrap();
        assert_eq!(preview.counts, counts);
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
            office_ranking: false,
        };
        n.set_priority_override(&space, &"R1".into(), Some(o.clone()))
            .unwrap();
        n.upsert_recipients(&space, vec![recipient("R1")]).unwrap();
        let r = n.recipient(&space, &"R1".into()).unwrap().recipient;
        assert_eq!(r.priority_override, Some(o));
    }
}
