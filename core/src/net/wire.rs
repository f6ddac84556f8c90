//! Framing of sync messages on a QUIC stream: a 4-byte big-endian length,
//! then the message ([`crate::sync::encode`]). Sans-I/O, so that the decoder
//! the network reads with is the one the fuzzer runs (`fuzz/`).

use crate::error::{Error, Result};
use crate::sync::{self, MAX_MESSAGE_BYTES, Message};

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

#[cfg(test)]
mod tests {
    use super::*;

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
