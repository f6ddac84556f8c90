//! The one place that knows the shape of anpi's automerge documents.
//!
//! Each space has a **roster** document and one **incident** document per
//! disaster:
//!
//! ```text
//! roster                              incident/<kind>-<date>
//! ├─ space: { name, founding }        ├─ opened:  { <device>: Opening (JSON) }
//! ├─ members: { <device>: signed }    │
//! ├─ statements: { <hash>: signed }   │
//! └─ recipients:                      ├─ ended:   { <device>: Ending (JSON) }
//!    └─ <利用者ID>: Recipient          ├─ checks:  { <device>.<n>: { <check id>: Check (JSON) } }
//!       (a map of seven group         └─ claims:  { <device>/<利用者ID>: Claim (JSON) }
//!        registers, JSON each)
//! ```
//!
//! Why this shape:
//! - Roster fields are edited by several people; one register per group of
//!   fields means concurrent edits of *different* groups merge and concurrent
//!   edits within one group keep every value (see [`recipient_conflicts`]),
//!   at ~8 ops per recipient instead of ~45 (ARCHITECTURE.md, the import).
//! - Checks and claims are immutable facts keyed by an id that nobody else
//!   writes, so they never conflict. A check is one JSON string rather than a
//!   map of registers: it is written once and never edited, so per-field
//!   registers would buy nothing and cost ~12 ops per check in every load,
//!   save and sync.
//! - Checks sit in **buckets** of at most [`CHECKS_PER_BUCKET`], each
//!   created and filled by one device (`<device>.<n>`). automerge applies
//!   received changes by walking the map they land in; a bucket keeps that
//!   walk short at any history length, and since only its device creates it,
//!   no two devices ever create the same bucket concurrently.
//! - Every top-level map is created by a deterministic **genesis** change
//!   (fixed actor, time 0), identical on every device. Two phones that start
//!   the same incident offline therefore share its containers instead of
//!   creating two competing `checks` maps of which only one would be visible.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, HydrateError, Reconcile, Reconciler};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::codes::{CareLevel, Household};
use crate::error::{Error, Result};
use crate::membership::{Entry, Founding, Ledger, SignedException, SignedMember};
use crate::model::{
    Check, Claim, ConsentRecord, Date, DeviceId, EvacuationPlan, Exception, FieldConflict, Hazards,
    Incident, IncidentId, IncidentKind, PriorityOverride, Recipient, RecipientId, SpaceId, Staff,
    Timestamp,
};
use crate::priority::PriorityConfig;

mod columns;
pub mod format;
mod incident;
mod roster;
mod staffing;
mod vet;
mod whole_rows;
pub use format::{FORMAT_VERSION, Format};
pub use incident::*;
pub use roster::*;
pub use staffing::*;
pub use vet::{Anyone, Author, Authors, Reading, read_whole, vet, whole_fits};
pub use whole_rows::WholeRows;

/// Which document of a space.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// An incident's checks and claims. Ordered first: safety status syncs
    /// before roster edits.
    Incident(IncidentId),
    /// Recipients and their evacuation plans.
    Roster,
}

/// A document's full name: its space and which document it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocKey {
    /// The space.
    pub space: SpaceId,
    /// Which document.
    pub kind: DocKind,
}

impl DocKey {
    /// The roster of `space`.
    pub fn roster(space: &SpaceId) -> Self {
        DocKey {
            space: space.clone(),
            kind: DocKind::Roster,
        }
    }

    /// Incident `id` of `space`.
    pub fn incident(space: &SpaceId, id: &IncidentId) -> Self {
        DocKey {
            space: space.clone(),
            kind: DocKind::Incident(id.clone()),
        }
    }

    /// The incident id, if this is an incident document.
    pub fn incident_id(&self) -> Option<&IncidentId> {
        match &self.kind {
            DocKind::Incident(id) => Some(id),
            DocKind::Roster => None,
        }
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DocKind::Roster => write!(f, "{}/roster", self.space),
            DocKind::Incident(id) => write!(f, "{}/incident/{}", self.space, id),
        }
    }
}

impl std::str::FromStr for DocKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("not a document name: {s:?}"));
        let (space, rest) = s.split_once('/').ok_or_else(bad)?;
        if space.is_empty() {
            return Err(bad());
        }
        let kind = match rest.split_once('/') {
            None if rest == "roster" => DocKind::Roster,
            Some(("incident", id)) if !id.is_empty() && !id.contains('/') => {
                DocKind::Incident(IncidentId(id.to_string()))
            }
            _ => return Err(bad()),
        };
        Ok(DocKey {
            space: SpaceId(space.to_string()),
            kind,
        })
    }
}

/// The automerge actor of a device: its id's bytes.
pub fn actor_for(device: &DeviceId) -> ActorId {
    match data_encoding::HEXLOWER_PERMISSIVE.decode(device.as_str().as_bytes()) {
        Ok(bytes) if !bytes.is_empty() => ActorId::from(bytes),
        _ => ActorId::from(device.as_str().as_bytes()),
    }
}

const GENESIS_ACTOR: &[u8] = b"anpi-genesis-v1";

/// Whether `actor` is the genesis's or a format step's: fixed actors that
/// name no device, whose changes the structure check vouches for (only
/// their canonical bytes pass it).
pub fn is_fixed_actor(actor: &ActorId) -> bool {
    actor.to_bytes() == GENESIS_ACTOR || format::is_step_actor(actor)
}

const SPACE: &str = "space";
const RECIPIENTS: &str = "recipients";
const MEMBERS: &str = "members";
const OPENED: &str = "opened";
const ENDED: &str = "ended";
const CHECKS: &str = "checks";
const CLAIMS: &str = "claims";
const STATEMENTS: &str = "statements";

/// A new document of `kind` in this code's format: the shared genesis
/// change and the format's steps (see [`format`]), then `actor` (the
/// device's, see [`actor_for`]) for everything after.
pub fn create(kind: &DocKind, actor: &ActorId) -> AutoCommit {
    let mut doc = genesis(kind);
    doc.apply_changes(format::steps(kind))
        .expect("the steps apply to the genesis they were made on");
    doc.set_actor(actor.clone());
    doc
}

/// A document of `kind` holding only the genesis change (format 1): what a
/// device starts from to take a document a peer sends whole, whatever its
/// format, so that the peer's saved form covers it.
pub fn genesis(kind: &DocKind) -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
    let maps: &[&str] = match kind {
        DocKind::Roster => &[SPACE, RECIPIENTS, MEMBERS],
        DocKind::Incident(_) => &[OPENED, ENDED, CHECKS, CLAIMS],
    };
    for name in maps {
        doc.put_object(ROOT, *name, ObjType::Map)
            .expect("putting a map at the root of a new document cannot fail");
    }
    doc.commit_with(CommitOptions::default().with_time(0));
    doc
}

/// Load a stored document (a snapshot and/or concatenated changes) to be
/// changed by `actor`.
pub fn load(bytes: &[u8], actor: &ActorId) -> Result<AutoCommit> {
    let mut doc = AutoCommit::load(bytes)?;
    doc.set_actor(actor.clone());
    Ok(doc)
}

/// The map `name` at the root, found by the id its genesis or format step
/// gave it: whatever a peer writes at the root under that name later (a
/// number where the members map was) does not hide it.
fn top(doc: &AutoCommit, name: &str) -> Result<ObjId> {
    let missing = || Error::corrupt(format!("document has no '{name}' map"));
    let (kind, known) = [
        DocKind::Roster,
        DocKind::Incident(IncidentId(String::new())),
    ]
    .into_iter()
    .find_map(|k| {
        let id = format::known_maps(&k)
            .iter()
            .find(|(n, _)| n == name)?
            .1
            .clone();
        Some((k, id))
    })
    .ok_or_else(missing)?;
    if let Some((Value::Object(ObjType::Map), id)) = doc.get(ROOT, name)?
        && id == known
    {
        return Ok(id);
    }
    // Hidden by a later write, or never made (a document of the other
    // kind, whose genesis made other maps under the same ids).
    if !format::has_genesis(doc, &kind) {
        return Err(missing());
    }
    match doc.object_type(&known) {
        Ok(ObjType::Map) => Ok(known),
        _ => Err(missing()),
    }
}

/// A value stored as one JSON string: written once, read whole.
struct Json<T>(T);

impl<T: Serialize> Reconcile for Json<T> {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut r: R) -> std::result::Result<(), R::Error> {
        let text = serde_json::to_string(&self.0).expect("model types always serialize");
        r.str(text)
    }
}

impl<T: DeserializeOwned> Hydrate for Json<T> {
    fn hydrate_string(s: &'_ str) -> std::result::Result<Self, HydrateError> {
        serde_json::from_str(s)
            .map(Json)
            .map_err(|e| HydrateError::unexpected("a JSON record", e.to_string()))
    }
}

fn put_json<T: Serialize>(doc: &mut AutoCommit, obj: &ObjId, key: &str, value: &T) -> Result<()> {
    autosurgeon::reconcile_prop(doc, obj, key, Json(value))?;
    Ok(())
}

fn get_json<T: DeserializeOwned>(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<Option<T>> {
    match doc.get(obj, key)? {
        // autosurgeon reads a missing key as an error, not as `None`.
        None => Ok(None),
        // The string at hand, rather than autosurgeon looking it up again:
        // a sync reads every check it brings.
        Some((Value::Scalar(v), _)) if v.is_str() => {
            let text = v.as_str().expect("a string scalar");
            Ok(Some(Json::<T>::hydrate_string(text)?.0))
        }
        // Anything else: autosurgeon's error names what was found.
        Some(_) => {
            let v: Json<T> = autosurgeon::hydrate_prop(doc, obj, key)?;
            Ok(Some(v.0))
        }
    }
}

/// Every entry of `obj` that reads as a `T`. One that does not — a value
/// no anpi wrote, kept by a device that took it before the structure check
/// (`vet`) refused such changes — is left out rather than making the whole
/// document unreadable.
fn all_json<T: DeserializeOwned>(doc: &AutoCommit, obj: &ObjId) -> Result<Vec<T>> {
    Ok(doc
        .keys(obj)
        .filter_map(|k| get_json(doc, obj, &k).ok().flatten())
        .collect())
}

// ------------------------------------------------------------- changes

/// What a set of changes touched, so that only those index rows are
/// refreshed after a merge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Space name or incident openings/endings changed.
    pub meta: bool,
    /// Recipients (roster) that changed.
    pub recipients: BTreeSet<String>,
    /// Checks added, as (bucket, check id), each with the JSON the changes
    /// wrote for it when that was their only write under the key and it
    /// replaced nothing. A check is immutable and its bucket has one
    /// writer, so that JSON is the check without looking it up in the
    /// document (a look-up that costs more the larger the document).
    pub checks: BTreeMap<(String, String), Option<String>>,
    /// Claim keys put or removed.
    pub claims: BTreeSet<String>,
    /// The staff side's maps written to (format 4).
    pub parts: BTreeSet<Part>,
}

impl Touched {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        !self.meta
            && self.recipients.is_empty()
            && self.checks.is_empty()
            && self.claims.is_empty()
            && self.parts.is_empty()
    }
}

/// What a set of changes (already applied to `doc`) touched. Read from the
/// changes' own operations rather than from a diff of the visible state: a
/// change can alter what is *not* visible (it may overwrite a losing
/// concurrent value), and the conflicts shown for that field must follow.
pub fn touched_by(doc: &AutoCommit, changes: &[automerge::Change]) -> Result<Touched> {
    use automerge::legacy::{Key, ObjectId, OpType};
    use std::collections::btree_map::Entry;
    let find = |name: &str| top(doc, name).ok();
    let (recipients, checks, claims) = (find(RECIPIENTS), find(CHECKS), find(CLAIMS));
    let parts: Vec<(Part, Option<ObjId>)> = [
        Part::Staff,
        Part::Reports,
        Part::Decisions,
        Part::Assignments,
    ]
    .into_iter()
    .map(|p| (p, find(p.map())))
    .collect();
    let mut t = Touched::default();
    // A session's changes land in a handful of objects (a bucket, a
    // recipient): find each object and its parent once, not per operation.
    let mut objects: HashMap<String, (ObjId, Option<(ObjId, Prop)>)> = HashMap::new();
    for change in changes {
        for op in change.decode().operations {
            let key = match &op.key {
                Key::Map(k) => Some(k.to_string()),
                Key::Seq(_) => None,
            };
            let (obj, parent) = match &op.obj {
                ObjectId::Root => {
                    t.meta = true;
                    continue;
                }
                ObjectId::Id(id) => {
                    let id = id.to_string();
                    if !objects.contains_key(&id) {
                        let obj = doc.import_obj(&id)?;
                        let parent = doc.parents(&obj)?.next().map(|p| (p.obj, p.prop));
                        objects.insert(id.clone(), (obj, parent));
                    }
                    objects[&id].clone()
                }
            };
            let entry_of = |map: &Option<ObjId>| -> Result<Option<String>> {
                let Some(map) = map else { return Ok(None) };
                if &obj == map {
                    return Ok(key.clone());
                }
                // A nested object: find where its path passes through `map`.
                for p in doc.parents(&obj)? {
                    if &p.obj == map
                        && let Prop::Map(k) = p.prop
                    {
                        return Ok(Some(k));
                    }
                }
                Ok(None)
            };
            if checks.as_ref() == Some(&obj) {
                // A device opened a new bucket: nothing to list yet.
                continue;
            }
            if let (Some((parent, Prop::Map(bucket))), Some(k)) = (&parent, &key)
                && checks.as_ref() == Some(parent)
            {
                let written = match &op.action {
                    OpType::Put(v) if op.pred.is_empty() => v.as_str().map(str::to_string),
                    _ => None,
                };
                match t.checks.entry((bucket.clone(), k.clone())) {
                    Entry::Vacant(e) => {
                        e.insert(written);
                    }
                    // Written twice: the document says which value stands.
                    Entry::Occupied(mut e) => {
                        e.insert(None);
                    }
                }
            } else if let Some(k) = entry_of(&recipients)? {
                t.recipients.insert(k);
            } else if let Some(k) = entry_of(&claims)? {
                t.claims.insert(k);
            } else if let Some(part) = parts
                .iter()
                .find(|(_, map)| entry_of(map).is_ok_and(|k| k.is_some()))
            {
                t.parts.insert(part.0);
            } else {
                t.meta = true;
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests;
