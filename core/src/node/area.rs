//! 連携型BCP on the node: consent, disaster exceptions, sharing into an
//! area space and collecting partners' checks from it (the policy itself
//! is `crate::sharing`).

use super::*;

impl Node {
    /// Disaster exceptions declared in an area space (every member sees
    /// them).
    pub fn exceptions(&mut self, area: &SpaceId) -> Result<Vec<Exception>> {
        doc::exceptions(self.doc(&DocKey::roster(area))?, area)
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
        self.require(origin, crate::access::Permission::DeclareException)?;
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
        let signed = membership::SignedException::sign(area, e.clone(), &self.identity)?;
        self.change(&DocKey::roster(area), false, |ed| {
            ed.apply(JournalOp::PutSignedException(Box::new(signed)))?;
            Ok(((), Vec::new()))
        })?;
        Ok(e)
    }

    pub(super) fn ensure_member(&mut self, space: &SpaceId) -> Result<()> {
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
        self.require(origin, crate::access::Permission::ShareArea)?;
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
        // Partners' checks land in the office's list under their devices'
        // names, which every device takes only from an admin (`doc::vet`).
        self.require(origin, crate::access::Permission::ShareArea)?;
        self.ensure_member(area)?;
        if origin == area {
            return Err(Error::invalid(
                "checks are collected from another (area) space",
            ));
        }
        let incident = self.current_incident(origin)?;
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
    pub(super) fn copy_checks(
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
        self.require(space, crate::access::Permission::ManageIncidents)?;
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

    pub(super) fn put_member(&mut self, space: &SpaceId, member: Member) -> Result<Member> {
        let ledger = self.member_statements(space)?;
        let written = self.member_statement(space, &ledger, &member)?;
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
            // Format-2 entries this roster holds only in their registers
            // join the statement set first, where no write can undo them.
            let copied = doc::statement_keys(e.doc());
            for (key, stored) in doc::ledger(e.doc(), &space_id)?.uncopied(&copied) {
                e.apply(JournalOp::PutStatement(key, stored))?;
            }
            for op in written {
                e.apply(op)?;
            }
            Ok(((), membership_index(e.doc(), &space_id)?))
        })?;
        Ok(member)
    }

    /// What writing `member` (an add, or a revocation when it says so)
    /// puts into the roster: the statement this device signs, with the
    /// statements it holds as its past, and the format-2 entry older builds
    /// read, also kept as a statement.
    pub(super) fn member_statement(
        &self,
        space: &SpaceId,
        ledger: &membership::Ledger,
        member: &Member,
    ) -> Result<Vec<JournalOp>> {
        let act = match &member.revoked {
            Some(_) => membership::Act::Revoke {
                device: member.device.clone(),
            },
            None => membership::Act::Add {
                device: member.device.clone(),
                staff: member.staff.clone(),
                role: member.role,
            },
        };
        let statement = membership::Statement {
            act,
            by: self.device.clone(),
            at: member.revoked.as_ref().map_or(member.added_at, |r| r.at),
            after: ledger.after_for(space, &self.device),
        };
        let (key, stored) = membership::sign(space, &statement, &self.identity)?.stored();
        let twin = SignedMember::sign(space, member.clone(), &self.identity)?;
        let (twin_key, twin_stored) = membership::Entry::Legacy(twin.clone()).stored();
        Ok(vec![
            JournalOp::PutStatement(key, stored),
            JournalOp::PutStatement(twin_key, twin_stored),
            JournalOp::PutMember(Box::new(twin)),
        ])
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
            let Some(active) = self.syncing_members(&space.id)? else {
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
        Ok(self.gate()?.trusted)
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
        self.require(space, crate::access::Permission::ChangeWeights)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecipientId;
    use crate::node::tests::*;

    #[test]
    fn a_shared_copy_is_ranked_as_its_office_ranked_it_and_says_so() {
        let (mut n, office, area) = office_with_area();
        let now = Timestamp::now();
        n.start_incident(&office, IncidentKind::Earthquake, "地震", now)
            .unwrap();
        n.share_to_area(&office, &area).unwrap();
        n.start_incident(&area, IncidentKind::Earthquake, "地震", now)
            .unwrap();
        let at_office = n.shown_incident_data(&office).unwrap();
        let at_office = at_office.priority_list(now);
        let r1 = at_office
            .iter()
            .find(|e| e.recipient.id.as_str() == "R1")
            .unwrap();
        let in_area = n.shown_incident_data(&area).unwrap();
        let in_area = in_area.priority_list(now);
        assert_eq!(in_area.len(), 1);
        assert_eq!(in_area[0].score, r1.score);
        // The office's ranking, named as such: nothing read again from the
        // copy's few fields, and its reasons (health details) only where
        // the consent names them — here it does not.
        let neutral = if r1.score >= crate::priority::PriorityConfig::default().high_priority_from {
            "優先度高"
        } else {
            "優先度通常"
        };
        assert_eq!(
            in_area[0].reasons_line(),
            format!("事業所の評価: {neutral}")
        );
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
            id: None,
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
}
