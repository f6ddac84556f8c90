//! automerge's saved form (its storage format), as far as anpi reads it
//! itself: chunks (a document, a change, a compressed change), and a
//! document's column layout. `sync` splits what peers send into chunks
//! and bounds how far they inflate before automerge touches them;
//! `doc::vet` reads a whole document's operations from the columns.
//!
//! A chunk: magic (4 bytes), checksum (4), type (1), length (unsigned
//! LEB128), then that many bytes. A document chunk's body: its actors, its
//! heads, the change and operation column layouts (spec and length each),
//! then the columns; a column whose spec has the deflate bit is deflated.
//! A compressed change chunk's body is the deflated body of a change.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;

pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
pub const DOCUMENT_CHUNK: u8 = 0;
pub const CHANGE_CHUNK: u8 = 1;
pub const COMPRESSED_CHANGE_CHUNK: u8 = 2;
/// The bit of a column spec that says its data is deflated.
pub const DEFLATE: u64 = 0b1000;
/// The most a document, or the changes of a message, may come to inflated
/// (a peer's deflate bomb is refused before automerge inflates it). The
/// roster of 50,000 recipients inflates to about 10 MiB.
pub const MAX_INFLATED_BYTES: usize = 256 << 20;

/// Why saved bytes were not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    Malformed,
    /// They would inflate beyond the limit given.
    TooLarge,
}

/// A cursor over saved bytes.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    pub fn len(&mut self) -> Option<usize> {
        usize::try_from(self.uleb()?).ok()
    }

    /// A column layout: (spec, length) pairs.
    pub fn layout(&mut self) -> Option<Vec<(u64, usize)>> {
        let n = self.len()?;
        (0..n).map(|_| Some((self.uleb()?, self.len()?))).collect()
    }

    /// The columns of `layout`, inflated (to at most `limit` bytes in
    /// all), by spec with the deflate bit cleared.
    pub fn columns(
        &mut self,
        layout: &[(u64, usize)],
        limit: usize,
    ) -> Result<HashMap<u64, Cow<'a, [u8]>>, Unread> {
        let mut out = HashMap::new();
        let mut left = limit;
        for (spec, len) in layout {
            let data = self.take(*len).ok_or(Unread::Malformed)?;
            let data = if spec & DEFLATE != 0 {
                let mut inflated = Vec::new();
                inflate(data, left, |chunk| inflated.extend_from_slice(chunk))?;
                Cow::Owned(inflated)
            } else {
                Cow::Borrowed(data)
            };
            left = left.checked_sub(data.len()).ok_or(Unread::TooLarge)?;
            out.insert(spec & !DEFLATE, data);
        }
        Ok(out)
    }

    /// One chunk: its type and body.
    pub fn chunk(&mut self) -> Option<(u8, &'a [u8])> {
        if self.take(4)? != MAGIC {
            return None;
        }
        self.take(4)?; // the checksum: automerge checks it
        let kind = *self.take(1)?.first()?;
        let len = self.len()?;
        Some((kind, self.take(len)?))
    }
}

/// Inflate raw deflate `data`, handing the output to `out` piece by piece,
/// and stop once it passes `limit` bytes.
fn inflate(data: &[u8], limit: usize, mut out: impl FnMut(&[u8])) -> Result<usize, Unread> {
    let mut decoder = flate2::bufread::DeflateDecoder::new(data);
    let mut buf = [0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        let n = decoder.read(&mut buf).map_err(|_| Unread::Malformed)?;
        if n == 0 {
            return Ok(total);
        }
        total += n;
        if total > limit {
            return Err(Unread::TooLarge);
        }
        out(&buf[..n]);
    }
}

/// Concatenated chunks, split.
pub fn split_chunks(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut r = Reader(bytes);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let before = r.0;
        r.chunk()?;
        out.push(&before[..before.len() - r.0.len()]);
    }
    Some(out)
}

/// The type of a chunk (`DOCUMENT_CHUNK`, …), from its header.
pub fn chunk_type(chunk: &[u8]) -> Option<u8> {
    chunk.get(8).copied()
}

/// How many bytes the chunks in `bytes` come to once inflated — counted
/// without keeping them, and only up to `limit` (`Unread::TooLarge`
/// beyond): what automerge would build when it loads them.
pub fn inflated_size(bytes: &[u8], limit: usize) -> Result<usize, Unread> {
    let mut r = Reader(bytes);
    let mut total = 0usize;
    while !r.0.is_empty() {
        let left = limit.checked_sub(total).ok_or(Unread::TooLarge)?;
        let (kind, body) = r.chunk().ok_or(Unread::Malformed)?;
        total += match kind {
            DOCUMENT_CHUNK => document_size(body, left)?,
            COMPRESSED_CHANGE_CHUNK => inflate(body, left, |_| ())?,
            _ => body.len(),
        };
        if total > limit {
            return Err(Unread::TooLarge);
        }
    }
    Ok(total)
}

/// A document chunk's body, read up to its columns.
pub struct Document<'a> {
    /// The actor table, in order (an operation names its actor by index).
    pub actors: Vec<&'a [u8]>,
    pub change_layout: Vec<(u64, usize)>,
    pub op_layout: Vec<(u64, usize)>,
    /// The change columns, then the operation columns (as the layouts
    /// say), then the heads' indexes.
    pub columns: Reader<'a>,
}

/// Read a document chunk's body (see [`Document`]).
pub fn document(body: &[u8]) -> Option<Document<'_>> {
    let mut r = Reader(body);
    let actor_count = r.len()?;
    let actors = (0..actor_count)
        .map(|_| {
            let n = r.len()?;
            r.take(n)
        })
        .collect::<Option<_>>()?;
    let heads = r.len()?;
    r.take(heads.checked_mul(32)?)?;
    let change_layout = r.layout()?;
    let op_layout = r.layout()?;
    Some(Document {
        actors,
        change_layout,
        op_layout,
        columns: r,
    })
}

/// A document chunk's body, its columns inflated, up to `limit`.
fn document_size(body: &[u8], limit: usize) -> Result<usize, Unread> {
    let mut d = document(body).ok_or(Unread::Malformed)?;
    let mut total = body.len();
    for (spec, len) in d.change_layout.iter().chain(&d.op_layout) {
        let data = d.columns.take(*len).ok_or(Unread::Malformed)?;
        if spec & DEFLATE != 0 {
            let left = limit.checked_sub(total).ok_or(Unread::TooLarge)?;
            total += inflate(data, left, |_| ())?;
        }
        if total > limit {
            return Err(Unread::TooLarge);
        }
    }
    Ok(total)
}
