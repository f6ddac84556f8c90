//! What the templates show: plain strings and numbers in the page's
//! language, made from the core's views. Nothing here decides anything.

use anpi_core::codes::Lang;
use anpi_core::model::Timestamp;
use askama::Template;

/// Labels in the page's language, callable from templates.
#[derive(Clone, Copy, Debug)]
pub struct L(pub Lang);

impl L {
    /// Japanese or English.
    pub fn t<'a>(&self, ja: &'a str, en: &'a str) -> &'a str {
        match self.0 {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    /// The `lang` attribute.
    pub fn code(&self) -> &'static str {
        match self.0 {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// "12分前", "3 h ago": how long ago, for people.
    pub fn ago(&self, at: Timestamp, now: Timestamp) -> String {
        let minutes = (now.0 - at.0).num_minutes().max(0);
        match (self.0, minutes) {
            (Lang::Ja, 0) => "たった今".into(),
            (Lang::Ja, m) if m < 60 => format!("{m}分前"),
            (Lang::Ja, m) if m < 48 * 60 => format!("{}時間前", m / 60),
            (Lang::Ja, m) => format!("{}日前", m / 60 / 24),
            (Lang::En, 0) => "just now".into(),
            (Lang::En, m) if m < 60 => format!("{m} min ago"),
            (Lang::En, m) if m < 48 * 60 => format!("{} h ago", m / 60),
            (Lang::En, m) => format!("{} days ago", m / 60 / 24),
        }
    }
}

/// A time as the office reads it (JST).
pub fn when(at: Timestamp) -> String {
    at.jst().format("%m/%d %H:%M").to_string()
}

/// A check's time as the office reads it: corrected, with a note, when its
/// device's clock was off (`anpi_core::clock`).
pub fn check_when(c: &anpi_core::model::Check, l: L) -> String {
    anpi_core::clock::check_time_as(c, l.0, when(c.shown_at()))
}

/// What every page has: the language, the navigation, the form token.
pub struct Chrome {
    pub l: L,
    pub title: String,
    pub space: String,
    pub csrf: String,
    /// Which navigation item is this page.
    pub here: &'static str,
    /// Whether the page refreshes itself when the data changes (not a
    /// page that answered a form).
    pub live: bool,
    /// Who is logged in, as the header shows it (empty: no login, the
    /// office PC itself).
    pub person: String,
    /// The login page: no navigation.
    pub bare: bool,
}

impl Chrome {
    /// The chrome of a page; the form token is filled in when it is sent.
    pub fn new(l: L, title: impl Into<String>, space: String, here: &'static str) -> Chrome {
        Chrome {
            l,
            title: title.into(),
            space,
            csrf: String::new(),
            here,
            live: true,
            person: String::new(),
            bare: false,
        }
    }

    /// The chrome of a page that answers a form.
    pub fn answer(mut self) -> Chrome {
        self.live = false;
        self
    }

    /// The navigation: (path, label, whether it is this page).
    pub fn nav(&self) -> Vec<(&'static str, &'static str, bool)> {
        let l = self.l;
        [
            ("/board", l.t("状況ボード", "Board")),
            ("/staff", l.t("職員安否", "Staff")),
            ("/list", l.t("優先順位リスト", "Priority list")),
            ("/duplicates", l.t("重複訪問", "Duplicates")),
            ("/roster", l.t("名簿", "Roster")),
            ("/devices", l.t("端末", "Devices")),
            ("/form2", l.t("様式2", "Form 2")),
            ("/incidents", l.t("災害", "Incidents")),
            ("/sharing", l.t("連携", "Sharing")),
            ("/audit", l.t("監査ログ", "Audit log")),
            ("/logins", l.t("ログイン管理", "Logins")),
        ]
        .into_iter()
        .map(|(p, label)| (p, label, p == self.here))
        .collect()
    }
}

/// One counter of the board.
pub struct Counter {
    pub label: &'static str,
    pub value: usize,
    /// Drawn in the warning colour when not zero.
    pub alert: bool,
}

/// One row of a breakdown (by 担当ケアマネ or 地区).
pub struct GroupRow {
    pub name: String,
    pub recipients: usize,
    pub reached: usize,
    pub not_reached: usize,
    pub high: usize,
    pub high_reached: usize,
    pub duplicates: usize,
    /// Share of high-priority recipients reached, in whole percent.
    pub high_percent: usize,
}

/// One device of the space, with its last sync with this office.
pub struct DeviceRow {
    pub name: String,
    pub organisation: String,
    pub role: &'static str,
    pub standing: &'static str,
    pub active: bool,
    pub last_sync: String,
    pub error: String,
}

/// The open (or latest) incident on the board.
pub struct IncidentView {
    pub name: String,
    pub kind: &'static str,
    pub phase: &'static str,
    pub started: String,
    pub ended: Option<String>,
    /// 「運営レベル30%: 安否確認のみ…」 when the office has a staff list.
    pub level: String,
}

#[derive(Template)]
#[template(path = "board.html")]
pub struct BoardPage {
    pub c: Chrome,
    /// Data made by a newer anpi is held here unread: update anpi
    /// (empty: none).
    pub update_notice: String,
    /// This office's own clock is off, as its peers see it (empty: not).
    pub clock_notice: String,
    /// Some of the space's devices' clocks are off (empty: none).
    pub devices_off_notice: String,
    pub incident: Option<IncidentView>,
    pub counters: Vec<Counter>,
    /// The progress chart, an SVG drawn by [`crate::pages::chart`]; every
    /// text in it is escaped there.
    pub chart: String,
    pub by_care_manager: Vec<GroupRow>,
    pub by_area: Vec<GroupRow>,
    pub devices: Vec<DeviceRow>,
}

/// One row of the priority list.
pub struct ListRow {
    pub rank: usize,
    pub handle: String,
    pub id: String,
    pub name: String,
    pub kana: String,
    pub area: String,
    pub care_manager: String,
    pub reasons: String,
    pub standing: &'static str,
    /// `action`, `open` or `settled`: the row's colour.
    pub standing_class: &'static str,
    pub latest: String,
    pub duplicate: bool,
    pub claims: String,
    pub high: bool,
    /// The battery's time left (「残り4時間」), or empty.
    pub time_left: String,
    /// The battery deadline is within a day or past.
    pub deadline_near: bool,
    /// 「後回し（運営レベル）」 at operation level 30%, or empty.
    pub postponed: &'static str,
    /// The 職員ID they are assigned to, or empty.
    pub assigned_to: String,
    /// 「担当外の確認」, or empty.
    pub despite_assignment: &'static str,
}

/// The filter form's current values and choices.
pub struct FilterView {
    pub care_managers: Vec<(String, bool)>,
    pub areas: Vec<(String, bool)>,
    pub standings: Vec<(&'static str, &'static str, bool)>,
    pub high_only: bool,
    pub duplicates_only: bool,
    pub query: String,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub incident: Option<String>,
    /// 「運営レベル30%: 安否確認のみ…」 when the office has a staff list.
    pub level: String,
    pub filter: FilterView,
    pub rows: Vec<ListRow>,
    pub total: usize,
    pub shown: usize,
    pub page: usize,
    pub pages: usize,
}

/// One line of 様式1.
pub struct Field {
    pub label: &'static str,
    pub value: String,
}

/// One check in a recipient's history.
pub struct HistoryRow {
    pub when: String,
    pub staff: String,
    pub organisation: String,
    pub method: String,
    pub result: String,
    pub note: String,
    pub relation: String,
    pub warn: bool,
}

/// A choice in a form: (code, label, selected).
pub type Choice = (&'static str, &'static str, bool);

#[derive(Template)]
#[template(path = "recipient.html")]
pub struct RecipientPageView {
    pub c: Chrome,
    pub handle: String,
    pub id: String,
    pub name: String,
    pub kana: String,
    pub fields: Vec<Field>,
    pub plan: Vec<Field>,
    pub conflicts: Vec<String>,
    pub disagreement: String,
    pub incident: Option<String>,
    pub open: bool,
    pub history: Vec<HistoryRow>,
    pub claims: Vec<String>,
    pub mine_claimed: bool,
    pub results: Vec<Choice>,
    pub methods: Vec<Choice>,
    /// The check a correction would supersede: (id, label) of each.
    pub correctable: Vec<(String, String)>,
    pub notice: String,
}

/// One duplicate visit: the recipient and the checks side by side.
pub struct DuplicateView {
    pub handle: String,
    pub id: String,
    pub name: String,
    pub checks: Vec<HistoryRow>,
    pub despite_claim: usize,
}

#[derive(Template)]
#[template(path = "duplicates.html")]
pub struct DuplicatesPage {
    pub c: Chrome,
    pub incident: Option<String>,
    pub duplicates: Vec<DuplicateView>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub heading: String,
    pub text: String,
}

/// One member of the space on the devices page.
pub struct MemberRow {
    pub id: String,
    pub readable: String,
    pub name: String,
    pub organisation: String,
    pub role: &'static str,
    pub standing: &'static str,
    pub active: bool,
    pub this_office: bool,
    /// How long ago it last synced with this office (empty: never).
    pub last_sync: String,
    pub pending: u64,
    pub error: String,
    /// What it runs, as it said at its last session (empty: not said).
    pub version: String,
    /// Its clock against this office's, at its last session (empty: not
    /// measured).
    pub clock: String,
    /// Whether that clock is off by more than the tolerance.
    pub clock_off: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
pub struct DevicesPage {
    pub c: Chrome,
    /// This office's own clock is off, as its peers see it (empty: not).
    pub clock_notice: String,
    /// Some of the space's devices' clocks are off (empty: none).
    pub devices_off_notice: String,
    pub members: Vec<MemberRow>,
    pub roles: Vec<Choice>,
    /// The office's organisation, the forms' default.
    pub organisation: String,
    /// The address phones reach this office at, when known.
    pub invite_address: String,
    pub office_id: String,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub c: Chrome,
    /// The QR code, an SVG made by the `qrcode` crate from the code alone.
    pub qr: String,
    pub code: String,
    pub staff: String,
    pub organisation: String,
    pub role: &'static str,
    pub expires: String,
}

/// One problem of a refused roster file.
pub struct ProblemRow {
    pub line: String,
    pub column: String,
    pub value: String,
    pub message: String,
}

impl ProblemRow {
    /// From the core's problem.
    pub fn from(p: &anpi_core::error::Problem, l: L) -> ProblemRow {
        ProblemRow {
            line: if p.line == 0 {
                l.t("ファイル全体", "whole file").to_string()
            } else {
                p.line.to_string()
            },
            column: p.column.clone().unwrap_or_default(),
            value: p.value.clone(),
            message: p.message.clone(),
        }
    }
}

/// What an import would do (or did).
pub struct RosterPreview {
    pub rows: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Recipients of the space the file does not list (kept).
    pub missing: Vec<String>,
    pub encoding: String,
    pub ignored: String,
}

impl RosterPreview {
    /// What the core's import report says of a file of `rows` rows.
    pub fn of(
        rows: usize,
        report: &anpi_core::node::ImportReport,
        encoding: String,
        ignored: String,
    ) -> RosterPreview {
        RosterPreview {
            rows,
            added: report.counts.added,
            updated: report.counts.updated,
            unchanged: report.counts.unchanged,
            missing: report.missing.iter().map(|m| m.0.clone()).collect(),
            encoding,
            ignored,
        }
    }
}

#[derive(Template)]
#[template(path = "roster.html")]
pub struct RosterPage {
    pub c: Chrome,
    pub file: String,
    pub problems: Vec<ProblemRow>,
    pub preview: Option<RosterPreview>,
    pub done: Option<RosterPreview>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub login: String,
    pub error: String,
}

/// One login on the logins page.
pub struct LoginRow {
    pub login: String,
    pub name: String,
    pub organisation: String,
    pub role: &'static str,
    pub created: String,
    /// The person looking at the page (who cannot remove themself).
    pub me: bool,
}

#[derive(Template)]
#[template(path = "logins.html")]
pub struct LoginsPage {
    pub c: Chrome,
    pub logins: Vec<LoginRow>,
    pub roles: Vec<Choice>,
    pub organisation: String,
    pub min_chars: usize,
    /// Whether this dashboard asks for logins (served beyond this PC).
    pub required: bool,
}

#[derive(Template)]
#[template(path = "form2.html")]
pub struct Form2Page {
    pub c: Chrome,
    pub incident: Option<String>,
    pub recipients: usize,
}

/// One entry of the audit log.
pub struct AuditRow {
    pub seq: u64,
    pub when: String,
    pub staff: String,
    pub organisation: String,
    pub action: &'static str,
    pub subject: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub rows: Vec<AuditRow>,
    pub total: usize,
    pub found: usize,
    pub page: usize,
    pub pages: usize,
    pub actions: Vec<Choice>,
    pub text: String,
    /// The result of "verify", when it was pressed: intact or not.
    pub verified: Option<bool>,
    pub verified_text: String,
}

/// One incident on the incidents page.
pub struct IncidentRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub started: String,
    pub ended: String,
    pub open: bool,
    pub checks: usize,
}

#[derive(Template)]
#[template(path = "incidents.html")]
pub struct IncidentsPage {
    pub c: Chrome,
    pub incidents: Vec<IncidentRow>,
    pub kinds: Vec<Choice>,
    pub notice: String,
}

/// One area space on the sharing page.
pub struct AreaView {
    pub id: String,
    pub name: String,
    /// Exceptions declared there for this office: (from, until, who, reason, in force).
    pub exceptions: Vec<ExceptionRow>,
}

/// A declared disaster exception.
pub struct ExceptionRow {
    pub from: String,
    pub until: String,
    pub staff: String,
    pub reason: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "sharing.html")]
pub struct SharingPage {
    pub c: Chrome,
    pub consent_yes: usize,
    pub consent_no: usize,
    pub consent_unknown: usize,
    pub items: &'static str,
    pub areas: Vec<AreaView>,
    pub notice: String,
}

/// One staff member on the staff board.
pub struct StaffRowView {
    pub state: String,
    /// The badge's class: `action` (injured), `open` (not reported),
    /// `settled` (reported).
    pub class: &'static str,
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub role: String,
    pub phone: String,
    pub distance: String,
    pub report: String,
    pub recorded: String,
    pub last_sync: String,
}

/// Turnout on one day.
pub struct TurnoutRow {
    pub day: String,
    pub expected: String,
    pub share: String,
    pub level: String,
}

#[derive(Template)]
#[template(path = "staff.html")]
pub struct StaffPage {
    pub c: Chrome,
    pub notice: String,
    pub problems: Vec<ProblemRow>,
    /// The incident shown, by name.
    pub incident: Option<String>,
    pub counters: Vec<Counter>,
    pub level: String,
    pub meaning: String,
    /// Where the level comes from: turnout, or who set it by hand and why.
    pub level_source: String,
    pub level_alert: bool,
    pub forecast: Vec<TurnoutRow>,
    pub rows: Vec<StaffRowView>,
    /// (職員ID, "S01 氏名") for the forms.
    pub people: Vec<(String, String)>,
    pub person: Vec<Choice>,
    pub family: Vec<Choice>,
    pub home: Vec<Choice>,
    pub attendance: Vec<Choice>,
    pub from: Vec<Choice>,
    pub levels: Vec<Choice>,
    pub power_on: bool,
    pub assigned: usize,
}
