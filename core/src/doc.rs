//! The one place that knows the shape of anpi's automerge documents.
//!
//! Each space has a **roster** document and one **incident** document per
//! disaster:
//!
//! ```text
//! roster                              incident/<kind>-<date>
//! ├─ space: { name, founding }        ├─ opened:  { <device>: Opening (JSON) }
//! ├─ members: { <device>: signed }    │
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
use crate::membership::{Founding, SignedMember};
use crate::model::{
    Check, Claim, ConsentRecord, Date, DeviceId, EvacuationPlan, Exception, FieldConflict, Hazards,
    Incident, IncidentId, IncidentKind, PriorityOverride, Recipient, RecipientId, SpaceId, Staff,
    Timestamp,
};
use crate::priority::PriorityConfig;

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

const SPACE: &str = "space";
const RECIPIENTS: &str = "recipients";
const MEMBERS: &str = "members";
const OPENED: &str = "opened";
const ENDED: &str = "ended";
const CHECKS: &str = "checks";
const CLAIMS: &str = "claims";

/// A new document of `kind`: the shared genesis change, then `actor` (the
/// device's, see [`actor_for`]) for everything after.
pub fn create(kind: &DocKind, actor: &ActorId) -> AutoCommit {
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
    doc.set_actor(actor.clone());
    doc
}

/// Load a stored document (a snapshot and/or concatenated changes) to be
/// changed by `actor`.
pub fn load(bytes: &[u8], actor: &ActorId) -> Result<AutoCommit> {
    let mut doc = AutoCommit::load(bytes)?;
    doc.set_actor(actor.clone());
    Ok(doc)
}

fn top(doc: &AutoCommit, name: &str) -> Result<ObjId> {
    match doc.get(ROOT, name)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(Error::corrupt(format!("document has no '{name}' map"))),
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

fn all_json<T: DeserializeOwned>(doc: &AutoCommit, obj: &ObjId) -> Result<Vec<T>> {
    doc.keys(obj)
        .map(|k| {
            get_json(doc, obj, &k)?.ok_or_else(|| Error::corrupt(format!("entry {k} vanished")))
        })
        .collect()
}

// ---------------------------------------------------------------- roster

/// Set the space's display name.
pub fn set_space_name(doc: &mut AutoCommit, name: &str) -> Result<()> {
    let space = top(doc, SPACE)?;
    doc.put(&space, "name", name)?;
    Ok(())
}

/// The space's display name.
pub fn space_name(doc: &AutoCommit) -> Result<String> {
    let space = top(doc, SPACE)?;
    Ok(
        autosurgeon::hydrate_prop::<_, Option<String>, _, _>(doc, &space, "name")?
            .unwrap_or_default(),
    )
}

/// The office's priority weights, shared by every device of the space so
/// that all of them rank recipients the same way.
pub fn set_priority_weights(doc: &mut AutoCommit, weights: &PriorityConfig) -> Result<()> {
    let space = top(doc, SPACE)?;
    put_json(doc, &space, "priority_weights", weights)
}

/// The office's priority weights, if an admin set them.
pub fn priority_weights(doc: &AutoCommit) -> Result<Option<PriorityConfig>> {
    get_json(doc, &top(doc, SPACE)?, "priority_weights")
}

/// Record the space's founding statement (its creator's key), from which
/// every admin's standing derives.
pub fn set_space_founding(doc: &mut AutoCommit, founding: &Founding) -> Result<()> {
    let space = top(doc, SPACE)?;
    put_json(doc, &space, "founding", founding)
}

/// The space's founding statement, if recorded and readable.
pub fn space_founding(doc: &AutoCommit) -> Result<Option<Founding>> {
    let space = top(doc, SPACE)?;
    // A garbled statement founds nothing; it is not an error for the reader.
    Ok(get_json(doc, &space, "founding").unwrap_or(None))
}

/// Record a disaster exception in an area space (`space` map, key
/// `exception/<id>`, written once by the device that declared it).
pub fn put_exception(doc: &mut AutoCommit, e: &Exception) -> Result<()> {
    let space = top(doc, SPACE)?;
    put_json(doc, &space, &format!("exception/{}", e.id), e)
}

/// Every disaster exception declared in this space.
pub fn exceptions(doc: &AutoCommit) -> Result<Vec<Exception>> {
    let space = top(doc, SPACE)?;
    let keys: Vec<String> = doc
        .keys(&space)
        .filter(|k| k.starts_with("exception/"))
        .collect();
    let mut out = Vec::new();
    for k in keys {
        // One that cannot be read grants nothing.
        if let Ok(Some(e)) = get_json::<Exception>(doc, &space, &k) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Write a member entry (one register per device).
pub fn put_member(doc: &mut AutoCommit, entry: &SignedMember) -> Result<()> {
    let members = top(doc, MEMBERS)?;
    put_json(doc, &members, entry.member.device.as_str(), entry)
}

/// Every version of every member entry, by device key: concurrent writes
/// all stay readable, and a version that cannot be read is `None` (it is
/// for [`crate::membership::standing`] to decide what counts).
pub fn member_versions(doc: &AutoCommit) -> Result<Vec<(String, Vec<Option<SignedMember>>)>> {
    let members = top(doc, MEMBERS)?;
    let mut out = Vec::new();
    for key in doc.keys(&members) {
        let versions = doc
            .get_all(&members, key.as_str())?
            .into_iter()
            .map(|(v, _)| match v {
                Value::Scalar(s) => match s.as_ref() {
                    automerge::ScalarValue::Str(text) => serde_json::from_str(text).ok(),
                    _ => None,
                },
                Value::Object(_) => None,
            })
            .collect();
        out.push((key, versions));
    }
    Ok(out)
}

/// A recipient as stored: a map of a few JSON registers, one per group of
/// fields that are edited together (ARCHITECTURE.md, "Roster shape"). The
/// id is the map's key. Groups with nothing in them are not written.
#[derive(Default)]
struct StoredRecipient {
    person: Option<Person>,
    home: Option<Home>,
    care: Option<Care>,
    checking: Option<Checking>,
    hazards: Option<Hazards>,
    plan: Option<EvacuationPlan>,
    priority_override: Option<PriorityOverride>,
}

/// 氏名・フリガナ・生年月日・性別
#[derive(Default, PartialEq, Serialize, Deserialize)]
struct Person {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kana: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    birth_date: Option<Date>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sex: String,
}

/// 住所・地区・電話・世帯状況
#[derive(Default, PartialEq, Serialize, Deserialize)]
struct Home {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    area: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    household: Option<Household>,
}

/// 要介護度・担当ケアマネ・認知症・寝たきり
#[derive(Default, PartialEq, Serialize, Deserialize)]
struct Care {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    care_level: Option<CareLevel>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    care_manager: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dementia: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bedridden: Option<bool>,
}

/// 安否確認方法・特記事項・情報提供同意
#[derive(Default, PartialEq, Serialize, Deserialize)]
struct Checking {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    check_method: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    notes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consent_record: Option<ConsentRecord>,
}

/// `Some` unless the group holds nothing, so that empty groups cost no
/// operation.
fn non_empty<T: Default + PartialEq>(group: T) -> Option<T> {
    (group != T::default()).then_some(group)
}

impl StoredRecipient {
    fn from_recipient(r: &Recipient) -> Self {
        let r = r.clone();
        StoredRecipient {
            person: non_empty(Person {
                name: r.name,
                kana: r.kana,
                birth_date: r.birth_date,
                sex: r.sex,
            }),
            home: non_empty(Home {
                address: r.address,
                area: r.area,
                phone: r.phone,
                household: r.household,
            }),
            care: non_empty(Care {
                care_level: r.care_level,
                care_manager: r.care_manager,
                dementia: r.dementia,
                bedridden: r.bedridden,
            }),
            checking: non_empty(Checking {
                check_method: r.check_method,
                notes: r.notes,
                consent: r.consent,
                consent_record: r.consent_record,
            }),
            hazards: non_empty(r.hazards),
            plan: non_empty(r.plan),
            priority_override: r.priority_override,
        }
    }

    fn into_recipient(self, id: RecipientId) -> Recipient {
        let StoredRecipient {
            person,
            home,
            care,
            checking,
            hazards,
            plan,
            priority_override,
        } = self;
        let (person, home, care, checking) = (
            person.unwrap_or_default(),
            home.unwrap_or_default(),
            care.unwrap_or_default(),
            checking.unwrap_or_default(),
        );
        Recipient {
            id,
            name: person.name,
            kana: person.kana,
            birth_date: person.birth_date,
            sex: person.sex,
            address: home.address,
            area: home.area,
            phone: home.phone,
            household: home.household,
            care_level: care.care_level,
            care_manager: care.care_manager,
            dementia: care.dementia,
            bedridden: care.bedridden,
            check_method: checking.check_method,
            notes: checking.notes,
            consent: checking.consent,
            consent_record: checking.consent_record,
            hazards: hazards.unwrap_or_default(),
            plan: plan.unwrap_or_default(),
            priority_override,
        }
    }
}

/// The group registers of a stored recipient, by key. A group's conflicts
/// are shown per field; the prefix names the field the way users see it.
const GROUPS: [(&str, &str); 7] = [
    ("person", ""),
    ("home", ""),
    ("care", ""),
    ("checking", ""),
    ("hazards", "hazards."),
    ("plan", "plan."),
    ("priority_override", "priority_override."),
];

impl Reconcile for StoredRecipient {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut r: R) -> std::result::Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let mut m = r.map()?;
        fn group<M: MapReconciler, T: Serialize>(
            m: &mut M,
            key: &str,
            value: &Option<T>,
        ) -> std::result::Result<(), M::Error> {
            match value {
                // automerge writes nothing when the value is unchanged and
                // unconflicted, so re-importing the same row costs no ops,
                // while writing the shown value over a conflict resolves it.
                Some(v) => m.put(key, Json(v)),
                None if m.entry(key).is_some() => m.delete(key),
                None => Ok(()),
            }
        }
        group(&mut m, "person", &self.person)?;
        group(&mut m, "home", &self.home)?;
        group(&mut m, "care", &self.care)?;
        group(&mut m, "checking", &self.checking)?;
        group(&mut m, "hazards", &self.hazards)?;
        group(&mut m, "plan", &self.plan)?;
        group(&mut m, "priority_override", &self.priority_override)?;
        Ok(())
    }
}

impl Hydrate for StoredRecipient {
    fn hydrate_map<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &ObjId,
    ) -> std::result::Result<Self, HydrateError> {
        // One pass over the record's few keys rather than a lookup per
        // group: a whole roster arriving on a new phone reads every record.
        fn group<T: DeserializeOwned>(
            key: &str,
            value: &automerge::ValueRef<'_>,
        ) -> std::result::Result<Option<T>, HydrateError> {
            match value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) => {
                    serde_json::from_str(text).map(Some).map_err(|e| {
                        HydrateError::unexpected("a JSON record", format!("{key}: {e}"))
                    })
                }
                _ => Err(HydrateError::unexpected(
                    "a JSON record",
                    format!("{key}: not text"),
                )),
            }
        }
        let mut stored = StoredRecipient::default();
        for item in doc.map_range(obj, ..) {
            let v = &item.value;
            match item.key.as_ref() {
                "person" => stored.person = group("person", v)?,
                "home" => stored.home = group("home", v)?,
                "care" => stored.care = group("care", v)?,
                "checking" => stored.checking = group("checking", v)?,
                "hazards" => stored.hazards = group("hazards", v)?,
                "plan" => stored.plan = group("plan", v)?,
                "priority_override" => stored.priority_override = group("priority_override", v)?,
                // A key a newer version writes: kept in the document, not
                // read here.
                _ => {}
            }
        }
        Ok(stored)
    }
}

/// Insert or update a recipient. Only the groups that changed produce
/// operations.
pub fn put_recipient(doc: &mut AutoCommit, r: &Recipient) -> Result<()> {
    let recipients = top(doc, RECIPIENTS)?;
    autosurgeon::reconcile_prop(
        doc,
        &recipients,
        r.id.as_str(),
        StoredRecipient::from_recipient(r),
    )?;
    Ok(())
}

/// Remove a recipient (an area space's copy whose consent was withdrawn).
pub fn remove_recipient(doc: &mut AutoCommit, id: &RecipientId) -> Result<()> {
    let recipients = top(doc, RECIPIENTS)?;
    if doc.get(&recipients, id.as_str())?.is_some() {
        doc.delete(&recipients, id.as_str())?;
    }
    Ok(())
}

fn hydrate_recipient(doc: &AutoCommit, recipients: &ObjId, key: &str) -> Result<Recipient> {
    let stored: StoredRecipient = autosurgeon::hydrate_prop(doc, recipients, key)?;
    Ok(stored.into_recipient(RecipientId(key.to_string())))
}

/// A recipient, with the winning value of any conflicted group.
pub fn recipient(doc: &AutoCommit, id: &RecipientId) -> Result<Option<Recipient>> {
    let recipients = top(doc, RECIPIENTS)?;
    if doc.get(&recipients, id.as_str())?.is_none() {
        return Ok(None);
    }
    hydrate_recipient(doc, &recipients, id.as_str()).map(Some)
}

/// Every recipient id.
pub fn recipient_ids(doc: &AutoCommit) -> Result<Vec<RecipientId>> {
    let recipients = top(doc, RECIPIENTS)?;
    Ok(doc.keys(&recipients).map(RecipientId).collect())
}

/// Every recipient.
pub fn recipients(doc: &AutoCommit) -> Result<Vec<Recipient>> {
    let recipients = top(doc, RECIPIENTS)?;
    doc.keys(&recipients)
        .map(|k| hydrate_recipient(doc, &recipients, &k))
        .collect()
}

/// Every recipient with its conflicted fields, in one pass over the roster:
/// what a device indexes when a whole roster arrives. Only a recipient that
/// automerge marks as conflicted (the record itself or one of its groups)
/// is looked at value by value.
pub fn recipients_with_conflicts(doc: &AutoCommit) -> Result<Vec<(Recipient, Vec<FieldConflict>)>> {
    let recipients = top(doc, RECIPIENTS)?;
    let mut out = Vec::new();
    for item in doc.map_range(&recipients, ..) {
        let id = RecipientId(item.key.to_string());
        let obj = item.id();
        let stored = StoredRecipient::hydrate_map(doc, &obj)?;
        let conflicted = item.conflict
            || doc
                .map_range(&obj, ..)
                .any(|field| field.conflict && GROUPS.iter().any(|(g, _)| *g == field.key));
        let conflicts = if conflicted {
            recipient_conflicts(doc, &id)?
        } else {
            Vec::new()
        };
        out.push((stored.into_recipient(id), conflicts));
    }
    Ok(out)
}

/// Every conflicted field of a recipient. A group register holding several
/// values is shown field by field: the fields whose values differ.
pub fn recipient_conflicts(doc: &AutoCommit, id: &RecipientId) -> Result<Vec<FieldConflict>> {
    let recipients = top(doc, RECIPIENTS)?;
    let mut out = Vec::new();
    let mut all = doc.get_all(&recipients, id.as_str())?;
    if all.len() > 1 {
        // Two devices created the same recipient concurrently (for example
        // both imported the roster offline): show each whole record.
        let mut shown: Vec<String> = all
            .iter()
            .map(|(_, obj)| match StoredRecipient::hydrate_map(doc, obj) {
                Ok(s) => serde_json::to_string(&s.into_recipient(id.clone()))
                    .expect("model types always serialize"),
                Err(_) => "(object)".to_string(),
            })
            .collect();
        // The winner (last in automerge's order) first.
        shown.reverse();
        out.push(FieldConflict {
            field: "*".to_string(),
            values: shown,
        });
    }
    let Some((Value::Object(ObjType::Map), obj)) = all.pop() else {
        return Ok(out);
    };
    for (group, prefix) in GROUPS {
        let values = doc.get_all(&obj, group)?;
        if values.len() < 2 {
            continue;
        }
        let mut versions: Vec<serde_json::Map<String, serde_json::Value>> = values
            .iter()
            .map(|(v, _)| match v {
                Value::Scalar(s) => match s.as_ref() {
                    automerge::ScalarValue::Str(s) => serde_json::from_str(s).unwrap_or_default(),
                    _ => Default::default(),
                },
                Value::Object(_) => Default::default(),
            })
            .collect();
        versions.reverse();
        let mut fields: Vec<&String> = Vec::new();
        for v in &versions {
            for k in v.keys() {
                if !fields.contains(&k) {
                    fields.push(k);
                }
            }
        }
        for field in fields {
            let mut shown: Vec<String> = Vec::new();
            for v in &versions {
                let text = match v.get(field) {
                    None => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                if !shown.contains(&text) {
                    shown.push(text);
                }
            }
            if shown.len() > 1 {
                out.push(FieldConflict {
                    field: format!("{prefix}{field}"),
                    values: shown,
                });
            }
        }
    }
    Ok(out)
}

// -------------------------------------------------------------- incident

/// One device's opening of an incident (BCP発動).
///
/// An incident can be ended and opened again (an aftershock after a
/// mistaken `end`): each opening and ending carries the **round** it
/// belongs to. Opening an ended incident opens the next round; an ending
/// ends the round its device knew. Two devices that reopen it offline both
/// open the same next round, and an ending made unaware of a reopening
/// ends only the earlier round — so devices converge without any clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// Kind of disaster.
    pub kind: IncidentKind,
    /// Name given on that device.
    #[serde(default)]
    pub name: String,
    /// When, by that device's clock.
    pub at: Timestamp,
    /// Who opened it.
    pub staff: Staff,
    /// The round it opens: 0 for the first opening, one more for each
    /// reopening.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

/// One device's ending of an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    /// When.
    pub at: Timestamp,
    /// Who ended it.
    pub staff: Staff,
    /// The round it ends (see [`Opening`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The key of `device`'s opening of `round` (round 0 as earlier versions
/// wrote it).
fn opening_key(device: &DeviceId, round: u32) -> String {
    if round == 0 {
        device.to_string()
    } else {
        format!("{device}@{round}")
    }
}

/// Record that `device` opened the incident (in the round the opening
/// names).
pub fn open_incident(doc: &mut AutoCommit, device: &DeviceId, opening: &Opening) -> Result<()> {
    let opened = top(doc, OPENED)?;
    put_json(doc, &opened, &opening_key(device, opening.round), opening)
}

/// Record that `device` ended the incident (the round the ending names).
pub fn end_incident(doc: &mut AutoCommit, device: &DeviceId, ending: &Ending) -> Result<()> {
    let ended = top(doc, ENDED)?;
    put_json(doc, &ended, device.as_str(), ending)
}

/// Whether `device` has already opened `round` of this incident.
pub fn has_opened(doc: &AutoCommit, device: &DeviceId, round: u32) -> Result<bool> {
    let opened = top(doc, OPENED)?;
    Ok(doc
        .get(&opened, opening_key(device, round).as_str())?
        .is_some())
}

/// The incident as all openings and endings together describe it: the
/// earliest opening gives the start; the latest round is open unless an
/// ending of that round exists (the latest such ending is its end); the
/// name is the newest round's, else the earliest given.
pub fn incident(doc: &AutoCommit, space: &SpaceId, id: &IncidentId) -> Result<Option<Incident>> {
    let mut openings: Vec<Opening> = all_json(doc, &top(doc, OPENED)?)?;
    let endings: Vec<Ending> = all_json(doc, &top(doc, ENDED)?)?;
    openings.sort_by_key(|o| (o.at, o.round));
    let Some(first) = openings.first() else {
        return Ok(None);
    };
    let round = openings.iter().map(|o| o.round).max().unwrap_or(0);
    let mut named: Vec<&Opening> = openings.iter().filter(|o| !o.name.is_empty()).collect();
    named.sort_by_key(|o| (std::cmp::Reverse(o.round), o.at));
    let name = named.first().map(|o| o.name.clone()).unwrap_or_default();
    Ok(Some(Incident {
        id: id.clone(),
        space: space.clone(),
        kind: first.kind,
        name,
        started_at: first.at,
        ended_at: endings
            .iter()
            .filter(|e| e.round >= round)
            .map(|e| e.at)
            .max(),
        round,
    }))
}

/// Checks per bucket (see the module documentation).
pub const CHECKS_PER_BUCKET: usize = 256;

/// Add a check made on `device`, into that device's current bucket. Checks
/// are never changed or removed.
pub fn put_check(doc: &mut AutoCommit, check: &Check) -> Result<()> {
    put_check_by(doc, &check.device, check)
}

/// Put a check recorded elsewhere into the buckets of `writer`, the device
/// writing it here: only `writer` creates its buckets, so two devices
/// copying the same check never race for one bucket key. A check found in
/// two buckets is one check (see [`checks`]).
pub fn put_check_by(doc: &mut AutoCommit, writer: &DeviceId, check: &Check) -> Result<()> {
    let checks = top(doc, CHECKS)?;
    let prefix = format!("{writer}.");
    let mut last: Option<(u64, ObjId)> = None;
    for item in doc.map_range(&checks, prefix.clone()..) {
        let Some(n) = item.key.strip_prefix(&prefix) else {
            break;
        };
        if let (Ok(n), automerge::ValueRef::Object(ObjType::Map)) = (n.parse::<u64>(), &item.value)
            && last.as_ref().is_none_or(|(m, _)| n > *m)
        {
            last = Some((n, item.id()));
        }
    }
    let bucket = match last {
        Some((_, id)) if doc.length(&id) < CHECKS_PER_BUCKET => id,
        other => {
            let next = other.map_or(0, |(n, _)| n + 1);
            doc.put_object(&checks, format!("{prefix}{next}"), ObjType::Map)?
        }
    };
    put_json(doc, &bucket, &check.id.to_string(), check)
}

/// A check that changes just added: from the JSON they wrote when given
/// (see [`Touched::checks`]), else looked up in `doc`.
pub fn touched_check(
    doc: &AutoCommit,
    bucket: &str,
    id: &str,
    written: Option<&str>,
) -> Result<Option<Check>> {
    match written {
        Some(text) => Ok(Some(Json::<Check>::hydrate_string(text)?.0)),
        None => check(doc, bucket, id),
    }
}

/// One check, by its bucket and id.
pub fn check(doc: &AutoCommit, bucket: &str, id: &str) -> Result<Option<Check>> {
    let checks = top(doc, CHECKS)?;
    match doc.get(&checks, bucket)? {
        Some((Value::Object(ObjType::Map), b)) => get_json(doc, &b, id),
        _ => Ok(None),
    }
}

/// Every check.
pub fn checks(doc: &AutoCommit) -> Result<Vec<Check>> {
    let checks = top(doc, CHECKS)?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in doc.map_range(&checks, ..) {
        if let automerge::ValueRef::Object(ObjType::Map) = item.value {
            for c in all_json::<Check>(doc, &item.id())? {
                // Checks are immutable: a copy in another bucket is the same.
                if seen.insert(c.id) {
                    out.push(c);
                }
            }
        }
    }
    Ok(out)
}

fn claim_key(device: &DeviceId, recipient: &RecipientId) -> String {
    format!("{device}/{recipient}")
}

/// Put (or renew) a device's claim.
pub fn put_claim(doc: &mut AutoCommit, claim: &Claim) -> Result<()> {
    let claims = top(doc, CLAIMS)?;
    put_json(
        doc,
        &claims,
        &claim_key(&claim.device, &claim.recipient),
        claim,
    )
}

/// Withdraw a device's claim. Returns whether there was one.
pub fn remove_claim(
    doc: &mut AutoCommit,
    device: &DeviceId,
    recipient: &RecipientId,
) -> Result<bool> {
    let claims = top(doc, CLAIMS)?;
    let key = claim_key(device, recipient);
    if doc.get(&claims, key.as_str())?.is_none() {
        return Ok(false);
    }
    doc.delete(&claims, key.as_str())?;
    Ok(true)
}

/// A claim by its key (`<device>/<recipient>`).
pub fn claim(doc: &AutoCommit, key: &str) -> Result<Option<Claim>> {
    get_json(doc, &top(doc, CLAIMS)?, key)
}

/// Every claim, live or expired.
pub fn claims(doc: &AutoCommit) -> Result<Vec<Claim>> {
    all_json(doc, &top(doc, CLAIMS)?)
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
}

impl Touched {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        !self.meta && self.recipients.is_empty() && self.checks.is_empty() && self.claims.is_empty()
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
            } else {
                t.meta = true;
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u8) -> DeviceId {
        DeviceId(format!("{n:02x}{n:02x}{n:02x}{n:02x}"))
    }

    #[test]
    fn doc_keys_round_trip() {
        for s in ["abc/roster", "abc/incident/flood-2026-11-21"] {
            assert_eq!(s.parse::<DocKey>().unwrap().to_string(), s);
        }
        for bad in ["", "abc", "abc/", "/roster", "abc/incident/", "abc/other"] {
            assert!(bad.parse::<DocKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn genesis_is_shared_by_independent_devices() {
        let kind = DocKind::Incident("flood-2026-11-21".into());
        let mut a = create(&kind, &actor_for(&dev(1)));
        let mut b = create(&kind, &actor_for(&dev(2)));
        assert_eq!(a.get_heads(), b.get_heads());

        put_check(&mut a, &Check::sample("R1", dev(1).as_str())).unwrap();
        put_check(&mut b, &Check::sample("R1", dev(2).as_str())).unwrap();
        a.merge(&mut b).unwrap();
        // Both checks are visible: the two devices shared one `checks` map.
        assert_eq!(checks(&a).unwrap().len(), 2);
    }

    #[test]
    fn checks_fill_one_bucket_after_another() {
        let mut a = create(
            &DocKind::Incident("flood-2026-11-21".into()),
            &actor_for(&dev(1)),
        );
        let mut ids = Vec::new();
        for i in 0..(CHECKS_PER_BUCKET + 10) {
            let c = Check::sample(&format!("R{i}"), dev(1).as_str());
            put_check(&mut a, &c).unwrap();
            ids.push(c.id);
        }
        let buckets: Vec<String> = a.keys(top(&a, CHECKS).unwrap()).collect();
        assert_eq!(buckets, [format!("{}.0", dev(1)), format!("{}.1", dev(1))]);
        let mut got: Vec<_> = checks(&a).unwrap().into_iter().map(|c| c.id).collect();
        got.sort();
        ids.sort();
        assert_eq!(got, ids);
        let last = ids.last().unwrap().to_string();
        let in_second = check(&a, &format!("{}.1", dev(1)), &last).unwrap();
        let in_first = check(&a, &format!("{}.0", dev(1)), &last).unwrap();
        assert!(in_second.is_some() != in_first.is_some());
    }

    #[test]
    fn concurrent_field_edits_are_all_readable() {
        let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
        let mut r = Recipient {
            id: "R1".into(),
            name: "山田 花子".into(),
            ..Default::default()
        };
        put_recipient(&mut a, &r).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(actor_for(&dev(2)));
        r.plan.shelter = "第一小学校".into();
        put_recipient(&mut a, &r).unwrap();
        r.plan.shelter = "中央公民館".into();
        r.phone = "03-0000-0000".into();
        put_recipient(&mut b, &r).unwrap();
        a.merge(&mut b).unwrap();
        let conflicts = recipient_conflicts(&a, &r.id).unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].field, "plan.shelter");
        let mut values = conflicts[0].values.clone();
        values.sort();
        assert_eq!(values, ["中央公民館", "第一小学校"]);
        // The field nobody else touched merged without conflict.
        assert_eq!(recipient(&a, &r.id).unwrap().unwrap().phone, "03-0000-0000");
    }

    #[test]
    fn the_whole_roster_read_in_one_pass_matches_each_recipient_read_alone() {
        let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
        let plain = |i: usize| Recipient {
            id: RecipientId(format!("R{i}")),
            name: format!("利用者 {i}"),
            phone: "03-0000-0000".into(),
            ..Default::default()
        };
        for i in 0..5 {
            put_recipient(&mut a, &plain(i)).unwrap();
        }
        a.commit();
        let mut b = a.fork().with_actor(actor_for(&dev(2)));
        // R1: one group edited on both sides; R2: one field on one side.
        let mut r1 = plain(1);
        r1.plan.shelter = "第一小学校".into();
        put_recipient(&mut a, &r1).unwrap();
        r1.plan.shelter = "中央公民館".into();
        put_recipient(&mut b, &r1).unwrap();
        let mut r2 = plain(2);
        r2.phone = "090-2222-2222".into();
        put_recipient(&mut b, &r2).unwrap();
        // R9: created on both sides while apart.
        let mut r9 = plain(9);
        put_recipient(&mut a, &r9).unwrap();
        r9.name = "別の 記録".into();
        put_recipient(&mut b, &r9).unwrap();
        a.merge(&mut b).unwrap();

        let one_pass = recipients_with_conflicts(&a).unwrap();
        let alone: Vec<_> = recipients(&a)
            .unwrap()
            .into_iter()
            .map(|r| {
                let c = recipient_conflicts(&a, &r.id).unwrap();
                (r, c)
            })
            .collect();
        assert_eq!(one_pass, alone);
        let conflicted: Vec<&str> = one_pass
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(r, _)| r.id.as_str())
            .collect();
        assert_eq!(conflicted, ["R1", "R9"]);
        assert_eq!(one_pass[2].0.phone, "090-2222-2222");
    }

    #[test]
    fn concurrent_edits_of_one_group_show_each_changed_field() {
        let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
        let mut r = Recipient {
            id: "R1".into(),
            address: "東京都架空区一丁目1番".into(),
            phone: "03-0000-0000".into(),
            ..Default::default()
        };
        put_recipient(&mut a, &r).unwrap();
        a.commit();
        let mut b = a.fork().with_actor(actor_for(&dev(2)));
        let mut ra = r.clone();
        ra.phone = "090-1111-1111".into();
        put_recipient(&mut a, &ra).unwrap();
        r.address = "東京都架空区二丁目2番".into();
        put_recipient(&mut b, &r).unwrap();
        a.merge(&mut b).unwrap();
        // Address and phone share a register: both edits stay readable, as
        // conflicts of the two fields that differ, and nothing else.
        let conflicts = recipient_conflicts(&a, &r.id).unwrap();
        let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["address", "phone"], "{conflicts:?}");
        // Writing the shown record over the conflict resolves it.
        let shown = recipient(&a, &r.id).unwrap().unwrap();
        put_recipient(&mut a, &shown).unwrap();
        assert!(recipient_conflicts(&a, &r.id).unwrap().is_empty());
    }

    #[test]
    fn empty_groups_cost_no_operations() {
        let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
        let before = a.get_heads();
        put_recipient(
            &mut a,
            &Recipient {
                id: "R1".into(),
                name: "山田 花子".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let ops: usize = a.get_changes(&before).iter().map(|c| c.len()).sum();
        // The recipient's map and its one non-empty group.
        assert_eq!(ops, 2);
        let before = a.get_heads();
        let same = recipient(&a, &"R1".into()).unwrap().unwrap();
        put_recipient(&mut a, &same).unwrap();
        a.commit();
        assert_eq!(
            a.get_changes(&before).len(),
            0,
            "an unchanged put writes nothing"
        );
    }

    #[test]
    fn touched_names_the_entries() {
        let mut a = create(&DocKind::Roster, &actor_for(&dev(1)));
        let before = a.get_heads();
        put_recipient(
            &mut a,
            &Recipient {
                id: "R9".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let changes = a.get_changes(&before);
        let t = touched_by(&a, &changes).unwrap();
        assert_eq!(t.recipients.into_iter().collect::<Vec<_>>(), ["R9"]);
        assert!(!t.meta);
    }
}
