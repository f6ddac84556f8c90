//! What the node's calls take and return: a new check, reports, a
//! recipient's page, a session's counters.

use super::*;

/// A check as a person records it; the node adds who, where and what was
/// known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCheck {
    /// Whom.
    pub recipient: RecipientId,
    /// How.
    pub method: CheckMethod,
    /// Result.
    pub result: CheckResult,
    /// Note.
    pub note: String,
    /// Shelter, if relevant.
    pub shelter: Option<String>,
    /// The check this one corrects.
    pub supersedes: Option<CheckId>,
    /// When (the device clock, unless entered by hand).
    pub at: Timestamp,
    /// Who, if not the device's staff member.
    pub staff: Option<Staff>,
}

impl NewCheck {
    /// A check of `recipient` now.
    pub fn new(recipient: RecipientId, method: CheckMethod, result: CheckResult) -> Self {
        NewCheck {
            recipient,
            method,
            result,
            note: String::new(),
            shelter: None,
            supersedes: None,
            at: Timestamp::now(),
            staff: None,
        }
    }
}

impl NewCheck {
    /// Trimmed like an imported roster, and refused with a clear error if
    /// its text holds control characters (a note may keep line breaks): a
    /// note from any member is shown on every office's screen.
    pub(super) fn cleaned(mut self) -> Result<Self> {
        let field = |name: &str, value: &str, free: bool| {
            crate::text::check(value, free).map_err(|m| Error::invalid(format!("{name}: {m}")))
        };
        self.note = self.note.trim().to_string();
        field("note", &self.note, true)?;
        self.shelter = self
            .shelter
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(s) = &self.shelter {
            field("shelter", s, false)?;
        }
        if let Some(staff) = &mut self.staff {
            staff.name = staff.name.trim().to_string();
            staff.organisation = staff.organisation.trim().to_string();
            field("staff", &staff.name, false)?;
            field("organisation", &staff.organisation, false)?;
        }
        Ok(self)
    }
}

/// What [`Node::open_incident_for`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// The incident is new.
    New,
    /// It was open already (another device, or this one, started it).
    Joined,
    /// It had ended and is open again.
    Reopened,
}

/// Form 2 as exported ([`Node::export_form2`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Form2Export {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The incident whose results it shows, if there is one.
    pub incident: Option<Incident>,
    /// Whether the export was written to the audit trail (not on a
    /// read-only folder).
    pub logged: bool,
}

/// One recipient's page ([`Node::recipient_page`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientPage {
    /// The record, with any concurrently edited fields.
    pub record: IndexedRecipient,
    /// The incident shown, if there is one.
    pub incident: Option<Incident>,
    /// The recipient's checks in it.
    pub checks: Vec<Check>,
    /// The recipient's claims in it (revoked devices' left out).
    pub claims: Vec<Claim>,
    /// Whether the view was written to the audit trail (not on a
    /// read-only folder).
    pub logged: bool,
}

impl RecipientPage {
    /// The page as people read it: history with relations, the deciding
    /// check, disagreement, live claims.
    pub fn detail(&self, now: Timestamp) -> crate::views::RecipientDetail<'_> {
        crate::views::recipient_detail(
            &self.record.recipient,
            &self.record.conflicts,
            &self.checks,
            &self.claims,
            now,
        )
    }
}

/// What an import changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New recipients.
    pub added: usize,
    /// Recipients with changed fields.
    pub updated: usize,
    /// Recipients exactly as before.
    pub unchanged: usize,
}

/// What importing a roster file did ([`Node::import_roster`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Added, updated, unchanged.
    pub counts: ImportCounts,
    /// Recipients of the space the file did not list, kept as they were,
    /// ordered by id.
    pub missing: Vec<RecipientId>,
}

/// The data one incident's views are computed from, read from the index.
#[derive(Clone, Debug, Default)]
pub struct IncidentData {
    /// The space's recipients: shared, so that data read again after a
    /// sync that moved only the incident keeps them
    /// ([`Node::shown_incident_data_after`]).
    pub recipients: std::sync::Arc<Vec<Recipient>>,
    /// The store's version of the roster the recipients were read at.
    pub roster_version: u64,
    /// The incident, if one was given.
    pub incident: Option<Incident>,
    /// Its checks.
    pub checks: Vec<Check>,
    /// Its claims, live or expired.
    pub claims: Vec<Claim>,
    /// The office's priority weights.
    pub weights: PriorityConfig,
    /// The office's operation: power, level, assignments, this device's
    /// carrier.
    pub operation: crate::views::Operation,
    /// How far this device's clock runs ahead of its peers', when known
    /// off ([`Node::clock_status`]): the `now` given to the list and the
    /// board is this device's clock, and is corrected by it (a claim's
    /// end, a battery's deadline are others' times).
    pub clock_ahead_secs: Option<i64>,
}

/// The recipients of earlier [`IncidentData`], to be used again if the
/// roster has not moved ([`Node::shown_incident_data_after`]).
#[derive(Clone, Debug)]
pub struct KeptRecipients {
    pub(super) recipients: std::sync::Arc<Vec<Recipient>>,
    pub(super) roster_version: u64,
}

impl IncidentData {
    /// The recipients, to be kept while the rest is read again.
    pub fn kept_recipients(&self) -> KeptRecipients {
        KeptRecipients {
            recipients: self.recipients.clone(),
            roster_version: self.roster_version,
        }
    }

    /// The situation board of this data's incident at `now`; `None`
    /// without an incident.
    pub fn board(&self, now: Timestamp) -> Option<crate::views::Board> {
        let incident = self.incident.as_ref()?;
        let now = now.corrected(self.clock_ahead_secs);
        let list = self.list_at(now);
        Some(crate::views::board(
            incident,
            &list,
            &self.checks,
            &self.weights,
            now,
        ))
    }

    /// The priority list of this data, by the office's weights.
    pub fn priority_list(&self, now: Timestamp) -> Vec<crate::views::PriorityEntry<'_>> {
        self.list_at(now.corrected(self.clock_ahead_secs))
    }

    /// The priority list at `now` already corrected: the board's list is
    /// read at the board's time, corrected once.
    fn list_at(&self, now: Timestamp) -> Vec<crate::views::PriorityEntry<'_>> {
        crate::views::priority_list_in(
            &self.recipients,
            self.incident.as_ref(),
            &self.checks,
            &self.claims,
            &self.weights,
            &self.operation,
            now,
        )
    }
}

/// Where the office node is: an address as people typed it (HOST:PORT) and
/// the id its key must prove.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeLink {
    /// HOST:PORT.
    pub address: String,
    /// The office device's id.
    pub device: DeviceId,
}

/// What one provision to an area space did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareReport {
    /// Recipients shared because their consent is recorded.
    pub with_consent: usize,
    /// Recipients shared without consent under a disaster exception.
    pub under_exception: usize,
    /// Recipients not shared (no recorded consent, no exception).
    pub withheld: usize,
    /// The exception in force, if any.
    pub exception: Option<Exception>,
    /// What changed in the area space.
    pub counts: ImportCounts,
    /// Records taken out of the area space: shared before, but their
    /// consent is withdrawn now (and no exception covers them).
    pub removed: usize,
}

/// What [`Node::collect_area_checks`] brought in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectReport {
    /// The office's incident they went into.
    pub incident: Incident,
    /// Partners' checks brought in now.
    pub collected: usize,
    /// Partners' checks brought in before.
    pub already: usize,
}

/// Counters of one sync session, for people and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Messages sent.
    pub messages_sent: usize,
    /// Messages received.
    pub messages_received: usize,
    /// Bytes sent.
    pub bytes_sent: usize,
    /// Bytes received.
    pub bytes_received: usize,
    /// Documents that changed here.
    pub docs_changed: usize,
    /// Documents that could not be read here or taken from the peer (see
    /// [`Session::failures`]).
    pub docs_failed: usize,
    /// The peer's changes refused here: they did not fit the document
    /// (each noted in the audit trail).
    pub changes_refused: usize,
}

/// One sync session with one peer, from this device's side.
#[derive(Debug)]
pub struct Session {
    pub(super) peer: Option<DeviceId>,
    /// A hello was sent (initiator) or received (responder).
    pub(super) greeted: bool,
    /// A network session: the spaces are fixed by membership before the
    /// first message, whatever the peer lists.
    pub(super) network: bool,
    /// Spaces this device does not hold may arrive (joining through the
    /// office, whose key the person joining named).
    pub(super) accept_new: bool,
    pub(super) want: BTreeSet<SpaceId>,
    pub(super) shared_spaces: BTreeSet<SpaceId>,
    pub(super) peers: HashMap<DocKey, PeerDoc>,
    /// Counters.
    pub stats: SyncStats,
    /// Documents this side could not read, or could not take from the
    /// peer, with the reason: each failure stays with its document (the
    /// rest of the session goes on) and is reported here.
    pub failures: Vec<(DocKey, String)>,
    /// The documents this side's hello offered, until the peer's first
    /// reply: one it does not answer, it did not take.
    pub(super) offered: Option<BTreeSet<DocKey>>,
    /// Changes the peer sent one by one so far, and the most it may
    /// (`MAX_CHANGES_PER_SESSION`).
    pub(super) changes_taken: usize,
    pub(super) max_changes: usize,
    /// The audit trail holds the provision of this session's data (written
    /// before the first message that carries any leaves).
    pub(super) provision_noted: bool,
}

impl Session {
    pub(super) fn new(peer: Option<DeviceId>, initiator: bool) -> Self {
        Session {
            peer,
            greeted: initiator,
            network: false,
            accept_new: false,
            want: BTreeSet::new(),
            shared_spaces: BTreeSet::new(),
            peers: HashMap::new(),
            stats: SyncStats::default(),
            failures: Vec::new(),
            offered: None,
            changes_taken: 0,
            max_changes: super::session::MAX_CHANGES_PER_SESSION,
            provision_noted: false,
        }
    }

    pub(super) fn fail(&mut self, key: DocKey, why: impl std::fmt::Display) {
        self.stats.docs_failed += 1;
        self.failures.push((key, why.to_string()));
    }

    /// The peer, once its hello arrived (or it answered ours).
    pub fn peer(&self) -> Option<&DeviceId> {
        self.peer.as_ref()
    }
}
