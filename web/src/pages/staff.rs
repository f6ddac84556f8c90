//! 職員安否: the staff board beside the situation board — who reported,
//! who did not answer, who was not reached, who is hurt; turnout today and
//! by day; the operation level with what it means. Admins set the level
//! and the power, import the staff list, record a report a colleague
//! phoned in, and assign recipients. Every rule is the core's
//! (`Node::staff_board`, `views::staff_board`, docs/STAFF.md).

use anpi_core::codes::{
    Attendance, AvailableFrom, FamilySafety, HomeDamage, OperationLevel, PersonalSafety,
};
use anpi_core::io::staff as staff_file;
use anpi_core::model::Decided;
use anpi_core::node::{NewReport, Select};
use anpi_core::views::StaffState;
use axum::extract::Multipart;

use super::*;

/// The largest staff list file taken.
pub const MAX_STAFF_BYTES: usize = 4 * 1024 * 1024;

/// `GET /staff`.
pub(crate) async fn staff(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let result = staff_view(&d, &cur, String::new(), Vec::new()).await;
    respond(cur, result)
}

/// A code set as choices for a form, the first selected.
fn codes<T: Copy>(
    all: &[T],
    code: fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .enumerate()
        .map(|(i, v)| (code(*v), label(*v), i == 0))
        .collect()
}

async fn staff_view(
    d: &Arc<Dashboard>,
    cur: &Current,
    notice: String,
    problems: Vec<ProblemRow>,
) -> anpi_core::Result<StaffPage> {
    let l = L(cur.session.lang);
    d.with_node(cur, move |n, space| {
        let name = space_name(n, space)?;
        let mut page = StaffPage {
            c: Chrome::new(l, l.t("職員安否", "Staff safety"), name, "/staff"),
            notice,
            problems,
            incident: None,
            counters: Vec::new(),
            level: String::new(),
            meaning: String::new(),
            level_source: String::new(),
            level_alert: false,
            forecast: Vec::new(),
            rows: Vec::new(),
            people: n
                .staff_list(space)?
                .into_iter()
                .map(|m| (m.id.0.clone(), format!("{} {}", m.id, m.name)))
                .collect(),
            person: codes(PersonalSafety::ALL, PersonalSafety::code, |v| v.label(l.0)),
            family: codes(FamilySafety::ALL, FamilySafety::code, |v| v.label(l.0)),
            home: codes(HomeDamage::ALL, HomeDamage::code, |v| v.label(l.0)),
            attendance: codes(Attendance::ALL, Attendance::code, |v| v.label(l.0)),
            from: codes(AvailableFrom::ALL, AvailableFrom::code, |v| v.label(l.0)),
            levels: OperationLevel::ALL
                .iter()
                .map(|v| (v.code(), v.label(l.0), false))
                .collect(),
            power_on: false,
            assigned: 0,
        };
        let Some(incident) = n.shown_incident(space)? else {
            return Ok(page);
        };
        let now = Timestamp::now();
        let b = n.staff_board(space, &incident.id, now)?;
        let decisions = n.decisions(space, &incident.id)?;
        page.power_on = anpi_core::views::power_on(&decisions);
        page.assigned = n.assignments(space, &incident.id)?.len();
        page.incident = Some(if incident.name.is_empty() {
            incident.kind.label(l.0).to_string()
        } else {
            incident.name.clone()
        });
        page.counters = vec![
            Counter {
                label: l.t("職員", "Staff"),
                value: b.total,
                alert: false,
            },
            Counter {
                label: l.t("報告済み", "Reported"),
                value: b.reported,
                alert: false,
            },
            Counter {
                label: l.t("未報告", "Not reported"),
                value: b.not_reported,
                alert: true,
            },
            Counter {
                label: l.t("負傷", "Injured"),
                value: b.injured,
                alert: true,
            },
        ];
        page.level = b.level.level.label(l.0).to_string();
        page.meaning = b.level.level.meaning(l.0).to_string();
        page.level_alert = b.level.level == OperationLevel::Level30;
        page.level_source = match &b.level.by_hand {
            Some(x) => match l.0 {
                Lang::Ja => format!(
                    "手動で設定: {}（{}）{}",
                    x.by.name,
                    when(x.at),
                    if x.reason.is_empty() {
                        String::new()
                    } else {
                        format!("・理由: {}", x.reason)
                    }
                ),
                Lang::En => format!(
                    "set by hand: {} ({}){}",
                    x.by.name,
                    when(x.at),
                    if x.reason.is_empty() {
                        String::new()
                    } else {
                        format!(", because: {}", x.reason)
                    }
                ),
            },
            None => match l.0 {
                Lang::Ja => format!(
                    "参集状況から（今日の参集見込み {:.1}人・{:.0}%）",
                    b.today.expected,
                    b.today.share * 100.0
                ),
                Lang::En => format!(
                    "from turnout (expected today {:.1}, {:.0}%)",
                    b.today.expected,
                    b.today.share * 100.0
                ),
            },
        };
        page.forecast = b
            .forecast
            .iter()
            .filter(|t| t.day >= b.day)
            .map(|t| TurnoutRow {
                day: match l.0 {
                    Lang::Ja if t.day == b.day => format!("{}日目（今日）", t.day),
                    Lang::Ja => format!("{}日目", t.day),
                    Lang::En if t.day == b.day => format!("day {} (today)", t.day),
                    Lang::En => format!("day {}", t.day),
                },
                expected: format!("{:.1}", t.expected),
                share: format!("{:.0}%", t.share * 100.0),
                level: t.level.label(l.0).to_string(),
            })
            .collect();
        page.rows = b
            .rows
            .iter()
            .map(|r| StaffRowView {
                state: r.state.label(l.0).to_string(),
                class: match r.state {
                    StaffState::Injured => "action",
                    StaffState::NoAnswer | StaffState::NotReached => "open",
                    StaffState::Reported => "settled",
                },
                id: r.member.id.to_string(),
                name: r.member.name.clone(),
                organisation: r.member.organisation.clone(),
                role: r.member.role.clone(),
                phone: r.member.phone.clone(),
                distance: r
                    .member
                    .distance_km
                    .map(|k| format!("{k}km"))
                    .unwrap_or_else(|| r.member.area.clone()),
                report: r
                    .report
                    .as_ref()
                    .map(|x| x.summary(l.0))
                    .unwrap_or_default(),
                recorded: r
                    .report
                    .as_ref()
                    .map(|x| format!("{}（{}）", x.recorded_by.name, when(x.at)))
                    .unwrap_or_default(),
                last_sync: match (r.last_sync, r.devices) {
                    (Some(t), _) => l.ago(t, now),
                    (None, 0) => l.t("端末なし", "no device").to_string(),
                    (None, _) => l.t("同期なし", "never").to_string(),
                },
            })
            .collect();
        Ok(page)
    })
    .await
}

/// After a staff form: the page again, with what was done said.
async fn answered(d: &Arc<Dashboard>, cur: Current, result: anpi_core::Result<String>) -> Response {
    match result {
        Ok(notice) => {
            d.changed_here();
            let page = staff_view(d, &cur, notice, Vec::new()).await.map(|mut p| {
                p.c = p.c.answer();
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

/// The operation form: the level (`30`…`90`, or `auto` to follow
/// turnout) or the power (`on`, `off`), with a reason.
#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    csrf: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    reason: String,
}

/// `POST /staff/level` and `/staff/power` (admins): an operation decision
/// recorded with who, when and why.
pub(crate) async fn decide(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<DecisionForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let incident = n.current_incident(space)?;
            let what = match (f.level.as_deref(), f.on.as_deref()) {
                (Some("auto"), _) => Decided::Level { level: None },
                (Some(code), _) => Decided::Level {
                    level: Some(code.parse::<OperationLevel>()?),
                },
                (None, on) => Decided::Power {
                    on: on == Some("on"),
                },
            };
            let x = n.decide(space, &incident.id, what, &f.reason)?;
            Ok(format!(
                "{}: {}",
                l.t("記録しました", "Recorded"),
                x.what.describe(l.0)
            ))
        })
        .await;
    answered(&d, cur, result).await
}

#[derive(Deserialize)]
pub(crate) struct ReportForm {
    csrf: String,
    staff: String,
    person: String,
    family: String,
    home: String,
    attendance: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    contact: String,
}

/// `POST /staff/report`: a report a colleague phoned in (anyone).
pub(crate) async fn record_report(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<ReportForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let incident = n.current_incident(space)?;
            let attendance: Attendance = f.attendance.parse()?;
            let from = match f.from.as_str() {
                "" => None,
                code => Some(code.parse::<AvailableFrom>()?),
            };
            let new = NewReport {
                staff: Some(anpi_core::text::typed_staff_id(&f.staff)?),
                person: f.person.parse()?,
                family: f.family.parse()?,
                home: f.home.parse()?,
                attendance,
                from,
                location: f.location,
                contact: f.contact,
                at: Timestamp::now(),
            };
            let r = n.record_report(space, &incident.id, new)?;
            Ok(format!(
                "{}: {} {}",
                l.t("安否報告を記録しました", "Safety report recorded"),
                r.staff,
                r.summary(l.0)
            ))
        })
        .await;
    answered(&d, cur, result).await
}

#[derive(Deserialize)]
pub(crate) struct AssignForm {
    csrf: String,
    /// `care_manager`, `area` or `ids`.
    by: String,
    #[serde(default)]
    value: String,
    /// 職員ID, or empty to take the assignments back.
    #[serde(default)]
    staff: String,
}

/// `POST /staff/assign` (admins): recipients by 担当ケアマネ, 地区 or id,
/// to a staff member.
pub(crate) async fn assign(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<AssignForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let l = L(cur.session.lang);
    let result = d
        .with_node(&cur, move |n, space| {
            let incident = n.current_incident(space)?;
            let select = match f.by.as_str() {
                "care_manager" => Select::CareManager(f.value.clone()),
                "area" => Select::Area(f.value.clone()),
                _ => Select::Ids(
                    f.value
                        .split(|c: char| c == ',' || c == '、' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(anpi_core::text::typed_id)
                        .collect::<anpi_core::Result<Vec<_>>>()?,
                ),
            };
            let ids = n.select_recipients(space, &select)?;
            let to = match f.staff.trim() {
                "" => None,
                s => Some(anpi_core::text::typed_staff_id(s)?),
            };
            let changed = n.assign(space, &incident.id, &ids, to.as_ref())?;
            Ok(match (&to, l.0) {
                (Some(s), Lang::Ja) => {
                    format!(
                        "{} 人を {s} に割り当てました（変更 {changed} 人）",
                        ids.len()
                    )
                }
                (Some(s), Lang::En) => {
                    format!(
                        "{} recipients assigned to {s} ({changed} changed)",
                        ids.len()
                    )
                }
                (None, Lang::Ja) => format!("{changed} 人の割り当てを外しました"),
                (None, Lang::En) => format!("took back {changed} assignments"),
            })
        })
        .await;
    answered(&d, cur, result).await
}

/// `POST /staff/import` (admins): the staff list CSV, all rows or none;
/// a file with problems shows each with its line and column.
pub(crate) async fn import(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let (csrf, _, bytes) = match upload(&mut form).await {
        Ok(u) => u,
        Err(why) => return upload_failed(cur, &why),
    };
    if !csrf_ok(&cur.session, &csrf) {
        return forbidden(cur);
    }
    match staff_file::read(&bytes) {
        Err(e) => {
            let problems = e.problems.iter().map(|x| ProblemRow::from(x, l)).collect();
            let page = staff_view(&d, &cur, String::new(), problems)
                .await
                .map(|mut p| {
                    p.c = p.c.answer();
                    p
                });
            respond(cur, page)
        }
        Ok(file) => {
            let result = d
                .with_node(&cur, move |n, space| {
                    let c = n.import_staff(space, file.staff)?;
                    Ok(match l.0 {
                        Lang::Ja => format!(
                            "職員名簿を取り込みました: 追加 {}・更新 {}・変更なし {}{}",
                            c.added,
                            c.updated,
                            c.unchanged,
                            if c.missing.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    "（ファイルにない職員 {} 人は残しています）",
                                    c.missing.len()
                                )
                            }
                        ),
                        Lang::En => format!(
                            "staff list imported: {} added, {} updated, {} unchanged{}",
                            c.added,
                            c.updated,
                            c.unchanged,
                            if c.missing.is_empty() {
                                String::new()
                            } else {
                                format!(" ({} not in the file, kept)", c.missing.len())
                            }
                        ),
                    })
                })
                .await;
            answered(&d, cur, result).await
        }
    }
}
