//! 監査ログ: this office device's audit trail, newest first, filtered by
//! action and words; its hash chain verified with one button. Admins only
//! (the trail says who looked at whose record). The filter is kept in the
//! session, never in a URL (it may hold a name).

use anpi_core::access::Permission;
use anpi_core::audit::{self, Action};

use super::*;

/// Entries on one page.
const AUDIT_ROWS: usize = 100;

const ACTIONS: [Action; 7] = Action::ALL;

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /audit?page=N`.
pub(crate) async fn audit_page(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let cur = d.session(&headers);
    let page = q.page.unwrap_or(1).max(1);
    let result = audit_view(&d, &cur, page, None).await;
    respond(cur, result)
}

async fn audit_view(
    d: &Arc<Dashboard>,
    cur: &Current,
    page: usize,
    verified: Option<(bool, String)>,
) -> anpi_core::Result<AuditPage> {
    let l = L(cur.session.lang);
    let filter = cur.session.audit_filter.clone();
    d.with_node(cur, move |n, space| {
        n.require(space, Permission::ReadAudit)?;
        let name = space_name(n, space)?;
        let trail = n.audit_trail()?;
        let total = trail.len();
        let found: Vec<&audit::Entry> = trail.iter().rev().filter(|e| filter.matches(e)).collect();
        let pages = found.len().div_ceil(AUDIT_ROWS).max(1);
        let page = page.min(pages);
        let rows = found
            .iter()
            .skip((page - 1) * AUDIT_ROWS)
            .take(AUDIT_ROWS)
            .map(|e| AuditRow {
                seq: e.seq,
                when: e.record.at.jst().format("%Y-%m-%d %H:%M:%S").to_string(),
                staff: e.record.staff.name.clone(),
                organisation: e.record.staff.organisation.clone(),
                action: e.record.action.label(l.0),
                subject: e.record.subject.clone(),
                detail: e.record.detail.clone(),
            })
            .collect();
        let (verified_ok, verified_text) = match verified {
            Some((ok, text)) => (Some(ok), text),
            None => (None, String::new()),
        };
        Ok(AuditPage {
            c: Chrome::new(l, l.t("監査ログ", "Audit log"), name, "/audit"),
            rows,
            total,
            found: found.len(),
            page,
            pages,
            actions: ACTIONS
                .iter()
                .map(|a| (a.code(), a.label(l.0), filter.action == Some(*a)))
                .collect(),
            text: filter.text.clone(),
            verified: verified_ok,
            verified_text,
        })
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct AuditFilterForm {
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
}

/// `POST /audit/filter`: keep the filter in the session, show page 1.
pub(crate) async fn set_audit_filter(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<AuditFilterForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let filter = audit::Filter {
        action: Action::from_code(&f.action),
        text: f.text.trim().to_string(),
    };
    d.update_session(&cur.id, |s| s.audit_filter = filter);
    cur.finish(Redirect::to("/audit").into_response())
}

#[derive(Deserialize)]
pub(crate) struct VerifyForm {
    csrf: String,
}

/// `POST /audit/verify`: check the whole chain and say so on the page.
pub(crate) async fn verify(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<VerifyForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let checked = d
        .with_node(&cur, |n, space| {
            n.require(space, Permission::ReadAudit)?;
            n.verify_audit()
        })
        .await;
    let verified = match checked {
        Ok((n, Ok(()))) => (
            true,
            match l.0 {
                Lang::Ja => format!("改ざんはありません（{n} 件すべての連鎖を確認しました）"),
                Lang::En => format!("Intact: the chain of all {n} entries checks out"),
            },
        ),
        Ok((_, Err(b))) => (
            false,
            match l.0 {
                Lang::Ja => format!(
                    "{} 番目の記録から改ざんされています（{}）。管理者に連絡してください。",
                    b.seq, b.why
                ),
                Lang::En => format!("Altered from entry {}: {}. Tell your admin.", b.seq, b.why),
            },
        ),
        Err(e) => {
            let r = failure(&cur, &e);
            return cur.finish(r);
        }
    };
    let result = audit_view(&d, &cur, 1, Some(verified)).await;
    // The answer of a form: it does not refresh itself away.
    respond(
        cur,
        result.map(|mut p| {
            p.c.live = false;
            p
        }),
    )
}
