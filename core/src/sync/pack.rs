//! Packs of changes: a known peer's new changes travel as one compressed
//! stream (LZMA, or zlib for builds before it), unpacked within
//! [`MAX_INFLATED_BYTES`] and verified change by change.

use std::io::{Read, Write};

use automerge::Change;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

use super::message::{Data, DocEntry};
use super::verify::verified_change;
use crate::error::{Error, Result};
use crate::saved::MAX_INFLATED_BYTES;

/// How a pack of changes is compressed. Builds that predate LZMA packs
/// (ALPN `anpi/1`) read zlib only; a peer that speaks `anpi/1.1` reads both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// A zlib stream (always begins with 0x78).
    Zlib,
    /// [`LZMA_PACK`], then a raw LZMA2 stream.
    Lzma,
}

/// The first byte of an LZMA pack; a zlib stream never begins with it.
pub const LZMA_PACK: u8 = b'L';

/// The largest dictionary an LZMA pack is written with, and so the one it
/// is read with (a reader's dictionary may be larger than the writer's).
const LZMA_DICT: u32 = 1 << 20;

/// Pack changes into one compressed stream: consecutive changes share
/// actors, keys and structure, which compresses far better together than
/// apart. LZMA in its fast mode: a known peer's 100 checks in a sixth fewer
/// bytes than zlib, at zlib's speed (BENCHMARKS.md, "Session 16").
pub fn pack_changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Vec<u8> {
    pack_with(changes, Packing::Lzma)
}

/// [`pack_changes`] in the given packing.
pub fn pack_with<'a>(changes: impl IntoIterator<Item = &'a Change>, packing: Packing) -> Vec<u8> {
    let raw: Vec<&[u8]> = changes.into_iter().map(|c| c.raw_bytes()).collect();
    let plain = postcard::to_allocvec(&raw).expect("byte lists always serialize");
    compress(&plain, packing)
}

fn compress(plain: &[u8], packing: Packing) -> Vec<u8> {
    match packing {
        Packing::Zlib => {
            let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
            enc.write_all(plain).expect("writing to a Vec cannot fail");
            enc.finish().expect("writing to a Vec cannot fail")
        }
        Packing::Lzma => {
            let mut options = lzma_rust2::LzmaOptions::with_preset(2);
            // A small pack needs no large dictionary, and the writer's
            // memory follows the dictionary.
            options.dict_size = u32::try_from(plain.len().next_power_of_two())
                .unwrap_or(LZMA_DICT)
                .clamp(4096, LZMA_DICT);
            // Automerge's columns are bytes, not aligned words: no position
            // bits, one bit of context (measured best on checks).
            (options.lc, options.lp, options.pb) = (1, 0, 0);
            let mut out = vec![LZMA_PACK];
            let mut enc = lzma_rust2::Lzma2Writer::new(
                &mut out,
                lzma_rust2::Lzma2Options {
                    lzma_options: options,
                    ..Default::default()
                },
            );
            enc.write_all(plain).expect("writing to a Vec cannot fail");
            enc.finish().expect("writing to a Vec cannot fail");
            out
        }
    }
}

/// How a pack from a peer is compressed.
pub fn packing_of(packed: &[u8]) -> Packing {
    if packed.first() == Some(&LZMA_PACK) {
        Packing::Lzma
    } else {
        Packing::Zlib
    }
}

/// Unpack and verify changes from a peer. Each pack is checked: zlib by
/// its checksum, LZMA2 by its own structure and then every change by its
/// hash prefix ([`verified_change`]).
pub fn unpack_changes(packed: &[u8]) -> Result<Vec<Change>> {
    let mut plain = Vec::new();
    let limit = MAX_INFLATED_BYTES as u64 + 1;
    let read = match packing_of(packed) {
        Packing::Zlib => ZlibDecoder::new(packed).take(limit).read_to_end(&mut plain),
        Packing::Lzma => lzma_rust2::Lzma2Reader::new(&packed[1..], LZMA_DICT, None)
            .take(limit)
            .read_to_end(&mut plain),
    };
    read.map_err(|e| Error::sync(format!("bad change payload: {e}")))?;
    if plain.len() > MAX_INFLATED_BYTES {
        return Err(Error::sync("change payload too large"));
    }
    let raw: Vec<Vec<u8>> = postcard::from_bytes(&plain)
        .map_err(|e| Error::sync(format!("bad change payload: {e}")))?;
    raw.into_iter().map(verified_change).collect()
}

/// An entry as a peer that reads only `packing` can read it: its changes
/// packed anew when they were packed otherwise. Only a peer running an
/// older build needs it.
pub fn repacked(entry: &DocEntry, packing: Packing) -> Result<std::borrow::Cow<'_, DocEntry>> {
    match &entry.data {
        Data::Changes(packed) if packing_of(packed) != packing => {
            let changes = unpack_changes(packed)?;
            Ok(std::borrow::Cow::Owned(DocEntry {
                data: Data::Changes(pack_with(&changes, packing)),
                ..entry.clone()
            }))
        }
        _ => Ok(std::borrow::Cow::Borrowed(entry)),
    }
}
