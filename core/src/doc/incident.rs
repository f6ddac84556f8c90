//! An incident document: who opened and ended it, checks in per-device
//! buckets, and claims.

use super::*;

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
