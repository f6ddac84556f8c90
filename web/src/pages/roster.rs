//! 名簿: a roster CSV uploaded, checked in full and previewed (added,
//! updated, unchanged, not in the file) before the office confirms; a file
//! with any problem shows every one with its line and column, and nothing
//! is imported. The reading and the counting are the core's (`io::roster`,
//! `Node::preview_import`, `Node::import_roster`).

use anpi_core::io::roster as csv;
use axum::extract::Multipart;

use crate::session::PendingRoster;

use super::*;

/// The largest roster file taken: 50,000 recipients with every column
/// filled are about 20 MB.
pub const MAX_ROSTER_BYTES: usize = 64 * 1024 * 1024;

fn page(l: L, name: String) -> RosterPage {
    RosterPage {
        c: Chrome::new(l, l.t("名簿", "Roster"), name, "/roster"),
        file: String::new(),
        problems: Vec::new(),
        preview: None,
        done: None,
    }
}

/// `GET /roster`.
pub(crate) async fn roster(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| Ok(page(l, space_name(n, space)?)))
        .await;
    respond(cur, result)
}

/// `POST /roster/preview`: read the uploaded file and show what importing
/// it would do; keep it in the session until confirmed.
pub(crate) async fn preview(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let (csrf, file, bytes) = match upload(&mut form).await {
        Ok(u) => u,
        Err(why) => return upload_failed(cur, &why),
    };
    if !csrf_ok(&cur.session, &csrf) {
        return forbidden(cur);
    }
    let id = cur.id.clone();
    let me = d.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let mut p = page(l, space_name(n, space)?);
            p.c = p.c.answer();
            p.file = file.clone();
            match csv::read(&bytes) {
                Err(e) => {
                    p.problems = e.problems.iter().map(|x| ProblemRow::from(x, l)).collect();
                    me.update_session(&id, |s| s.pending_roster = None);
                }
                Ok(r) => {
                    let report = n.preview_import(space, &r.recipients)?;
                    p.preview = Some(RosterPreview::of(
                        r.recipients.len(),
                        &report,
                        r.encoding.to_string(),
                        r.ignored_columns.join("、"),
                    ));
                    let pending = Arc::new(PendingRoster {
                        file,
                        recipients: r.recipients,
                    });
                    me.update_session(&id, |s| s.pending_roster = Some(pending));
                }
            }
            Ok(p)
        })
        .await;
    respond(cur, result)
}

#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    csrf: String,
}

/// `POST /roster/import`: import the file previewed in this session.
pub(crate) async fn import(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let Some(pending) = cur.session.pending_roster.clone() else {
        return message(
            cur,
            StatusCode::CONFLICT,
            l.t("取り込む名簿がありません", "No roster to import"),
            l.t(
                "名簿のファイルを選んで、確認してから取り込んでください。",
                "Choose the roster file and check it first.",
            ),
        );
    };
    d.update_session(&cur.id, |s| s.pending_roster = None);
    let result = d
        .with_node(&cur, move |n, space| {
            let mut p = page(l, space_name(n, space)?);
            p.c = p.c.answer();
            let report = n.import_roster(space, pending.recipients.clone(), &mut |_, _| {})?;
            p.file = pending.file.clone();
            p.done = Some(RosterPreview::of(
                pending.recipients.len(),
                &report,
                String::new(),
                String::new(),
            ));
            Ok(p)
        })
        .await;
    if result.is_ok() {
        d.changed_here();
    }
    respond(cur, result)
}
