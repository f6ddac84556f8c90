//! 利用者ページ: the record, 様式1, the history; recording a check from the
//! office, claiming and releasing.

use super::*;

fn yes_no(l: L, v: Option<bool>) -> String {
    match v {
        Some(true) => l.t("有", "yes"),
        Some(false) => l.t("無", "no"),
        None => l.t("不明", "unknown"),
    }
    .to_string()
}

/// `GET /r/{handle}`: a recipient's page. Reading it is written to the
/// audit trail by the core.
pub(crate) async fn recipient(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let Some(id) = d.recipient_of(&handle) else {
        return unknown_link(cur);
    };
    let me = d.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let now = Timestamp::now();
            let name = space_name(n, space)?;
            let device = n.device().clone();
            let page = n.recipient_page(space, &id)?;
            let detail = page.detail(now);
            let x = detail.recipient;
            let p = &x.plan;
            let fields = vec![
                Field { label: l.t("住所", "address"), value: x.address.clone() },
                Field { label: l.t("地区", "area"), value: x.area.clone() },
                Field { label: l.t("電話", "phone"), value: x.phone.clone() },
                Field {
                    label: l.t("世帯状況", "household"),
                    value: x.household.map(|h| h.label(l.0)).unwrap_or_default().into(),
                },
                Field {
                    label: l.t("要介護度", "care level"),
                    value: x.care_level.map(|c| c.label(l.0)).unwrap_or_default().into(),
                },
                Field { label: l.t("担当ケアマネ", "care manager"), value: x.care_manager.clone() },
                Field { label: l.t("安否確認方法", "how to check"), value: x.check_method.clone() },
                Field { label: l.t("特記事項", "notes"), value: x.notes.clone() },
            ];
            let plan = vec![
                Field { label: l.t("想定避難所", "planned shelter"), value: p.shelter.clone() },
                Field { label: l.t("避難手段", "means"), value: p.means.clone() },
                Field {
                    label: l.t("避難支援者", "supporter"),
                    value: if p.supporter_relation.is_empty() {
                        p.supporter.clone()
                    } else {
                        format!("{}（{}）", p.supporter, p.supporter_relation)
                    },
                },
                Field { label: l.t("避難意思", "intends to evacuate"), value: yes_no(l, p.intends_to_evacuate) },
                Field {
                    label: l.t("医療機器", "medical devices"),
                    value: p.medical_devices.iter().map(|m| m.label(l.0)).collect::<Vec<_>>().join("・"),
                },
                Field { label: l.t("医療必要度", "medical needs"), value: p.medical_needs.clone() },
                Field {
                    label: l.t("バッテリー時間", "battery lasts"),
                    value: anpi_core::priority::battery_minutes(p)
                        .map(|m| anpi_core::priority::duration_label(i64::from(m), l.0))
                        .unwrap_or_default(),
                },
                Field { label: l.t("常備薬", "regular medication"), value: yes_no(l, p.regular_medication) },
                Field { label: l.t("非常持ち出し袋", "emergency bag"), value: yes_no(l, p.emergency_bag) },
                Field { label: l.t("命のバトン", "life baton"), value: yes_no(l, p.life_baton) },
                Field {
                    label: l.t("民生委員", "welfare commissioner"),
                    value: format!("{} {}", p.welfare_commissioner, p.welfare_commissioner_phone),
                },
                Field { label: l.t("緊急連絡先", "emergency contacts"), value: p.emergency_contacts.join(" / ") },
            ];
            let history: Vec<HistoryRow> = detail.history.iter().map(|h| history_row(h, l)).collect();
            let correctable = detail
                .history
                .iter()
                .filter(|h| !matches!(h.relation, Relation::Superseded { .. }))
                .map(|h| {
                    (
                        h.check.id.to_string(),
                        format!("{} {}・{}", check_when(h.check, l), h.check.result.label(l.0), h.check.staff.name),
                    )
                })
                .collect();
            let open = page.incident.as_ref().is_some_and(|i| i.is_open());
            let results = CheckResult::ALL
                .iter()
                .map(|r| (r.code(), r.label(l.0), false))
                .collect();
            let methods = CheckMethod::ALL
                .iter()
                .map(|m| (m.code(), m.label(l.0), *m == CheckMethod::Phone))
                .collect();
            Ok(RecipientPageView {
                c: Chrome::new(l, x.name.clone(), name, "/list"),
                handle: me.handle(&x.id),
                id: x.id.0.clone(),
                name: x.name.clone(),
                kana: x.kana.clone(),
                fields,
                plan,
                conflicts: detail
                    .conflicts
                    .iter()
                    .map(|c| format!("{}: {}", c.field, c.values.join(" | ")))
                    .collect(),
                disagreement: views::conflict_line(&detail.conflict, l.0),
                incident: page.incident.as_ref().map(|i| i.name.clone()),
                open,
                history,
                claims: detail
                    .live_claims
                    .iter()
                    .map(|c| {
                        format!(
                            "{}（{}）{} {}",
                            c.staff.name,
                            c.staff.organisation,
                            l.t("が向かっています・期限", "is on the way, until"),
                            when(c.expires)
                        )
                    })
                    .collect(),
                mine_claimed: detail.live_claims.iter().any(|c| c.device == device),
                results,
                methods,
                correctable,
                notice: if page.logged {
                    String::new()
                } else {
                    l.t(
                        "データフォルダが読み取り専用のため、閲覧を監査ログに記録できませんでした。",
                        "The data folder is read-only: this view could not be written to the audit trail.",
                    )
                    .into()
                },
            })
        })
        .await;
    respond(cur, result)
}

/// A recipient link this process did not make (a bookmark from before a
/// restart).
fn unknown_link(cur: Current) -> Response {
    let l = L(cur.session.lang);
    message(
        cur,
        StatusCode::NOT_FOUND,
        l.t("このリンクは使えません", "This link no longer works"),
        l.t(
            "優先順位リストから開き直してください（リンクは事務所のプログラムを起動し直すと変わります）。",
            "Open the recipient from the priority list again (links change when the office program restarts).",
        ),
    )
}

/// The session and the recipient a form is about; the refusal when its
/// token is not the session's or the link is unknown.
fn target(
    d: &Arc<Dashboard>,
    headers: &HeaderMap,
    handle: &str,
    csrf: &str,
) -> Result<(Current, anpi_core::model::RecipientId), Box<Response>> {
    let cur = d.session(headers);
    if !csrf_ok(&cur.session, csrf) {
        return Err(Box::new(forbidden(cur)));
    }
    match d.recipient_of(handle) {
        Some(id) => Ok((cur, id)),
        None => Err(Box::new(unknown_link(cur))),
    }
}

#[derive(Deserialize)]
pub(crate) struct CheckForm {
    csrf: String,
    result: String,
    method: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    supersedes: String,
}

/// `POST /r/{handle}/check`: record a check from the office (by phone,
/// mostly), or a correction of one.
pub(crate) async fn record_check(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(handle): Path<String>,
    Form(f): Form<CheckForm>,
) -> Response {
    let (cur, id) = match target(&d, &headers, &handle, &f.csrf) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let result = d
        .with_node(&cur, move |n, space| {
            let incident = n.current_incident(space)?;
            let mut new = NewCheck::new(id, f.method.parse()?, f.result.parse()?);
            new.note = f.note;
            if !f.supersedes.is_empty() {
                new.supersedes = Some(f.supersedes.parse().map_err(|_| {
                    Error::Invalid(format!("supersedes {}: not a check id", f.supersedes))
                })?);
            }
            n.record_check(space, &incident.id, new)
        })
        .await;
    changed(&d, cur, result.map(|_| ()), &format!("/r/{handle}"))
}

#[derive(Deserialize)]
pub(crate) struct ClaimForm {
    csrf: String,
    #[serde(default)]
    minutes: Option<i64>,
}

/// `POST /r/{handle}/claim`: "向かっています".
pub(crate) async fn claim(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(handle): Path<String>,
    Form(f): Form<ClaimForm>,
) -> Response {
    claim_or_release(d, headers, handle, f, true).await
}

/// `POST /r/{handle}/release`.
pub(crate) async fn release(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(handle): Path<String>,
    Form(f): Form<ClaimForm>,
) -> Response {
    claim_or_release(d, headers, handle, f, false).await
}

async fn claim_or_release(
    d: Arc<Dashboard>,
    headers: HeaderMap,
    handle: String,
    f: ClaimForm,
    claim: bool,
) -> Response {
    let (cur, id) = match target(&d, &headers, &handle, &f.csrf) {
        Ok(t) => t,
        Err(refused) => return *refused,
    };
    let result = d
        .with_node(&cur, move |n, space| {
            let incident = n.current_incident(space)?;
            if claim {
                n.claim(
                    space,
                    &incident.id,
                    &id,
                    f.minutes.unwrap_or(30),
                    Timestamp::now(),
                )?;
            } else {
                n.release(space, &incident.id, &id)?;
            }
            Ok(())
        })
        .await;
    changed(&d, cur, result, &format!("/r/{handle}"))
}
