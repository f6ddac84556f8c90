//! Judging a space's statements: which count, in causal order, and every
//! device's standing (the rules are in the module's comment above).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::{MemberStanding, Revocation};

/// A space's membership as its roster holds it: the founding, and every
/// statement as (key, stored bytes) — each version the roster holds, in
/// any order, duplicates allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The founding that hashes to the space id, if the roster holds it.
    pub founding: Option<Founding>,
    /// Every statement.
    pub entries: Vec<(String, String)>,
}

/// One statement whose signature holds, as judged.
struct Said {
    key: String,
    stored: String,
    by: DeviceId,
    act: Act,
    at: Timestamp,
    after: Vec<String>,
    /// The format-2 entry, when it is one.
    legacy: Option<SignedMember>,
}

/// A set of statement indices.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn union(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// Least privilege first: of two concurrent role changes, the narrower
/// holds.
fn privilege(role: Role) -> u8 {
    match role {
        Role::Partner => 0,
        Role::CareManager => 1,
        Role::Admin => 2,
    }
}

/// The statements judged: in causal order, with what counts.
struct Judged {
    creator: Option<DeviceId>,
    said: Vec<Said>,
    /// Entries whose signature does not hold, as they would be shown.
    forged: Vec<Member>,
    /// `past[i]`: the statements causally before statement `i`.
    past: Vec<Bits>,
    adds: BTreeMap<DeviceId, Vec<usize>>,
    revokes: BTreeMap<DeviceId, Vec<usize>>,
    signed_by: BTreeMap<DeviceId, Vec<usize>>,
    counts: Vec<bool>,
}

/// What an entry would show, whether or not it counts.
fn shown(act: &Act, by: &DeviceId, at: Timestamp) -> Member {
    let (staff, role) = match act {
        Act::Add { staff, role, .. } => (staff.clone(), *role),
        Act::Revoke { .. } => (Staff::default(), Role::CareManager),
    };
    Member {
        device: act.device().clone(),
        staff,
        role,
        added_by: by.clone(),
        added_at: at,
        revoked: None,
    }
}

impl Judged {
    fn new(space: &SpaceId, ledger: &Ledger) -> Judged {
        let creator = ledger.founding.as_ref().and_then(|f| f.creator_of(space));
        let mut by_key: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, stored) in &ledger.entries {
            // A value that does not hash to its key is not a statement
            // (the structure check refuses it; an older copy may hold it).
            if entry_key(stored) == *key {
                by_key.insert(key, stored);
            }
        }
        let mut said = Vec::new();
        let mut forged = Vec::new();
        for (key, stored) in by_key {
            let Ok(entry) = serde_json::from_str::<Entry>(stored) else {
                continue;
            };
            match entry {
                Entry::Founding(_) => {}
                Entry::Signed {
                    statement,
                    key: public,
                    signature,
                } => {
                    let Ok(s) = serde_json::from_str::<Statement>(&statement) else {
                        continue;
                    };
                    if verify_statement(space, &statement, &public, &signature, &s.by) {
                        said.push(Said {
                            key: key.to_string(),
                            stored: stored.to_string(),
                            by: s.by,
                            act: s.act,
                            at: s.at,
                            after: s.after,
                            legacy: None,
                        });
                    } else {
                        forged.push(shown(&s.act, &s.by, s.at));
                    }
                }
                Entry::Legacy(m) => {
                    if !m.verify(space) {
                        forged.push(m.member);
                        continue;
                    }
                    let (act, by, at) = match &m.member.revoked {
                        Some(r) => (
                            Act::Revoke {
                                device: m.member.device.clone(),
                            },
                            r.by.clone(),
                            r.at,
                        ),
                        None => (
                            Act::Add {
                                device: m.member.device.clone(),
                                staff: m.member.staff.clone(),
                                role: m.member.role,
                            },
                            m.member.added_by.clone(),
                            m.member.added_at,
                        ),
                    };
                    said.push(Said {
                        key: key.to_string(),
                        stored: stored.to_string(),
                        by,
                        act,
                        at,
                        after: Vec::new(),
                        legacy: Some(m),
                    });
                }
            }
        }
        let said = causal_order(said);
        let n = said.len();
        let index: BTreeMap<&str, usize> = said
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.as_str(), i))
            .collect();
        let mut past: Vec<Bits> = Vec::with_capacity(n);
        for s in &said {
            let mut p = Bits::new(n);
            for parent in &s.after {
                if let Some(&j) = index.get(parent.as_str()) {
                    p.set(j);
                    let before = past[j].clone();
                    p.union(&before);
                }
            }
            past.push(p);
        }
        let mut adds: BTreeMap<DeviceId, Vec<usize>> = BTreeMap::new();
        let mut revokes: BTreeMap<DeviceId, Vec<usize>> = BTreeMap::new();
        let mut signed_by: BTreeMap<DeviceId, Vec<usize>> = BTreeMap::new();
        for (i, s) in said.iter().enumerate() {
            match &s.act {
                Act::Add { device, .. } => adds.entry(device.clone()).or_default().push(i),
                Act::Revoke { device } => revokes.entry(device.clone()).or_default().push(i),
            }
            signed_by.entry(s.by.clone()).or_default().push(i);
        }
        let mut judged = Judged {
            creator,
            said,
            forged,
            past,
            adds,
            revokes,
            signed_by,
            counts: vec![false; n],
        };
        judged.settle();
        judged
    }

    /// Of `device`'s add statements for which `within` holds, the latest:
    /// one no other of them follows; of concurrent ones, the narrowest role.
    fn latest_add(&self, device: &DeviceId, within: impl Fn(usize) -> bool) -> Option<usize> {
        let adds: Vec<usize> = self
            .adds
            .get(device)
            .map(|v| v.iter().copied().filter(|&i| within(i)).collect())
            .unwrap_or_default();
        adds.iter()
            .copied()
            .filter(|&i| !adds.iter().any(|&j| j != i && self.past[j].has(i)))
            .min_by_key(|&i| {
                let role = match &self.said[i].act {
                    Act::Add { role, .. } => privilege(*role),
                    Act::Revoke { .. } => u8::MAX,
                };
                (role, self.said[i].key.clone())
            })
    }

    /// Whether `signer` was an admin in the causal past of statement `i`,
    /// by the statements that count there.
    fn admin_at(&self, signer: &DeviceId, i: usize, counts: &[bool]) -> bool {
        let before = |j: usize| counts[j] && self.past[i].has(j);
        if self
            .revokes
            .get(signer)
            .is_some_and(|v| v.iter().any(|&j| before(j)))
        {
            return false;
        }
        if self.creator.as_ref() == Some(signer) {
            return true;
        }
        self.latest_add(signer, before).is_some_and(|j| {
            matches!(
                self.said[j].act,
                Act::Add {
                    role: Role::Admin,
                    ..
                }
            )
        })
    }

    /// Format-2 entries, which have no order among themselves: each counts
    /// when its signer was ever made admin by such entries from the
    /// founder.
    fn legacy_signers(&self) -> BTreeSet<DeviceId> {
        let mut admins: BTreeSet<DeviceId> = self.creator.iter().cloned().collect();
        loop {
            let before = admins.len();
            for s in self.said.iter().filter(|s| s.legacy.is_some()) {
                if let Act::Add {
                    device,
                    role: Role::Admin,
                    ..
                } = &s.act
                    && admins.contains(&s.by)
                {
                    admins.insert(device.clone());
                }
            }
            if admins.len() == before {
                return admins;
            }
        }
    }

    /// Which statements count, leaving out those `cut`.
    fn count(&self, cut: &[bool], legacy: &BTreeSet<DeviceId>) -> Vec<bool> {
        let mut counts = vec![false; self.said.len()];
        for (i, s) in self.said.iter().enumerate() {
            if cut[i] {
                continue;
            }
            counts[i] = if s.legacy.is_some() {
                legacy.contains(&s.by)
            } else {
                self.admin_at(&s.by, i, &counts)
            };
        }
        counts
    }

    /// What the counting revocations cut: every statement their device
    /// signed that is not in their causal past. The senior signer's
    /// revocation first, so that of two admins revoking each other at once
    /// the senior one's stands.
    fn cuts(&self, counts: &[bool]) -> Vec<bool> {
        let seniority = |d: &DeviceId| -> usize {
            if self.creator.as_ref() == Some(d) {
                return 0;
            }
            self.adds
                .get(d)
                .and_then(|v| {
                    v.iter().copied().find(|&j| {
                        counts[j]
                            && matches!(
                                self.said[j].act,
                                Act::Add {
                                    role: Role::Admin,
                                    ..
                                }
                            )
                    })
                })
                .map_or(usize::MAX, |j| j + 1)
        };
        let mut revocations: Vec<usize> = (0..self.said.len())
            .filter(|&i| {
                counts[i]
                    && self.said[i].legacy.is_none()
                    && matches!(self.said[i].act, Act::Revoke { .. })
            })
            .collect();
        revocations.sort_by_key(|&i| (seniority(&self.said[i].by), self.said[i].key.clone()));
        let mut cut = vec![false; self.said.len()];
        // A statement that takes admin away cuts the format-2 entries its
        // device signs outside its past too (those have no order of their
        // own to judge the signer's standing by).
        for (i, s) in self.said.iter().enumerate() {
            if let Act::Add { device, role, .. } = &s.act
                && counts[i]
                && s.legacy.is_none()
                && *role != Role::Admin
            {
                for &t in self
                    .signed_by
                    .get(device)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    if self.said[t].legacy.is_some() && !self.past[i].has(t) {
                        cut[t] = true;
                    }
                }
            }
        }
        for r in revocations {
            if cut[r] {
                continue;
            }
            for &s in self
                .signed_by
                .get(self.said[r].act.device())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if s != r && !self.past[r].has(s) {
                    cut[s] = true;
                }
            }
        }
        cut
    }

    /// Count and cut until nothing changes (cuts only ever grow once the
    /// first rounds have not settled, so this ends).
    fn settle(&mut self) {
        let legacy = self.legacy_signers();
        let mut cut = vec![false; self.said.len()];
        for round in 0..=self.said.len() + 32 {
            let counts = self.count(&cut, &legacy);
            let mut next = self.cuts(&counts);
            if round >= 32 {
                for (n, c) in next.iter_mut().zip(&cut) {
                    *n |= *c;
                }
            }
            if next == cut {
                self.counts = counts;
                return;
            }
            cut = next;
        }
        self.counts = self.count(&cut, &legacy);
    }

    /// The first counting revocation of `device`.
    fn revocation(&self, device: &DeviceId) -> Option<usize> {
        self.revokes
            .get(device)?
            .iter()
            .copied()
            .find(|&i| self.counts[i])
    }

    fn standing_of(&self, device: &DeviceId) -> MemberStanding {
        if self.revocation(device).is_some() {
            MemberStanding::Revoked
        } else if self.creator.as_ref() == Some(device)
            || self.latest_add(device, |i| self.counts[i]).is_some()
        {
            MemberStanding::Active
        } else {
            MemberStanding::Unauthorised
        }
    }

    /// Every device's entry and standing, by device id as the members
    /// register always listed them, then the forged entries.
    fn standing(&self) -> Vec<(Member, MemberStanding)> {
        let mut devices: Vec<&DeviceId> = self.creator.iter().collect();
        for (i, s) in self.said.iter().enumerate() {
            let d = s.act.device();
            let named = matches!(s.act, Act::Add { .. }) || self.counts[i];
            if named && !devices.contains(&d) {
                devices.push(d);
            }
        }
        devices.sort();
        let mut out = Vec::new();
        for d in devices {
            let add = self
                .latest_add(d, |i| self.counts[i])
                .or_else(|| self.latest_add(d, |_| true));
            let mut member = match add {
                Some(i) => shown(&self.said[i].act, &self.said[i].by, self.said[i].at),
                None => match self
                    .revocation(d)
                    .and_then(|i| self.said[i].legacy.as_ref())
                {
                    Some(m) => m.member.clone(),
                    None => Member {
                        device: d.clone(),
                        staff: Staff::default(),
                        role: Role::Admin,
                        added_by: d.clone(),
                        added_at: Timestamp::from_millis(0),
                        revoked: None,
                    },
                },
            };
            member.revoked = self.revocation(d).map(|i| Revocation {
                by: self.said[i].by.clone(),
                at: self.said[i].at,
            });
            out.push((member, self.standing_of(d)));
        }
        out.extend(
            self.forged
                .iter()
                .map(|m| (m.clone(), MemberStanding::BadSignature)),
        );
        out
    }
}

/// The statements in causal order (each after those it names), concurrent
/// ones by key; a statement whose past cannot be ordered is left out.
fn causal_order(said: Vec<Said>) -> Vec<Said> {
    let keys: BTreeSet<String> = said.iter().map(|s| s.key.clone()).collect();
    let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_key: BTreeMap<String, Said> = BTreeMap::new();
    for s in said {
        let parents: BTreeSet<&String> = s
            .after
            .iter()
            .filter(|p| keys.contains(*p) && **p != s.key)
            .collect();
        waiting.insert(s.key.clone(), parents.len());
        for p in parents {
            children.entry(p.clone()).or_default().push(s.key.clone());
        }
        by_key.insert(s.key.clone(), s);
    }
    let mut ready: BTreeSet<String> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| k.clone())
        .collect();
    let mut out = Vec::with_capacity(by_key.len());
    while let Some(k) = ready.pop_first() {
        for c in children.get(&k).map(Vec::as_slice).unwrap_or_default() {
            let n = waiting.get_mut(c).expect("a known statement");
            *n -= 1;
            if *n == 0 {
                ready.insert(c.clone());
            }
        }
        out.push(by_key.remove(&k).expect("each statement once"));
    }
    out
}

/// The standing of every device named in `space`'s statements.
pub fn standing(space: &SpaceId, ledger: &Ledger) -> Vec<(Member, MemberStanding)> {
    Judged::new(space, ledger).standing()
}

impl Ledger {
    /// Whether the space is an area space (its founding says so).
    pub fn is_area(&self) -> bool {
        self.founding.as_ref().is_some_and(Founding::is_area)
    }

    /// What a statement `signer` makes now names as its past: the heads of
    /// the statements that hold, and the signer's own admin add (so that a
    /// proof can carry the link from one to the other).
    pub fn after_for(&self, space: &SpaceId, signer: &DeviceId) -> Vec<String> {
        let j = Judged::new(space, self);
        let named: BTreeSet<&str> = j
            .said
            .iter()
            .flat_map(|s| s.after.iter().map(String::as_str))
            .collect();
        let mut after: BTreeSet<String> = j
            .said
            .iter()
            .filter(|s| !named.contains(s.key.as_str()))
            .map(|s| s.key.clone())
            .collect();
        if let Some(i) = j.latest_add(signer, |i| j.counts[i]) {
            after.insert(j.said[i].key.clone());
        }
        after.into_iter().collect()
    }

    /// The stored format-2 entries and the founding with no copy among
    /// the statements (`statements`: the keys the statement set holds), to
    /// be copied there.
    pub fn uncopied(&self, statements: &BTreeSet<String>) -> Vec<(String, String)> {
        let founding = self
            .founding
            .as_ref()
            .map(|f| Entry::Founding(f.clone()).stored());
        self.entries
            .iter()
            .cloned()
            .chain(founding)
            .filter(|(k, _)| !statements.contains(k))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect()
    }
}

/// `device`'s proof for `space` from the statements its own roster holds,
/// or `None` when it is not an active member there or founded it.
pub fn proof_for(space: &SpaceId, ledger: &Ledger, device: &DeviceId) -> Option<SpaceProof> {
    let j = Judged::new(space, ledger);
    if j.creator.as_ref() == Some(device) || j.standing_of(device) != MemberStanding::Active {
        return None;
    }
    let mut chain: Vec<usize> = Vec::new();
    let mut next = j.latest_add(device, |i| j.counts[i])?;
    while chain.len() < MAX_PROOF_CHAIN {
        chain.push(next);
        let signer = &j.said[next].by;
        if j.creator.as_ref() == Some(signer) {
            break;
        }
        let at = next;
        next = j.latest_add(signer, |i| j.counts[i] && j.past[at].has(i))?;
        if chain.contains(&next) {
            break;
        }
    }
    // The format-2 twin of each link, for peers of older builds.
    let entries = chain
        .iter()
        .filter_map(|&i| {
            let s = &j.said[i];
            if let Some(m) = &s.legacy {
                return Some(m.clone());
            }
            j.said.iter().find_map(|t| {
                let m = t.legacy.as_ref()?;
                (t.by == s.by && t.act == s.act).then(|| m.clone())
            })
        })
        .collect();
    Some(SpaceProof {
        space: space.clone(),
        entries,
        statements: chain.iter().map(|&i| j.said[i].stored.clone()).collect(),
    })
}

/// Whether `device` is an active member of `space` by what this device
/// knows (`ledger`) together with the device's `proof`. The proof's
/// statements join what this device knows, where a revocation stays final.
pub fn admits(space: &SpaceId, ledger: &Ledger, proof: &SpaceProof, device: &DeviceId) -> bool {
    if &proof.space != space
        || proof.statements.len() > MAX_PROOF_CHAIN
        || proof.entries.len() > MAX_PROOF_CHAIN
    {
        return false;
    }
    let mut merged = ledger.clone();
    merged
        .entries
        .extend(proof.statements.iter().map(|s| (entry_key(s), s.clone())));
    merged.entries.extend(
        proof
            .entries
            .iter()
            .map(|m| Entry::Legacy(m.clone()).stored()),
    );
    let area = ledger.is_area();
    Judged::new(space, &merged)
        .standing()
        .into_iter()
        .any(|(m, standing)| {
            &m.device == device && standing == MemberStanding::Active && super::syncs(area, m.role)
        })
}
