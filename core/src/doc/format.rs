//! Format versions of the documents (ARCHITECTURE.md, "Format versions";
//! docs/FORMAT.md for the shapes).
//!
//! Every document says, at its root, the format it is written in
//! (`format`) and the oldest format whose code reads it correctly
//! (`readable_from`), as SQLite's header keeps a write and a read version.
//! A document made before formats had versions says neither: format 1.
//!
//! A format is reached by **steps**. Step N is one automerge change made on
//! the document as it stood after step N−1 (the genesis change for the
//! first step) by a fixed actor of its own at time 0: the same bytes on
//! every device. So two devices that step the same document at once make
//! the same change — one hash, which automerge keeps once — and stepping is
//! safe anywhere, in any order, any number of times. A step that adds a
//! top-level map creates it here, the one way two devices never create
//! competing maps under one key (as the genesis does for the first maps).

use std::sync::OnceLock;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ROOT, ReadDoc, ScalarValue, Value};

use super::DocKind;
use crate::error::Result;

/// The newest format this code reads and writes.
pub const FORMAT_VERSION: u32 = 4;

const FORMAT: &str = "format";
const READABLE_FROM: &str = "readable_from";

/// What a document says of its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// The format it is written in.
    pub version: u32,
    /// The oldest format whose code reads it correctly (it ignores what it
    /// does not know).
    pub readable_from: u32,
}

impl Format {
    /// Whether this code reads it: otherwise it is stored and passed on
    /// unchanged, never read or written.
    pub fn readable(&self) -> bool {
        self.readable_from <= FORMAT_VERSION
    }

    /// Whether stepping would bring it up to this code's format.
    pub fn older(&self) -> bool {
        self.version < FORMAT_VERSION && self.readable()
    }
}

/// A document's format, as its root says. Two values written concurrently
/// (two steps made apart, by different builds) both count: the highest.
pub fn format(doc: &AutoCommit) -> Result<Format> {
    let highest = |key: &str| -> Result<Option<u32>> {
        Ok(doc
            .get_all(ROOT, key)?
            .into_iter()
            .filter_map(|(v, _)| match v {
                Value::Scalar(s) => match s.as_ref() {
                    ScalarValue::Uint(n) => u32::try_from(*n).ok(),
                    ScalarValue::Int(n) => u32::try_from(*n).ok(),
                    _ => None,
                },
                Value::Object(_) => None,
            })
            .max())
    };
    Ok(Format {
        version: highest(FORMAT)?.unwrap_or(1),
        readable_from: highest(READABLE_FROM)?.unwrap_or(1),
    })
}

/// What a person is told when this device holds `documents` documents of
/// a newer format: what it means and what to do. Every host shows this.
pub fn update_notice(lang: crate::codes::Lang, documents: usize) -> String {
    match lang {
        crate::codes::Lang::Ja => format!(
            "新しい版の anpi で作られたデータが {documents} 件あり、この端末では読めません。anpi を更新してください（データは消えずに保存され、ほかの端末へも渡されます）"
        ),
        crate::codes::Lang::En => format!(
            "{documents} document(s) were made by a newer anpi and cannot be read on this device: update anpi (the data is kept and passed on to other devices)"
        ),
    }
}

/// One step of the format.
struct Step {
    /// The format it brings a document to.
    version: u32,
    /// The oldest format whose code reads a document after this step.
    readable_from: u32,
    /// What the step adds to a document of this kind, beside its version.
    shape: fn(&mut AutoCommit, &DocKind) -> Result<()>,
}

/// Every step, in order.
/// - Format 2: every document says its format; nothing else changes, so
///   format-1 code reads it (it ignores the two keys).
/// - Format 3: a roster gets the `statements` map, the append-only set of
///   signed membership statements (`membership`). Older code ignores it and
///   reads on: the `members` entries it admits by are still written beside
///   each statement.
/// - Format 4: the staff side (`staffing`): a roster gets the `staff`
///   map (the staff list), an incident the `reports`, `decisions` and
///   `assignments` maps. Older code ignores them and reads on.
const STEPS: &[Step] = &[
    Step {
        version: 2,
        readable_from: 1,
        shape: |_, _| Ok(()),
    },
    Step {
        version: 3,
        readable_from: 1,
        shape: |doc, kind| {
            if *kind == DocKind::Roster {
                doc.put_object(ROOT, super::STATEMENTS, automerge::ObjType::Map)?;
            }
            Ok(())
        },
    },
    Step {
        version: 4,
        readable_from: 1,
        shape: |doc, kind| {
            for part in super::Part::of(kind) {
                doc.put_object(ROOT, part.map(), automerge::ObjType::Map)?;
            }
            Ok(())
        },
    },
];

fn step_actor(version: u32) -> ActorId {
    ActorId::from(format!("anpi-format-v{version}").into_bytes())
}

/// The genesis, then every step's change, for a document of `kind` — the
/// canonical history every document of that kind starts from.
fn canonical(kind: &DocKind) -> &'static (Vec<Change>, Vec<Change>) {
    static ROSTER: OnceLock<(Vec<Change>, Vec<Change>)> = OnceLock::new();
    static INCIDENT: OnceLock<(Vec<Change>, Vec<Change>)> = OnceLock::new();
    let cell = match kind {
        DocKind::Roster => &ROSTER,
        DocKind::Incident(_) => &INCIDENT,
    };
    cell.get_or_init(|| {
        let mut doc = super::genesis(kind);
        let genesis = doc.get_changes(&[]);
        let mut steps = Vec::new();
        for step in STEPS {
            let before = doc.get_heads();
            doc.set_actor(step_actor(step.version));
            doc.put(ROOT, FORMAT, i64::from(step.version))
                .expect("putting at the root cannot fail");
            doc.put(ROOT, READABLE_FROM, i64::from(step.readable_from))
                .expect("putting at the root cannot fail");
            (step.shape)(&mut doc, kind).expect("a step's shape applies to its canonical document");
            doc.commit_with(CommitOptions::default().with_time(0));
            steps.extend(doc.get_changes(&before));
        }
        (genesis, steps)
    })
}

/// The maps at the root of a document of `kind` as its genesis and the
/// steps made them, by name, with their object ids: every reader finds them
/// by id, so that whatever a peer later writes at the root under their
/// names (a number where the members map was) cannot hide them.
pub(super) fn known_maps(kind: &DocKind) -> &'static [(String, automerge::ObjId)] {
    static ROSTER: OnceLock<Vec<(String, automerge::ObjId)>> = OnceLock::new();
    static INCIDENT: OnceLock<Vec<(String, automerge::ObjId)>> = OnceLock::new();
    let cell = match kind {
        DocKind::Roster => &ROSTER,
        DocKind::Incident(_) => &INCIDENT,
    };
    cell.get_or_init(|| {
        let (genesis, steps) = canonical(kind);
        let mut doc = AutoCommit::new();
        doc.apply_changes(genesis.iter().chain(steps).cloned())
            .expect("the canonical changes apply");
        let names: Vec<String> = doc.keys(ROOT).collect();
        names
            .into_iter()
            .filter_map(|name| match doc.get(ROOT, name.as_str()).ok()?? {
                (Value::Object(_), id) => Some((name.clone(), id)),
                _ => None,
            })
            .collect()
    })
}

/// Whether `doc` holds the genesis of a document of `kind`.
pub(super) fn has_genesis(doc: &AutoCommit, kind: &DocKind) -> bool {
    canonical(kind)
        .0
        .iter()
        .all(|g| doc.get_change_by_hash(&g.hash()).is_some())
}

/// Whether `actor` is the fixed actor of a format step.
pub(super) fn is_step_actor(actor: &ActorId) -> bool {
    actor.to_bytes().starts_with(b"anpi-format-v")
}

/// The hashes of the genesis and the steps this code knows, for `kind`:
/// any other change by their actors is a forgery.
pub(super) fn canonical_hashes(kind: &DocKind) -> Vec<automerge::ChangeHash> {
    canonical_changes(kind).map(Change::hash).collect()
}

/// The genesis and the steps this code knows, for `kind`.
pub(super) fn canonical_changes(kind: &DocKind) -> impl Iterator<Item = &'static Change> {
    let (genesis, steps) = canonical(kind);
    genesis.iter().chain(steps)
}

/// The step changes a new document of `kind` is made with, after its
/// genesis.
pub(super) fn steps(kind: &DocKind) -> Vec<Change> {
    canonical(kind).1.clone()
}

/// Bring an older document this code reads up to [`FORMAT_VERSION`]: the
/// step changes it lacks, applied. Returns them (empty when there were
/// none); the caller writes them like any change. A document without the
/// genesis is left as it is (the steps would wait for it forever).
///
/// `doc` must have no open transaction: the steps are changes of their
/// own actors, not this device's.
pub fn upgrade(doc: &mut AutoCommit, kind: &DocKind) -> Result<Vec<Change>> {
    if !format(doc)?.older() {
        return Ok(Vec::new());
    }
    let (genesis, steps) = canonical(kind);
    if genesis
        .iter()
        .any(|g| doc.get_change_by_hash(&g.hash()).is_none())
    {
        return Ok(Vec::new());
    }
    let missing: Vec<Change> = steps
        .iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        doc.apply_changes(missing.clone())?;
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IncidentId;

    #[test]
    fn a_new_document_is_of_this_format_and_a_first_one_steps_to_it() {
        let kind = DocKind::Incident(IncidentId("flood-2026-09-01".into()));
        let actor = ActorId::from(b"device".to_vec());
        let new = super::super::create(&kind, &actor);
        assert_eq!(
            format(&new).unwrap(),
            Format {
                version: FORMAT_VERSION,
                readable_from: 1
            }
        );
        // A format-1 document: the genesis alone, then a device's change.
        let mut old = super::super::genesis(&kind).with_actor(actor.clone());
        old.put(ROOT, "x", 1).unwrap();
        old.commit();
        assert_eq!(format(&old).unwrap().version, 1);
        let mut a = old.fork().with_actor(ActorId::from(b"a".to_vec()));
        let mut b = old.fork().with_actor(ActorId::from(b"b".to_vec()));
        let sa = upgrade(&mut a, &kind).unwrap();
        let sb = upgrade(&mut b, &kind).unwrap();
        // Stepped on two devices at once: the same changes, one per step.
        assert_eq!(sa.len(), FORMAT_VERSION as usize - 1);
        assert_eq!(
            sa.iter().map(Change::hash).collect::<Vec<_>>(),
            sb.iter().map(Change::hash).collect::<Vec<_>>()
        );
        a.merge(&mut b).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(format(&a).unwrap().version, FORMAT_VERSION);
        assert!(upgrade(&mut a, &kind).unwrap().is_empty(), "once only");
    }

    #[test]
    fn a_newer_format_is_told_apart_and_never_stepped() {
        let kind = DocKind::Roster;
        let mut doc = super::super::create(&kind, &ActorId::from(b"d".to_vec()));
        doc.put(ROOT, FORMAT, 9_u64).unwrap();
        doc.put(ROOT, READABLE_FROM, 7_u64).unwrap();
        doc.commit();
        let f = format(&doc).unwrap();
        assert_eq!((f.version, f.readable_from), (9, 7));
        assert!(!f.readable());
        let heads = doc.get_heads();
        assert!(upgrade(&mut doc, &kind).unwrap().is_empty());
        assert_eq!(doc.get_heads(), heads);
        // Readable by older code: a newer format made only of additions.
        let mut additive = super::super::create(&kind, &ActorId::from(b"e".to_vec()));
        additive.put(ROOT, FORMAT, 9_u64).unwrap();
        additive.commit();
        assert!(format(&additive).unwrap().readable());
        assert!(!format(&additive).unwrap().older());
    }
}
