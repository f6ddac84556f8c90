//! Who may write what (docs/SECURITY.md, "Who writes what"): the structure
//! says where an operation may land; the author, as its seal proved it,
//! says whose name it may write there. A member writes only in its own
//! name — its checks, claims, openings and endings, its own buckets, the
//! safety reports it records (for anyone) — and corrects only its own
//! checks. The staff list, decisions and assignments are admins'. An admin of the space may write in any
//! name: the office copies partners' checks into its list, merges
//! incidents, corrects a phone's check, edits the roster and the weights.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Act, Place};
use crate::model::DeviceId;

/// Who wrote a change, as far as its seal proves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    /// An active admin of the space: any name.
    Admin,
    /// Any other member (or former one): only its own.
    Member(DeviceId),
    /// Not proven by a seal: a fixed actor, an actor of a build before
    /// seals (docs/SECURITY.md, "Not yet"), or one only an admin's seal let
    /// in (which vouches for it). The structure's rule alone.
    Unproven,
}

/// Who wrote each change, for [`super::vet`] (the node knows: seals and
/// statements).
pub trait Authors {
    /// The author of a change, by its actor.
    fn author(&self, actor: &automerge::ActorId) -> Author;
    /// Whether the space is an area space, whose recipients are shared by
    /// the devices of several offices, members there but admins of their
    /// own office only.
    fn area(&self) -> bool;
}

/// The structure's rule alone: every author unproven.
pub struct Anyone;

impl Authors for Anyone {
    fn author(&self, _: &automerge::ActorId) -> Author {
        Author::Unproven
    }

    fn area(&self) -> bool {
        false
    }
}

/// The fields of a check or claim that name whose it is.
#[derive(Deserialize)]
struct Named {
    device: DeviceId,
    #[serde(default)]
    supersedes: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// The field of a safety report that names the device it was recorded on.
#[derive(Deserialize)]
struct Recorded {
    device: DeviceId,
}

/// The device each check was recorded on, by check id: those of the
/// document (read once, when a correction needs them) and those the
/// changes at hand add.
pub(super) struct Recorders<'d> {
    doc: &'d automerge::AutoCommit,
    read: Option<HashMap<String, DeviceId>>,
    added: HashMap<String, DeviceId>,
}

impl<'d> Recorders<'d> {
    pub(super) fn new(doc: &'d automerge::AutoCommit) -> Self {
        Recorders {
            doc,
            read: None,
            added: HashMap::new(),
        }
    }

    fn of(&mut self, check: &str) -> Option<&DeviceId> {
        if let Some(d) = self.added.get(check) {
            return Some(d);
        }
        let doc = self.doc;
        self.read
            .get_or_insert_with(|| {
                crate::doc::checks(doc)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c.id.to_string(), c.device))
                    .collect()
            })
            .get(check)
    }
}

/// Whether the device in `key` (`<device>`, `<device>@<round>`,
/// `<device>.<n>`, `<device>/<recipient>`) is `me`.
fn keyed_by(key: &str, me: &DeviceId) -> bool {
    key.strip_prefix(me.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['@', '.', '/']))
}

/// Whether member `me` wrote under `actor`.
fn is(authors: &dyn Authors, actor: &automerge::ActorId, me: &DeviceId) -> bool {
    matches!(authors.author(actor), Author::Member(d) if &d == me)
}

/// The actor that made the recipient's record at `key` of `recipients`,
/// as the document holds it.
fn record_maker(doc: &automerge::AutoCommit, key: &str) -> Option<automerge::ActorId> {
    use automerge::ReadDoc;
    let recipients = crate::doc::top(doc, crate::doc::RECIPIENTS).ok()?;
    match doc.get(&recipients, key).ok()?? {
        (automerge::Value::Object(_), automerge::ObjId::Id(_, actor, _)) => Some(actor),
        _ => None,
    }
}

/// Why member `me` may not do `act` at `key` of `place`, if it may not.
/// The operation already fits the structure. `maker`: the actor that made
/// the object the operation writes into.
pub(super) fn in_own_name(
    me: &DeviceId,
    authors: &dyn Authors,
    place: Place,
    key: &str,
    act: Act<'_>,
    maker: Option<&automerge::ActorId>,
    recorders: &mut Recorders<'_>,
) -> Option<String> {
    let area = authors.area();
    let whose = |what: &str| Some(format!("writes {what} in another device's name"));
    match place {
        Place::Newer | Place::Top("statements" | "members") => None,
        // The founding and the exceptions prove themselves (signed).
        Place::Top("space") if key == "founding" || key.starts_with("exception/") => None,
        Place::Top("space") => Some(format!(
            "changes the space's {key:?}, which only an admin changes"
        )),
        Place::Top("staff") => Some("edits the staff list, which only an admin edits".to_string()),
        Place::Top("decisions") => {
            Some("records a decision, which only an admin takes".to_string())
        }
        Place::Top("assignments") => {
            Some("assigns recipients, which only an admin does".to_string())
        }
        Place::Top("reports") if !keyed_by(key, me) => whose("a bucket of reports"),
        // Anyone records a colleague's report (they phoned in), but only
        // on its own device.
        Place::In("reports") => {
            let Act::Text(text) = act else {
                return None;
            };
            match serde_json::from_str::<Recorded>(text) {
                Ok(r) if &r.device == me => None,
                Ok(_) => whose("a safety report"),
                Err(_) => Some("writes a safety report that names no device".to_string()),
            }
        }
        Place::Top("recipients") | Place::In("recipients") if !area => {
            Some("edits the roster, which only an admin edits".to_string())
        }
        // An area space's record is its sharing office's: the device that
        // shared it first updates or removes it, or an admin.
        Place::In("recipients") if !maker.is_some_and(|m| is(authors, m, me)) => {
            Some("edits a record another office's device shared".to_string())
        }
        Place::Top("recipients")
            if matches!(act, Act::Delete | Act::MakeMap)
                && record_maker(recorders.doc, key).is_some_and(|m| !is(authors, &m, me)) =>
        {
            Some("removes or replaces a record another office's device shared".to_string())
        }
        Place::Top("recipients") | Place::In("recipients") => None,
        Place::Top("opened") if !keyed_by(key, me) => whose("an opening"),
        Place::Top("ended") if !keyed_by(key, me) => whose("an ending"),
        Place::Top("checks") if !keyed_by(key, me) => whose("a bucket of checks"),
        Place::Top("claims") if !keyed_by(key, me) => whose("a claim"),
        Place::Top("claims") | Place::In("checks") => {
            let Act::Text(text) = act else {
                return None;
            };
            let Ok(named) = serde_json::from_str::<Named>(text) else {
                return Some("writes a check or claim that names no device".to_string());
            };
            if &named.device != me {
                return whose(if place == Place::Top("claims") {
                    "a claim"
                } else {
                    "a check"
                });
            }
            if place == Place::In("checks") {
                if let Some(target) = &named.supersedes
                    && recorders.of(target) != Some(me)
                {
                    return Some(
                        "corrects a check recorded on another device, which only an admin does"
                            .to_string(),
                    );
                }
                if let Some(id) = named.id {
                    recorders.added.insert(id, me.clone());
                }
            }
            None
        }
        _ => None,
    }
}
