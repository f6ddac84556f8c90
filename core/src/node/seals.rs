//! The node's part of seals (`crate::seal`): sealing what it made, sending
//! the seals that cover what leaves, judging those that come, keeping them
//! to pass on.

use super::*;
use crate::seal::{self, Link, Power, Seal};

/// Where a document's seals are kept: the latest of each signer.
fn seals_key(key: &DocKey) -> String {
    format!("seals/{key}")
}

/// What [`Judge::owner`] names an actor no member bears by: no device id
/// starts so.
const NO_DEVICE: &str = "no device: ";

/// Whether a change needs no seal ([`Judge::owner`]): the genesis's and the
/// format steps' (the structure check vouches for them: only their
/// canonical bytes pass it).
fn fixed(owner: &Option<DeviceId>) -> bool {
    owner.is_none()
}

/// Who may vouch for what in a space, and the session's peer, whose own
/// changes need no seal: the handshake proved its key.
#[derive(Clone)]
pub(super) struct Judge {
    powers: BTreeMap<DeviceId, Power>,
    peer: DeviceId,
    area: bool,
}

impl Judge {
    /// The judge of a space whose statements are `ledger`.
    pub(super) fn from_ledger(
        space: &SpaceId,
        ledger: &membership::Ledger,
        peer: &DeviceId,
    ) -> Judge {
        let mut powers = BTreeMap::new();
        for (member, standing) in membership::standing(space, ledger) {
            if standing == MemberStanding::Active && member.role == Role::Admin {
                powers.insert(member.device, Power::All);
            } else {
                powers.entry(member.device).or_insert(Power::Own);
            }
        }
        Judge {
            powers,
            peer: peer.clone(),
            area: ledger.is_area(),
        }
    }

    /// The device that wrote under `actor`, as far as a seal can prove it:
    /// a sealing actor's device, or a member whose id the actor is (builds
    /// before seals wrote under it). `None` for a fixed actor and for one
    /// no member bears (made up, or a random one after a restore before
    /// seals).
    fn device_of(&self, actor: &automerge::ActorId) -> Option<DeviceId> {
        seal::author_of(actor).filter(|named| self.bears(actor, named))
    }

    /// Whether the device `named` ([`seal::author_of`]) can have written
    /// under `actor`: a sealing actor names its device; any other actor
    /// only a member's id.
    fn bears(&self, actor: &automerge::ActorId, named: &DeviceId) -> bool {
        seal::owner_of(actor).is_some() || self.powers.contains_key(named)
    }

    /// Whose seal a change under `actor` needs ([`Link::owner`]): the
    /// device that wrote it ([`Judge::device_of`]) — its own seal, an
    /// admin's, or straight from it; none for the genesis and the format
    /// steps; for an actor no member bears a name no device has, so that
    /// only an admin's seal covers it (a key made up to bear that actor's
    /// name never does).
    pub(super) fn owner(&self, actor: &automerge::ActorId) -> Option<DeviceId> {
        let named = seal::author_of(actor)?;
        Some(if self.bears(actor, &named) {
            named
        } else {
            DeviceId(format!("{NO_DEVICE}{}", named.0))
        })
    }

    /// The links of changes, for [`seal::covered`].
    pub(super) fn links(&self, changes: &[Change]) -> Vec<Link> {
        changes
            .iter()
            .map(|c| Link {
                hash: c.hash(),
                deps: c.deps().to_vec(),
                owner: self.owner(c.actor_id()),
            })
            .collect()
    }

    /// Whether `d` is an active admin of the space.
    pub(super) fn is_admin(&self, d: &DeviceId) -> bool {
        self.powers.get(d) == Some(&Power::All)
    }

    /// The session's peer.
    pub(super) fn peer(&self) -> &DeviceId {
        &self.peer
    }

    /// Whether it knows no device (the space's roster is not here yet).
    pub(super) fn knows_nobody(&self) -> bool {
        self.powers.is_empty()
    }

    /// An active admin vouches for everything before what it sealed; any
    /// other device for its own changes (which device ids may write what
    /// is the content's rule, not the seal's).
    fn power(&self, d: &DeviceId) -> Option<Power> {
        Some(self.powers.get(d).copied().unwrap_or(Power::Own))
    }

    /// For each link, why it may not join: `None` when a seal covers it,
    /// it is the peer's own, or it needs none.
    pub(super) fn verdicts(
        &self,
        doc: &str,
        links: &[Link],
        seals: &[Seal],
    ) -> Vec<Option<String>> {
        let needs: Vec<bool> = links
            .iter()
            .map(|l| !fixed(&l.owner) && l.owner.as_ref() != Some(&self.peer))
            .collect();
        if !needs.iter().any(|n| *n) {
            return vec![None; links.len()];
        }
        let covered = seal::covered(doc, links, seals, &mut |d| self.power(d));
        needs
            .into_iter()
            .zip(covered)
            .map(|(needs, covered)| {
                (needs && !covered).then(|| {
                    "not sealed by the device it names, nor by an admin (a forged or unsigned change)"
                        .to_string()
                })
            })
            .collect()
    }
}

/// Who wrote changes, for the content's rule (`doc::vet`): the device a
/// seal can prove wrote it ([`Judge::device_of`]), as an admin or a member.
/// Any other actor's change is the structure's alone (a fixed actor), or
/// got in only under an admin's seal, which vouches for what it says.
impl doc::Authors for Judge {
    fn author(&self, actor: &automerge::ActorId) -> doc::Author {
        match self.device_of(actor) {
            None => doc::Author::Unproven,
            Some(d) if self.is_admin(&d) => doc::Author::Admin,
            Some(d) => doc::Author::Member(d),
        }
    }

    fn area(&self) -> bool {
        self.area
    }
}

impl Node {
    /// The seals this device keeps for a document.
    pub(super) fn stored_seals(&self, key: &DocKey) -> Result<Vec<Seal>> {
        Ok(self
            .store
            .meta(&seals_key(key))?
            .and_then(|b| postcard::from_bytes(&b).ok())
            .unwrap_or_default())
    }

    /// The setting that keeps `seals` for a document (one per signer).
    pub(super) fn seals_setting(key: &DocKey, seals: &[Seal]) -> (String, Vec<u8>) {
        (
            seals_key(key),
            postcard::to_allocvec(seals).expect("seals always serialize"),
        )
    }

    /// The standing that gives seals their power in a space ([`Judge::power`]).
    /// The roster in memory is read when loaded: it may hold statements
    /// that arrived in this very message.
    /// A space this device holds no roster of yet has no judge but the
    /// roster that arrives (its statements prove themselves: signed, and
    /// rooted in the founding the space id commits to).
    pub(super) fn judge(&mut self, space: &SpaceId, peer: &DeviceId) -> Result<Judge> {
        let key = DocKey::roster(space);
        if let Some(l) = self.docs.get_mut(&key) {
            // The same roster judges the same: kept by its heads, and only
            // the session's peer told again.
            let heads = l.doc.get_heads();
            let kept = match self.judges.get(space) {
                Some((at, judge)) if *at == heads => judge.clone(),
                _ => {
                    let judge = Judge::from_ledger(space, &doc::ledger(&l.doc, space)?, peer);
                    self.judges.insert(space.clone(), (heads, judge.clone()));
                    judge
                }
            };
            return Ok(Judge {
                peer: peer.clone(),
                ..kept
            });
        }
        let ledger = if self.has_doc(&key)? {
            self.member_statements(space)?
        } else {
            membership::Ledger::default()
        };
        Ok(Judge::from_ledger(space, &ledger, peer))
    }

    /// This device's latest change among `changes`: under its sealing
    /// actor if it has one there (it is built on everything this device
    /// wrote before), else under its id (a build before seals).
    fn own_latest<'c>(&self, changes: &'c [Change]) -> Option<&'c Change> {
        changes
            .iter()
            .filter(|c| seal::author_of(c.actor_id()).as_ref() == Some(&self.device))
            .max_by_key(|c| (seal::owner_of(c.actor_id()).is_some(), c.seq()))
    }

    /// This device's seal over its latest change among `changes` in a
    /// document, kept with the others: made when its changes are written,
    /// so that a document sent whole from the store carries it.
    pub(super) fn own_sealed(
        &mut self,
        key: &DocKey,
        changes: &[Change],
    ) -> Result<Option<(String, Vec<u8>)>> {
        let Some(last) = self.own_latest(changes) else {
            return Ok(None);
        };
        let mine = Seal::sign(&self.identity, &key.to_string(), &[last.hash()])?;
        let mut seals = self.stored_seals(key)?;
        seals.retain(|s| s.signer() != self.device);
        seals.push(mine);
        Ok(Some(Self::seals_setting(key, &seals)))
    }

    /// Seal what an entry going to a peer carries. An admin seals the
    /// heads it sends, which vouches for all of it. Any other device sends
    /// the seals it keeps that cover the changes, its own made anew when
    /// its changes are among them; with a whole document, every seal it
    /// keeps for it.
    pub(super) fn seal_outgoing(&mut self, key: &DocKey, entry: &mut DocEntry) -> Result<()> {
        if matches!(entry.data, sync::Data::None) {
            return Ok(());
        }
        let name = entry.doc.clone();
        let me = self.device.clone();
        // Judged as a receiver would, with every signer allowed its own
        // changes and the admins all.
        let judge = self.judge(&key.space, &me)?;
        if judge.is_admin(&me) {
            // The document's heads vouch for its whole past, so a seal a
            // relay keeps (the latest of each signer) still covers what
            // the earlier ones did. And the heads of what goes: a
            // receiver walks down from the sealed hashes through the
            // changes it gets, and a batch that fills a gap below what it
            // holds (automerge's own protocol sends one when a Bloom filter
            // errs) reaches none of the document's heads (the simulator
            // found such a gap refused, docs/SIMULATION.md).
            let mut heads = sync::heads_from_wire(&entry.heads);
            for h in batch_heads(&sync::carried(&entry.data)?) {
                if !heads.contains(&h) {
                    heads.push(h);
                }
            }
            if !heads.is_empty() {
                entry.seals = vec![Seal::sign(&self.identity, &name, &heads)?];
            }
            return Ok(());
        }
        let stored = self.stored_seals(key)?;
        let mut changes = sync::carried(&entry.data)?;
        if !changes.is_empty() {
            let more = self.ways_to_seals(key, &judge, &changes, &stored)?;
            sync::add_changes(&mut entry.data, &more)?;
            changes.extend(more);
        }
        if !matches!(entry.data, sync::Data::Changes(_)) {
            // A whole document, or automerge's protocol, whose changes may
            // wait at the receiver for a gap to fill: every seal kept, so
            // that those sealing what waits come again with the gap.
            entry.seals = stored;
            return Ok(());
        }
        let links = judge.links(&changes);
        let mut candidates = Vec::new();
        // A receiver may take this device's earlier changes (its own need
        // no seal) and set the latest aside, its dependencies not there
        // yet: then it keeps no seal for what it took (the seal's change
        // is not held), and passes those on unsealed if the session ends
        // before the gap comes (the soak: area space, links cut). A seal
        // over the change before the latest, too, stays with them.
        let mut before_latest = None;
        if let Some(last) = self.own_latest(&changes) {
            candidates.push(Seal::sign(&self.identity, &name, &[last.hash()])?);
            before_latest = changes
                .iter()
                .find(|c| c.actor_id() == last.actor_id() && c.seq() + 1 == last.seq())
                .map(Change::hash);
        }
        candidates.extend(stored.into_iter().filter(|s| s.signer() != me));
        // Only the seals that cover something more: every byte rides in a
        // phone's session.
        let mut power = |d: &DeviceId| judge.power(d);
        let mut covered: Vec<bool> = links.iter().map(|l| fixed(&l.owner)).collect();
        for s in candidates {
            if covered.iter().all(|c| *c) {
                break;
            }
            let more = seal::covered(&name, &links, std::slice::from_ref(&s), &mut power);
            if more.iter().zip(&covered).any(|(m, c)| *m && !*c) {
                for (c, m) in covered.iter_mut().zip(more) {
                    *c |= m;
                }
                entry.seals.push(s);
            }
        }
        if let Some(h) = before_latest {
            entry.seals.push(Seal::sign(&self.identity, &name, &[h])?);
        }
        Ok(())
    }

    /// The changes a receiver also needs for the seals this device keeps
    /// to reach `changes`: a seal covers what lies below its sealed
    /// changes through what the receiver gets, and a batch may lack the
    /// way up (automerge's protocol leaves out a change when a Bloom
    /// filter wrongly says the peer holds it, and a relay keeps the
    /// author's or an admin's seal over a later change than the one it
    /// passes on: the simulator found such changes refused as unsealed).
    /// Each way runs from a change no seal reaches up to a kept seal's
    /// change above it; the receiver lacks every change on it (they are
    /// built on one it lacks).
    fn ways_to_seals(
        &mut self,
        key: &DocKey,
        judge: &Judge,
        changes: &[Change],
        stored: &[Seal],
    ) -> Result<Vec<Change>> {
        let name = key.to_string();
        let me = self.device.clone();
        let mut batch: Vec<Change> = changes.to_vec();
        let mut more: Vec<Change> = Vec::new();
        // Each round adds the ways of what the last one added; a few are
        // plenty (an admin's seal reaches everything on its way at once).
        for _ in 0..4 {
            let links = judge.links(&batch);
            let covered = seal::covered(&name, &links, stored, &mut |d| judge.power(d));
            let lacking: Vec<&Link> = links
                .iter()
                .zip(covered)
                .filter(|(l, c)| !c && !fixed(&l.owner) && l.owner.as_ref() != Some(&me))
                .map(|(l, _)| l)
                .collect();
            if lacking.is_empty() {
                break;
            }
            let mut sent: std::collections::HashSet<ChangeHash> =
                batch.iter().map(Change::hash).collect();
            let d = self.doc(key)?;
            let mut found = Vec::new();
            for l in lacking {
                let vouching = stored.iter().filter(|s| {
                    s.holds(&name)
                        && (judge.is_admin(&s.signer()) || l.owner.as_ref() == Some(&s.signer()))
                });
                let way = way_up(d.document(), l.hash, vouching.flat_map(Seal::sealed));
                for h in way.unwrap_or_default() {
                    if sent.insert(h)
                        && let Some(c) = d.get_change_by_hash(&h)
                    {
                        found.push(c);
                    }
                }
            }
            if found.is_empty() {
                break;
            }
            batch.extend(found.iter().cloned());
            more.extend(found);
        }
        Ok(more)
    }

    /// The seals of an entry that hold and whose sealed changes the
    /// document now holds, kept (the latest of each signer) so that this
    /// device can pass on what they cover.
    pub(super) fn seals_noted(
        &mut self,
        key: &DocKey,
        seals: &[Seal],
    ) -> Result<Option<(String, Vec<u8>)>> {
        if seals.is_empty() {
            return Ok(None);
        }
        let name = key.to_string();
        let mut stored = self.stored_seals(key)?;
        let d = self.doc(key)?.document();
        let mut changed = false;
        for s in seals {
            if !s.holds(&name) || s.sealed().any(|h| d.get_change_meta_by_hash(&h).is_none()) {
                continue;
            }
            let signer = s.signer();
            // A seal is kept unless one of its signer's kept covers what it
            // does (one it holds already among them); it replaces those it covers. The one received last is
            // not always the newest: a relay passes on an admin's seal over
            // heads older than one this device holds (the simulator found
            // the newer one replaced, and what only it covered refused
            // at the next device).
            if stored
                .iter()
                .any(|k| k.signer() == signer && covers(d, k, s))
            {
                continue;
            }
            stored.retain(|k| k.signer() != signer || !covers(d, s, k));
            stored.push(s.clone());
            let mine = stored.iter().filter(|k| k.signer() == signer).count();
            if mine > MAX_SEALS_PER_SIGNER
                && let Some(oldest) = stored.iter().position(|k| k.signer() == signer)
            {
                stored.remove(oldest);
            }
            changed = true;
        }
        Ok(changed.then(|| Self::seals_setting(key, &stored)))
    }
}

/// Whether everything `b` seals is in the past of what `a` seals (both
/// held by `d`): for two seals of one change each under one actor, the
/// later sequence number; else from the change graph.
fn covers(d: &automerge::Automerge, a: &Seal, b: &Seal) -> bool {
    let one = |s: &Seal| match s.hashes.as_slice() {
        [h] => d
            .get_change_meta_by_hash(&ChangeHash(*h))
            .map(|m| (m.actor.into_owned(), m.seq)),
        _ => None,
    };
    if let (Some((x, n)), Some((y, m))) = (one(a), one(b))
        && x == y
    {
        return n >= m;
    }
    let after: std::collections::HashSet<ChangeHash> = d
        .get_changes_meta(&a.sealed().collect::<Vec<_>>())
        .into_iter()
        .map(|m| m.hash)
        .collect();
    b.sealed().all(|h| !after.contains(&h))
}

/// The shortest way from just above `from` up to one of `sealed` (changes
/// a seal vouching for `from` is over), if one is built on `from`: found
/// walking down from them, no further than the changes `from` is not
/// built on. Empty when `from` is sealed itself.
fn way_up(
    d: &automerge::Automerge,
    from: ChangeHash,
    sealed: impl Iterator<Item = ChangeHash>,
) -> Option<Vec<ChangeHash>> {
    let above: std::collections::HashSet<ChangeHash> = d
        .get_changes_meta(&[from])
        .into_iter()
        .map(|m| m.hash)
        .collect();
    // Each change reached, and the one above it it was reached from.
    let mut up: std::collections::HashMap<ChangeHash, Option<ChangeHash>> =
        std::collections::HashMap::new();
    let mut todo: std::collections::VecDeque<ChangeHash> = Default::default();
    for h in sealed {
        if h == from {
            return Some(Vec::new());
        }
        if above.contains(&h) && up.insert(h, None).is_none() {
            todo.push_back(h);
        }
    }
    while let Some(h) = todo.pop_front() {
        let Some(meta) = d.get_change_meta_by_hash(&h) else {
            continue;
        };
        for dep in meta.deps {
            if dep == from {
                let mut way = vec![h];
                let mut at = h;
                while let Some(Some(next)) = up.get(&at) {
                    way.push(*next);
                    at = *next;
                }
                return Some(way);
            }
            if above.contains(&dep) && !up.contains_key(&dep) {
                up.insert(dep, Some(h));
                todo.push_back(dep);
            }
        }
    }
    None
}

/// Most seals of one signer a device keeps for a document (an admin's
/// over heads none of which covers the others').
const MAX_SEALS_PER_SIGNER: usize = 8;

/// The changes of a batch no other change of it is built on.
fn batch_heads(changes: &[Change]) -> Vec<ChangeHash> {
    let below: std::collections::HashSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    changes
        .iter()
        .map(Change::hash)
        .filter(|h| !below.contains(h))
        .collect()
}
