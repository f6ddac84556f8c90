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

    pub(super) fn incident(&self, space: &SpaceId, id: &IncidentId) -> Result<Incident> {
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
}
