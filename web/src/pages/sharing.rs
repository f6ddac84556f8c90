//! 連携 (area sharing, 連携型BCP): the office's consent state, the area
//! spaces it belongs to and the disaster exceptions declared there; share
//! the recipients who consented (and, under an exception, the others),
//! collect the checks partners made, declare a time-boxed exception. The
//! policy (which recipients, which fields, who may) is the core's
//! (`sharing`, `Node::share_to_area`, `Node::declare_exception`).

use anpi_core::model::SpaceId;

use super::*;

/// `GET /sharing`.
pub(crate) async fn sharing(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let result = sharing_view(&d, &cur, String::new()).await;
    respond(cur, result)
}

async fn sharing_view(
    d: &Arc<Dashboard>,
    cur: &Current,
    notice: String,
) -> anpi_core::Result<SharingPage> {
    let l = L(cur.session.lang);
    d.with_node(cur, move |n, space| {
        let now = Timestamp::now();
        let name = space_name(n, space)?;
        let recipients = n.store().recipient_list(space)?;
        let consent_yes = recipients
            .iter()
            .filter(|r| anpi_core::sharing::consented(r))
            .count();
        let consent_no = recipients
            .iter()
            .filter(|r| r.consent == Some(false))
            .count();
        let mut areas = Vec::new();
        for s in n.spaces()? {
            if &s.id == space {
                continue;
            }
            let exceptions = n
                .exceptions(&s.id)?
                .into_iter()
                .filter(|e| &e.origin == space)
                .map(|e| ExceptionRow {
                    from: when(e.from),
                    until: when(e.until),
                    staff: format!("{}（{}）", e.staff.name, e.staff.organisation),
                    active: e.active(now),
                    reason: e.reason,
                })
                .collect();
            areas.push(AreaView {
                id: s.id.to_string(),
                name: s.name,
                exceptions,
            });
        }
        Ok(SharingPage {
            c: Chrome::new(l, l.t("連携", "Sharing"), name, "/sharing"),
            consent_unknown: recipients.len() - consent_yes - consent_no,
            consent_yes,
            consent_no,
            items: anpi_core::sharing::SHARED_ITEMS,
            areas,
            notice,
        })
    })
    .await
}

/// The area space a form names: one this device holds, not the office's.
fn area_of(n: &anpi_core::node::Node, office: &SpaceId, id: &str) -> anpi_core::Result<SpaceId> {
    n.spaces()?
        .into_iter()
        .find(|s| s.id.to_string() == id && &s.id != office)
        .map(|s| s.id)
        .ok_or_else(|| Error::NotFound(format!("area space {id}")))
}

#[derive(Deserialize)]
pub(crate) struct AreaForm {
    csrf: String,
    area: String,
    /// `share`, `collect` or `exception`.
    action: String,
    #[serde(default)]
    hours: Option<i64>,
    #[serde(default)]
    reason: String,
}

/// `POST /sharing`: share, collect, or declare an exception (then share).
pub(crate) async fn act(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<AreaForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let area = area_of(n, space, &f.area)?;
            match f.action.as_str() {
                "collect" => {
                    let r = n.collect_area_checks(space, &area)?;
                    Ok(match l.0 {
                        Lang::Ja => format!(
                            "連携先が行った安否確認 {} 件を災害「{}」に取り込みました（取り込み済み {} 件）。",
                            r.collected, r.incident.name, r.already
                        ),
                        Lang::En => format!(
                            "{} checks made by partners collected into \"{}\" ({} before).",
                            r.collected, r.incident.name, r.already
                        ),
                    })
                }
                "share" | "exception" => {
                    let mut said = String::new();
                    if f.action == "exception" {
                        let e = n.declare_exception(
                            space,
                            &area,
                            f.hours.unwrap_or(72),
                            &f.reason,
                        )?;
                        said = match l.0 {
                            Lang::Ja => format!(
                                "災害時の例外を宣言しました（{} まで）。",
                                when(e.until)
                            ),
                            Lang::En => {
                                format!("Disaster exception declared (until {}). ", when(e.until))
                            }
                        };
                    }
                    let r = n.share_to_area(space, &area)?;
                    said.push_str(&match l.0 {
                        Lang::Ja => format!(
                            "提供しました: 同意あり {} 名・例外による提供 {} 名・提供しなかった {} 名・同意撤回で削除 {} 名。",
                            r.with_consent, r.under_exception, r.withheld, r.removed
                        ),
                        Lang::En => format!(
                            "Shared: {} with consent, {} under the exception, {} withheld, {} removed (consent withdrawn).",
                            r.with_consent, r.under_exception, r.withheld, r.removed
                        ),
                    });
                    Ok(said)
                }
                other => Err(Error::Invalid(format!(
                    "action {other:?}: share, collect or exception"
                ))),
            }
        })
        .await;
    match result {
        Ok(notice) => {
            d.changed_here();
            let page = sharing_view(&d, &cur, notice).await.map(|mut p| {
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
