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
