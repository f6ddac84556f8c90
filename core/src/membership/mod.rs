//! Who belongs to a space, decided the same way on every device from what
//! the roster document holds. automerge does not authenticate who wrote a
//! value, so every statement about membership is signed, and the roster
//! keeps them as an append-only set (docs/SECURITY.md, "Membership"):
//!
//! - The **founding** of a space names the creator's public key and a
//!   nonce; the space id is their hash. Nobody can claim to have founded a
//!   space without finding a preimage of its id, and of the values written
//!   at the founding's key, or kept among the statements, only the one
//!   that hashes to the id counts.
//! - A **statement** adds a device (with its role and who carries it — a
//!   later one for the same device changes them) or revokes it. It is
//!   signed by the admin who makes it, over the space id and the
//!   statement's exact JSON, and names the statements its signer held
//!   (`after`): the causal order every device judges it by. It is stored
//!   under the hash of its bytes, so no later write can replace it with
//!   another, and the document's structure check (`doc::vet`) refuses any
//!   change that deletes or overwrites one.
//! - A statement counts when its signer was an admin **when it signed**:
//!   the founder, or a device whose latest add in the statement's causal
//!   past made it admin, and which no counting revocation in that past
//!   revoked. A non-admin's signature never counts, whatever it says.
//! - A **revocation is final**: a device revoked by a counting revocation
//!   is revoked for good in that space. Revoking an admin keeps what it
//!   signed before (in the revocation's causal past) and cuts what it
//!   signed concurrently or after — a thief with a stolen admin phone
//!   cannot backdate. Two admins revoking each other at once: the senior
//!   one's revocation (the founder, then admins in the order they were made
//!   admin) counts, the other is cut.
//! - **Member entries of format 2** (`SignedMember`, one register per
//!   device in the roster's `members` map) are read as statements too, with
//!   no causal order among themselves: an entry counts when its signer was
//!   ever made admin by such entries from the founder, a revocation among
//!   them is final, and a revocation by a statement cuts the revoked
//!   admin's entries it did not know. Every membership write of this build
//!   copies them into the statement set (where they can no longer be
//!   overwritten) and writes its own statement's twin there, so that older
//!   builds still admit the devices this one enrolls.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::{self, Identity};
use crate::model::{DeviceId, Member, Role, SpaceId, Staff, Timestamp};

mod ledger;
pub use ledger::{Ledger, admits, proof_for, standing};

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER.decode(s.as_bytes()).ok()
}

/// `identity`'s public key and its signature of `message`, both hex, as
/// every signed record here carries them.
fn signed_hex(identity: &Identity, message: &[u8]) -> Result<(String, String)> {
    Ok((hex(&identity.public_key()?), hex(&identity.sign(message)?)))
}

/// Whether `signature` (hex) over `message` was made by the key `key`
/// (hex), and that key is device `by`'s.
fn signed_by(key: &str, signature: &str, message: &[u8], by: &DeviceId) -> bool {
    let (Some(key), Some(sig)) = (unhex(key), unhex(signature)) else {
        return false;
    };
    &identity::device_of_public_key(&key) == by && identity::verify(&key, message, &sig)
}

/// What an area space's founding nonce begins with: the space id commits
/// to the nonce, so whether a space is an area space (where partners of
/// other agencies sync) or an office's own (where they never do) is fixed
/// when it is made and cannot be changed by anyone.
const AREA_NONCE: &[u8] = b"area";

/// Whether a device of `role` syncs a space (`area`: an area space):
/// a partner — another agency's device — syncs only area spaces, which
/// hold the reduced records of consented recipients; an office's own space
/// holds everything about its clients.
pub fn syncs(area: bool, role: crate::model::Role) -> bool {
    area || role != crate::model::Role::Partner
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
        Self::made(identity, false)
    }

    /// A new area space founded by `identity` (see [`Founding::is_area`]).
    pub fn new_area(identity: &Identity) -> Result<(SpaceId, Founding)> {
        Self::made(identity, true)
    }

    fn made(identity: &Identity, area: bool) -> Result<(SpaceId, Founding)> {
        let random = *uuid::Uuid::new_v4().as_bytes();
        let mut nonce = if area {
            AREA_NONCE.to_vec()
        } else {
            Vec::new()
        };
        nonce.extend_from_slice(&random);
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

    /// Whether it founded an area space: one shared by several agencies,
    /// where partners sync. Spaces made before area spaces were marked
    /// (a 16-byte nonce) are offices' own.
    pub fn is_area(&self) -> bool {
        unhex(&self.nonce)
            .is_some_and(|n| n.len() == AREA_NONCE.len() + 16 && n.starts_with(AREA_NONCE))
    }

    /// The creator, if this founding made `space`.
    pub fn creator_of(&self, space: &SpaceId) -> Option<DeviceId> {
        (self.space_id().as_ref() == Some(space))
            .then(|| unhex(&self.key).map(|k| identity::device_of_public_key(&k)))
            .flatten()
    }
}

/// A member entry of format 2 as the roster's `members` map holds it: the
/// entry and its signature (see the module's comment).
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
        let (key, signature) = signed_hex(identity, &signed_bytes(space, &member))?;
        Ok(SignedMember {
            key,
            signature,
            member,
        })
    }

    /// Whether the signature holds and was made by the claimed signer.
    pub fn verify(&self, space: &SpaceId) -> bool {
        signed_by(
            &self.key,
            &self.signature,
            &signed_bytes(space, &self.member),
            claimed_signer(&self.member),
        )
    }
}

/// A disaster exception as the area space keeps it: the exception's fields
/// (older builds read them as they are) and the declaring admin's
/// signature over them. Only a signed one counts (docs/SECURITY.md,
/// "Sharing"): an area member cannot forge one or extend another's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedException {
    /// The exception.
    #[serde(flatten)]
    pub exception: crate::model::Exception,
    /// The declaring device's public key (uncompressed P-256 point, hex).
    pub key: String,
    /// ECDSA P-256 SHA-256 signature (hex) over `anpi-exception/v1`, the
    /// area space's id and the exception's JSON.
    pub signature: String,
}

fn exception_bytes(area: &SpaceId, e: &crate::model::Exception) -> Vec<u8> {
    let mut out = format!("anpi-exception/v1\n{area}\n").into_bytes();
    out.extend(serde_json::to_vec(e).expect("an exception always serializes"));
    out
}

impl SignedException {
    /// Sign `exception` for area space `area` with `identity` (its `by`
    /// must be the identity's device for it to count).
    pub fn sign(
        area: &SpaceId,
        exception: crate::model::Exception,
        identity: &Identity,
    ) -> Result<Self> {
        let (key, signature) = signed_hex(identity, &exception_bytes(area, &exception))?;
        Ok(SignedException {
            key,
            signature,
            exception,
        })
    }

    /// Whether the device it names as declaring it signed it, as it is,
    /// for `area`.
    pub fn verify(&self, area: &SpaceId) -> bool {
        signed_by(
            &self.key,
            &self.signature,
            &exception_bytes(area, &self.exception),
            &self.exception.by,
        )
    }
}

/// What a statement says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "act", rename_all = "snake_case")]
pub enum Act {
    /// Add the device, or change its role or who carries it.
    Add {
        /// The device.
        device: DeviceId,
        /// Who carries it.
        staff: Staff,
        /// What they may do.
        role: Role,
    },
    /// Revoke the device, for good.
    Revoke {
        /// The device.
        device: DeviceId,
    },
}

impl Act {
    /// The device the statement is about.
    pub fn device(&self) -> &DeviceId {
        match self {
            Act::Add { device, .. } | Act::Revoke { device } => device,
        }
    }
}

/// One signed statement about a space's membership (see the module's
/// comment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// What it says.
    pub act: Act,
    /// The admin device that signs it.
    pub by: DeviceId,
    /// When, by the signer's clock (shown; the order is `after`).
    pub at: Timestamp,
    /// The hashes of the statements its signer held when it signed (the
    /// heads of the space's statements, and the signer's own admin add):
    /// its causal past.
    #[serde(default)]
    pub after: Vec<String>,
}

/// A statement as the roster keeps it, under the hash of its bytes
/// ([`entry_key`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// A statement of this format: its JSON exactly as signed, the signer's
    /// public key (hex) and the signature (hex) over `anpi-statement/v1`,
    /// the space id and that JSON.
    Signed {
        /// The statement's JSON.
        statement: String,
        /// The signer's public key (uncompressed P-256 point, hex).
        key: String,
        /// The signature (hex).
        signature: String,
    },
    /// A member entry of format 2, kept as a statement.
    Legacy(SignedMember),
    /// The space's founding, kept here too: no later write to the space's
    /// `founding` register can then hide it.
    Founding(Founding),
}

impl Entry {
    /// The bytes the roster keeps, and their key.
    pub fn stored(&self) -> (String, String) {
        let text = serde_json::to_string(self).expect("an entry always serializes");
        (entry_key(&text), text)
    }
}

/// The key a statement is kept under: the hash of its stored bytes.
pub fn entry_key(stored: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"anpi-statement/v1\n");
    ctx.update(stored.as_bytes());
    hex(&ctx.finish().as_ref()[..16])
}

fn statement_bytes(space: &SpaceId, statement: &str) -> Vec<u8> {
    let mut out = format!("anpi-statement/v1\n{space}\n").into_bytes();
    out.extend_from_slice(statement.as_bytes());
    out
}

/// Sign `statement` for `space` with `identity` (its `by` must be the
/// identity's device for it to count).
pub fn sign(space: &SpaceId, statement: &Statement, identity: &Identity) -> Result<Entry> {
    let text = serde_json::to_string(statement).expect("a statement always serializes");
    let (key, signature) = signed_hex(identity, &statement_bytes(space, &text))?;
    Ok(Entry::Signed {
        statement: text,
        key,
        signature,
    })
}

/// Whether `signature` over `text` holds for `space`, by the key of the
/// device `by` (a process-wide memory of checked signatures: the handshake
/// and every roster change judge the same statements again).
fn verify_statement(
    space: &SpaceId,
    text: &str,
    key: &str,
    signature: &str,
    by: &DeviceId,
) -> bool {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static CHECKED: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [space.as_str(), text, key, signature] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ctx.finish().as_ref());
    let checked = CHECKED.get_or_init(Default::default);
    if checked
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&digest)
    {
        return true;
    }
    let ok = signed_by(key, signature, &statement_bytes(space, text), by);
    if ok {
        let mut set = checked.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() > 100_000 {
            set.clear();
        }
        set.insert(digest);
    }
    ok
}

/// What a device shows a peer that has not heard of it yet (enrolled after
/// the peer last synced): per space, its own add statement and those of the
/// admins it rests on, up to the space's founder. The peer holds the
/// space's founding statement, so it checks every signature itself —
/// nobody can make a statement count without an admin's key — and adds
/// them to what it knows, where a revocation it knows stays final.
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
    /// The format-2 entries of the same chain, for peers of older builds
    /// (which read only these).
    #[serde(default)]
    pub entries: Vec<SignedMember>,
    /// The statements, as the roster keeps them: the device's add first,
    /// then its signer's, and so on.
    #[serde(default)]
    pub statements: Vec<String>,
}

/// The longest chain of admins a proof may name (each added by the next).
const MAX_PROOF_CHAIN: usize = 8;

/// The most a proof may take when unpacked (a peer's bytes).
const MAX_PROOF_BYTES: u64 = 64 * 1024;

impl Proof {
    /// The compact form carried in a certificate: JSON, deflated.
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

#[cfg(test)]
mod tests;
