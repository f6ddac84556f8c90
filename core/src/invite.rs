//! Enrollment by invite: the office makes a code (text, and a QR code of the
//! same text) holding the office's addresses, a one-time secret, an expiry
//! and a commitment to the office's key id under the secret — no space id
//! and no device id, so a bystander who photographs the code cannot link it
//! to the space's mDNS tokens or to a device. The phone redeems it over
//! QUIC:
//!
//! - The phone connects with a certificate for its own key that also names
//!   `<invite id>-<proof>.invite.anpi`, where the proof is an HMAC of the
//!   phone's device id under the invite's secret. TLS 1.3 encrypts client
//!   certificates, so an eavesdropper never sees the proof, and the proof is
//!   bound to the phone's key, so it is useless to anyone else.
//! - The office accepts that one unknown key in the handshake only if the
//!   invite is pending, unexpired and the proof holds; it then adds the
//!   phone as a member (a signed entry) and marks the invite used, before
//!   the phone receives anything. A used or expired invite is refused in the
//!   handshake like any stranger.
//! - The phone accepts the office only by a key whose id the code commits
//!   to (layout 2), or names (layout 1, still read): nobody else can
//!   pose as the office, since that needs a key with that id.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{DeviceId, Role, SpaceId, Staff, Timestamp};

/// What the text code starts with (and the version of its layout).
pub const PREFIX: &str = "ANPI2-";
/// Codes of the first layout (space and office ids in the clear), still
/// read while one may be about.
const PREFIX_1: &str = "ANPI1-";
const NAME_SUFFIX: &str = ".invite.anpi";

/// An invite as the office makes and keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The space to join.
    pub space: SpaceId,
    /// The office device, proven by its key.
    pub office: DeviceId,
    /// Where the office listens (HOST:PORT).
    pub addresses: Vec<String>,
    /// Which invite.
    pub id: String,
    /// The one-time secret (16 bytes).
    pub secret: Vec<u8>,
    /// When it stops working.
    pub expires: Timestamp,
}

/// What the office keeps of an invite it made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The invite.
    pub invite: Invite,
    /// Who will carry the phone.
    pub staff: Staff,
    /// Their role.
    pub role: Role,
    /// Set once redeemed: by which device, when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<(DeviceId, Timestamp)>,
    /// The office's audit trail's last entry (its position) when the
    /// invite was made: an entry after it dated at or past `expires` shows
    /// the office lived past the invite's end, whatever its clock says
    /// when the invite is presented (a clock set back does not revive it).
    /// Judged by the trail's order, not its dates: a clock that was wrong
    /// before the invite was made does not end it early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_after_entry: Option<u64>,
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The proof a device gives for an invite: HMAC-SHA256 of its id under the
/// secret, 12 bytes.
fn proof(secret: &[u8], device: &DeviceId) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, format!("anpi-invite/v1\n{device}").as_bytes());
    hex(&tag.as_ref()[..12])
}

impl Invite {
    /// A new invite to `space` through `office` at `addresses`, valid until
    /// `expires`.
    pub fn new(
        space: SpaceId,
        office: DeviceId,
        addresses: Vec<String>,
        expires: Timestamp,
    ) -> Self {
        let random = *uuid::Uuid::new_v4().as_bytes();
        let id = *uuid::Uuid::new_v4().as_bytes();
        Invite {
            space,
            office,
            addresses,
            id: hex(&id[..8]),
            secret: random.to_vec(),
            expires,
        }
    }

    /// The text code (what the QR code holds too).
    pub fn encode(&self) -> String {
        let bytes = postcard::to_allocvec(&self.layout2()).expect("an invite always serializes");
        format!("{PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&bytes))
    }

    /// The code as the phone reads it.
    pub fn code(&self) -> Code {
        self.layout2().into()
    }

    fn layout2(&self) -> Layout2 {
        Layout2 {
            addresses: self.addresses.clone(),
            id: self.id.clone(),
            secret: self.secret.clone(),
            expires: self.expires,
            office: commitment(&self.secret, &self.office),
        }
    }

    /// The name a redeeming device puts in its certificate.
    pub fn redemption_name(&self, device: &DeviceId) -> String {
        self.code().redemption_name(device)
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }
}

/// The code's second layout, as it is on the wire.
#[derive(Serialize, Deserialize)]
struct Layout2 {
    addresses: Vec<String>,
    id: String,
    secret: Vec<u8>,
    expires: Timestamp,
    office: [u8; 16],
}

impl From<Layout2> for Code {
    fn from(c: Layout2) -> Self {
        Code {
            addresses: c.addresses,
            id: c.id,
            secret: c.secret,
            expires: c.expires,
            office: OfficePin::Committed(c.office),
        }
    }
}

/// The office's key id committed to under the invite's secret: the phone
/// checks the office's key against it, a bystander learns no id from it.
fn commitment(secret: &[u8], office: &DeviceId) -> [u8; 16] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, format!("anpi-invite-office/v2\n{office}").as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag.as_ref()[..16]);
    out
}

/// How a code names its office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficePin {
    /// By its key id (codes of the first layout).
    Id(DeviceId),
    /// By a commitment to its key id under the secret.
    Committed([u8; 16]),
}

/// What the phone is given: an invite's code as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// Where the office listens (HOST:PORT).
    pub addresses: Vec<String>,
    /// Which invite.
    pub id: String,
    /// The one-time secret (16 bytes).
    pub secret: Vec<u8>,
    /// When it stops working.
    pub expires: Timestamp,
    /// The office.
    pub office: OfficePin,
}

impl Code {
    /// Read a code as typed or scanned (spaces, dashes after the prefix
    /// and case are forgiven), of either layout.
    pub fn decode(code: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "this is not an anpi invite code (it starts with {PREFIX} and was printed by `anpi invite`)"
            ))
        };
        let code = code.trim();
        let layout = [PREFIX, PREFIX_1]
            .into_iter()
            .find(|p| {
                code.get(..p.len())
                    .is_some_and(|c| c.eq_ignore_ascii_case(p))
            })
            .ok_or_else(bad)?;
        let body: String = code[layout.len()..]
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = data_encoding::BASE32_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| bad())?;
        let code = if layout == PREFIX {
            postcard::from_bytes::<Layout2>(&bytes)
                .map_err(|_| bad())?
                .into()
        } else {
            let i: Invite = postcard::from_bytes(&bytes).map_err(|_| bad())?;
            Code {
                addresses: i.addresses,
                id: i.id,
                secret: i.secret,
                expires: i.expires,
                office: OfficePin::Id(i.office),
            }
        };
        if code.secret.len() != 16 || code.addresses.is_empty() {
            return Err(bad());
        }
        Ok(code)
    }

    /// Whether `device` is the office this code was made by.
    pub fn is_office(&self, device: &DeviceId) -> bool {
        match &self.office {
            OfficePin::Id(id) => id == device,
            OfficePin::Committed(c) => same(&commitment(&self.secret, device), c),
        }
    }

    /// The name a redeeming device puts in its certificate.
    pub fn redemption_name(&self, device: &DeviceId) -> String {
        format!("{}-{}{NAME_SUFFIX}", self.id, proof(&self.secret, device))
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires
    }
}

/// The invite id and proof a certificate name carries, if it is a
/// redemption name.
pub fn parse_redemption_name(name: &str) -> Option<(&str, &str)> {
    name.strip_suffix(NAME_SUFFIX)?.split_once('-')
}

/// Equal, compared without an early exit (the proof is a secret's MAC).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Pending {
    /// Whether `device`, presenting `name`, may redeem this invite at `now`.
    pub fn admits(&self, device: &DeviceId, name: &str, now: Timestamp) -> bool {
        let Some((id, given)) = parse_redemption_name(name) else {
            return false;
        };
        let want = proof(&self.invite.secret, device);
        id == self.invite.id
            && self.used.is_none()
            && !self.invite.expired(now)
            && same(want.as_bytes(), given.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Invite {
        Invite::new(
            SpaceId("ab".repeat(16)),
            DeviceId("cd".repeat(16)),
            vec!["192.0.2.1:7150".into()],
            Timestamp::from_millis(2_000_000_000_000),
        )
    }

    #[test]
    fn codes_round_trip_as_typed_and_name_no_space_or_device() {
        let i = invite();
        let code = i.encode();
        assert!(code.starts_with(PREFIX));
        let read = Code::decode(&code).unwrap();
        assert_eq!(
            (&read.addresses, &read.id, &read.secret, read.expires),
            (&i.addresses, &i.id, &i.secret, i.expires)
        );
        let typed = format!("  {}  ", code.to_lowercase());
        assert_eq!(Code::decode(&typed).unwrap(), read);
        assert_eq!(read, i.code());
        assert!(Code::decode("ANPI2-AAAA").is_err());
        assert!(Code::decode("hello").is_err());
        // Neither the space id nor the office's id is in the code's bytes,
        // in any form a bystander could match.
        let bytes = data_encoding::BASE32_NOPAD
            .decode(&code.as_bytes()[PREFIX.len()..])
            .unwrap();
        for id in [
            i.space.0.as_bytes().to_vec(),
            i.office.0.as_bytes().to_vec(),
        ] {
            assert!(!bytes.windows(8).any(|w| id.windows(8).any(|v| v == w)));
        }
        let raw = |hex: &str| data_encoding::HEXLOWER.decode(hex.as_bytes()).unwrap();
        for id in [raw(&i.space.0), raw(&i.office.0)] {
            assert!(!bytes.windows(8).any(|w| id.windows(8).any(|v| v == w)));
        }
        // The office is known by its key alone.
        assert!(read.is_office(&i.office));
        assert!(!read.is_office(&DeviceId("ee".repeat(16))));
    }

    #[test]
    fn codes_of_the_first_layout_are_still_read() {
        let i = invite();
        let bytes = postcard::to_allocvec(&i).unwrap();
        let old = format!("{PREFIX_1}{}", data_encoding::BASE32_NOPAD.encode(&bytes));
        let read = Code::decode(&old).unwrap();
        assert_eq!(read.office, OfficePin::Id(i.office.clone()));
        assert!(read.is_office(&i.office));
        assert_eq!(
            read.redemption_name(&i.office),
            i.redemption_name(&i.office)
        );
    }

    #[test]
    fn only_the_device_the_proof_names_redeems_once_before_expiry() {
        let i = invite();
        let phone = DeviceId("11".repeat(16));
        let thief = DeviceId("22".repeat(16));
        let mut p = Pending {
            made_after_entry: None,
            invite: i.clone(),
            staff: Staff::default(),
            role: Role::CareManager,
            used: None,
        };
        let name = i.redemption_name(&phone);
        let before = Timestamp::from_millis(1_000);
        assert!(p.admits(&phone, &name, before));
        // The same name presented with another key proves nothing.
        assert!(!p.admits(&thief, &name, before));
        assert!(!p.admits(&phone, &name, i.expires));
        p.used = Some((phone.clone(), before));
        assert!(!p.admits(&phone, &name, before));
    }
}
