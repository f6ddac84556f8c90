//! `AnpiNode`: one data folder, its sync, and its events, for an app.
//!
//! Every call is safe from any thread. Calls that read or write the data
//! folder block for the disk write (milliseconds; call them off the main
//! thread); the network calls are async.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anpi_core::codes::Lang;
use anpi_core::folder::{DataFolder, Secret};
use anpi_core::io::roster;
use anpi_core::model::{
    self as core, DeviceId, RecipientId, SpaceId, Staff as CoreStaff, Timestamp,
};
use anpi_core::net::discovery::{Discovery, Manual, Mdns};
use anpi_core::net::serve::{self, Event, Options};
use anpi_core::net::{JoinBy, NetNode, SharedNode, SyncReport, join_office};
use anpi_core::node::{self as cnode, Node, PeerChange};
use anpi_core::store::DatabaseKey;
use anpi_core::views;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::AnpiError;
use crate::events::{AnpiListener, EventHandle, Events};
use crate::runtime::{on_runtime, runtime};
use crate::types::*;

type Result<T> = std::result::Result<T, AnpiError>;

/// A person and their organisation.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Staff {
    /// Name.
    pub name: String,
    /// Organisation (事業所・機関).
    pub organisation: String,
    /// 職員ID in the office's staff list, when known: links this device to
    /// its carrier's safety reports and assignments.
    #[uniffi(default = None)]
    pub staff_id: Option<String>,
}

impl From<&CoreStaff> for Staff {
    fn from(s: &CoreStaff) -> Self {
        Staff {
            name: s.name.clone(),
            organisation: s.organisation.clone(),
            staff_id: s.id.as_ref().map(|i| i.0.clone()),
        }
    }
}

impl From<Staff> for CoreStaff {
    fn from(s: Staff) -> Self {
        CoreStaff {
            name: s.name,
            organisation: s.organisation,
            id: s.staff_id.map(anpi_core::model::StaffId),
        }
    }
}

/// A data folder open on this device: the roster, incidents, checks, the
/// members, and sync with peers and the office.
#[derive(uniffi::Object)]
pub struct AnpiNode {
    pub(crate) lang: Lang,
    open: Mutex<Option<Arc<Inner>>>,
    events: Arc<Events>,
}

struct Inner {
    lang: Lang,
    node: SharedNode,
    manual: Arc<Manual>,
    local_changes: Arc<Notify>,
    events: Arc<Events>,
    sync: Mutex<Option<Running>>,
}

struct Running {
    net: Arc<NetNode>,
    listening: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<anpi_core::Result<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn address(text: &str) -> Result<SocketAddr> {
    text.to_socket_addrs()
        .map_err(|e| AnpiError::invalid(format!("{text}: not an address (HOST:PORT): {e}")))?
        .next()
        .ok_or_else(|| AnpiError::invalid(format!("{text}: no address found")))
}

fn device_id(text: &str) -> Result<DeviceId> {
    DeviceId::parse(text).map_err(|e| AnpiError::invalid(format!("device id {text}: {e}")))
}

/// An unspecified address of `peer`'s family, for a one-off endpoint.
fn any_for(peer: SocketAddr) -> SocketAddr {
    match peer {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

impl Inner {
    fn with<T>(&self, f: impl FnOnce(&mut Node) -> anpi_core::Result<T>) -> Result<T> {
        let mut node = lock(&self.node);
        f(&mut node).map_err(Into::into)
    }

    /// A change was made here: the peers and the office hear of it after
    /// the debounce, the app refreshes.
    fn changed(&self) {
        self.local_changes.notify_one();
        self.events.emit(AnpiEvent::DataChanged { local: true });
    }

    fn status(&self) -> AnpiEvent {
        let (running, listening) = match &*lock(&self.sync) {
            Some(r) => (true, Some(r.listening.to_string())),
            None => (false, None),
        };
        AnpiEvent::Status {
            running,
            listening,
            peers: self.peer_statuses(),
        }
    }

    /// The core's book of peers (every session is noted there by the
    /// network layer).
    fn peer_statuses(&self) -> Vec<PeerStatus> {
        let statuses = lock(&self.node).peer_statuses().unwrap_or_default();
        statuses.into_iter().map(Into::into).collect()
    }

    /// Tell the app what a session did. A session in which a document was
    /// refused or dropped (by either side) is a failure, never "synced"
    /// (the core's rule, [`SyncReport::incomplete`]).
    fn session_done(&self, addr: SocketAddr, result: &anpi_core::Result<SyncReport>) {
        if let Ok(r) = result
            && let Some(e) = r.incomplete()
        {
            if r.stats.docs_changed > 0 {
                self.events.emit(AnpiEvent::DataChanged { local: false });
            }
            return self.session_done(addr, &Err(e));
        }
        match result {
            Ok(r) => {
                self.events.emit(AnpiEvent::Synced { result: r.into() });
                if r.stats.docs_changed > 0 {
                    self.events.emit(AnpiEvent::DataChanged { local: false });
                    if let Some(message) = self.update_notice() {
                        self.events.emit(AnpiEvent::NeedsUpdate { message });
                    }
                }
                if let Some(message) = self.clock_notice() {
                    self.events.emit(AnpiEvent::ClockOff { message });
                }
            }
            Err(e) => self.events.emit(AnpiEvent::SyncFailed {
                address: addr.to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// What to tell the person when this device holds data a newer anpi
    /// made (kept and passed on, unread); `None` when it holds none.
    fn update_notice(&self) -> Option<String> {
        let newer = lock(&self.node).newer_documents().ok()?.len();
        (newer > 0).then(|| anpi_core::doc::format::update_notice(self.lang, newer))
    }

    /// What to tell the person when this device's clock is off; `None`
    /// when it is not, or no peer has said.
    fn clock_notice(&self) -> Option<String> {
        let status = lock(&self.node).clock_status().ok()??;
        status.warning(self.lang)
    }

    /// The space and its open incident, which checks and claims go into.
    fn open_incident(&self, space_id: &str) -> Result<(SpaceId, core::Incident)> {
        self.with(|n| {
            let space = space_of(n, space_id)?;
            let incident = n.current_incident(&space)?;
            Ok((space, incident))
        })
    }

    /// The member list changed here: a running node accepts and refuses
    /// by the new list at once (and closes a revoked device's sessions).
    fn members_changed(&self) {
        self.changed();
        if let Some(r) = lock(&self.sync).as_ref()
            && let Ok(rt) = runtime()
        {
            let net = r.net.clone();
            // The handshake judges by the gate as last read: read it now,
            // before the app's next step (a phone enrolled a moment ago
            // joins at once), and the rest (certificate, revoked
            // sessions) in the background.
            let _ = net.read_gate();
            rt.spawn(async move { net.refresh_trust().await });
        }
    }

    fn stop_sync(&self) {
        let Some(running) = lock(&self.sync).take() else {
            return;
        };
        let _ = running.stop.send(true);
        // On a thread of the runtime itself (the last reference dropped by
        // a network task) waiting would panic; the loop stops on its own.
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        if let Ok(rt) = runtime() {
            // The loop closes its endpoint and returns at once; bounded in
            // case a session hangs on a dead peer.
            let task = running.task;
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
        }
    }
}

/// Turn the background loop's events into the app's, keeping peer status.
async fn forward(inner: Arc<Inner>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>) {
    while let Some(e) = rx.recv().await {
        match e {
            Event::Listening(_) => {}
            Event::PeerFound(addr) => inner.events.emit(AnpiEvent::PeerSeen {
                address: addr.to_string(),
            }),
            Event::PeerLost(addr) => inner.events.emit(AnpiEvent::PeerLost {
                address: addr.to_string(),
            }),
            Event::Syncing(addr) => inner.events.emit(AnpiEvent::SyncStarted {
                address: addr.to_string(),
            }),
            Event::Synced(report) => inner.session_done(report.addr, &Ok(report)),
            Event::Failed { addr, error } => {
                inner.session_done(addr, &Err(anpi_core::Error::Network(error)));
            }
            Event::Refused { addr, error } => inner.events.emit(AnpiEvent::Refused {
                address: addr.to_string(),
                message: error,
            }),
            Event::OfficeRetry(d) => inner.events.emit(AnpiEvent::OfficeRetry {
                seconds: d.as_secs(),
            }),
        }
    }
}

impl AnpiNode {
    /// Join through the office (the core's [`join_office`]): the
    /// spaces arrive, the office is remembered.
    async fn join_office(&self, by: JoinBy) -> Result<Vec<Space>> {
        let inner = self.inner()?;
        let node = inner.node.clone();
        let (_, spaces) = on_runtime(async move { Ok(join_office(node, by).await?) }).await?;
        inner.events.emit(AnpiEvent::DataChanged { local: false });
        Ok(spaces.into_iter().map(Into::into).collect())
    }

    fn inner(&self) -> Result<Arc<Inner>> {
        lock(&self.open).clone().ok_or(AnpiError::Closed)
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Node) -> anpi_core::Result<T>) -> Result<T> {
        self.inner()?.with(f)
    }

    /// A change was made here (see `Inner::changed`).
    pub(crate) fn data_changed(&self) {
        if let Ok(inner) = self.inner() {
            inner.changed();
        }
    }
}

/// A space id this device holds.
pub(crate) fn space_of(node: &Node, id: &str) -> anpi_core::Result<SpaceId> {
    let space = SpaceId(id.to_string());
    if node.spaces()?.iter().any(|s| s.id == space) {
        Ok(space)
    } else {
        Err(anpi_core::Error::NotFound(format!("space {id}")))
    }
}

#[uniffi::export]
impl AnpiNode {
    /// Open (or create) the data folder `folder`, encrypted with
    /// `database_key`: 32 random bytes the app keeps in the Android Keystore
    /// or the iOS Keychain. `language` is `ja` or `en`, for labels.
    #[uniffi::constructor]
    pub fn open(folder: String, database_key: Vec<u8>, language: String) -> Result<Arc<Self>> {
        let lang = match language.as_str() {
            "ja" | "" => Lang::Ja,
            "en" => Lang::En,
            other => {
                return Err(AnpiError::invalid(format!(
                    "language {other}: use ja or en"
                )));
            }
        };
        let key: [u8; 32] = database_key.try_into().map_err(|k: Vec<u8>| {
            AnpiError::invalid(format!(
                "the database key must be 32 bytes (it has {}); keep 32 random bytes in the Keystore or Keychain",
                k.len()
            ))
        })?;
        // A folder that held a store and lost it is refused (Storage), never
        // made again as a new device.
        let node = DataFolder::new(PathBuf::from(&folder))
            .open_or_create(&Secret::Key(DatabaseKey::from_bytes(key)))?;
        let mut node = node;
        if let Some(link) = node.office()?
            && let Ok(addr) = address(&link.address)
        {
            node.peer_known(addr, Some(&link.device));
        }
        let events = Arc::new(Events::default());
        let inner = Inner {
            lang,
            node: Arc::new(Mutex::new(node)),
            manual: Arc::new(Manual::new()),
            local_changes: Arc::new(Notify::new()),
            events: events.clone(),
            sync: Mutex::new(None),
        };
        Ok(Arc::new(AnpiNode {
            lang,
            open: Mutex::new(Some(Arc::new(inner))),
            events,
        }))
    }

    /// Stop sync and events and close the data folder. Every later call
    /// fails with `Closed`.
    pub fn shutdown(&self) -> Result<()> {
        let Some(inner) = lock(&self.open).take() else {
            return Ok(());
        };
        inner.stop_sync();
        self.events.clear();
        inner.with(|n| n.maintain().map(|_| ()))
    }

    // ------------------------------------------------------------ device

    /// This device's id (derived from its key).
    pub fn device_id(&self) -> Result<String> {
        self.with(|n| Ok(n.device().0.clone()))
    }

    /// This device's id in the short form people read out and compare.
    pub fn device_id_readable(&self) -> Result<String> {
        self.with(|n| Ok(n.device().readable()))
    }

    /// Who carries this device.
    pub fn staff(&self) -> Result<Staff> {
        self.with(|n| {
            let s = n.staff();
            Ok(Staff::from(s))
        })
    }

    /// Set who carries this device (recorded on their checks and claims).
    pub fn set_staff(&self, staff: Staff) -> Result<()> {
        self.with(|n| n.set_staff(staff.into()))
    }

    /// The spaces this device holds.
    pub fn spaces(&self) -> Result<Vec<Space>> {
        self.with(|n| Ok(n.spaces()?.into_iter().map(Into::into).collect()))
    }

    /// Make a new space with this device as its first admin (an office).
    pub fn create_space(&self, name: String) -> Result<Space> {
        let inner = self.inner()?;
        let space = inner.with(|n| n.create_space(&name))?;
        inner.changed();
        Ok(space.into())
    }

    /// Make a new area space, shared with other agencies (連携型BCP),
    /// with this device as its first admin: the only kind of space
    /// partners (other agencies' devices) are enrolled in and sync.
    pub fn create_area_space(&self, name: String) -> Result<Space> {
        let inner = self.inner()?;
        let space = inner.with(|n| n.create_area_space(&name))?;
        inner.changed();
        Ok(space.into())
    }

    // ------------------------------------------------------------ roster

    /// Import a roster CSV (UTF-8 or Shift_JIS, DOMAIN.md's columns). All or
    /// nothing: a bad file imports no row, and the error names every line
    /// and field at fault.
    pub fn import_roster(&self, space_id: String, csv: Vec<u8>) -> Result<ImportSummary> {
        let inner = self.inner()?;
        let r = roster::read(&csv).map_err(anpi_core::Error::from)?;
        let report = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            let report = n.import_roster(&space, r.recipients, &mut |_, _| {})?;
            // Saved already: tidying that fails (a full disk) is left for
            // later, not reported as a failed import.
            let _ = n.maintain();
            Ok(report)
        })?;
        inner.changed();
        let counts = report.counts;
        Ok(ImportSummary {
            added: counts.added as u32,
            updated: counts.updated as u32,
            unchanged: counts.unchanged as u32,
            missing: report.missing.into_iter().map(|id| id.0).collect(),
            encoding: r.encoding.to_string(),
            ignored_columns: r.ignored_columns,
        })
    }

    /// The priority list of the open incident (or the roster alone): whom
    /// to check first, with the reasons.
    pub fn priority_list(&self, space_id: String) -> Result<Vec<PriorityRow>> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let incident = n.open_incident(&space)?;
            let data = n.incident_data(&space, incident.as_ref().map(|i| &i.id))?;
            let now = Timestamp::now();
            Ok(data
                .priority_list(now)
                .iter()
                .map(|e| PriorityRow::from_core(e, lang, now))
                .collect())
        })
    }

    /// A recipient's page: 様式1, the checks of the current incident and
    /// claims. The view is written to the audit trail.
    pub fn recipient(&self, space_id: String, recipient_id: String) -> Result<RecipientDetail> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let page = n.recipient_page(&space, &anpi_core::text::typed_id(&recipient_id)?)?;
            let d = page.detail(Timestamp::now());
            Ok(RecipientDetail {
                recipient: Recipient::from_core(d.recipient, lang),
                conflicts: d
                    .conflicts
                    .iter()
                    .map(|c| FieldConflict {
                        field: c.field.clone(),
                        values: c.values.clone(),
                    })
                    .collect(),
                history: d
                    .history
                    .iter()
                    .map(|h| HistoryLine::from_core(h, lang))
                    .collect(),
                latest: d.latest.map(|c| Check::from_core(c, lang)),
                conflicting: d
                    .conflict
                    .iter()
                    .map(|c| Check::from_core(c, lang))
                    .collect(),
                conflict_label: views::conflict_line(&d.conflict, lang),
                claims: d.live_claims.iter().map(|c| Claim::from(*c)).collect(),
            })
        })
    }

    // ------------------------------------------------------------ incidents

    /// The incidents of a space, newest first.
    pub fn incidents(&self, space_id: String) -> Result<Vec<Incident>> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            Ok(n.incidents(&space)?
                .iter()
                .map(|i| Incident::from_core(i, lang))
                .collect())
        })
    }

    /// Open an incident (BCP発動). `name` defaults to the kind's Japanese
    /// name, which everyone on the team reads the same.
    pub fn start_incident(
        &self,
        space_id: String,
        kind: IncidentKind,
        name: Option<String>,
    ) -> Result<Incident> {
        let inner = self.inner()?;
        let kind: anpi_core::codes::IncidentKind = kind.into();
        let i = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            let name = name.unwrap_or_else(|| kind.label_ja().to_string());
            n.start_incident(&space, kind, &name, Timestamp::now())
        })?;
        inner.changed();
        Ok(Incident::from_core(&i, self.lang))
    }

    /// End the open incident.
    pub fn end_incident(&self, space_id: String) -> Result<Incident> {
        let inner = self.inner()?;
        let i = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            let open = n.current_incident(&space)?;
            n.end_incident(&space, &open.id, Timestamp::now())
        })?;
        inner.changed();
        Ok(Incident::from_core(&i, self.lang))
    }

    /// When this device holds data a newer anpi made — kept and passed on
    /// to other devices, but unread here — what to tell the person
    /// ("anpi を更新してください"); `None` otherwise. Also sent as the
    /// `NeedsUpdate` event after a sync that brought such data.
    pub fn update_notice(&self) -> Result<Option<String>> {
        Ok(self.inner()?.update_notice())
    }

    /// When this device's clock is more than five minutes off, as the
    /// devices it synced with last see it, what to tell the person ("この
    /// 端末の時計が約3時間遅れています…"); `None` otherwise. Also sent as
    /// the `ClockOff` event after a sync. Checks recorded meanwhile carry
    /// the error and are shown corrected (`Check.at_ms`, `clock_note`).
    pub fn clock_notice(&self) -> Result<Option<String>> {
        Ok(self.inner()?.clock_notice())
    }

    /// The open incident's situation board, if one is open.
    pub fn incident_summary(&self, space_id: String) -> Result<Option<IncidentSummary>> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let Some(incident) = n.open_incident(&space)? else {
                return Ok(None);
            };
            let data = n.incident_data(&space, Some(&incident.id))?;
            let now = Timestamp::now();
            let list = data.priority_list(now);
            let s =
                views::incident_summary(&incident, &list, data.checks.len(), &data.weights, now);
            Ok(Some(IncidentSummary {
                incident: Incident::from_core(&s.incident, lang),
                recipients: s.recipients as u32,
                unchecked: s.unchecked as u32,
                not_reached: s.not_reached as u32,
                high_priority_not_reached: s.high_priority_not_reached as u32,
                battery_deadline_not_reached: s.battery_deadline_not_reached as u32,
                duplicates: s.duplicates as u32,
                conflicts: s.conflicts as u32,
                checks: s.checks as u32,
                by_result: s
                    .by_result
                    .iter()
                    .map(|(r, count)| {
                        let result: CheckResult = (*r).into();
                        ResultCount {
                            result,
                            label: result.label(lang),
                            count: *count as u32,
                        }
                    })
                    .collect(),
                operation_level: data.operation.level.map(Into::into),
                operation_level_label: data
                    .operation
                    .level
                    .map(|v| v.with_meaning(lang))
                    .unwrap_or_default(),
            }))
        })
    }

    // ------------------------------------------------------------ checks

    /// The results a check can have, with labels, for the result buttons.
    pub fn check_results(&self) -> Vec<ResultChoice> {
        result_choices(self.lang)
    }

    /// The ways a check can be made, with labels.
    pub fn check_methods(&self) -> Vec<MethodChoice> {
        method_choices(self.lang)
    }

    /// Record a safety check in the open incident. It is on disk when this
    /// returns, and reaches peers and the office at the next sync.
    pub fn record_check(&self, space_id: String, check: NewCheck) -> Result<Check> {
        let inner = self.inner()?;
        let supersedes = check
            .supersedes
            .as_deref()
            .map(|s| {
                s.parse()
                    .map_err(|e| AnpiError::invalid(format!("supersedes {s}: {e}")))
            })
            .transpose()?;
        let (space, incident) = inner.open_incident(&space_id)?;
        let mut new = cnode::NewCheck::new(
            anpi_core::text::typed_id(&check.recipient_id)?,
            check.method.into(),
            check.result.into(),
        );
        new.note = check.note;
        new.shelter = check.shelter.filter(|s| !s.is_empty());
        new.supersedes = supersedes;
        let c = inner.with(|n| n.record_check(&space, &incident.id, new))?;
        inner.changed();
        Ok(Check::from_core(&c, self.lang))
    }

    /// "向かっています": tell the others someone is on the way, for
    /// `minutes` (1 to 720; more is an `Invalid` error). A check this device
    /// records of the recipient ends the claim.
    pub fn claim(&self, space_id: String, recipient_id: String, minutes: u32) -> Result<Claim> {
        let inner = self.inner()?;
        let (space, incident) = inner.open_incident(&space_id)?;
        let claim = inner.with(|n| {
            n.claim(
                &space,
                &incident.id,
                &anpi_core::text::typed_id(&recipient_id)?,
                minutes.into(),
                Timestamp::now(),
            )
        })?;
        inner.changed();
        Ok(Claim::from(&claim))
    }

    /// Withdraw this device's claim. Returns whether there was one.
    pub fn release(&self, space_id: String, recipient_id: String) -> Result<bool> {
        let inner = self.inner()?;
        let (space, incident) = inner.open_incident(&space_id)?;
        let had = inner.with(|n| {
            n.release(
                &space,
                &incident.id,
                &anpi_core::text::typed_id(&recipient_id)?,
            )
        })?;
        if had {
            inner.changed();
        }
        Ok(had)
    }

    /// Duplicate visits in the open (or latest) incident: who, when, with
    /// what result.
    pub fn duplicates(&self, space_id: String) -> Result<Vec<Duplicate>> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let Some(incident) = n.shown_incident(&space)? else {
                return Ok(vec![]);
            };
            let data = n.incident_data(&space, Some(&incident.id))?;
            let names: BTreeMap<&RecipientId, &str> = data
                .recipients
                .iter()
                .map(|r| (&r.id, r.name.as_str()))
                .collect();
            Ok(views::duplicates(&data.checks)
                .iter()
                .map(|d| Duplicate {
                    recipient_id: d.recipient.0.clone(),
                    name: names
                        .get(d.recipient)
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    checks: d.checks.iter().map(|c| Check::from_core(c, lang)).collect(),
                    despite_claim: d.despite_claim.iter().map(|c| c.0.to_string()).collect(),
                })
                .collect())
        })
    }

    // ------------------------------------------------------------ members

    /// The members of a space, with whether each entry counts.
    pub fn members(&self, space_id: String) -> Result<Vec<Member>> {
        let lang = self.lang;
        self.with(|n| {
            let space = space_of(n, &space_id)?;
            let versions = n.device_versions()?;
            Ok(n.members(&space)?
                .iter()
                .map(|(m, s)| {
                    let version = cnode::version_label(versions.get(&m.device), lang);
                    Member::from_core(m, *s, version)
                })
                .collect())
        })
    }

    /// Add a device to a space (admins only), signed by this device.
    pub fn add_member(
        &self,
        space_id: String,
        device_id_text: String,
        staff: Staff,
        role: Role,
    ) -> Result<Member> {
        let inner = self.inner()?;
        let device = device_id(&device_id_text)?;
        let m = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            n.add_member(&space, &device, staff.into(), role.into())
        })?;
        inner.members_changed();
        Ok(Member::from_core(
            &m,
            core::MemberStanding::Active,
            String::new(),
        ))
    }

    /// Revoke a device (lost, or its carrier left): every device refuses it
    /// once the revocation reaches them, this one at once.
    pub fn revoke_member(&self, space_id: String, device_id_text: String) -> Result<Member> {
        let inner = self.inner()?;
        let device = device_id(&device_id_text)?;
        let m = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            n.revoke_member(&space, &device)
        })?;
        inner.members_changed();
        Ok(Member::from_core(
            &m,
            core::MemberStanding::Revoked,
            String::new(),
        ))
    }

    /// An invite for a new phone (admins only): works once, until it
    /// expires, at the `addresses` (HOST:PORT) where this device listens.
    pub fn create_invite(
        &self,
        space_id: String,
        staff: Staff,
        role: Role,
        addresses: Vec<String>,
        valid_hours: u32,
    ) -> Result<Invite> {
        let inner = self.inner()?;
        let expires = Timestamp::now().plus_minutes(i64::from(valid_hours) * 60);
        let invite = inner.with(|n| {
            let space = space_of(n, &space_id)?;
            n.create_invite(&space, staff.into(), role.into(), addresses, expires)
        })?;
        Ok(Invite {
            code: invite.encode(),
            expires_at_ms: millis(expires),
        })
    }

    // ------------------------------------------------------------ sync

    /// Join the spaces an admin added this device to, at the office
    /// `office_address` (HOST:PORT) whose key must prove `office_id`.
    pub async fn join(&self, office_address: String, office_id: String) -> Result<Vec<Space>> {
        let office = device_id(&office_id)?;
        // Checked here so that a typing mistake is invalid input, not a
        // network failure.
        address(&office_address)?;
        self.join_office(JoinBy::Office {
            address: office_address,
            office,
        })
        .await
    }

    /// Redeem an invite code (`ANPI2-…`, from the office's QR code): the
    /// office adds this device and sends its spaces.
    pub async fn join_invite(&self, code: String) -> Result<Vec<Space>> {
        let invite = anpi_core::invite::Code::decode(&code)?;
        if invite.addresses.is_empty() {
            return Err(AnpiError::invalid("the invite names no office address"));
        }
        self.join_office(JoinBy::Invite(invite)).await
    }

    /// Start background sync: listen for peers, sync with peers found
    /// (mDNS, `add_peer`, `config.peers`) and with the office this device
    /// joined, again after each local change. Returns the address it
    /// listens on.
    pub fn start_sync(&self, config: SyncConfig) -> Result<String> {
        let inner = self.inner()?;
        let mut sync = lock(&inner.sync);
        if sync.is_some() {
            return Err(AnpiError::invalid(
                "background sync already runs; stop it first",
            ));
        }
        let listen = address(&config.listen)?;
        let peers = config
            .peers
            .iter()
            .map(|p| address(p).map(|a| (a, None)))
            .collect::<Result<Vec<_>>>()?;
        let office = match inner.with(|n| n.office())? {
            None => None,
            Some(link) => match address(&link.address) {
                Ok(a) => Some((a, link.device)),
                Err(e) => {
                    // Unresolvable now (no DNS offline): peers still sync,
                    // and the app hears why the office does not.
                    inner.events.emit(AnpiEvent::SyncFailed {
                        address: link.address,
                        message: e.to_string(),
                    });
                    None
                }
            },
        };
        let rt = runtime()?;
        let _entered = rt.enter();
        let net = Arc::new(NetNode::bind(inner.node.clone(), listen)?);
        let listening = net.local_addr()?;
        let mut discovery: Vec<Arc<dyn Discovery>> = vec![inner.manual.clone()];
        if config.mdns {
            discovery.push(Arc::new(Mdns::new(&config.interfaces)?));
        }
        let options = Options {
            discovery,
            local_changes: inner.local_changes.clone(),
            office,
            peers,
            debounce: Duration::from_millis(config.debounce_ms),
            ..Default::default()
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let task = rt.spawn(serve::run(net.clone(), options, tx, stop_rx));
        rt.spawn(forward(inner.clone(), rx));
        *sync = Some(Running {
            net,
            listening,
            stop,
            task,
        });
        Ok(listening.to_string())
    }

    /// Stop background sync (nothing is lost; sessions resume next time).
    pub fn stop_sync(&self) -> Result<()> {
        self.inner()?.stop_sync();
        Ok(())
    }

    /// A peer the app found itself (Bonjour on iOS, NSD, a QR code on a
    /// shelter wall): synced with at once while background sync runs.
    /// Returns false when background sync is not running.
    pub fn add_peer(&self, address_text: String) -> Result<bool> {
        let inner = self.inner()?;
        let addr = address(&address_text)?;
        Ok(inner.manual.add_peer(addr))
    }

    /// Sync now with the peer at `address` (HOST:PORT); `peer_id`, when
    /// given, is the device id its key must prove.
    pub async fn sync_now(
        &self,
        address_text: String,
        peer_id: Option<String>,
    ) -> Result<SyncResult> {
        let inner = self.inner()?;
        let addr = address(&address_text)?;
        let expected = peer_id.as_deref().map(device_id).transpose()?;
        let running = lock(&inner.sync).as_ref().map(|r| r.net.clone());
        let node = inner.node.clone();
        inner.events.emit(AnpiEvent::SyncStarted {
            address: addr.to_string(),
        });
        let result = on_runtime(async move {
            Ok(match running {
                Some(net) => net.sync_with(addr, expected.as_ref()).await,
                None => match NetNode::bind(node, any_for(addr)) {
                    Ok(net) => {
                        let r = net.sync_with(addr, expected.as_ref()).await;
                        net.close().await;
                        r
                    }
                    Err(e) => Err(e),
                },
            })
        })
        .await?;
        inner.session_done(addr, &result);
        if lock(&inner.node).last_peer_change(addr) == Some(PeerChange::Lost) {
            inner.events.emit(AnpiEvent::PeerLost {
                address: addr.to_string(),
            });
        }
        let report = result?;
        if let Some(e) = report.incomplete() {
            return Err(e.into());
        }
        Ok(SyncResult::from(&report))
    }

    /// How sync stands with each peer known: last sync, last error,
    /// changes not yet passed on.
    pub fn sync_status(&self) -> Result<Vec<PeerStatus>> {
        Ok(self.inner()?.peer_statuses())
    }

    /// Hear what happens. The first event is the sync status now; then
    /// changes as they come. Events stop when the handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn AnpiListener>) -> Result<Arc<EventHandle>> {
        let inner = self.inner()?;
        self.events.subscribe(listener, inner.status())
    }
}

impl Drop for AnpiNode {
    fn drop(&mut self) {
        if let Some(inner) = lock(&self.open).take() {
            inner.stop_sync();
        }
    }
}
