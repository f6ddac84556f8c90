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

use automerge::{ActorId, AutoCommit, ReadDoc};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Act, Anyone, GENESIS_ACTOR, Place, fits, format, static_name, step_version};
use crate::doc::DocKind;
use crate::doc::columns::{DELETE, MAKE_MAP, OpId, PUT, col, op_id, read_ops};
use crate::doc::whole_rows::{self, WholeRows};
use crate::saved::{
    CHANGE_CHUNK, COMPRESSED_CHANGE_CHUNK, DOCUMENT_CHUNK, MAX_INFLATED_BYTES, Reader,
};

/// Whether every change of the document saved as `bytes` (and loaded as
/// `doc`) fits `kind`'s shape; `false` also when unsure.
pub fn whole_fits(doc: &AutoCommit, kind: &DocKind, bytes: &[u8]) -> bool {
    read_whole(kind, bytes).is_some_and(|r| r.confirmed_by(doc, kind))
}

/// What [`read_whole`] found that only the loaded document can confirm,
/// and the index rows read on the way.
#[derive(Debug)]
pub struct Reading {
    /// The operations read, and those the changes saved after the
    /// document add (removals are no operations of a loaded document).
    ops: u64,
    /// How many changes each genesis or step actor made.
    special: Vec<(ActorId, usize)>,
    /// Changes saved after the document (a stored form that was not
    /// compacted since): judged by their own operations.
    trailing: Vec<automerge::Change>,
    rows: Option<WholeRows>,
}

impl Reading {
    /// Whether `doc`, loaded from the bytes read, holds as many
    /// operations as were read, every genesis or step change it holds
    /// is a canonical one, and the changes saved after the document fit.
    /// Cheap: no operation of the document is read again.
    pub fn confirmed_by(&self, doc: &AutoCommit, kind: &DocKind) -> bool {
        doc.stats().num_ops == self.ops
            && super::vet(doc, kind, &self.trailing, &Anyone)
                .iter()
                .all(Option::is_none)
            && self.special.iter().all(|(actor, made)| {
                let held = format::canonical_changes(kind)
                    .filter(|c| {
                        c.actor_id() == actor && doc.get_change_by_hash(&c.hash()).is_some()
                    })
                    .count();
                held == *made
            })
    }

    /// The changes saved after the document chunk.
    pub fn trailing(&self) -> &[automerge::Change] {
        &self.trailing
    }

    /// The rows of the document chunk (`whole_rows`): recipients or
    /// checks as of the chunk, before the trailing changes; `None` when
    /// the reading was unsure of them.
    pub fn take_rows(&mut self) -> Option<WholeRows> {
        self.rows.take()
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
    if chunk != DOCUMENT_CHUNK {
        return None;
    }
    // Changes saved after the document (an office's stored form between
    // compactions): each judged whole, by `confirmed_by`.
    let mut trailing = Vec::new();
    for chunk in crate::saved::split_chunks(r.0)? {
        if !matches!(
            crate::saved::chunk_type(chunk),
            Some(CHANGE_CHUNK | COMPRESSED_CHANGE_CHUNK)
        ) {
            return None;
        }
        // Inflated within bounds: this runs beside the load, which checks
        // the bytes' bounds on its own.
        crate::saved::inflated_size(chunk, MAX_INFLATED_BYTES).ok()?;
        trailing.push(automerge::Change::from_bytes(chunk.to_vec()).ok()?);
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
        if let (Some(name), Some(id)) = (static_name(name), op_id(id, &actors)) {
            places.insert(id, Place::Top(name));
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
    let added: usize = trailing
        .iter()
        .map(|c| {
            c.decode()
                .operations
                .iter()
                .filter(|op| !matches!(op.action, automerge::legacy::OpType::Delete))
                .count()
        })
        .sum();
    Some(Reading {
        ops: (ops.ops.len() + added) as u64,
        special,
        rows: whole_rows::read(kind, &actors, &ops),
        trailing,
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
