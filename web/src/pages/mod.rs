//! The pages and the forms that change something. Each handler reads what
//! it shows through the core (the same calls as the CLI and the phones) and
//! turns it into the page's words; a form is checked for its session's
//! token before anything is written.

use std::collections::BTreeSet;
use std::sync::Arc;

use anpi_core::codes::{CheckMethod, CheckResult, Lang, Role};
use anpi_core::model::{MemberStanding, Recipient, Timestamp};
use anpi_core::node::NewCheck;
use anpi_core::views::{
    self, GroupProgress, ListFilter, PriorityEntry, ProgressStep, Relation, Standing,
};
use anpi_core::{Error, error::ErrorKind};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::Dashboard;
use crate::session::{Current, csrf_ok};
use crate::view::*;

/// The session of a form that changes something; the handler returns the
/// refusal ([`forbidden`]) when the form's token is not the session's.
macro_rules! posted {
    ($d:expr, $headers:expr, $csrf:expr) => {{
        let cur = $d.session(&$headers);
        if !csrf_ok(&cur.session, &$csrf) {
            return forbidden(cur);
        }
        cur
    }};
}

mod audit;
mod board;
mod devices;
mod duplicates;
mod form2;
mod incidents;
mod list;
mod login;
mod recipient;
mod roster;
mod sharing;
mod staff;
pub(crate) use audit::{audit_page, set_audit_filter, verify as verify_audit};
pub(crate) use board::board;
use devices::role_choices;
pub(crate) use devices::{add as add_device, devices, invite, revoke};
pub(crate) use duplicates::duplicates;
pub(crate) use form2::{export as export_form2, form2_page};
pub(crate) use incidents::{
    end as end_incident, incidents, merge as merge_incidents, start as start_incident,
};
pub(crate) use list::{list, set_filter};
pub(crate) use login::{
    add_login, log_in, log_out, login_page, logins, remove_login, set_password,
};
pub(crate) use recipient::{claim, recipient, record_check, release};
pub(crate) use roster::{
    MAX_ROSTER_BYTES, import as import_roster, preview as preview_roster, roster,
};
pub(crate) use sharing::{act as share_act, sharing};
pub(crate) use staff::{
    MAX_STAFF_BYTES, assign as assign_staff, decide as decide_operation, import as import_staff,
    record_report, staff,
};

/// Rows on one page of the list.
pub const PAGE_ROWS: usize = 50;

/// A page with the chrome every page has.
trait Page: Template {
    fn chrome(&mut self) -> &mut Chrome;
}

macro_rules! pages {
    ($($t:ty),+) => {$(
        impl Page for $t {
            fn chrome(&mut self) -> &mut Chrome {
                &mut self.c
            }
        }
    )+};
}

pages!(
    BoardPage,
    ListPage,
    RecipientPageView,
    DuplicatesPage,
    DevicesPage,
    InvitePage,
    RosterPage,
    LoginPage,
    LoginsPage,
    Form2Page,
    AuditPage,
    IncidentsPage,
    SharingPage,
    StaffPage
);

/// The page a read made, with the session's form token, or the failure.
fn respond<P: Page>(cur: Current, result: anpi_core::Result<P>) -> Response {
    let r = match result {
        Ok(mut page) => {
            let c = page.chrome();
            c.csrf = cur.session.csrf.clone();
            c.person = person_label(&cur);
            render(&page)
        }
        Err(e) => failure(&cur, &e),
    };
    cur.finish(r)
}

/// After a form that changed something: peers hear of it, and the browser
/// goes to `to`; or the failure.
fn changed(d: &Dashboard, cur: Current, result: anpi_core::Result<()>, to: &str) -> Response {
    let r = match result {
        Ok(()) => {
            d.changed_here();
            Redirect::to(to).into_response()
        }
        Err(e) => failure(&cur, &e),
    };
    cur.finish(r)
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("page error: {e}"),
        )
            .into_response(),
    }
}

/// A failure, as a page: what happened and what to do, with the status an
/// HTTP client expects for its kind.
fn failure(cur: &Current, e: &Error) -> Response {
    let l = L(cur.session.lang);
    let (status, heading) = match e.kind() {
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, l.t("見つかりません", "Not found")),
        ErrorKind::NoOpenIncident => (
            StatusCode::CONFLICT,
            l.t("開始中の災害がありません", "No open incident"),
        ),
        ErrorKind::NotAllowed => (
            StatusCode::FORBIDDEN,
            l.t("この操作はできません", "Not allowed"),
        ),
        ErrorKind::InvalidInput => (
            StatusCode::BAD_REQUEST,
            l.t("入力を確認してください", "Please check the input"),
        ),
        ErrorKind::NeedsUpdate => (
            StatusCode::CONFLICT,
            l.t("anpi の更新が必要です", "anpi needs an update"),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            l.t("処理できませんでした", "Could not be done"),
        ),
    };
    message_page(cur, status, heading, &e.to_string())
}

fn message(cur: Current, status: StatusCode, heading: &str, text: &str) -> Response {
    let r = message_page(&cur, status, heading, text);
    cur.finish(r)
}

fn message_page(cur: &Current, status: StatusCode, heading: &str, text: &str) -> Response {
    let page = MessagePage {
        c: Chrome {
            csrf: cur.session.csrf.clone(),
            person: person_label(cur),
            ..Chrome::new(L(cur.session.lang), heading, String::new(), "")
        },
        heading: heading.to_string(),
        text: text.to_string(),
    };
    (status, render(&page)).into_response()
}

/// Who is logged in, as the header shows it: "佐藤 花子（管理者）".
fn person_label(cur: &Current) -> String {
    let l = L(cur.session.lang);
    cur.session.person.as_ref().map_or_else(String::new, |p| {
        format!("{}（{}）", p.staff.name, p.role.label(l.0))
    })
}

/// A dangerous form sent without its confirmation ticked: nothing done,
/// and what to tick said (`not_done` and `tick`: Japanese, English).
fn unconfirmed(cur: Current, not_done: (&str, &str), tick: (&str, &str)) -> Response {
    let l = L(cur.session.lang);
    let text = match l.0 {
        Lang::Ja => format!("「{}」に印をつけてから、もう一度押してください。", tick.0),
        Lang::En => format!("Tick \"{}\" first, then press again.", tick.1),
    };
    message(
        cur,
        StatusCode::BAD_REQUEST,
        l.t(not_done.0, not_done.1),
        &text,
    )
}

/// A form without its session's token: refused, nothing written.
pub(crate) fn forbidden(cur: Current) -> Response {
    let l = L(cur.session.lang);
    message(
        cur,
        StatusCode::FORBIDDEN,
        l.t("送信を受け付けませんでした", "The form was refused"),
        l.t(
            "この画面を開き直してから、もう一度操作してください（フォームの確認用の値が一致しません）。",
            "Open the page again and retry (the form's check value did not match).",
        ),
    )
}

/// `GET /`.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/board")
}

/// Anything else.
pub(crate) async fn not_found(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    message(
        cur,
        StatusCode::NOT_FOUND,
        l.t("ページがありません", "No such page"),
        l.t(
            "上のメニューから選んでください。",
            "Choose from the menu above.",
        ),
    )
}

/// What the book of peers knows of a device (the latest of its addresses).
fn status_of<'a>(
    statuses: &'a [anpi_core::node::PeerStatus],
    device: &anpi_core::model::DeviceId,
) -> Option<&'a anpi_core::node::PeerStatus> {
    statuses
        .iter()
        .filter(|p| p.device.as_ref() == Some(device))
        .max_by_key(|p| p.last_sync)
}

/// A member's standing in the page's words.
fn standing_label(l: L, s: MemberStanding) -> &'static str {
    match s {
        MemberStanding::Active => l.t("有効", "active"),
        MemberStanding::Revoked => l.t("失効", "revoked"),
        MemberStanding::Unauthorised => l.t(
            "無効（管理者でない端末が追加）",
            "invalid (added by a non-admin)",
        ),
        MemberStanding::BadSignature => l.t("無効（署名が不正）", "invalid (bad signature)"),
    }
}

fn standing_class(s: Standing) -> &'static str {
    match s {
        Standing::ActionNeeded => "action",
        Standing::NotReached => "open",
        Standing::Settled => "settled",
    }
}

fn space_name(
    n: &anpi_core::node::Node,
    space: &anpi_core::model::SpaceId,
) -> anpi_core::Result<String> {
    Ok(n.spaces()?
        .into_iter()
        .find(|s| &s.id == space)
        .map(|s| s.name)
        .unwrap_or_default())
}

#[derive(Deserialize)]
pub(crate) struct LangForm {
    csrf: String,
    #[serde(default)]
    back: String,
}

/// `POST /lang/{ja|en}`: the page's language, then back where it was.
pub(crate) async fn set_lang(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(lang): Path<String>,
    Form(f): Form<LangForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let lang = if lang == "en" { Lang::En } else { Lang::Ja };
    d.update_session(&cur.id, |s| s.lang = lang);
    cur.finish(Redirect::to(local_path(&f.back)).into_response())
}

/// A path on this server to go back to (never another site).
fn local_path(p: &str) -> &str {
    if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') {
        p
    } else {
        "/board"
    }
}

fn history_row(h: &views::HistoryEntry<'_>, l: L) -> HistoryRow {
    let c = h.check;
    let (relation, warn) = match &h.relation {
        Relation::Check => (String::new(), false),
        Relation::FollowUp => (l.t("追加確認", "follow-up").to_string(), false),
        Relation::Duplicate { .. } => (l.t("⚠ 重複訪問", "⚠ duplicate").to_string(), true),
        Relation::Correction { .. } => (l.t("訂正", "correction").to_string(), false),
        Relation::Superseded { .. } => (
            l.t("訂正済み（数えません）", "corrected (not counted)")
                .to_string(),
            false,
        ),
    };
    HistoryRow {
        when: check_when(c, l),
        staff: c.staff.name.clone(),
        organisation: c.staff.organisation.clone(),
        method: c.method.label(l.0).to_string(),
        result: c.result.label(l.0).to_string(),
        note: c.note.clone(),
        relation,
        warn,
    }
}

/// An uploaded file form's token, file name and bytes; or why it could not
/// be received.
async fn upload(
    form: &mut axum::extract::Multipart,
) -> std::result::Result<(String, String, Vec<u8>), String> {
    let (mut csrf, mut file, mut bytes) = (String::new(), String::new(), Vec::new());
    while let Some(field) = form.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            file = field.file_name().unwrap_or_default().to_string();
        }
        let b = field.bytes().await.map_err(|e| e.body_text())?;
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&b).into_owned(),
            "file" => bytes = b.to_vec(),
            _ => {}
        }
    }
    Ok((csrf, file, bytes))
}

pub(crate) fn upload_failed(cur: Current, why: &str) -> Response {
    let l = L(cur.session.lang);
    message(
        cur,
        StatusCode::BAD_REQUEST,
        l.t(
            "ファイルを受け取れませんでした",
            "The file could not be received",
        ),
        why,
    )
}

/// What the office is told when some of the space's devices' clocks are
/// off against its own (empty: none is).
pub(crate) fn devices_off_notice(
    n: &mut anpi_core::node::Node,
    space: &anpi_core::model::SpaceId,
    l: L,
) -> anpi_core::Result<String> {
    let off: Vec<(String, anpi_core::clock::PeerClock)> = n
        .members_with_clocks_off(space)?
        .into_iter()
        .map(|(m, clock)| (m.staff.name, clock))
        .collect();
    Ok(anpi_core::clock::devices_off_notice(&off, l.0).unwrap_or_default())
}

/// What the office is told when its own clock is off, as its latest peers
/// see it (empty: it is not, or no peer has said).
pub(crate) fn clock_notice(n: &anpi_core::node::Node, l: L) -> anpi_core::Result<String> {
    Ok(n.clock_status()?
        .and_then(|s| s.warning(l.0))
        .unwrap_or_default())
}
