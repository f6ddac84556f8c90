//! Who belongs to a space, decided the same way on every device from what
//! the roster document holds. automerge does not authenticate who wrote a
//! value, so every statement about membership is signed:
//!
//! - The **founding** of a space names the creator's public key and a
//!   nonce; the space id is their hash. Nobody can claim to have founded a
//!   space without finding a preimage of its id.
//! - Every **member entry** (an add, a role change, a revocation) is signed
//!   by the admin who wrote it, over the space id and the entry. The signer
//!   must be an admin — the creator, or a member an admin made admin.
//!
//! An entry whose signature does not verify, or whose signer is not an
//! admin, does not count; it is shown as such (see [`MemberStanding`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::{self, Identity};
use crate::model::{DeviceId, Member, MemberStanding, Role, SpaceId};

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER.decode(s.as_bytes()).ok()
}

/// The statement that creates a space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Founding {
    /// The creator's public key (uncompressed P-256 point, hex).
    pub key: String,
    /// Random bytes (hex) making the id unique.
    pub nonce: String,
}

impl Founding {
    /// A new space founded by `identity`: its id and founding statement.
    pub fn new(identity: &Identity) -> Result<(SpaceId, Founding)> {
        let nonce = *uuid::Uuid::new_v4().as_bytes();
        let founding = Founding {
            key: hex(&identity.public_key()?),
            nonce: hex(&nonce),
        };
        let id = founding
            .space_id()
            .ok_or_else(|| Error::invalid("a founding statement of malformed keys"))?;
        Ok((id, founding))
    }

    /// The space id this founding makes, if it is well-formed.
    pub fn space_id(&self) -> Option<SpaceId> {
        let key = unhex(&self.key)?;
        let nonce = unhex(&self.nonce)?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"anpi-space/v1\n");
        ctx.update(&key);
        ctx.update(&nonce);
        Some(SpaceId(hex(&ctx.finish().as_ref()[..16])))
    }

    /// The creator, if this founding made `space`.
    pub fn creator_of(&self, space: &SpaceId) -> Option<DeviceId> {
        (self.space_id().as_ref() == Some(space))
            .then(|| unhex(&self.key).map(|k| identity::device_of_public_key(&k)))
            .flatten()
    }
}

/// A member entry as the roster holds it: the entry and its signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMember {
    /// The entry.
    pub member: Member,
    /// The signer's public key (uncompressed P-256 point, hex).
    pub key: String,
    /// ECDSA P-256 SHA-256 signature over the space id and the entry (hex).
    pub signature: String,
}

/// The device an entry says signed it: the revoker for a revocation, else
/// the one who added it.
fn claimed_signer(m: &Member) -> &DeviceId {
    m.revoked.as_ref().map_or(&m.added_by, |r| &r.by)
}

fn signed_bytes(space: &SpaceId, member: &Member) -> Vec<u8> {
    let mut out = format!("anpi-member/v1\n{space}\n").into_bytes();
    out.extend(serde_json::to_vec(member).expect("a member always serializes"));
    out
}

impl SignedMember {
    /// Sign `member` for `space` with `identity` (which must be the entry's
    /// claimed signer for it to count).
    pub fn sign(space: &SpaceId, member: Member, identity: &Identity) -> Result<Self> {
        let signature = identity.sign(&signed_bytes(space, &member))?;
        Ok(SignedMember {
            key: hex(&identity.public_key()?),
            signature: hex(&signature),
            member,
        })
    }

    /// Whether the signature holds and was made by the claimed signer.
    pub fn verify(&self, space: &SpaceId) -> bool {
        let (Some(key), Some(sig)) = (unhex(&self.key), unhex(&self.signature)) else {
            return false;
        };
        &identity::device_of_public_key(&key) == claimed_signer(&self.member)
            && identity::verify(&key, &signed_bytes(space, &self.member), &sig)
    }
}

/// The standing of every member entry of `space`: `entries` holds, per
/// device key of the member map, every concurrent version (`None` for one
/// that could not be read).
pub fn standing(
    space: &SpaceId,
    founding: Option<&Founding>,
    entries: &[(String, Vec<Option<SignedMember>>)],
) -> Vec<(Member, MemberStanding)> {
    let creator = founding.and_then(|f| f.creator_of(space));
    let mut chosen: Vec<Member> = Vec::new();
    let mut forged: Vec<Member> = Vec::new();
    for (key, versions) in entries {
        let valid: Vec<&Member> = versions
            .iter()
            .flatten()
            .filter(|v| v.verify(space) && v.member.device.as_str() == key)
            .map(|v| &v.member)
            .collect();
        // Where two admins wrote a device's entry at the same time, a
        // revocation wins: a lost phone must not come back because someone
        // renamed it concurrently. Otherwise the winner, last in order.
        match valid
            .iter()
            .rev()
            .find(|m| m.revoked.is_some())
            .or(valid.last())
        {
            Some(m) => chosen.push((*m).clone()),
            None => forged.extend(versions.iter().flatten().map(|v| v.member.clone())),
        }
    }
    let mut admins: BTreeSet<&DeviceId> = creator.iter().collect();
    // Grow the admin set to a fixed point: an admin added by an admin.
    loop {
        let before = admins.len();
        for m in &chosen {
            let revoked = m.revoked.as_ref().is_some_and(|r| admins.contains(&r.by));
            if m.role == Role::Admin && !revoked && admins.contains(&m.added_by) {
                admins.insert(&m.device);
            }
        }
        if admins.len() == before {
            break;
        }
    }
    let mut out: Vec<(Member, MemberStanding)> = chosen
        .iter()
        .map(|m| {
            let standing = if !admins.contains(&m.added_by) {
                MemberStanding::Unauthorised
            } else if m.revoked.as_ref().is_some_and(|r| admins.contains(&r.by)) {
                MemberStanding::Revoked
            } else {
                MemberStanding::Active
            };
            (m.clone(), standing)
        })
        .collect();
    out.extend(
        forged
            .into_iter()
            .map(|m| (m, MemberStanding::BadSignature)),
    );
    out
}

/// What a device shows a peer that has not heard of it yet (enrolled after
/// the peer last synced): per space, its own signed entry and the entries
/// of the admins whose signatures it rests on, up to the space's founder.
/// The peer holds the space's founding statement, so it checks every
/// signature itself — nobody can make an entry count without an admin's key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// One part per space the device is an active member of (and did not
    /// found: a founder's key is its proof).
    pub spaces: Vec<SpaceProof>,
}

/// A device's membership of one space (see [`Proof`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceProof {
    /// The space.
    pub space: SpaceId,
    /// The device's entry first, then its signer's, and so on.
    pub entries: Vec<SignedMember>,
}

/// The longest chain of admins a proof may name (each added by the next).
const MAX_PROOF_CHAIN: usize = 8;

/// The most a proof may take when unpacked (a peer's bytes).
const MAX_PROOF_BYTES: u64 = 64 * 1024;

impl Proof {
    /// The compact form carried in a certificate: the JSON the entries are
    /// signed in (their signatures cover that form), deflated.
    pub fn encode(&self) -> Vec<u8> {
        use std::io::Write;
        let json = serde_json::to_vec(self).expect("a proof always serializes");
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&json).expect("writing to memory");
        z.finish().expect("writing to memory")
    }

    /// From the compact form; `None` for anything else (a peer's bytes,
    /// unpacked to at most 64 KiB).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        use std::io::Read;
        let mut json = Vec::new();
        flate2::read::DeflateDecoder::new(bytes)
            .take(MAX_PROOF_BYTES)
            .read_to_end(&mut json)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Whether it proves nothing.
    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }
}

/// `device`'s proof for `space` from the entries its own roster holds, or
/// `None` when it is not an active member there or founded it.
pub fn proof_for(
    space: &SpaceId,
    founding: Option<&Founding>,
    entries: &[(String, Vec<Option<SignedMember>>)],
    device: &DeviceId,
) -> Option<SpaceProof> {
    let creator = founding.and_then(|f| f.creator_of(space));
    if creator.as_ref() == Some(device) {
        return None;
    }
    let standing = standing(space, founding, entries);
    let active = |d: &DeviceId| {
        standing
            .iter()
            .any(|(m, s)| &m.device == d && *s == MemberStanding::Active)
    };
    if !active(device) {
        return None;
    }
    // The version of each entry that counts: the one `standing` chose.
    let signed = |d: &DeviceId| -> Option<SignedMember> {
        let chosen = standing.iter().find(|(m, _)| &m.device == d)?.0.clone();
        entries
            .iter()
            .find(|(key, _)| key == d.as_str())?
            .1
            .iter()
            .flatten()
            .find(|v| v.member == chosen && v.verify(space))
            .cloned()
    };
    let mut chain = Vec::new();
    let mut next = device.clone();
    while chain.len() < MAX_PROOF_CHAIN {
        let entry = signed(&next)?;
        let signer = entry.member.added_by.clone();
        chain.push(entry);
        if creator.as_ref() == Some(&signer) || chain.iter().any(|e| e.member.device == signer) {
            break;
        }
        next = signer;
    }
    Some(SpaceProof {
        space: space.clone(),
        entries: chain,
    })
}

/// Whether `device` is an active member of `space` by what this device
/// knows (`entries`) together with the device's `proof`. Only entries of
/// devices this one has no entry of are taken from the proof: a revocation
/// (or any other version) it knows wins over what the peer shows.
pub fn admits(
    space: &SpaceId,
    founding: Option<&Founding>,
    entries: &[(String, Vec<Option<SignedMember>>)],
    proof: &SpaceProof,
    device: &DeviceId,
) -> bool {
    if &proof.space != space || proof.entries.len() > MAX_PROOF_CHAIN {
        return false;
    }
    let mut merged = entries.to_vec();
    for e in &proof.entries {
        let key = e.member.device.as_str();
        if !merged.iter().any(|(k, _)| k == key) {
            merged.push((key.to_string(), vec![Some(e.clone())]));
        }
    }
    standing(space, founding, &merged)
        .iter()
        .any(|(m, s)| &m.device == device && *s == MemberStanding::Active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Revocation, Staff, Timestamp};

    struct Dev(Identity);

    impl Dev {
        fn new() -> Self {
            Dev(Identity::generate().unwrap())
        }
        fn id(&self) -> DeviceId {
            self.0.device().unwrap()
        }
    }

    fn entry(space: &SpaceId, who: &Dev, by: &Dev, role: Role) -> SignedMember {
        let m = Member {
            device: who.id(),
            staff: Staff::default(),
            role,
            added_by: by.id(),
            added_at: Timestamp::from_millis(0),
            revoked: None,
        };
        SignedMember::sign(space, m, &by.0).unwrap()
    }

    fn revoke(space: &SpaceId, mut e: SignedMember, by: &Dev) -> SignedMember {
        e.member.revoked = Some(Revocation {
            by: by.id(),
            at: Timestamp::from_millis(1),
        });
        SignedMember::sign(space, e.member, &by.0).unwrap()
    }

    fn table(entries: Vec<SignedMember>) -> Vec<(String, Vec<Option<SignedMember>>)> {
        entries
            .into_iter()
            .map(|e| (e.member.device.0.clone(), vec![Some(e)]))
            .collect()
    }

    #[test]
    fn only_admins_add_members_and_revoke_them_and_forgeries_count_for_nothing() {
        let [creator, admin, carer, lost, kept, outsider_added, forged] =
            std::array::from_fn(|_| Dev::new());
        let (space, founding) = Founding::new(&creator.0).unwrap();
        let mut tampered = entry(&space, &forged, &admin, Role::Admin);
        tampered.member.role = Role::Admin;
        tampered.member.staff.name = "書き換え".into();
        let entries = table(vec![
            entry(&space, &creator, &creator, Role::Admin),
            // An admin added by the creator may add and revoke.
            entry(&space, &admin, &creator, Role::Admin),
            entry(&space, &carer, &admin, Role::CareManager),
            revoke(
                &space,
                entry(&space, &lost, &creator, Role::CareManager),
                &admin,
            ),
            // A care manager's revocation does not count.
            revoke(
                &space,
                entry(&space, &kept, &creator, Role::CareManager),
                &carer,
            ),
            // Nor does a member a care manager added.
            entry(&space, &outsider_added, &carer, Role::Partner),
            // An entry changed after it was signed.
            tampered,
        ]);
        use MemberStanding::*;
        let got: Vec<MemberStanding> = standing(&space, Some(&founding), &entries)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(
            got,
            [
                Active,
                Active,
                Active,
                Revoked,
                Active,
                Unauthorised,
                BadSignature
            ]
        );
        // Another space's founding makes nobody an admin here.
        let (_, other) = Founding::new(&creator.0).unwrap();
        assert!(
            standing(&space, Some(&other), &entries)
                .iter()
                .all(|(_, s)| *s != Active)
        );
    }

    /// B was enrolled after A last synced: A has never heard of B. B's
    /// proof (its entry, signed by an admin, and that admin's entry)
    /// admits it; a revocation A knows, or a forged entry, does not.
    #[test]
    fn a_device_proves_a_membership_the_peer_has_not_heard_of() {
        let [creator, admin, a, b, lost] = std::array::from_fn(|_| Dev::new());
        let (space, founding) = Founding::new(&creator.0).unwrap();
        let b_entry = entry(&space, &b, &admin, Role::CareManager);
        let admin_entry = entry(&space, &admin, &creator, Role::Admin);
        let lost_entry = entry(&space, &lost, &creator, Role::CareManager);
        // What B's roster holds: everything.
        let at_b = table(vec![
            entry(&space, &creator, &creator, Role::Admin),
            admin_entry.clone(),
            entry(&space, &a, &creator, Role::CareManager),
            b_entry.clone(),
            lost_entry.clone(),
        ]);
        // What A's holds: neither the admin nor B; the lost phone revoked.
        let at_a = table(vec![
            entry(&space, &creator, &creator, Role::Admin),
            entry(&space, &a, &creator, Role::CareManager),
            revoke(&space, lost_entry.clone(), &creator),
        ]);
        let proof = proof_for(&space, Some(&founding), &at_b, &b.id()).unwrap();
        assert_eq!(proof.entries, vec![b_entry.clone(), admin_entry.clone()]);
        assert!(admits(&space, Some(&founding), &at_a, &proof, &b.id()));
        let wire = Proof {
            spaces: vec![proof.clone()],
        };
        assert_eq!(Proof::decode(&wire.encode()), Some(wire));
        // The founder proves nothing: its key is in the founding.
        assert!(proof_for(&space, Some(&founding), &at_b, &creator.id()).is_none());
        // The lost phone shows its old entry: A knows the revocation.
        let old = proof_for(
            &space,
            Some(&founding),
            &table(vec![
                entry(&space, &creator, &creator, Role::Admin),
                lost_entry,
            ]),
            &lost.id(),
        )
        .unwrap();
        assert!(!admits(&space, Some(&founding), &at_a, &old, &lost.id()));
        // A proof whose entry was signed by a non-admin, or changed after
        // signing, or made for another space, admits nobody.
        let by_carer = SpaceProof {
            space: space.clone(),
            entries: vec![entry(&space, &b, &a, Role::Admin)],
        };
        assert!(!admits(&space, Some(&founding), &at_a, &by_carer, &b.id()));
        let mut changed = proof.clone();
        changed.entries[0].member.role = Role::Admin;
        assert!(!admits(&space, Some(&founding), &at_a, &changed, &b.id()));
        let (elsewhere, _) = Founding::new(&creator.0).unwrap();
        let mut moved = proof;
        moved.space = elsewhere;
        assert!(!admits(&space, Some(&founding), &at_a, &moved, &b.id()));
    }

    #[test]
    fn an_entry_signed_for_another_space_does_not_count() {
        let creator = Dev::new();
        let carer = Dev::new();
        let (space, founding) = Founding::new(&creator.0).unwrap();
        let (elsewhere, _) = Founding::new(&creator.0).unwrap();
        let replayed = entry(&elsewhere, &carer, &creator, Role::CareManager);
        let entries = table(vec![
            entry(&space, &creator, &creator, Role::Admin),
            replayed,
        ]);
        let got = standing(&space, Some(&founding), &entries);
        assert_eq!(got[1].1, MemberStanding::BadSignature);
    }
}
