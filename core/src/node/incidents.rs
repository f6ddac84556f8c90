//! Incidents, checks and claims.

use super::*;

impl Node {
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
        self.require(space, crate::access::Permission::ManageIncidents)?;
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

    /// The open incident checks and claims go into;
    /// [`Error::NoOpenIncident`] when there is none.
    pub fn current_incident(&self, space: &SpaceId) -> Result<Incident> {
        self.open_incident(space)?.ok_or(Error::NoOpenIncident)
    }

    /// The incident a page shows: the open one, else the latest (after an
    /// incident ends, its history is still what people look at). Every
    /// host shows the same.
    pub fn shown_incident(&self, space: &SpaceId) -> Result<Option<Incident>> {
        let all = self.incidents(space)?;
        Ok(all.iter().find(|i| i.is_open()).or(all.first()).cloned())
    }

    /// The data of the incident shown ([`Node::shown_incident`]), which
    /// `IncidentData::incident` names; the recipients alone when the space
    /// has no incident yet.
    pub fn shown_incident_data(&self, space: &SpaceId) -> Result<IncidentData> {
        self.shown_incident_data_after(space, None)
    }

    /// [`Node::shown_incident_data`], read again after earlier data whose
    /// recipients are `kept` ([`IncidentData::kept_recipients`]): they are
    /// used again when the roster has not moved since. A phone's sync moves
    /// the incident alone, and reading 50,000 recipients again was most of
    /// what a dashboard page paid after each one.
    pub fn shown_incident_data_after(
        &self,
        space: &SpaceId,
        kept: Option<KeptRecipients>,
    ) -> Result<IncidentData> {
        let incident = self.shown_incident(space)?;
        let Some(incident) = incident else {
            return self.incident_data(space, None);
        };
        // Read before the rows: a roster written in between is read again
        // next time, never missed.
        let roster_version = self.roster_version(space)?;
        let Some(recipients) = kept
            .filter(|k| k.roster_version == roster_version && roster_version > 0)
            .map(|k| k.recipients)
        else {
            return self.incident_data(space, Some(&incident.id));
        };
        let doc = DocKey::incident(space, &incident.id);
        Ok(IncidentData {
            recipients,
            roster_version,
            checks: self.store.checks(&doc)?,
            claims: self.counted_claims(space, self.store.claims(&doc)?)?,
            operation: self.operation(space, &incident)?,
            clock_ahead_secs: self.clock_error()?,
            incident: Some(incident),
            weights: self.priority_weights(space)?,
        })
    }

    /// The claims that count: a revoked device's count for nothing (nobody
    /// is on the way).
    fn counted_claims(&self, space: &SpaceId, mut claims: Vec<Claim>) -> Result<Vec<Claim>> {
        let revoked = self.revoked_devices(space)?;
        claims.retain(|c| !revoked.contains(&c.device));
        Ok(claims)
    }

    fn roster_version(&self, space: &SpaceId) -> Result<u64> {
        Ok(self
            .store
            .doc_info(&DocKey::roster(space))?
            .map_or(0, |i| i.version))
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
        let data = self.shown_incident_data(space)?;
        let list = data.priority_list(now);
        let form = form2::build(
            &name,
            data.incident.as_ref().map(|i| i.name.as_str()),
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
            incident: data.incident.clone(),
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
                let claims =
                    self.counted_claims(space, self.store.claims_of(&key, &record.recipient.id)?)?;
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

    pub(super) fn incident(&self, space: &SpaceId, id: &IncidentId) -> Result<Incident> {
        if let Some(i) = self
            .store
            .incidents(space)?
            .into_iter()
            .find(|i| &i.id == id)
        {
            return Ok(i);
        }
        // Held, but made by a newer anpi: say so, not "not found".
        let key = DocKey::incident(space, id);
        match self.newer_documents()?.into_iter().find(|(k, _)| k == &key) {
            Some((_, found)) => Err(Error::NewerFormat {
                doc: key.to_string(),
                found,
                known: doc::FORMAT_VERSION,
            }),
            None => Err(Error::NotFound(format!("incident {id}"))),
        }
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
        let checks_of = self.store.checks_of(&key, &new.recipient)?;
        // Another device's check is corrected only by an admin: every
        // device refuses anyone else's correction of it (`doc::vet`).
        if let Some(s) = new.supersedes
            && checks_of
                .iter()
                .any(|c| c.id == s && c.device != self.device)
            && !self.may(space, crate::access::Permission::ManageIncidents)?
        {
            return Err(Error::NotAllowed(format!(
                "ほかの端末の記録の訂正は管理者だけができます (only an admin corrects check {s}, recorded on another device)"
            )));
        }
        let staff = new.staff.unwrap_or_else(|| self.staff.clone());
        let known_claims = self
            .counted_claims(space, self.store.claims_of(&key, &new.recipient)?)?
            .into_iter()
            .filter(|c| c.device != self.device)
            .filter(|c| c.is_live(new.at) && !crate::views::claim_ended(c, &checks_of))
            .map(|c| KnownClaim {
                device: c.device,
                staff: c.staff,
            })
            .collect();
        known.sort();
        // A time read off this device's clock carries the clock's known
        // error; one a person entered (a call taken earlier) does not.
        let clock_ahead_secs = if self.is_now(new.at) {
            self.clock_error()?
        } else {
            None
        };
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
            clock_ahead_secs,
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
        // Others read when it ends by their clocks: a time off this
        // device's clock is corrected by its known error, or a slow
        // phone's claim would end early for everyone (and a fast one's
        // hold the recipient for hours).
        let now = if self.is_now(now) {
            now.corrected(self.clock_error()?)
        } else {
            now
        };
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
        let roster_version = self.roster_version(space)?;
        let Some(id) = incident else {
            return Ok(IncidentData {
                recipients: self.store.recipient_list(space)?.into(),
                roster_version,
                weights,
                clock_ahead_secs: self.clock_error()?,
                ..Default::default()
            });
        };
        let inputs = self
            .store
            .list_inputs(space, &DocKey::incident(space, id))?;
        let incident = self.incident(space, id)?;
        Ok(IncidentData {
            recipients: inputs.recipients.into(),
            roster_version,
            operation: self.operation(space, &incident)?,
            clock_ahead_secs: self.clock_error()?,
            incident: Some(incident),
            checks: inputs.checks,
            claims: self.counted_claims(space, inputs.claims)?,
            weights,
        })
    }

    /// Checks of an incident (from the index).
    pub fn checks(&self, space: &SpaceId, incident: &IncidentId) -> Result<Vec<Check>> {
        self.store.checks(&DocKey::incident(space, incident))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::*;
    use crate::store::MemoryStore;

    #[test]
    fn data_read_again_keeps_the_recipients_only_while_the_roster_stands() {
        let (mut n, space) = office();
        let inc = n
            .start_incident(&space, IncidentKind::Flood, "", Timestamp::now())
            .unwrap();
        let first = n.shown_incident_data(&space).unwrap();
        n.record_check(
            &space,
            &inc.id,
            NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Safe),
        )
        .unwrap();
        let second = n
            .shown_incident_data_after(&space, Some(first.kept_recipients()))
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(
            &first.recipients,
            &second.recipients
        ));
        assert_eq!(second.checks.len(), 1);
        assert_eq!(second.incident.as_ref().map(|i| &i.id), Some(&inc.id));
        // The roster moved: its recipients are read again.
        n.upsert_recipients(&space, vec![recipient("R3")]).unwrap();
        let third = n
            .shown_incident_data_after(&space, Some(second.kept_recipients()))
            .unwrap();
        assert_eq!(third.recipients.len(), 3);
        assert_eq!(third.checks.len(), 1);
        let fresh = n.shown_incident_data(&space).unwrap();
        assert_eq!(third.recipients, fresh.recipients);
        assert_eq!(third.checks, fresh.checks);
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
        // What checks go into is the open incident, and there is none: a
        // host can tell that from any other failure by its kind.
        let none = n.current_incident(&space).unwrap_err();
        assert_eq!(none.kind(), crate::error::ErrorKind::NoOpenIncident);
        assert_eq!(
            unknown.unwrap_err().kind(),
            crate::error::ErrorKind::NotFound
        );
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
        // A clock error any device wrote into a check, too.
        assert!(t0.corrected(Some(i64::MAX)) < t0);
        assert!(t0.corrected(Some(i64::MIN)) > t0);
        assert_eq!(t0.corrected(None), t0);
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
        // Now, unless the day in Japan ends within the hour the test spans.
        let now = Timestamp::now();
        let same_day = |a: Timestamp, b: Timestamp| {
            IncidentId::derive(IncidentKind::Earthquake, a)
                == IncidentId::derive(IncidentKind::Earthquake, b)
        };
        let t = if same_day(now, now.plus_minutes(60)) {
            now
        } else {
            now.plus_minutes(-120)
        };
        let (inc, how) = office
            .open_incident_for(&space, IncidentKind::Earthquake, "地震", t)
            .unwrap();
        assert_eq!(how, Started::New);
        // Ending an incident is an admin's: the phone and the late device
        // are admins' devices here.
        let mut phone = Node::open(MemoryStore::new()).unwrap();
        let mut late = Node::open(MemoryStore::new()).unwrap();
        for d in [phone.device().clone(), late.device().clone()] {
            office
                .add_member(&space, &d, Staff::default(), Role::Admin)
                .unwrap();
        }
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        assert_eq!(
            phone
                .open_incident_for(&space, IncidentKind::Earthquake, "", t)
                .unwrap()
                .1,
            Started::Joined
        );
        // A third device that will hear of nothing until the end.
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
}
