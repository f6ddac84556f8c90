//! Sharing with other agencies (連携型BCP): area spaces, consent, disaster
//! exceptions.

use anpi_core::codes::Lang;
use anpi_core::io::roster::parse_date;
use anpi_core::model::{ConsentRecord, Date, Space};
use anpi_core::node::Node;
use serde_json::json;

use crate::context::Ctx;
use crate::{Result, t};

/// `area create`.
pub fn area_create(cx: &Ctx, node: &mut Node, name: &str) -> Result<()> {
    let lang = cx.lang;
    if node.spaces()?.iter().any(|s| s.name == name) {
        return Err(match lang {
            Lang::Ja => format!("スペース「{name}」はすでにあります"),
            Lang::En => format!("a space \"{name}\" exists already"),
        }
        .into());
    }
    let s = node.create_area_space(name)?;
    match lang {
        Lang::Ja => say!(
            "連携用のエリアスペース「{}」を作成しました（{}）。他機関の端末は `anpi --space {} invite …` で招待します",
            s.name,
            s.id,
            s.name
        ),
        Lang::En => say!(
            "created the area space \"{}\" ({}); invite other agencies' devices with `anpi --space {} invite …`",
            s.name,
            s.id,
            s.name
        ),
    }
    Ok(())
}

/// The office to share from: `--space`, or the one space besides the area.
fn origin(cx: &Ctx, node: &Node, area: &Space) -> anpi_core::Result<Space> {
    if let Ok(s) = cx.space(node)
        && s.id != area.id
    {
        return Ok(s);
    }
    let others: Vec<Space> = node
        .spaces()?
        .into_iter()
        .filter(|s| s.id != area.id)
        .collect();
    match others.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(anpi_core::Error::NotFound(
            "the office space to share from (name it with --space)".into(),
        )),
    }
}

/// `area share`.
pub fn area_share(
    cx: &Ctx,
    node: &mut Node,
    to: &str,
    exception_hours: Option<i64>,
    reason: Option<&str>,
) -> Result<()> {
    let lang = cx.lang;
    let area = crate::context::named_space(node, to)?;
    let office = origin(cx, node, &area)?;
    if let Some(hours) = exception_hours {
        let e = node.declare_exception(&office.id, &area.id, hours, reason.unwrap_or_default())?;
        match lang {
            Lang::Ja => say!(
                "災害時の例外を宣言しました: {} まで、同意のない利用者も「{}」に提供します（理由: {}）",
                e.until,
                area.name,
                e.reason
            ),
            Lang::En => say!(
                "declared a disaster exception: until {}, recipients without consent are shared with \"{}\" too (reason: {})",
                e.until,
                area.name,
                e.reason
            ),
        }
    }
    let r = node.share_to_area(&office.id, &area.id)?;
    match lang {
        Lang::Ja => say!(
            "「{}」から「{}」へ提供: 同意あり {} 名・例外による提供 {} 名・提供しなかった {} 名・同意撤回で削除 {} 名（項目: {}）",
            office.name,
            area.name,
            r.with_consent,
            r.under_exception,
            r.withheld,
            r.removed,
            anpi_core::sharing::SHARED_ITEMS
        ),
        Lang::En => say!(
            "shared from \"{}\" with \"{}\": {} with consent, {} under the disaster exception, {} withheld, {} removed as consent was withdrawn (items: {})",
            office.name,
            area.name,
            r.with_consent,
            r.under_exception,
            r.withheld,
            r.removed,
            anpi_core::sharing::SHARED_ITEMS
        ),
    }
    Ok(())
}

/// `area collect`.
pub fn area_collect(cx: &Ctx, node: &mut Node, from: &str) -> Result<()> {
    let lang = cx.lang;
    let area = crate::context::named_space(node, from)?;
    let office = origin(cx, node, &area)?;
    let r = node.collect_area_checks(&office.id, &area.id)?;
    match lang {
        Lang::Ja => say!(
            "「{}」で連携先が行った安否確認 {} 件を「{}」の災害「{}」に取り込みました（取り込み済み {} 件）",
            area.name,
            r.collected,
            office.name,
            r.incident.name,
            r.already
        ),
        Lang::En => say!(
            "collected {} checks partner agencies made in \"{}\" into \"{}\", incident \"{}\" ({} collected before)",
            r.collected,
            area.name,
            office.name,
            r.incident.name,
            r.already
        ),
    }
    Ok(())
}

/// `area exceptions`.
pub fn area_exceptions(cx: &Ctx, node: &mut Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let now = anpi_core::model::Timestamp::now();
    let mut rows = Vec::new();
    for s in node.spaces()? {
        for e in node.exceptions(&s.id)? {
            rows.push((s.name.clone(), e));
        }
    }
    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|(space, e)| {
                json!({
                    "space": space, "id": e.id, "by": e.staff.name, "org": e.staff.organisation,
                    "from": e.from, "until": e.until, "reason": e.reason, "active": e.active(now),
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        say!(
            "{}",
            t(
                lang,
                "宣言された例外はありません",
                "no disaster exception was declared"
            )
        );
    }
    for (space, e) in rows {
        say!(
            "{space}: {} 〜 {}  {}（{}）  {}  {}",
            e.from,
            e.until,
            e.staff.name,
            e.staff.organisation,
            e.reason,
            if e.active(now) {
                t(lang, "有効", "in force")
            } else {
                t(lang, "終了", "ended")
            }
        );
    }
    Ok(())
}

/// `consent`.
pub fn consent(
    cx: &Ctx,
    node: &mut Node,
    id: &str,
    date: Option<&str>,
    scope: String,
    by: Option<String>,
    withdraw: bool,
) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let record = if withdraw {
        None
    } else {
        let text = date.unwrap_or_default();
        let date = parse_date(text).ok_or_else(|| match lang {
            Lang::Ja => {
                format!("--date {text:?} が日付として読めません（例: 2026-04-01、令和8年4月1日）")
            }
            Lang::En => format!("--date {text:?} is not a date (e.g. 2026-04-01)"),
        })?;
        Some(ConsentRecord {
            date: Date(date),
            scope,
            obtained_by: by.unwrap_or_default(),
        })
    };
    node.record_consent(&space.id, &anpi_core::text::typed_id(id)?, record.clone())?;
    match (lang, record) {
        (Lang::Ja, Some(c)) => say!(
            "{id}: 情報提供同意を記録しました（{}、取得者 {}）",
            c.date,
            c.obtained_by
        ),
        (Lang::En, Some(c)) => say!(
            "{id}: consent recorded ({}, obtained by {})",
            c.date,
            c.obtained_by
        ),
        (Lang::Ja, None) => say!("{id}: 情報提供同意を撤回しました"),
        (Lang::En, None) => say!("{id}: consent withdrawn"),
    }
    Ok(())
}
