//! 災害: the space's incidents; start one, end the open one, merge one
//! opened twice (either side of midnight). Ending and merging are an
//! admin's (the core's rule); anyone may start one, as on a phone.

use anpi_core::model::{IncidentId, IncidentKind};

use super::*;

/// `GET /incidents`.
pub(crate) async fn incidents(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let result = incidents_view(&d, &cur, String::new()).await;
    respond(cur, result)
}

async fn incidents_view(
    d: &Arc<Dashboard>,
    cur: &Current,
    notice: String,
) -> anpi_core::Result<IncidentsPage> {
    let l = L(cur.session.lang);
    d.with_node(cur, move |n, space| {
        let name = space_name(n, space)?;
        let mut incidents = Vec::new();
        for i in n.incidents(space)? {
            incidents.push(IncidentRow {
                id: i.id.to_string(),
                checks: n.checks(space, &i.id)?.len(),
                open: i.is_open(),
                name: i.name,
                kind: i.kind.label(l.0),
                started: when(i.started_at),
                ended: i.ended_at.map(when).unwrap_or_default(),
            });
        }
        Ok(IncidentsPage {
            c: Chrome::new(l, l.t("災害", "Incidents"), name, "/incidents"),
            incidents,
            kinds: IncidentKind::ALL
                .iter()
                .map(|k| (k.code(), k.label(l.0), *k == IncidentKind::Earthquake))
                .collect(),
            notice,
        })
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct StartForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    name: String,
}

/// `POST /incidents/start`: start one (or join the one of that kind
/// already open today, as every device does).
pub(crate) async fn start(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<StartForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let result = d
        .with_node(&cur, move |n, space| {
            let kind: IncidentKind = f.kind.parse()?;
            n.start_incident(space, kind, &f.name, Timestamp::now())
                .map(|_| ())
        })
        .await;
    changed(&d, cur, result, "/incidents")
}

#[derive(Deserialize)]
pub(crate) struct EndForm {
    csrf: String,
    incident: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /incidents/end` (admins), after the person confirmed it.
pub(crate) async fn end(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<EndForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    if f.confirm.is_none() {
        return unconfirmed(
            cur,
            ("終了していません", "Not ended"),
            ("この災害を終了する", "end this incident"),
        );
    }
    let result = d
        .with_node(&cur, move |n, space| {
            let id = IncidentId(f.incident.trim().to_string());
            n.end_incident(space, &id, Timestamp::now()).map(|_| ())
        })
        .await;
    changed(&d, cur, result, "/incidents")
}

#[derive(Deserialize)]
pub(crate) struct MergeForm {
    csrf: String,
    from: String,
    into: String,
}

/// `POST /incidents/merge` (admins): `from`'s checks into `into`, and
/// `from` ended; the page says how many came over.
pub(crate) async fn merge(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<MergeForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let from = IncidentId(f.from.trim().to_string());
            let into = IncidentId(f.into.trim().to_string());
            n.merge_incidents(space, &from, &into)
        })
        .await;
    match result {
        Ok(r) => {
            d.changed_here();
            let notice = match l.0 {
                Lang::Ja => format!(
                    "「{}」に {} 件の確認を移しました（移し済み {} 件）。元の災害は終了しました。",
                    r.incident.name, r.collected, r.already
                ),
                Lang::En => format!(
                    "{} checks moved into \"{}\" ({} there already); the other incident is ended.",
                    r.collected, r.incident.name, r.already
                ),
            };
            let page = incidents_view(&d, &cur, notice).await.map(|mut p| {
                p.c.live = false;
                p
            });
            respond(cur, page)
        }
        Err(e) => {
            let r = failure(&cur, &e);
            cur.finish(r)
        }
    }
}
