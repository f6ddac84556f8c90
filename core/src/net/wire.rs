//! Framing of sync messages on QUIC streams: a 4-byte big-endian length,
//! then the bytes. Sans-I/O, so that the decoder the network reads with is
//! the one the fuzzer runs (`fuzz/`).
//!
//! A session's message goes out as one *control* frame on the session's
//! bidirectional stream — how many documents follow, then the message
//! without its documents — and one stream per document, each carrying one
//! [`DocEntry`] frame, opened in the message's order (incident documents
//! first). The receiver puts the message back together and applies it in
//! one transaction, as before; on the wire, a large roster never holds up an
//! incident's checks behind a lost packet.

use crate::error::{Error, Result};
use crate::sync::{self, DocEntry, MAX_MESSAGE_BYTES, Message, Packing};

/// Most document streams one message may announce.
pub const MAX_DOCS_PER_MESSAGE: usize = 4096;

/// Bytes of the length prefix.
pub const HEADER: usize = 4;

/// One message as it goes on the wire.
pub fn encode_frame(msg: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(msg.len())
        .ok()
        .filter(|l| *l as usize <= MAX_MESSAGE_BYTES)
        .ok_or_else(|| Error::network(format!("a message of {} bytes is too large", msg.len())))?;
    let mut out = Vec::with_capacity(HEADER + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// The length a header announces, refused above [`MAX_MESSAGE_BYTES`]
/// before anything is allocated for it.
pub fn frame_len(header: [u8; HEADER]) -> Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(Error::network(format!(
            "the peer announced a message of {len} bytes (limit {MAX_MESSAGE_BYTES})"
        )));
    }
    Ok(len)
}

/// Split a received byte stream into its messages' bytes. A truncated last
/// frame is an error: the stream ended mid-message.
pub fn split_frames(mut bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let header: [u8; HEADER] = bytes
            .get(..HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| Error::network("the stream ended inside a length prefix"))?;
        let len = frame_len(header)?;
        let body = bytes
            .get(HEADER..HEADER + len)
            .ok_or_else(|| Error::network("the stream ended inside a message"))?;
        out.push(body);
        bytes = &bytes[HEADER + len..];
    }
    Ok(out)
}

/// Decode a whole received stream into sync messages, inflating and
/// verifying every change they carry.
pub fn decode_stream(bytes: &[u8]) -> Result<Vec<Message>> {
    let mut out = Vec::new();
    for frame in split_frames(bytes)? {
        let msg = sync::decode(frame)?;
        for entry in &msg.docs {
            if let sync::Data::Changes(packed) = &entry.data {
                sync::unpack_changes(packed)?;
            }
        }
        out.push(msg);
    }
    Ok(out)
}

/// A message as it goes on the wire: the control frame and one frame per
/// document, in order.
/// Changes go packed as `packing` says the peer reads them.
pub fn split_message(msg: &Message, packing: Packing) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let docs = &msg.docs;
    let count = u32::try_from(docs.len())
        .ok()
        .filter(|n| *n as usize <= MAX_DOCS_PER_MESSAGE)
        .ok_or_else(|| {
            Error::network(format!("a message of {} documents is too many", docs.len()))
        })?;
    // The count goes last, so that the frame begins like every message
    // with its protocol version, and an older peer says so clearly.
    let head = Message {
        version: msg.version,
        kind: msg.kind.clone(),
        docs: Vec::new(),
        about: msg.about.clone(),
        anchor: msg.anchor.clone(),
        clock: msg.clock,
    };
    let mut control = sync::encode(&head);
    control.extend_from_slice(&count.to_be_bytes());
    let entries = docs
        .iter()
        .map(|e| encode_frame(&sync::encode_entry(sync::repacked(e, packing)?.as_ref())))
        .collect::<Result<Vec<_>>>()?;
    Ok((encode_frame(&control)?, entries))
}

/// A control frame's body: how many document streams follow, and the
/// message without its documents.
pub fn decode_control(body: &[u8]) -> Result<(usize, Message)> {
    let split = body
        .len()
        .checked_sub(4)
        .ok_or_else(|| Error::network("a control frame without its document count"))?;
    let (message, count) = body.split_at(split);
    // The version first: an incompatible peer gets that error, not a
    // complaint about the layout.
    let m = sync::decode(message)?;
    let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]) as usize;
    if count > MAX_DOCS_PER_MESSAGE {
        return Err(Error::network(format!(
            "the peer announced {count} document streams (limit {MAX_DOCS_PER_MESSAGE})"
        )));
    }
    if !m.docs.is_empty() {
        return Err(Error::network("a control frame carried documents"));
    }
    Ok((count, m))
}

/// A document stream's frame body, on a connection whose changes are
/// packed as `packing` says: an older build's peer never sends LZMA, and
/// one that does breaks the protocol it agreed to.
pub fn decode_entry(body: &[u8], packing: Packing) -> Result<DocEntry> {
    let entry = sync::decode_entry(body)?;
    if let sync::Data::Changes(packed) = &entry.data
        && packing == Packing::Zlib
        && sync::packing_of(packed) != Packing::Zlib
    {
        return Err(Error::network(
            "the peer sent changes packed by LZMA on a connection that agreed on zlib (anpi/1)",
        ));
    }
    Ok(entry)
}

/// The message a control frame and its documents make; refused when the
/// documents together pass the size limit.
pub fn join_message(mut head: Message, docs: Vec<DocEntry>, bytes: usize) -> Result<Message> {
    if bytes > MAX_MESSAGE_BYTES {
        return Err(Error::network(format!(
            "the peer's documents came to {bytes} bytes (limit {MAX_MESSAGE_BYTES})"
        )));
    }
    head.docs = docs;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Changes go to a peer of an older build (`anpi/1`) packed by zlib,
    /// which it reads; LZMA on such a connection is refused.
    #[test]
    fn an_older_peer_gets_changes_packed_as_it_reads_them() {
        let mut doc = automerge::AutoCommit::new();
        for i in 0..20 {
            automerge::transaction::Transactable::put(
                &mut doc,
                automerge::ROOT,
                format!("check-{i}"),
                "無事",
            )
            .unwrap();
            doc.commit();
        }
        let changes = doc.get_changes(&[]);
        let lzma = sync::pack_changes(&changes);
        assert_eq!(sync::packing_of(&lzma), Packing::Lzma);
        let entry = DocEntry {
            doc: "incident/a".into(),
            heads: vec![[7; 32]],
            need: false,
            data: sync::Data::Changes(lzma),
            seals: Vec::new(),
        };
        let msg = Message {
            version: sync::PROTOCOL_VERSION,
            kind: sync::Kind::Reply {
                device: crate::model::DeviceId("00".repeat(16)),
            },
            docs: vec![entry],
            about: None,
            anchor: None,
            clock: None,
        };
        let unpacked = |frame: &[u8], packing| {
            let entry = decode_entry(split_frames(frame).unwrap()[0], packing)?;
            match entry.data {
                sync::Data::Changes(packed) => {
                    Ok((sync::packing_of(&packed), sync::unpack_changes(&packed)?))
                }
                other => panic!("not changes: {other:?}"),
            }
        };
        let (_, older) = split_message(&msg, Packing::Zlib).unwrap();
        let (packing, got) = unpacked(&older[0], Packing::Zlib).unwrap();
        assert_eq!(packing, Packing::Zlib);
        assert_eq!(got.len(), changes.len());
        let (_, newer) = split_message(&msg, Packing::Lzma).unwrap();
        let (packing, got) = unpacked(&newer[0], Packing::Lzma).unwrap();
        assert_eq!(packing, Packing::Lzma);
        assert_eq!(got.len(), changes.len());
        let refused: Result<_> = unpacked(&newer[0], Packing::Zlib);
        assert!(
            refused.unwrap_err().to_string().contains("agreed on zlib"),
            "LZMA on an anpi/1 connection"
        );
        assert!(newer[0].len() < older[0].len(), "LZMA packs smaller");
    }

    #[test]
    fn a_message_splits_into_streams_and_comes_back_whole() {
        let entry = |doc: &str| DocEntry {
            doc: doc.into(),
            heads: vec![[7; 32]],
            need: false,
            data: sync::Data::Snapshot(vec![1, 2, 3]),
            seals: Vec::new(),
        };
        let msg = Message {
            version: sync::PROTOCOL_VERSION,
            kind: sync::Kind::Reply {
                device: crate::model::DeviceId("00".repeat(16)),
            },
            docs: vec![entry("incident/a"), entry("roster/b")],
            // What the sender runs rides in the control frame.
            about: Some(sync::About {
                software: "0.1.0".into(),
                format: 2,
            }),
            anchor: Some(sync::Anchor::default()),
            clock: Some(1_788_000_000_000),
        };
        let (control, docs) = split_message(&msg, Packing::Lzma).unwrap();
        assert_eq!(docs.len(), 2);
        let body = split_frames(&control).unwrap()[0];
        let (count, head) = decode_control(body).unwrap();
        assert_eq!(count, 2);
        let entries: Vec<DocEntry> = docs
            .iter()
            .map(|d| decode_entry(split_frames(d).unwrap()[0], Packing::Zlib).unwrap())
            .collect();
        assert_eq!(entries[0].doc, "incident/a", "the order is kept");
        let whole = join_message(head, entries, 0).unwrap();
        assert_eq!(whole, msg);
        // Truncated or oversized announcements are refused.
        assert!(decode_control(&body[..3]).is_err());
        let mut many = body.to_vec();
        let n = many.len();
        many[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_control(&many).is_err());
        assert!(decode_entry(&[0xff; 3], Packing::Lzma).is_err());
    }

    #[test]
    fn frames_round_trip_and_truncation_is_an_error() {
        let a = encode_frame(b"hello").unwrap();
        let b = encode_frame(b"").unwrap();
        let stream = [a.clone(), b].concat();
        assert_eq!(split_frames(&stream).unwrap(), [&b"hello"[..], &b""[..]]);
        assert!(split_frames(&a[..a.len() - 1]).is_err());
        assert!(split_frames(&a[..2]).is_err());
        let huge = (u32::MAX).to_be_bytes();
        assert!(split_frames(&huge).is_err());
        assert!(decode_stream(&a).is_err(), "not a sync message");
    }
}
