//! The structure check of a whole document a peer sends (a new device's
//! first sync): the same rule as for changes (`fits`), read straight from
//! the document's saved form — automerge's document chunk, one pass over
//! its operation columns — instead of rebuilding every change of it
//! (`get_changes`), which took 0.8 s of a 50,000-recipient roster's first
//! sync.
//!
//! It may only say yes when the change-by-change check would let every
//! change of the document through: devices that take a document whole and
//! devices that take it change by change must keep the same changes, or
//! they stop converging. So it answers no whenever it is unsure (more than
//! one chunk, a format newer than this build, a list, a column it does not
//! know), and the caller then checks change by change.
//!
//! The saved form (automerge's storage format): a chunk header (magic,
//! checksum, type, length); the actors; the heads; the change and
//! operation column layouts (spec and length each); the columns. An
//! operation there holds its object, key, id, action, value and the ids of
//! the operations that overwrote or removed it (`succ`); a removal is not
//! stored itself, only as such an id that is no operation.

use std::borrow::Cow;
use std::collections::HashMap;

use automerge::{ActorId, AutoCommit, ObjId, ReadDoc};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Act, GENESIS_ACTOR, Place, fits, format, static_name, step_version};
use crate::doc::DocKind;
use crate::saved::{DOCUMENT_CHUNK, MAX_INFLATED_BYTES, Reader};

/// Column specs (id << 4 | type) of a document's operations.
mod col {
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

const MAKE_MAP: u64 = 0;
const PUT: u64 = 1;
const DELETE: u64 = 3;
const TEXT_VALUE: u64 = 6;

/// An operation's id: the index of its actor in the document's actor
/// table, and its counter.
type OpId = (u64, u64);

/// One operation as the check needs it.
struct Op<'a> {
    /// `None`: the root.
    obj: Option<OpId>,
    /// `None`: a list position.
    key: Option<&'a str>,
    id: OpId,
    action: u64,
    text: Option<&'a str>,
    succ: std::ops::Range<usize>,
}

/// Whether every change of the document saved as `bytes` (and loaded as
/// `doc`) fits `kind`'s shape; `false` also when unsure.
pub fn whole_fits(doc: &AutoCommit, kind: &DocKind, bytes: &[u8]) -> bool {
    read_whole(kind, bytes).is_some_and(|r| r.confirmed_by(doc, kind))
}

/// What [`read_whole`] found that only the loaded document can confirm.
#[derive(Debug)]
pub struct Reading {
    ops: u64,
    /// How many changes each genesis or step actor made.
    special: Vec<(ActorId, usize)>,
}

impl Reading {
    /// Whether `doc`, loaded from the bytes read, holds as many
    /// operations as were read, and every genesis or step change it holds
    /// is a canonical one. Cheap: no operation is read again.
    pub fn confirmed_by(&self, doc: &AutoCommit, kind: &DocKind) -> bool {
        doc.stats().num_ops == self.ops
            && self.special.iter().all(|(actor, made)| {
                let held = format::canonical_changes(kind)
                    .filter(|c| {
                        c.actor_id() == actor && doc.get_change_by_hash(&c.hash()).is_some()
                    })
                    .count();
                held == *made
            })
    }
}

/// The heavy part of [`whole_fits`], from the saved bytes alone (so it
/// can run beside the document's load): every operation judged. `None`
/// when one does not fit, or when unsure.
pub fn read_whole(kind: &DocKind, bytes: &[u8]) -> Option<Reading> {
    // automerge reads the same columns when it loads the bytes; a column
    // decoder that trips over them here means "unsure".
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(kind, bytes)))
        .ok()
        .flatten()
}

fn read(kind: &DocKind, bytes: &[u8]) -> Option<Reading> {
    let mut r = Reader(bytes);
    let (chunk, body) = r.chunk()?;
    if chunk != DOCUMENT_CHUNK || !r.0.is_empty() {
        // Changes saved after the document: the change-by-change check.
        return None;
    }
    let mut body = crate::saved::document(body)?;
    let actors: Vec<ActorId> = body.actors.iter().map(|a| ActorId::from(*a)).collect();
    let change_cols = body
        .columns
        .columns(&body.change_layout, MAX_INFLATED_BYTES)
        .ok()?;
    let cols = body
        .columns
        .columns(&body.op_layout, MAX_INFLATED_BYTES)
        .ok()?;
    let known_specs = [
        col::OBJ_ACTOR,
        col::OBJ_CTR,
        col::KEY_ACTOR,
        col::KEY_CTR,
        col::KEY_STR,
        col::ID_ACTOR,
        col::ID_CTR,
        col::INSERT,
        col::ACTION,
        col::VALUE_META,
        col::VALUE,
        col::SUCC_COUNT,
        col::SUCC_ACTOR,
        col::SUCC_CTR,
        col::EXPAND,
        col::MARK_NAME,
    ];
    if cols.keys().any(|s| !known_specs.contains(s)) {
        return None;
    }

    let (canonical, special) = canonical_ranges(kind, &actors, &change_cols)?;
    let ops = read_ops(&cols)?;

    // Where each object is: the maps the genesis and steps made, then the
    // maps made directly in them.
    let mut places: FxHashMap<OpId, Place> = FxHashMap::default();
    for (name, id) in format::known_maps(kind) {
        let (Some(name), ObjId::Id(ctr, actor, _)) = (static_name(name), id) else {
            continue;
        };
        if let Some(i) = actors.iter().position(|a| a == actor) {
            places.insert((i as u64, *ctr), Place::Top(name));
        }
    }
    for op in &ops.ops {
        if op.action == MAKE_MAP
            && let Some(Place::Top(name)) = op.obj.and_then(|o| places.get(&o)).copied()
        {
            places.insert(op.id, Place::In(name));
        }
    }
    let overwritten: FxHashSet<OpId> = ops.succ.iter().copied().collect();
    let is_special = |id: &OpId| canonical.contains_key(&id.0);
    let in_canonical = |id: &OpId| {
        canonical
            .get(&id.0)
            .is_some_and(|ranges| ranges.iter().any(|r| r.contains(&id.1)))
    };
    // Operations come object by object: the last object's place is
    // looked up once.
    let mut last_place: Option<(OpId, Place)> = None;
    let mut place_of = |obj: Option<OpId>| -> Option<Place> {
        let obj = obj?;
        match last_place {
            Some((o, p)) if o == obj => Some(p),
            _ => {
                let p = *places.get(&obj)?;
                last_place = Some((obj, p));
                Some(p)
            }
        }
    };

    let mut run_start = 0;
    for (n, op) in ops.ops.iter().enumerate() {
        if is_special(&op.id) {
            // Part of a genesis or step change, all of which are the
            // canonical ones (`canonical_ranges`).
            if !in_canonical(&op.id) {
                return None;
            }
        } else {
            let act = match (op.action, op.text) {
                (MAKE_MAP, _) => Act::MakeMap,
                (DELETE, _) => Act::Delete,
                (PUT, Some(text)) => Act::Text(text),
                _ => Act::Other,
            };
            let fresh = overwritten.is_empty() || !overwritten.contains(&op.id);
            if !fits(place_of(op.obj)?, op.key?, act, fresh) {
                return None;
            }
        }
        // At the end of a run of operations on one key: the removals
        // there, the ids in `succ` that are no operation of the run.
        let last = ops
            .ops
            .get(n + 1)
            .is_none_or(|next| (next.obj, next.key) != (op.obj, op.key));
        if last {
            let run = &ops.ops[run_start..=n];
            // A key written over many times (or a peer's document made
            // so) is looked up in a set, not scanned for each removal.
            let many: Option<FxHashSet<OpId>> =
                (run.len() > 16).then(|| run.iter().map(|o| o.id).collect());
            let in_run = |id: &OpId| match &many {
                Some(set) => set.contains(id),
                None => run.iter().any(|o| o.id == *id),
            };
            for removal in run.iter().flat_map(|o| &ops.succ[o.succ.clone()]) {
                if in_run(removal) {
                    continue;
                }
                if is_special(removal) {
                    if !in_canonical(removal) {
                        return None;
                    }
                    continue;
                }
                if !fits(place_of(op.obj)?, op.key?, Act::Delete, true) {
                    return None;
                }
            }
            run_start = n + 1;
        }
    }
    Some(Reading {
        ops: ops.ops.len() as u64,
        special,
    })
}

/// For each genesis or step actor of the document (by its index), the op
/// counter ranges of the canonical changes (`format::canonical_changes`),
/// and how many changes it made (`Reading::confirmed_by` checks they are
/// all canonical). `None` when a step is newer than this build.
#[allow(clippy::type_complexity)]
fn canonical_ranges(
    kind: &DocKind,
    actors: &[ActorId],
    change_cols: &HashMap<u64, Cow<'_, [u8]>>,
) -> Option<(
    HashMap<u64, Vec<std::ops::RangeInclusive<u64>>>,
    Vec<(ActorId, usize)>,
)> {
    let mut made: HashMap<u64, usize> = HashMap::new();
    let actor_col = change_cols.get(&col::CHANGE_ACTOR)?;
    for actor in hexane::decoder::<Option<u64>>(actor_col) {
        *made.entry(actor?).or_default() += 1;
    }
    let mut ranges: HashMap<u64, Vec<std::ops::RangeInclusive<u64>>> = HashMap::new();
    let mut special = Vec::new();
    for (i, actor) in actors.iter().enumerate() {
        let i = i as u64;
        let step = format::is_step_actor(actor);
        if !step && actor.to_bytes() != GENESIS_ACTOR {
            continue;
        }
        if step && step_version(actor).is_none_or(|v| v > format::FORMAT_VERSION) {
            return None;
        }
        ranges.insert(
            i,
            format::canonical_changes(kind)
                .filter(|c| c.actor_id() == actor)
                .map(|c| c.start_op().get()..=c.max_op())
                .collect(),
        );
        special.push((actor.clone(), made.get(&i).copied().unwrap_or(0)));
    }
    Some((ranges, special))
}

struct Ops<'a> {
    ops: Vec<Op<'a>>,
    /// Every op's `succ`, one after another (`Op::succ` indexes it).
    succ: Vec<OpId>,
}

fn read_ops<'a>(cols: &'a HashMap<u64, Cow<'_, [u8]>>) -> Option<Ops<'a>> {
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
