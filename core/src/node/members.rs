//! Spaces and who belongs to them: creating a space, members and their
//! standing, invites, the office link.

use super::*;

impl Node {
    /// Create a new space with this device as its first member.
    pub fn create_space(&mut self, name: &str) -> Result<Space> {
        self.create_space_of(name, false)
    }

    /// Create an area space, shared by several agencies (連携型BCP): the
    /// only kind of space where partners — other agencies' devices — sync.
    pub fn create_area_space(&mut self, name: &str) -> Result<Space> {
        self.create_space_of(name, true)
    }

    fn create_space_of(&mut self, name: &str, area: bool) -> Result<Space> {
        // The id commits to this device's key: no one else can claim to
        // have founded the space (see `membership`), and to whether it is
        // an area space.
        let (id, founding) = if area {
            Founding::new_area(&self.identity)?
        } else {
            Founding::new(&self.identity)?
        };
        let space = Space {
            id,
            name: name.to_string(),
        };
        let key = DocKey::roster(&space.id);
        let s = space.clone();
        let space_id = space.id.clone();
        let me = Member {
            device: self.device.clone(),
            staff: self.staff.clone(),
            role: Role::Admin,
            added_by: self.device.clone(),
            added_at: Timestamp::now(),
            revoked: None,
        };
        let ledger = membership::Ledger {
            founding: Some(founding.clone()),
            entries: Vec::new(),
        };
        let written = self.member_statement(&space.id, &ledger, &me)?;
        let (founding_key, kept) = membership::Entry::Founding(founding.clone()).stored();
        self.change(&key, true, |e| {
            e.apply(JournalOp::SpaceName(name.to_string()))?;
            e.apply(JournalOp::SpaceFounding(founding))?;
            e.apply(JournalOp::PutStatement(founding_key, kept))?;
            for op in written {
                e.apply(op)?;
            }
            let mut ops = vec![IndexOp::Space(s)];
            ops.extend(membership_index(e.doc(), &space_id)?);
            Ok(((), ops))
        })?;
        Ok(space)
    }

    // -------------------------------------------------------- membership

    /// Every member entry of a space with its standing (active, revoked,
    /// or ignored: not added by an admin, or not signed by who it claims).
    pub fn members(&mut self, space: &SpaceId) -> Result<Vec<(Member, MemberStanding)>> {
        let ledger = self.member_statements(space)?;
        Ok(membership::standing(space, &ledger))
    }

    /// A space's membership statements: from the index, written with every
    /// change of the roster, so that the handshake's checks and the member
    /// list do not load a roster of 50,000 recipients; from the roster
    /// itself when the index has none yet.
    pub(super) fn member_statements(&mut self, space: &SpaceId) -> Result<membership::Ledger> {
        if let Some(bytes) = self.store.meta(&crate::store::members_key(space))?
            && let Ok(statements) = serde_json::from_slice(&bytes)
        {
            return Ok(statements);
        }
        let d = self.doc(&DocKey::roster(space))?;
        doc::ledger(d, space)
    }

    /// What this device shows a peer that has not heard of it yet: for each
    /// space it is an active member of (and did not found), its signed
    /// entry and the admins' entries it rests on (see
    /// [`membership::Proof`]).
    pub fn membership_proof(&mut self) -> Result<membership::Proof> {
        let me = self.device.clone();
        let mut proof = membership::Proof::default();
        for space in self.spaces()? {
            let Ok(ledger) = self.member_statements(&space.id) else {
                continue;
            };
            proof
                .spaces
                .extend(membership::proof_for(&space.id, &ledger, &me));
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
        Ok(self.gate()?.spaces_by_proof(device, proof))
    }

    /// Whether `gate` is what [`Node::gate`] would read now: nothing was
    /// written since, here or by another process. Reads no disk.
    pub fn gate_is_current(&self, gate: &Gate) -> bool {
        self.store.stamp().is_ok_and(|s| s == gate.stamp)
    }

    /// What a handshake is judged by, as this device knows it now (see
    /// [`Gate`]).
    pub fn gate(&mut self) -> Result<Gate> {
        let me = self.device.clone();
        let mut gate = Gate {
            stamp: self.store.stamp()?,
            ..Default::default()
        };
        for space in self.spaces()? {
            let Some(ledger) = self.readable_statements(&space.id)? else {
                continue;
            };
            let active = syncing(&space.id, &ledger);
            if !active.contains(&me) {
                continue;
            }
            gate.trusted.extend(active);
            gate.ledgers.push((space.id, ledger));
        }
        gate.trusted.remove(&me);
        gate.invites = self
            .invites()?
            .into_iter()
            .filter(|p| p.used.is_none())
            .collect();
        gate.clock_seen = self.clock_seen()?;
        Ok(gate)
    }

    /// Admit `device` by its `proof` (see [`Node::admitted_by_proof`]): its
    /// statements this device did not hold join the spaces' rosters, as if
    /// a sync had brought them, so that the session with it exchanges those
    /// spaces and it is known from now on. Returns the spaces it was
    /// admitted to.
    pub fn take_proof(
        &mut self,
        device: &DeviceId,
        proof: &membership::Proof,
    ) -> Result<BTreeSet<SpaceId>> {
        let spaces = self.admitted_by_proof(device, proof)?;
        for part in proof.spaces.iter().filter(|p| spaces.contains(&p.space)) {
            let key = DocKey::roster(&part.space);
            let statements: Vec<(String, String)> = part
                .statements
                .iter()
                .map(|s| (membership::entry_key(s), s.clone()))
                .chain(
                    part.entries
                        .iter()
                        .map(|m| membership::Entry::Legacy(m.clone()).stored()),
                )
                .collect();
            let space = part.space.clone();
            self.note(
                audit::Action::Changed,
                format!("member {}", device.readable()),
                "admitted by its membership proof (enrolled after this device last synced)",
            );
            self.change(&key, false, |e| {
                let known = doc::statement_keys(e.doc());
                for (k, stored) in statements {
                    if !known.contains(&k) {
                        e.apply(JournalOp::PutStatement(k, stored))?;
                    }
                }
                Ok(((), membership_index(e.doc(), &space)?))
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

    pub(super) fn active_members(&mut self, space: &SpaceId) -> Result<BTreeSet<DeviceId>> {
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
        self.require(space, crate::access::Permission::ManageMembers)?;
        self.partner_fits(space, role)?;
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

    /// A partner (another agency's device) is enrolled only in an area
    /// space: in an office's own space it would see everything about the
    /// office's clients.
    fn partner_fits(&mut self, space: &SpaceId, role: Role) -> Result<()> {
        if membership::syncs(self.member_statements(space)?.is_area(), role) {
            return Ok(());
        }
        Err(Error::invalid(
            "a partner (another agency's device) is enrolled in an area space, never in the office's own space, which holds everything about its clients: make one with `area create` and share consented recipients with it",
        ))
    }

    /// The active members of `space` that sync it (partners only in an
    /// area space), or `None` when its roster cannot be read (recorded as
    /// unreadable).
    pub(super) fn syncing_members(
        &mut self,
        space: &SpaceId,
    ) -> Result<Option<BTreeSet<DeviceId>>> {
        Ok(self
            .readable_statements(space)?
            .map(|ledger| syncing(space, &ledger)))
    }

    /// A space's statements, or `None` when its roster cannot be read
    /// (recorded as unreadable): one damaged space must not stop the
    /// device syncing its others.
    fn readable_statements(&mut self, space: &SpaceId) -> Result<Option<membership::Ledger>> {
        match self.member_statements(space) {
            Ok(ledger) => Ok(Some(ledger)),
            Err(e @ (Error::Automerge(_) | Error::Corrupt(_) | Error::Hydrate(_))) => {
                self.unreadable.insert(DocKey::roster(space), e.to_string());
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Revoke a device (lost, or its carrier left): every device refuses
    /// its key as soon as this entry reaches it. Only an active admin may.
    pub fn revoke_member(&mut self, space: &SpaceId, device: &DeviceId) -> Result<Member> {
        self.require(space, crate::access::Permission::ManageMembers)?;
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
        self.require(space, crate::access::Permission::ManageMembers)?;
        self.partner_fits(space, role)?;
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
            let made_after_entry = Some(n.store.audit_last()?.map_or(0, |e| e.seq));
            all.push(Pending {
                invite: invite.clone(),
                staff,
                role,
                used: None,
                made_after_entry,
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

    /// The latest time this device's clock has shown, as a running node
    /// noted it ([`Node::note_clock`]): what had ended by then stays ended
    /// when the clock is set back.
    pub fn clock_seen(&self) -> Result<Option<Timestamp>> {
        match self.store.meta(META_CLOCK_SEEN)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::corrupt(format!("clock seen: {e}"))),
        }
    }

    /// Note the clock's time, when it moved ten minutes or more past what
    /// was noted (a running node does, so a write at most every ten
    /// minutes).
    pub fn note_clock(&mut self) -> Result<()> {
        self.note_clock_at(Timestamp::now())
    }

    pub(super) fn note_clock_at(&mut self, now: Timestamp) -> Result<()> {
        if self
            .clock_seen()?
            .is_some_and(|seen| now < seen.plus_minutes(10))
        {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&now).expect("a time always serializes");
        self.write_setting(META_CLOCK_SEEN, bytes)
    }

    /// The time invites are judged at (see [`invite_time`]).
    fn invite_time(&self) -> Result<Timestamp> {
        Ok(invite_time(self.clock_seen()?, Timestamp::now()))
    }

    pub(super) fn write_invites(&mut self, all: &[Pending]) -> Result<()> {
        let bytes = serde_json::to_vec(all).expect("invites always serialize");
        self.write_setting(META_INVITES, bytes)
    }

    /// Redeem the invite `device` presented: add it as a member (signed by
    /// this device) and mark the invite used, in one transaction. The space
    /// joined, if any.
    pub fn redeem_invite(
        &mut self,
        device: &DeviceId,
        names: &[String],
    ) -> Result<Option<SpaceId>> {
        let now = self.invite_time()?;
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
            if let Some(after) = p.made_after_entry
                && n.store
                    .audit_from(after + 1, usize::MAX)?
                    .iter()
                    .any(|e| p.invite.expired(e.record.at))
            {
                // This office wrote entries at or past the invite's end
                // after making it: its clock has been set back since.
                return Ok(None);
            }
            n.add_member(&p.invite.space, device, p.staff, p.role)?;
            all[i].used = Some((device.clone(), now));
            n.write_invites(&all)?;
            Ok(Some(p.invite.space))
        })
    }
}

/// The active members of a space with statements `ledger` that sync it:
/// partners only in an area space.
fn syncing(space: &SpaceId, ledger: &membership::Ledger) -> BTreeSet<DeviceId> {
    let area = ledger.is_area();
    membership::standing(space, ledger)
        .into_iter()
        .filter(|(m, s)| *s == MemberStanding::Active && membership::syncs(area, m.role))
        .map(|(m, _)| m.device)
        .collect()
}

/// The time invites are judged at: the clock, or the latest time it
/// showed before (`seen`) if it was set back since.
fn invite_time(seen: Option<Timestamp>, now: Timestamp) -> Timestamp {
    seen.map_or(now, |seen| now.max(seen))
}

/// What a peer's key is judged by at the handshake, read from the node in
/// one go ([`Node::gate`]) and kept by the network layer: judging a key
/// then waits for nothing and reads no disk, so a stranger's handshake
/// costs this device a signature check. Read again after every session,
/// every change here and (in `serve`) every second; at a handshake, read
/// again first if the folder changed since and the node is free. A
/// revocation it has not seen yet is caught after the handshake, by the
/// gate read anew before anything moves.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    /// Active members of the spaces this device is an active member of.
    pub trusted: BTreeSet<DeviceId>,
    /// Invites of this device not used yet.
    invites: Vec<Pending>,
    /// The statements of each space this device is an active member of.
    ledgers: Vec<(SpaceId, membership::Ledger)>,
    /// Where the store stood when this was read.
    stamp: (i64, u64),
    /// The latest time the clock showed ([`Node::clock_seen`]).
    clock_seen: Option<Timestamp>,
}

impl Gate {
    /// Whether `device` may in: a member, the holder of an invite its
    /// certificate's `names` redeem, or a member by the `proof` its
    /// certificate carries.
    pub fn admits(
        &self,
        device: &DeviceId,
        names: &[String],
        proof: Option<&membership::Proof>,
        now: Timestamp,
    ) -> bool {
        let now = invite_time(self.clock_seen, now);
        self.trusted.contains(device)
            || self
                .invites
                .iter()
                .any(|p| names.iter().any(|n| p.admits(device, n, now)))
            || proof.is_some_and(|p| !self.spaces_by_proof(device, p).is_empty())
    }

    /// The spaces `proof` shows `device` an active member of, by what this
    /// device knows with it (a revocation it knows wins).
    pub fn spaces_by_proof(
        &self,
        device: &DeviceId,
        proof: &membership::Proof,
    ) -> BTreeSet<SpaceId> {
        proof
            .spaces
            .iter()
            .filter(|part| {
                self.ledgers.iter().any(|(space, ledger)| {
                    *space == part.space && membership::admits(space, ledger, part, device)
                })
            })
            .map(|part| part.space.clone())
            .collect()
    }
}
