//! What every byte from a peer passes before automerge sees it: the bounds
//! on what it inflates to, each change's checksum, and the shape of an
//! automerge sync message's chunks.

use std::collections::HashSet;

use automerge::{AutoCommit, Change};

use crate::error::{Error, Result};
use crate::saved::{CHANGE_CHUNK, DOCUMENT_CHUNK, MAX_INFLATED_BYTES};

/// Refuse saved bytes from a peer that would inflate beyond
/// [`MAX_INFLATED_BYTES`], before automerge inflates them (it sets no
/// limit of its own).
fn bounded(bytes: &[u8], what: &str) -> Result<()> {
    match crate::saved::inflated_size(bytes, MAX_INFLATED_BYTES) {
        Ok(_) => Ok(()),
        Err(crate::saved::Unread::TooLarge) => Err(Error::sync(format!(
            "the peer's {what} would inflate beyond {MAX_INFLATED_BYTES} bytes: refused"
        ))),
        Err(crate::saved::Unread::Malformed) => {
            Err(Error::sync(format!("the peer's {what} is malformed")))
        }
    }
}

/// Load a document a peer sent whole, within [`MAX_INFLATED_BYTES`].
pub fn load_document(bytes: &[u8]) -> Result<AutoCommit> {
    bounded(bytes, "document")?;
    AutoCommit::load(bytes).map_err(|e| Error::sync(format!("bad document from peer: {e}")))
}

/// Parse one change chunk and check it against the checksum in its header
/// (the first four bytes of its hash), which automerge does not do when
/// parsing a single change. A damaged change that parsed would otherwise be
/// stored under the real change's actor and sequence number and block the
/// real one forever.
pub fn verified_change(bytes: Vec<u8>) -> Result<Change> {
    bounded(&bytes, "change")?;
    let header = bytes
        .get(4..8)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Error::sync("change chunk too short"))?;
    let change = Change::from_bytes(bytes).map_err(|e| Error::sync(format!("bad change: {e}")))?;
    if change.hash().0[..4] != header[..] {
        return Err(Error::sync("change does not match its checksum"));
    }
    Ok(change)
}

/// Whether a document's stored form may be sent to a peer as it is (see
/// [`whole`](super::whole)) without loading it first: the snapshot is one document chunk,
/// and every change stored after it parses, matches its checksum, and
/// holds an (actor, sequence number) no other stored change holds. A form
/// that fails is loaded instead, which repairs it or reports it
/// unreadable, so a peer is never sent what this device cannot read.
pub fn stored_form_is_sound(snapshot: Option<&[u8]>, changes: &[Vec<u8>]) -> bool {
    let snapshot_ok = snapshot.is_none_or(|s| {
        s.get(..4) == Some(&crate::saved::MAGIC[..])
            && chunk_type(s) == Some(DOCUMENT_CHUNK)
            && split_chunks(s).is_ok_and(|c| c.len() == 1)
    });
    if !snapshot_ok {
        return false;
    }
    let mut seen = HashSet::new();
    changes.iter().all(|bytes| {
        verified_change(bytes.clone()).is_ok_and(|c| seen.insert((c.actor_id().clone(), c.seq())))
    })
}

/// Check the change chunks inside an automerge sync message the same way.
/// An entry of the message may hold several chunks back to back.
pub(super) fn verify_automerge_message(msg: &automerge::sync::Message) -> Result<()> {
    for entry in msg.changes.iter() {
        for chunk in split_chunks(entry)? {
            if chunk_type(chunk) == Some(CHANGE_CHUNK) {
                verified_change(chunk.to_vec())?;
            }
        }
    }
    Ok(())
}

pub(super) fn chunk_type(chunk: &[u8]) -> Option<u8> {
    crate::saved::chunk_type(chunk)
}

pub(super) fn split_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    crate::saved::split_chunks(bytes)
        .ok_or_else(|| Error::sync("malformed chunk in automerge sync message"))
}
