//! The structure check of changes a peer sends (docs/SECURITY.md,
//! "Structure"): automerge applies any well-formed change, so before one
//! joins a document its operations must fit the document's shape. A change
//! that does not is refused alone — never the message it came in — and a
//! change built on it waits for it forever.
//!
//! What a change may do:
//! - nothing at the root: the maps there are made by the genesis and the
//!   format steps, whose changes are the same bytes everywhere; a change
//!   by their fixed actors that is not one of them is a forgery (a step of
//!   a newer format than this build knows may only say its format and add
//!   maps);
//! - `statements`: add a statement under the hash of its bytes, never
//!   overwrite or remove one (`membership`);
//! - `space`: write the founding once (the value that hashes to the space
//!   id is the founding, whatever else is written), and each disaster
//!   exception once (only one its declaring admin signed counts);
//! - `recipients`: add or remove a recipient's map; in it, write a group's
//!   text;
//! - `checks`: open a bucket; in a bucket, add a check once, never
//!   overwrite or remove one;
//! - `members`, `opened`, `ended`, `claims`: write or remove text;
//! - `staff`, `assignments` (format 4): write or remove text;
//! - `reports` (format 4): like `checks`, a bucket of reports added once;
//! - `decisions` (format 4): add a decision once, never overwrite or
//!   remove one.
//!
//! Who may write what (a check only by its device, recipients only by
//! admins) is the author's rule, judged in the same pass: `authorship`.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{ActorId, AutoCommit, Change, ObjType, ReadDoc, ScalarValue};

use super::{DocKind, GENESIS_ACTOR, format};

mod authorship;
mod whole;
pub use authorship::{Anyone, Author, Authors};
pub use whole::{Reading, read_whole, whole_fits};

/// Where an operation lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// A map the genesis or a step made, by its name.
    Top(&'static str),
    /// An object directly in such a map (a recipient, a bucket).
    In(&'static str),
    /// A map a newer format's step made, or anything in it: this build
    /// cannot judge it.
    Newer,
}

const NAMES: [&str; 12] = [
    super::SPACE,
    super::RECIPIENTS,
    super::MEMBERS,
    super::STATEMENTS,
    super::OPENED,
    super::ENDED,
    super::CHECKS,
    super::CLAIMS,
    super::STAFF,
    super::REPORTS,
    super::DECISIONS,
    super::ASSIGNMENTS,
];

fn static_name(name: &str) -> Option<&'static str> {
    NAMES.into_iter().find(|n| *n == name)
}

/// What an operation does, as far as the shape cares.
#[derive(Clone, Copy)]
enum Act<'a> {
    MakeMap,
    Delete,
    Text(&'a str),
    /// Any other value or object.
    Other,
}

/// The one rule both readers of a peer's changes apply (changes one by
/// one, or a whole document: `whole`): whether an operation at `place`,
/// under `key`, fits. `fresh`: it overwrites or removes nothing.
fn fits(place: Place, key: &str, act: Act<'_>, fresh: bool) -> bool {
    let text = match act {
        Act::Text(t) => Some(t),
        _ => None,
    };
    let made_map = matches!(act, Act::MakeMap);
    let delete = matches!(act, Act::Delete);
    match place {
        Place::Newer => true,
        Place::Top("statements") => {
            fresh && text.is_some_and(|t| crate::membership::entry_key(t) == key)
        }
        // The founding and each disaster exception are written once.
        Place::Top("space") if key == "founding" || key.starts_with("exception/") => {
            fresh && text.is_some()
        }
        Place::Top(
            "space" | "members" | "opened" | "ended" | "claims" | "staff" | "assignments",
        ) => text.is_some() || delete,
        Place::Top("recipients") => made_map || delete,
        Place::Top("checks" | "reports") => made_map,
        Place::Top("decisions") => fresh && text.is_some(),
        Place::In("recipients") => text.is_some() || delete,
        Place::In("checks" | "reports") => fresh && text.is_some(),
        _ => false,
    }
}

/// The version a step actor's name says (`anpi-format-v<N>`).
fn step_version(actor: &ActorId) -> Option<u32> {
    std::str::from_utf8(&actor.to_bytes()["anpi-format-v".len()..])
        .ok()?
        .parse()
        .ok()
}

/// For each change (in order), `None` when it fits `kind`'s shape and its
/// author's rule (`authors`), or why it does not. `doc`: the document the
/// changes are to join (to find the objects they write into).
pub fn vet(
    doc: &AutoCommit,
    kind: &DocKind,
    changes: &[Change],
    authors: &dyn Authors,
) -> Vec<Option<String>> {
    let known: HashMap<String, Place> = format::known_maps(kind)
        .iter()
        .filter_map(|(name, id)| Some((id.to_string(), Place::Top(static_name(name)?))))
        .collect();
    let canonical = format::canonical_hashes(kind);
    let mut places: HashMap<String, Option<Place>> = HashMap::new();
    let mut out = Vec::with_capacity(changes.len());
    let mut recorders = authorship::Recorders::new(doc);
    for change in changes {
        let actor = change.actor_id();
        if super::is_fixed_actor(actor) {
            let fits = canonical.contains(&change.hash())
                || (format::is_step_actor(actor)
                    && step_version(actor).is_some_and(|v| v > format::FORMAT_VERSION)
                    && newer_step(change, &known, &mut places));
            out.push((!fits).then(|| "a forged genesis or format step".to_string()));
            continue;
        }
        let decoded = change.decode();
        let actor_hex = actor.to_hex_string();
        let member = match authors.author(actor) {
            Author::Member(d) => Some(d),
            Author::Admin | Author::Unproven => None,
        };
        let mut why = None;
        for (n, op) in decoded.operations.iter().enumerate() {
            let place = match &op.obj {
                ObjectId::Root => {
                    why = Some("writes at the document's root".to_string());
                    break;
                }
                ObjectId::Id(id) => place_of(doc, &id.to_string(), &known, &mut places),
            };
            let Some(place) = place else {
                why = Some(format!(
                    "writes into an object that is not anpi's ({})",
                    op.obj
                ));
                break;
            };
            let Key::Map(key) = &op.key else {
                why = Some("writes a list where anpi keeps none".to_string());
                break;
            };
            let act = match &op.action {
                OpType::Make(ObjType::Map) => Act::MakeMap,
                OpType::Delete => Act::Delete,
                OpType::Put(ScalarValue::Str(s)) => Act::Text(s),
                _ => Act::Other,
            };
            let made_map = matches!(act, Act::MakeMap);
            let fresh = op.pred.is_empty();
            let ok = fits(place, key.as_str(), act, fresh);
            if !ok {
                why = Some(format!(
                    "{} at {:?} of {} does not fit the document",
                    action_name(&op.action, fresh),
                    key.as_str(),
                    place_name(place)
                ));
                break;
            }
            let maker = match &op.obj {
                ObjectId::Id(id) => Some(id.actor()),
                ObjectId::Root => None,
            };
            if let Some(me) = &member
                && let Some(not) = authorship::in_own_name(
                    me,
                    authors,
                    place,
                    key.as_str(),
                    act,
                    maker,
                    &mut recorders,
                )
            {
                why = Some(not);
                break;
            }
            if made_map {
                // An object this change makes, for the operations after it.
                let id = format!("{}@{actor_hex}", decoded.start_op.get() + n as u64);
                let inner = match place {
                    Place::Top(name) => Place::In(name),
                    _ => Place::Newer,
                };
                places.insert(id, Some(inner));
            }
        }
        out.push(why);
    }
    out
}

/// Whether a step of a newer format only says its format and adds maps
/// (which are then the newer format's own).
fn newer_step(
    change: &Change,
    known: &HashMap<String, Place>,
    places: &mut HashMap<String, Option<Place>>,
) -> bool {
    let decoded = change.decode();
    let actor_hex = change.actor_id().to_hex_string();
    let mut made = Vec::new();
    for (n, op) in decoded.operations.iter().enumerate() {
        let ok = match (&op.obj, &op.key, &op.action) {
            (
                ObjectId::Root,
                Key::Map(k),
                OpType::Put(ScalarValue::Int(_) | ScalarValue::Uint(_)),
            ) => k.as_str() == "format" || k.as_str() == "readable_from",
            (ObjectId::Root, Key::Map(k), OpType::Make(ObjType::Map)) => {
                made.push(format!("{}@{actor_hex}", decoded.start_op.get() + n as u64));
                static_name(k.as_str()).is_none()
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    for id in made {
        if !known.contains_key(&id) {
            places.insert(id, Some(Place::Newer));
        }
    }
    true
}

/// Where object `id` is: a known map, directly in one, or in a newer
/// format's map; `None` when the document does not hold it under any.
fn place_of(
    doc: &AutoCommit,
    id: &str,
    known: &HashMap<String, Place>,
    places: &mut HashMap<String, Option<Place>>,
) -> Option<Place> {
    if let Some(p) = known.get(id) {
        return Some(*p);
    }
    if let Some(p) = places.get(id) {
        return *p;
    }
    let found = (|| {
        let obj = doc.import_obj(id).ok()?;
        doc.object_type(&obj).ok()?;
        let parent = doc.parents(&obj).ok()?.next()?;
        let parent_id = parent.obj.to_string();
        match known.get(&parent_id) {
            Some(Place::Top(name)) => Some(Place::In(name)),
            Some(_) => None,
            None => match places.get(&parent_id) {
                Some(Some(Place::Newer)) => Some(Place::Newer),
                _ => step_version(&actor_of(&parent_id)?)
                    .is_some_and(|v| v > format::FORMAT_VERSION)
                    .then_some(Place::Newer),
            },
        }
    })();
    places.insert(id.to_string(), found);
    found
}

fn actor_of(id: &str) -> Option<ActorId> {
    let hex = id.split_once('@')?.1;
    let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
    format::is_step_actor(&ActorId::from(bytes.clone())).then(|| ActorId::from(bytes))
}

fn action_name(action: &OpType, fresh: bool) -> &'static str {
    match action {
        OpType::Put(ScalarValue::Str(_)) if fresh => "a new text",
        OpType::Put(ScalarValue::Str(_)) => "a text written over another",
        OpType::Put(_) => "a value that is not text",
        OpType::Make(_) => "a new object",
        OpType::Delete => "a removal",
        _ => "an operation",
    }
}

fn place_name(place: Place) -> String {
    match place {
        Place::Top(name) => format!("'{name}'"),
        Place::In(name) => format!("an entry of '{name}'"),
        Place::Newer => "a newer format's map".to_string(),
    }
}
