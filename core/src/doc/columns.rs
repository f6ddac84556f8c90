//! A whole document's operations, read straight from its saved form:
//! automerge's document chunk, one pass over its operation columns with
//! automerge's own column codec (`hexane`). Two readers share the pass: the
//! structure check of a document a peer sends whole (`vet::whole`) and the
//! index rows a new device needs most (`whole_rows`).
//!
//! An operation there holds its object, key, id, action, value and the ids
//! of the operations that overwrote or removed it (`succ`); a removal is
//! not stored itself, only as such an id that is no operation. What no
//! other operation overwrote is the value shown: several such on one key
//! are a conflict.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::saved::Reader;

/// Column specs (id << 4 | type) of a document's operations.
pub(super) mod col {
    pub const OBJ_ACTOR: u64 = 0x01;
    pub const OBJ_CTR: u64 = 0x02;
    pub const KEY_ACTOR: u64 = 0x11;
    pub const KEY_CTR: u64 = 0x13;
    pub const KEY_STR: u64 = 0x15;
    pub const ID_ACTOR: u64 = 0x21;
    pub const ID_CTR: u64 = 0x23;
    pub const INSERT: u64 = 0x34;
    pub const ACTION: u64 = 0x42;
    pub const VALUE_META: u64 = 0x56;
    pub const VALUE: u64 = 0x57;
    pub const SUCC_COUNT: u64 = 0x80;
    pub const SUCC_ACTOR: u64 = 0x81;
    pub const SUCC_CTR: u64 = 0x83;
    /// Marks only: an operation that uses them is judged by its action.
    pub const EXPAND: u64 = 0x94;
    pub const MARK_NAME: u64 = 0xa5;
    /// Of the change columns: the actor of each change.
    pub const CHANGE_ACTOR: u64 = 0x01;
}

pub(super) const MAKE_MAP: u64 = 0;
pub(super) const PUT: u64 = 1;
pub(super) const DELETE: u64 = 3;
pub(super) const TEXT_VALUE: u64 = 6;

/// An operation's id: the index of its actor in the document's actor
/// table, and its counter.
pub(super) type OpId = (u64, u64);

/// A loaded document's object id as the saved columns name it (`None`:
/// the root, or an actor the document does not hold).
pub(super) fn op_id(id: &automerge::ObjId, actors: &[automerge::ActorId]) -> Option<OpId> {
    let automerge::ObjId::Id(ctr, actor, _) = id else {
        return None;
    };
    Some((actors.iter().position(|a| a == actor)? as u64, *ctr))
}

/// One operation as the check needs it.
pub(super) struct Op<'a> {
    /// `None`: the root.
    pub(super) obj: Option<OpId>,
    /// `None`: a list position.
    pub(super) key: Option<&'a str>,
    pub(super) id: OpId,
    pub(super) action: u64,
    pub(super) text: Option<&'a str>,
    pub(super) succ: std::ops::Range<usize>,
}

pub(super) struct Ops<'a> {
    pub(super) ops: Vec<Op<'a>>,
    /// Every op's `succ`, one after another (`Op::succ` indexes it).
    pub(super) succ: Vec<OpId>,
}

pub(super) fn read_ops<'a>(cols: &'a HashMap<u64, Cow<'_, [u8]>>) -> Option<Ops<'a>> {
    let data = |spec| cols.get(&spec).map_or(&[][..], |c| &c[..]);
    let mut obj_actor = hexane::decoder::<Option<u64>>(data(col::OBJ_ACTOR));
    let mut obj_ctr = hexane::decoder::<Option<u64>>(data(col::OBJ_CTR));
    let mut key_actor = hexane::decoder::<Option<u64>>(data(col::KEY_ACTOR));
    let mut key_ctr = hexane::DeltaDecoder::<Option<i64>>::new(data(col::KEY_CTR));
    let mut key_str = hexane::decoder::<Option<String>>(data(col::KEY_STR));
    let id_actor = hexane::decoder::<Option<u64>>(data(col::ID_ACTOR));
    let mut id_ctr = hexane::DeltaDecoder::<Option<i64>>::new(data(col::ID_CTR));
    let mut insert = hexane::decoder::<bool>(data(col::INSERT));
    let mut action = hexane::decoder::<Option<u64>>(data(col::ACTION));
    let mut value_meta = hexane::decoder::<Option<u64>>(data(col::VALUE_META));
    let mut value = Reader(data(col::VALUE));
    let mut succ_count = hexane::decoder::<Option<u64>>(data(col::SUCC_COUNT));
    let mut succ_actor = hexane::decoder::<Option<u64>>(data(col::SUCC_ACTOR));
    let mut succ_ctr = hexane::DeltaDecoder::<Option<i64>>::new(data(col::SUCC_CTR));

    let mut out = Ops {
        ops: Vec::new(),
        succ: Vec::new(),
    };
    for actor in id_actor {
        let id = (actor?, u64::try_from(id_ctr.next().flatten()?).ok()?);
        let obj = match (obj_actor.next().flatten(), obj_ctr.next().flatten()) {
            (None, None | Some(0)) => None,
            (Some(a), Some(c)) => Some((a, c)),
            _ => return None,
        };
        let elem = (key_actor.next().flatten(), key_ctr.next().flatten());
        let key = key_str.next().flatten();
        if elem != (None, None) || insert.next().unwrap_or(false) {
            // A list: anpi keeps none, so not judged here.
            return None;
        }
        let action = action.next().flatten()?;
        let meta = value_meta.next().flatten().unwrap_or(0);
        let raw = value.take(usize::try_from(meta >> 4).ok()?)?;
        let text = if meta & 0xf == TEXT_VALUE {
            Some(std::str::from_utf8(raw).ok()?)
        } else {
            None
        };
        let start = out.succ.len();
        for _ in 0..succ_count.next().flatten().unwrap_or(0) {
            let actor = succ_actor.next().flatten()?;
            let ctr = u64::try_from(succ_ctr.next().flatten()?).ok()?;
            out.succ.push((actor, ctr));
        }
        out.ops.push(Op {
            obj,
            key,
            id,
            action,
            text,
            succ: start..out.succ.len(),
        });
    }
    Some(out)
}
