//! The messages of a session and their encoding (postcard): what travels,
//! in what order, within what bounds.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{DeviceId, SpaceId};
use crate::seal::Seal;

/// The protocol version this build speaks. 2: each document of a message
/// travels on a QUIC stream of its own (`net::wire`).
pub const PROTOCOL_VERSION: u32 = 2;

/// Largest message accepted from a peer.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// One message of a sync session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Always [`PROTOCOL_VERSION`] of the sender; first on the wire so that
    /// any future layout can still be told apart.
    pub version: u32,
    /// Opening or answer.
    pub kind: Kind,
    /// Per-document entries, incident documents first.
    pub docs: Vec<DocEntry>,
    /// What the sender runs, on its first message of a session. Encoded
    /// after the rest of the message, where builds that predate it never
    /// read (postcard ignores what follows a value), so it needs no new
    /// protocol version.
    #[serde(skip)]
    pub about: Option<About>,
    /// Where the audit trails stand, sent with `about` and encoded after
    /// it (builds that predate it read `about` and ignore the rest).
    #[serde(skip)]
    pub anchor: Option<Anchor>,
    /// The sender's clock when it made the message, in milliseconds since
    /// the epoch: each side learns how far apart the two clocks are
    /// (`node::clock`). Sent with `anchor`, encoded after the seals (an
    /// empty list of them when there are none), where builds that predate
    /// it never read.
    #[serde(skip)]
    pub clock: Option<i64>,
}

/// The last entry of an audit trail: its number and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// The entry's number, from 1.
    pub seq: u64,
    /// The first 16 bytes of its hash: enough that no one makes another
    /// trail match it, and every byte rides in a phone's session.
    pub hash: [u8; 16],
}

/// Where the audit trails stand, as the sender knows them: each device
/// keeps what its peers last showed of their trails, and tells them at the
/// next session, so that entries cut from a trail's end are noticed (an
/// audit trail chained by hashes shows what was changed inside it, not
/// what was cut off its end).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The sender's trail's last entry.
    pub mine: Option<AuditHead>,
    /// The receiver's trail's last entry, as the sender last saw it.
    pub yours: Option<AuditHead>,
}

/// What a device runs: told at every session, so that the office sees
/// which phones must be updated before their data can be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    /// The anpi build, e.g. "0.1.0".
    pub software: String,
    /// The newest data format it reads (`doc::FORMAT_VERSION`).
    pub format: u32,
}

/// Whether a message opens a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// The first message of a session.
    Hello {
        /// The sender's device id (the network layer checks it against the
        /// connection's authenticated key).
        device: DeviceId,
        /// Spaces the sender holds or wants.
        spaces: Vec<SpaceId>,
    },
    /// Every later message.
    Reply {
        /// The sender's device id.
        device: DeviceId,
    },
}

/// What one side says about one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocEntry {
    /// The document's name ([`crate::doc::DocKey`] as text).
    pub doc: String,
    /// The sender's heads (after the data in this entry).
    pub heads: Vec<[u8; 32]>,
    /// The sender lacks some of the receiver's heads and asks for them.
    pub need: bool,
    /// What is carried.
    pub data: Data,
    /// Seals of the changes carried (`seal`): encoded after the entry,
    /// where builds that predate them never read.
    #[serde(skip)]
    pub seals: Vec<Seal>,
}

/// The payload of a [`DocEntry`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Data {
    /// Heads only.
    None,
    /// Changes, packed by [`pack_changes`](super::pack_changes) (or, for a peer running an
    /// older build, [`pack_with`](super::pack_with) zlib).
    Changes(Vec<u8>),
    /// The whole document as `save()` writes it.
    Snapshot(Vec<u8>),
    /// An automerge sync protocol message (fallback).
    Automerge(Vec<u8>),
}

impl Data {
    pub(super) fn is_none(&self) -> bool {
        matches!(self, Data::None)
    }
}

/// Encode a message for the wire.
pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = postcard::to_allocvec(msg).expect("sync messages always serialize");
    if let Some(about) = &msg.about {
        out.extend(postcard::to_allocvec(about).expect("sync messages always serialize"));
        if let Some(anchor) = &msg.anchor {
            out.extend(postcard::to_allocvec(anchor).expect("sync messages always serialize"));
            let seals = seals_of(&msg.docs);
            if !seals.is_empty() || msg.clock.is_some() {
                out.extend(postcard::to_allocvec(&seals).expect("sync messages always serialize"));
            }
            if let Some(clock) = msg.clock {
                out.extend(postcard::to_allocvec(&clock).expect("sync messages always serialize"));
            }
        }
    }
    out
}

/// The seals of a message's documents, by their place in it (a whole
/// message carries them after its anchor).
fn seals_of(docs: &[DocEntry]) -> Vec<(u32, &[Seal])> {
    docs.iter()
        .enumerate()
        .filter(|(_, d)| !d.seals.is_empty())
        .map(|(i, d)| (i as u32, d.seals.as_slice()))
        .collect()
}

/// The size of a message as [`encode`] writes it, without writing it: the
/// byte count of a session whose messages never pass through one buffer.
pub fn encoded_len(msg: &Message) -> usize {
    let about = msg.about.as_ref().map_or(0, |a| {
        size(a)
            + msg.anchor.as_ref().map_or(0, |n| {
                let seals = seals_of(&msg.docs);
                size(n)
                    + if seals.is_empty() && msg.clock.is_none() {
                        0
                    } else {
                        size(&seals)
                    }
                    + msg.clock.as_ref().map_or(0, size)
            })
    });
    size(msg) + about
}

/// Decode a message from a peer. A message from another protocol version is
/// refused with a clear error before the rest is read.
pub fn decode(bytes: &[u8]) -> Result<Message> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::sync(format!(
            "message of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    let (version, _) = postcard::take_from_bytes::<u32>(bytes)
        .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
    if version != PROTOCOL_VERSION {
        return Err(Error::sync(format!(
            "peer speaks sync protocol {version}, this device speaks {PROTOCOL_VERSION}: update anpi on the older device"
        )));
    }
    let (mut msg, rest) = postcard::take_from_bytes::<Message>(bytes)
        .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
    // What the sender runs, if it says, and where the audit trails stand.
    // Later builds may add to them (read in order, the rest ignored); a cut
    // one is a damaged message.
    if !rest.is_empty() {
        let (about, rest) = postcard::take_from_bytes(rest)
            .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
        msg.about = Some(about);
        if !rest.is_empty() {
            let (anchor, rest) = postcard::take_from_bytes(rest)
                .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
            msg.anchor = Some(anchor);
            if !rest.is_empty() {
                let (seals, rest): (Vec<(u32, Vec<Seal>)>, _) = postcard::take_from_bytes(rest)
                    .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
                if !rest.is_empty() {
                    let (clock, _) = postcard::take_from_bytes(rest)
                        .map_err(|e| Error::sync(format!("unreadable message: {e}")))?;
                    msg.clock = Some(clock);
                }
                for (i, s) in seals {
                    if let Some(d) = msg.docs.get_mut(i as usize) {
                        d.seals = s;
                    }
                }
            }
        }
    }
    Ok(msg)
}

/// The bytes postcard writes for `v`.
fn size<T: Serialize + ?Sized>(v: &T) -> usize {
    postcard::experimental::serialized_size(v).expect("sync messages always serialize")
}

/// The size of one document's entry as [`encode_entry`] writes it.
pub fn encoded_entry_len(entry: &DocEntry) -> usize {
    size(entry)
        + if entry.seals.is_empty() {
            0
        } else {
            size(&entry.seals)
        }
}

/// Encode one document's entry (its own stream on the wire), its seals
/// after it.
pub fn encode_entry(entry: &DocEntry) -> Vec<u8> {
    let mut out = postcard::to_allocvec(entry).expect("sync messages always serialize");
    if !entry.seals.is_empty() {
        out.extend(postcard::to_allocvec(&entry.seals).expect("sync messages always serialize"));
    }
    out
}

/// Decode one document's entry.
pub fn decode_entry(bytes: &[u8]) -> Result<DocEntry> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::sync(format!(
            "document entry of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    let (mut entry, rest): (DocEntry, _) = postcard::take_from_bytes(bytes)
        .map_err(|e| Error::sync(format!("unreadable document entry: {e}")))?;
    if !rest.is_empty() {
        entry.seals = postcard::from_bytes(rest)
            .map_err(|e| Error::sync(format!("unreadable document entry: {e}")))?;
    }
    Ok(entry)
}
