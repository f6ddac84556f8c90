//! The roster document: the space (name, founding, weights, exceptions),
//! its members, and its recipients as seven group registers each.

use super::*;

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

/// The space's founding statement: of every value written at its key, the
/// one that hashes to `space` — a member who writes another one there
/// founds nothing and unseats no one.
pub fn space_founding(doc: &AutoCommit, space: &SpaceId) -> Result<Option<Founding>> {
    let map = top(doc, SPACE)?;
    let written = strings(doc, &map, "founding")?
        .into_iter()
        .filter_map(|text| serde_json::from_str::<Founding>(&text).ok());
    let mut kept = Vec::new();
    if let Ok(statements) = top(doc, STATEMENTS) {
        for key in doc.keys(&statements) {
            for text in strings(doc, &statements, &key)? {
                if let Ok(Entry::Founding(f)) = serde_json::from_str(&text) {
                    kept.push(f);
                }
            }
        }
    }
    Ok(written
        .chain(kept)
        .find(|f| f.space_id().as_ref() == Some(space)))
}

/// Every text value at `key` of `obj` (concurrent values all stay readable;
/// anything else is not a value anpi wrote).
fn strings(doc: &AutoCommit, obj: &ObjId, key: &str) -> Result<Vec<String>> {
    Ok(doc
        .get_all(obj, key)?
        .into_iter()
        .filter_map(|(v, _)| match v {
            Value::Scalar(s) => s.as_str().map(str::to_string),
            Value::Object(_) => None,
        })
        .collect())
}

/// Record a disaster exception in an area space (`space` map, key
/// `exception/<id>`, written once by the device that declared it), signed
/// by it.
pub fn put_exception(doc: &mut AutoCommit, e: &SignedException) -> Result<()> {
    let space = top(doc, SPACE)?;
    put_json(doc, &space, &format!("exception/{}", e.exception.id), e)
}

/// An exception as builds before signed exceptions wrote it (a journal of
/// such a build replaying): kept, granting nothing.
pub fn put_unsigned_exception(doc: &mut AutoCommit, e: &Exception) -> Result<()> {
    let space = top(doc, SPACE)?;
    put_json(doc, &space, &format!("exception/{}", e.id), e)
}

/// Every disaster exception declared in area space `area` and signed by
/// the device it names. One unsigned (written by an anpi before format 3,
/// or forged), changed after signing, or unreadable grants nothing.
pub fn exceptions(doc: &AutoCommit, area: &SpaceId) -> Result<Vec<Exception>> {
    let space = top(doc, SPACE)?;
    let keys: Vec<String> = doc
        .keys(&space)
        .filter(|k| k.starts_with("exception/"))
        .collect();
    let mut out = Vec::new();
    for k in keys {
        for text in strings(doc, &space, &k)? {
            if let Ok(e) = serde_json::from_str::<SignedException>(&text)
                && e.verify(area)
                && k == format!("exception/{}", e.exception.id)
            {
                out.push(e.exception);
            }
        }
    }
    Ok(out)
}

/// Write a format-2 member entry (one register per device), which older
/// builds admit devices by (`membership`).
pub fn put_member(doc: &mut AutoCommit, entry: &SignedMember) -> Result<()> {
    let members = top(doc, MEMBERS)?;
    put_json(doc, &members, entry.member.device.as_str(), entry)
}

/// Add a membership statement under its key (the hash of its bytes): the
/// set only grows.
pub fn put_statement(doc: &mut AutoCommit, key: &str, stored: &str) -> Result<()> {
    let map = top(doc, STATEMENTS)?;
    if doc.get(&map, key)?.is_none() {
        doc.put(&map, key, stored)?;
    }
    Ok(())
}

/// The keys of the statement set (empty before format 3).
pub fn statement_keys(doc: &AutoCommit) -> BTreeSet<String> {
    top(doc, STATEMENTS)
        .map(|map| doc.keys(&map).collect())
        .unwrap_or_default()
}

/// The space's membership as the roster holds it (see
/// [`crate::membership::Ledger`]): the founding, every statement, and every
/// version of every format-2 member entry, as the statement it is.
pub fn ledger(doc: &AutoCommit, space: &SpaceId) -> Result<Ledger> {
    let mut entries = Vec::new();
    if let Ok(map) = top(doc, STATEMENTS) {
        for key in doc.keys(&map) {
            for text in strings(doc, &map, &key)? {
                entries.push((key.clone(), text));
            }
        }
    }
    let members = top(doc, MEMBERS)?;
    for key in doc.keys(&members) {
        for text in strings(doc, &members, &key)? {
            if let Ok(m) = serde_json::from_str::<SignedMember>(&text) {
                entries.push(Entry::Legacy(m).stored());
            }
        }
    }
    Ok(Ledger {
        founding: space_founding(doc, space)?,
        entries,
    })
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

impl StoredRecipient {
    /// Read one register of the record: a group's JSON text under its key.
    /// A key a newer version writes is kept in the document, not read.
    fn read_register(&mut self, key: &str, text: &str) -> std::result::Result<(), String> {
        fn group<T: DeserializeOwned>(
            key: &str,
            text: &str,
        ) -> std::result::Result<Option<T>, String> {
            serde_json::from_str(text)
                .map(Some)
                .map_err(|e| format!("{key}: {e}"))
        }
        match key {
            "person" => self.person = group(key, text)?,
            "home" => self.home = group(key, text)?,
            "care" => self.care = group(key, text)?,
            "checking" => self.checking = group(key, text)?,
            "hazards" => self.hazards = group(key, text)?,
            "plan" => self.plan = group(key, text)?,
            "priority_override" => self.priority_override = group(key, text)?,
            _ => {}
        }
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
        let mut stored = StoredRecipient::default();
        for item in doc.map_range(obj, ..) {
            let key = item.key.as_ref();
            match &item.value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) => stored
                    .read_register(key, text)
                    .map_err(|e| HydrateError::unexpected("a JSON record", e))?,
                _ if GROUPS.iter().any(|(g, _)| *g == key) => {
                    return Err(HydrateError::unexpected(
                        "a JSON record",
                        format!("{key}: not text"),
                    ));
                }
                _ => {}
            }
        }
        Ok(stored)
    }
}

/// A recipient from its record's registers (key and text each, `None`
/// for a value that is not text; no conflicts), as read from a roster's
/// saved form (`whole_rows`): the same reading as `hydrate_map`'s from the
/// loaded document. `None` where that one fails.
pub(super) fn recipient_from_registers<'a>(
    id: RecipientId,
    registers: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Option<Recipient> {
    let mut stored = StoredRecipient::default();
    for (key, text) in registers {
        match text {
            Some(text) => stored.read_register(key, text).ok()?,
            None if GROUPS.iter().any(|(g, _)| *g == key) => return None,
            None => {}
        }
    }
    Some(stored.into_recipient(id))
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
///
/// A large roster is read in two halves at once: this is most of what a
/// new device does with the roster it receives (BENCHMARKS.md, issue 16).
pub fn recipients_with_conflicts(doc: &AutoCommit) -> Result<Vec<(Recipient, Vec<FieldConflict>)>> {
    /// Below this many recipients one thread reads them all.
    const HALVES_FROM: usize = 4096;
    let recipients = top(doc, RECIPIENTS)?;
    let n = doc.length(&recipients);
    if n < HALVES_FROM {
        return recipients_in(doc, &recipients, ..);
    }
    let mid = doc
        .keys(&recipients)
        .nth(n / 2)
        .ok_or_else(|| Error::corrupt("the roster changed while it was read"))?;
    std::thread::scope(|scope| {
        let first = scope.spawn(|| recipients_in(doc, &recipients, ..mid.clone()));
        let second = recipients_in(doc, &recipients, mid.clone()..);
        let mut out = first
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        out.extend(second?);
        Ok(out)
    })
}

pub(super) fn recipients_in(
    doc: &AutoCommit,
    recipients: &ObjId,
    range: impl std::ops::RangeBounds<String>,
) -> Result<Vec<(Recipient, Vec<FieldConflict>)>> {
    let mut out = Vec::new();
    for item in doc.map_range(recipients, range) {
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
