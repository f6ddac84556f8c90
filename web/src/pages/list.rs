//! 優先順位リスト: the list, filtered and searched as the session says, a
//! page at a time.

use super::*;

fn latest_line(e: &PriorityEntry<'_>, l: L) -> String {
    match e.latest {
        None => String::new(),
        Some(c) => format!(
            "{} {}・{}（{}）",
            check_when(c, l),
            c.result.label(l.0),
            c.staff.name,
            c.staff.organisation
        ),
    }
}

fn list_row(
    d: &Dashboard,
    e: &PriorityEntry<'_>,
    l: L,
    weights: &anpi_core::priority::PriorityConfig,
    now: Timestamp,
) -> ListRow {
    let r: &Recipient = e.recipient;
    ListRow {
        rank: e.rank,
        handle: d.handle(&r.id),
        id: r.id.0.clone(),
        name: r.name.clone(),
        kana: r.kana.clone(),
        area: r.area.clone(),
        care_manager: r.care_manager.clone(),
        reasons: e
            .reasons
            .iter()
            .map(|x| x.label.as_ref())
            .collect::<Vec<_>>()
            .join("・"),
        standing: views::standing_label(e.standing, l.0),
        standing_class: standing_class(e.standing),
        latest: latest_line(e, l),
        duplicate: e.duplicate,
        claims: e
            .live_claims
            .iter()
            .map(|c| format!("{}（{}）", c.staff.name, c.staff.organisation))
            .collect::<Vec<_>>()
            .join("、"),
        high: views::is_high_priority(e, weights),
        time_left: e.time_left(now, l.0).unwrap_or_default(),
        deadline_near: e.deadline_near,
        postponed: if e.postponed {
            views::PriorityEntry::postponed_label(l.0)
        } else {
            ""
        },
        despite_assignment: if e.despite_assignment {
            views::PriorityEntry::despite_assignment_label(l.0)
        } else {
            ""
        },
        assigned_to: e
            .assigned_to
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    #[serde(default)]
    page: Option<usize>,
}

/// `GET /list`: the priority list, filtered as the session's filter says.
pub(crate) async fn list(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let filter = cur.session.filter.clone();
    let wanted = q.page.unwrap_or(1).max(1);
    let dd = d.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let now = Timestamp::now();
            let name = space_name(n, space)?;
            let data = dd.shown_data(n, space)?;
            let incident = data.incident.clone();
            let list = data.priority_list(now);
            let kept = filter.apply(&list, &data.weights);
            let pages = kept.len().div_ceil(PAGE_ROWS).max(1);
            let page = wanted.min(pages);
            let rows: Vec<ListRow> = kept
                .iter()
                .skip((page - 1) * PAGE_ROWS)
                .take(PAGE_ROWS)
                .map(|e| list_row(&dd, e, l, &data.weights, now))
                .collect();
            let care_managers: BTreeSet<&str> = data
                .recipients
                .iter()
                .map(|r| r.care_manager.as_str())
                .collect();
            let areas: BTreeSet<&str> = data.recipients.iter().map(|r| r.area.as_str()).collect();
            let choice = |set: BTreeSet<&str>, current: &Option<String>| {
                set.into_iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_string(), current.as_deref() == Some(s)))
                    .collect::<Vec<_>>()
            };
            let standings = [
                Standing::ActionNeeded,
                Standing::NotReached,
                Standing::Settled,
            ]
            .into_iter()
            .map(|s| {
                (
                    standing_class(s),
                    views::standing_label(s, l.0),
                    filter.standing == Some(s),
                )
            })
            .collect();
            Ok(ListPage {
                c: Chrome::new(l, l.t("優先順位リスト", "Priority list"), name, "/list"),
                incident: incident.map(|i| i.name),
                level: data
                    .operation
                    .level
                    .map(|v| v.with_meaning(l.0))
                    .unwrap_or_default(),
                filter: FilterView {
                    care_managers: choice(care_managers, &filter.care_manager),
                    areas: choice(areas, &filter.area),
                    standings,
                    high_only: filter.high_only,
                    duplicates_only: filter.duplicates_only,
                    query: filter.query.clone(),
                },
                total: list.len(),
                shown: kept.len(),
                rows,
                page,
                pages,
            })
        })
        .await;
    respond(cur, result)
}

#[derive(Deserialize)]
pub(crate) struct FilterForm {
    csrf: String,
    #[serde(default)]
    care_manager: String,
    #[serde(default)]
    area: String,
    #[serde(default)]
    standing: String,
    #[serde(default)]
    high_only: Option<String>,
    #[serde(default)]
    duplicates_only: Option<String>,
    #[serde(default)]
    query: String,
    #[serde(default)]
    clear: Option<String>,
}

/// `POST /list/filter`: keep the filter in the session (a search holds
/// names: never in the URL), then show the list's first page.
pub(crate) async fn set_filter(
    State(d): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Form(f): Form<FilterForm>,
) -> Response {
    let cur = posted!(d, headers, f.csrf);
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    let filter = if f.clear.is_some() {
        ListFilter::default()
    } else {
        ListFilter {
            care_manager: some(f.care_manager),
            area: some(f.area),
            standing: match f.standing.as_str() {
                "action" => Some(Standing::ActionNeeded),
                "open" => Some(Standing::NotReached),
                "settled" => Some(Standing::Settled),
                _ => None,
            },
            high_only: f.high_only.is_some(),
            duplicates_only: f.duplicates_only.is_some(),
            query: f.query.trim().to_string(),
        }
    };
    d.update_session(&cur.id, |s| s.filter = filter);
    cur.finish(Redirect::to("/list").into_response())
}
