//! 状況ボード: the incident, its counters, progress, the breakdowns and the
//! devices' last syncs.

use super::*;

fn group_rows(groups: &[GroupProgress], l: L) -> Vec<GroupRow> {
    groups
        .iter()
        .map(|g| GroupRow {
            name: if g.name.is_empty() {
                l.t("（未設定）", "(not set)").to_string()
            } else {
                g.name.clone()
            },
            recipients: g.recipients,
            reached: g.reached,
            not_reached: g.not_reached,
            high: g.high,
            high_reached: g.high_reached,
            duplicates: g.duplicates,
            high_percent: (g.high_reached * 100).checked_div(g.high).unwrap_or(0),
        })
        .collect()
}

fn role_label(l: L, r: Role) -> &'static str {
    r.label(l.0)
}

/// The progress chart: bars for checks per step, a line for the share of
/// high-priority recipients reached. Drawn here so the page needs no
/// script; it holds numbers and fixed labels only.
pub(crate) fn chart(steps: &[ProgressStep], l: L) -> String {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const PAD: f64 = 28.0;
    if steps.is_empty() {
        return String::new();
    }
    let most = steps.iter().map(|s| s.checks).max().unwrap_or(0).max(1) as f64;
    // At least the first phase (6 hours) wide, so that an hour-old
    // incident is not one bar across the whole chart.
    let step_hours = steps[0].hours.max(1);
    let n = (steps.len() as f64).max((6 / step_hours).max(1) as f64);
    let bw = (W - 2.0 * PAD) / n;
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        l.t(
            "経過時間ごとの確認数（棒）と高優先の確認済み割合（線）",
            "checks per step (bars) and share of high-priority recipients reached (line)"
        )
    );
    out.push_str(&format!(
        r#"<line x1="{PAD}" y1="{y}" x2="{x2}" y2="{y}" class="axis"/>"#,
        y = H - PAD,
        x2 = W - PAD
    ));
    let mut points = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let x = PAD + i as f64 * bw;
        let h = (H - 2.0 * PAD) * s.checks as f64 / most;
        out.push_str(&format!(
            r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" class="bar"><title>{} {}h: {}</title></rect>"#,
            H - PAD - h,
            (bw - 1.0).max(1.0),
            l.t("確認数", "checks"),
            s.hours,
            s.checks
        ));
        let (px, py) = (
            x + bw / 2.0,
            H - PAD - (H - 2.0 * PAD) * s.high_reached_share,
        );
        points.push(format!("{px:.1},{py:.1}"));
        out.push_str(&format!(
            r#"<circle cx="{px:.1}" cy="{py:.1}" r="3.5" class="share-point"><title>{} {}h: {:.0}%</title></circle>"#,
            l.t("高優先の確認済み", "high priority reached"),
            s.hours,
            s.high_reached_share * 100.0
        ));
    }
    out.push_str(&format!(
        r#"<polyline points="{}" class="share"/>"#,
        points.join(" ")
    ));
    let last = (n as i64) * step_hours;
    out.push_str(&format!(
        r#"<text x="{PAD}" y="{}" class="tick">0h</text><text x="{}" y="{}" class="tick" text-anchor="end">{last}h</text><text x="{}" y="{}" class="tick" text-anchor="end">100%</text>"#,
        H - 8.0,
        W - PAD,
        H - 8.0,
        W - 2.0,
        PAD + 4.0
    ));
    out.push_str("</svg>");
    out
}

/// `GET /board`: the situation board.
pub(crate) async fn board(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let me = d.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let now = Timestamp::now();
            let name = space_name(n, space)?;
            let (data, board) = me.shown_board(n, space, now)?;
            let incident = data.incident.clone();
            let board = board.as_ref().as_ref();
            let summary = board.map(|b| &b.summary);
            let steps = board.map_or(&[][..], |b| &b.progress);
            let statuses = n.peer_statuses()?;
            let exchanged = n.last_exchanges()?;
            let me = n.device().clone();
            let devices: Vec<DeviceRow> = n
                .members(space)?
                .into_iter()
                .map(|(m, standing)| {
                    let status = status_of(&statuses, &m.device);
                    DeviceRow {
                        name: if m.device == me {
                            format!(
                                "{}{}",
                                m.staff.name,
                                l.t("（この事務所）", " (this office)")
                            )
                        } else {
                            m.staff.name.clone()
                        },
                        organisation: m.staff.organisation.clone(),
                        role: role_label(l, m.role),
                        standing: standing_label(l, standing),
                        active: standing == MemberStanding::Active,
                        last_sync: match (m.device == me, exchanged.get(&m.device)) {
                            (true, _) => "—".into(),
                            (false, Some(t)) => {
                                format!("{} {}", l.t("最終同期", "last sync"), l.ago(*t, now))
                            }
                            (false, None) => l
                                .t("この事務所とは未同期", "never synced with this office")
                                .into(),
                        },
                        error: status
                            .and_then(|p| p.last_error.clone())
                            .unwrap_or_default(),
                    }
                })
                .collect();
            let incident_view = incident.as_ref().map(|i| IncidentView {
                name: i.name.clone(),
                kind: i.kind.label(l.0),
                phase: i.phase(now).label(l.0),
                started: when(i.started_at),
                ended: i.ended_at.map(when),
                level: data
                    .operation
                    .level
                    .map(|v| v.with_meaning(l.0))
                    .unwrap_or_default(),
            });
            let counters = match &summary {
                None => Vec::new(),
                Some(s) => vec![
                    Counter {
                        label: l.t("利用者", "recipients"),
                        value: s.recipients,
                        alert: false,
                    },
                    Counter {
                        label: l.t("未確認", "not checked"),
                        value: s.unchecked,
                        alert: false,
                    },
                    Counter {
                        label: l.t("高優先で未確認", "high priority, not reached"),
                        value: s.high_priority_not_reached,
                        alert: true,
                    },
                    Counter {
                        label: l.t(
                            "バッテリー期限が近く未確認",
                            "battery running out, not reached",
                        ),
                        value: s.battery_deadline_not_reached,
                        alert: true,
                    },
                    Counter {
                        label: l.t("不通・不在", "unreachable / absent"),
                        value: s.not_reached,
                        alert: false,
                    },
                    Counter {
                        label: l.t("重複", "duplicates"),
                        value: s.duplicates,
                        alert: true,
                    },
                    Counter {
                        label: l.t("記録数", "checks recorded"),
                        value: s.checks,
                        alert: false,
                    },
                ],
            };
            let newer = n.newer_documents()?.len();
            Ok(BoardPage {
                c: Chrome::new(l, l.t("状況ボード", "Situation board"), name, "/board"),
                update_notice: if newer > 0 {
                    anpi_core::doc::format::update_notice(l.0, newer)
                } else {
                    String::new()
                },
                clock_notice: clock_notice(n, l)?,
                devices_off_notice: devices_off_notice(n, space, l)?,
                incident: incident_view,
                counters,
                chart: chart(steps, l),
                by_care_manager: group_rows(board.map_or(&[][..], |b| &b.by_care_manager), l),
                by_area: group_rows(board.map_or(&[][..], |b| &b.by_area), l),
                devices,
            })
        })
        .await;
    respond(cur, result)
}
