//! The index rows a new device needs most — every recipient of a roster,
//! every check of an incident — read from a whole document's saved form in
//! the same pass over its columns as its structure check (`vet::whole`),
//! so that a first sync does not read them again from the loaded document
//! (at 50,000 recipients and 50,000 checks that took 0.5 s and 0.4 s, on
//! the path of the first sync).
//!
//! They must be the rows the loaded document gives (`recipients_with_conflicts`,
//! `checks`), or a device that took a document whole would show something
//! else than one that took it change by change. So the reading gives up
//! (`None`, and the caller reads the loaded document) wherever the two
//! could differ: a conflict anywhere in the records, a record that is not
//! a map, a register that does not read.

use automerge::ActorId;
use rustc_hash::{FxHashMap, FxHashSet};

use super::columns::{MAKE_MAP, OpId, Ops, op_id};
use super::{CHECKS, DocKind, RECIPIENTS, format};
use crate::model::{Check, Recipient, RecipientId};

/// What [`read`] gives, by the kind of document.
#[derive(Debug)]
pub enum WholeRows {
    /// Every recipient of a roster, none of them conflicted.
    Recipients(Vec<Recipient>),
    /// Every check of an incident, each once.
    Checks(Vec<Check>),
}

/// The id of the map `name` that the genesis made, in the document's
/// actor table.
fn top_map(kind: &DocKind, actors: &[ActorId], name: &str) -> Option<OpId> {
    let (_, id) = format::known_maps(kind).iter().find(|(n, _)| n == name)?;
    op_id(id, actors)
}

/// The registers shown in each record of a document's top map (a
/// recipient's groups, a bucket's checks): record key → (key, text, or
/// `None` for a value that is not text). `None` when a record or a register
/// is conflicted, or a record is not a map.
#[allow(clippy::type_complexity)]
fn records<'a>(
    ops: &Ops<'a>,
    top: OpId,
) -> Option<Vec<(&'a str, Vec<(&'a str, Option<&'a str>)>)>> {
    // The records shown: maps in `top` that nothing overwrote or removed.
    let mut by_id: FxHashMap<OpId, usize> = FxHashMap::default();
    let mut keys: FxHashSet<&str> = FxHashSet::default();
    let mut out: Vec<(&str, Vec<(&str, Option<&str>)>)> = Vec::new();
    for op in ops.ops.iter().filter(|op| op.obj == Some(top)) {
        if !op.succ.is_empty() {
            continue;
        }
        let key = op.key?;
        if op.action != MAKE_MAP || !keys.insert(key) {
            return None;
        }
        by_id.insert(op.id, out.len());
        out.push((key, Vec::new()));
    }
    for op in &ops.ops {
        if !op.succ.is_empty() {
            continue;
        }
        let Some(&n) = op.obj.and_then(|o| by_id.get(&o)) else {
            continue;
        };
        let key = op.key?;
        let registers = &mut out[n].1;
        // A record holds a few registers: a scan finds a second value.
        if registers.iter().any(|(k, _)| *k == key) {
            return None;
        }
        registers.push((key, op.text));
    }
    Some(out)
}

/// The rows of the document `ops` were read from, or `None` when unsure
/// (see the module's note).
pub(super) fn read(kind: &DocKind, actors: &[ActorId], ops: &Ops<'_>) -> Option<WholeRows> {
    match kind {
        DocKind::Roster => {
            let recipients = records(ops, top_map(kind, actors, RECIPIENTS)?)?;
            recipients
                .into_iter()
                .map(|(id, registers)| {
                    super::roster::recipient_from_registers(RecipientId(id.to_string()), registers)
                })
                .collect::<Option<Vec<_>>>()
                .map(WholeRows::Recipients)
        }
        DocKind::Incident(_) => {
            let buckets = records(ops, top_map(kind, actors, CHECKS)?)?;
            // What `checks` reads: each text that is a check (others are
            // left out), a check found in two buckets once — the first in
            // key order.
            let mut found: Vec<(&str, &str, Check)> = Vec::new();
            for (bucket, registers) in &buckets {
                for (key, text) in registers {
                    if let Some(check) = text.and_then(|t| serde_json::from_str::<Check>(t).ok()) {
                        found.push((bucket, key, check));
                    }
                }
            }
            let mut seen = FxHashSet::default();
            if !found.iter().all(|(_, _, c)| seen.insert(c.id)) {
                found.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                seen.clear();
                found.retain(|(_, _, c)| seen.insert(c.id));
            }
            Some(WholeRows::Checks(
                found.into_iter().map(|(_, _, c)| c).collect(),
            ))
        }
    }
}
