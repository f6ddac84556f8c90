//! 重複訪問: each duplicate visit with its checks side by side.

use super::*;

/// `GET /duplicates`: each recipient visited twice without knowing, the
/// visits side by side.
pub(crate) async fn duplicates(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    let cur = d.session(&headers);
    let l = L(cur.session.lang);
    let me = d.clone();
    let result = d
        .with_node(&cur, move |n, space| {
            let name = space_name(n, space)?;
            let data = me.shown_data(n, space)?;
            let (incident, checks, recipients) = (&data.incident, &data.checks, &data.recipients);
            let found = views::duplicates(checks);
            let duplicates = found
                .iter()
                .map(|dup| {
                    let r = recipients.iter().find(|r| &r.id == dup.recipient);
                    DuplicateView {
                        handle: me.handle(dup.recipient),
                        id: dup.recipient.0.clone(),
                        name: r.map(|r| r.name.clone()).unwrap_or_default(),
                        checks: dup
                            .checks
                            .iter()
                            .map(|c| {
                                let mut row = history_row(
                                    &views::HistoryEntry {
                                        check: c,
                                        relation: Relation::Check,
                                    },
                                    l,
                                );
                                if dup.despite_claim.contains(&c.id) {
                                    row.relation = l
                                        .t(
                                            "⚠ 他の人が向かっている間に訪問",
                                            "⚠ made despite another's claim",
                                        )
                                        .into();
                                    row.warn = true;
                                }
                                row
                            })
                            .collect(),
                        despite_claim: dup.despite_claim.len(),
                    }
                })
                .collect();
            Ok(DuplicatesPage {
                c: Chrome::new(l, l.t("重複訪問", "Duplicate visits"), name, "/duplicates"),
                incident: incident.as_ref().map(|i| i.name.clone()),
                duplicates,
            })
        })
        .await;
    respond(cur, result)
}
