//! The staff side: `staff import|list|remove|me|board`, `report`,
//! `incident level|power`, `assign`, `assignments`. Every rule is the
//! core's (`Node` and `views::staff_board`); this file translates.

use std::path::Path;

use anpi_core::codes::{
    Attendance, AvailableFrom, FamilySafety, HomeDamage, Lang, OperationLevel, PersonalSafety,
};
use anpi_core::io::staff as staff_file;
use anpi_core::model::{Decided, RecipientId, StaffId, Timestamp};
use anpi_core::node::{NewReport, Node, Select};
use serde_json::json;

use crate::context::Ctx;
use crate::{Result, t, tidy};

/// `staff import FILE [--dry-run]`: all rows or none.
pub fn import(cx: &Ctx, file: &Path, dry_run: bool) -> Result<()> {
    let lang = cx.lang;
    let mut node = cx.open()?;
    let space = cx.space(&node)?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let read = staff_file::read(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    if !read.ignored_columns.is_empty() {
        eprintln!(
            "{}: {}",
            t(lang, "読み飛ばした列", "columns ignored"),
            read.ignored_columns.join(", ")
        );
    }
    let counts = if dry_run {
        say!(
            "{}",
            t(
                lang,
                "確認のみ（取り込んでいません）:",
                "dry run (nothing imported):"
            )
        );
        node.preview_staff_import(&space.id, &read.staff)?
    } else {
        node.import_staff(&space.id, read.staff)?
    };
    tidy(lang, &mut node);
    match lang {
        Lang::Ja => say!(
            "職員 追加 {} 人・更新 {} 人・変更なし {} 人（文字コード: {}）",
            counts.added,
            counts.updated,
            counts.unchanged,
            read.encoding
        ),
        Lang::En => say!(
            "staff: {} added, {} updated, {} unchanged (encoding: {})",
            counts.added,
            counts.updated,
            counts.unchanged,
            read.encoding
        ),
    }
    if !counts.missing.is_empty() {
        let ids: Vec<&str> = counts.missing.iter().map(StaffId::as_str).collect();
        match lang {
            Lang::Ja => say!(
                "このファイルにない職員 {} 人（削除していません。退職者は staff remove で外してください）: {}",
                ids.len(),
                ids.join(", ")
            ),
            Lang::En => say!(
                "{} staff are not in this file (kept; take leavers off with staff remove): {}",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
    Ok(())
}

/// `staff list`.
pub fn list(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let space = cx.space(node)?;
    let staff = node.staff_list(&space.id)?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&staff)?);
        return Ok(());
    }
    if staff.is_empty() {
        say!(
            "{}",
            t(
                cx.lang,
                "職員名簿がありません（staff import FILE で取り込めます）",
                "no staff list yet (import one with staff import FILE)"
            )
        );
    }
    for m in staff {
        let km = m
            .distance_km
            .map(|k| format!("{k}km"))
            .unwrap_or_else(|| m.area.clone());
        say!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            m.id,
            m.name,
            m.organisation,
            m.role,
            m.phone,
            km
        );
    }
    Ok(())
}

/// `staff remove ID`.
pub fn remove(cx: &Ctx, node: &mut Node, id: &str) -> Result<()> {
    let space = cx.space(node)?;
    let m = node.remove_staff_member(&space.id, &staff_id(id)?)?;
    say!(
        "{}: {} {}",
        t(
            cx.lang,
            "職員名簿から外しました",
            "taken off the staff list"
        ),
        m.id,
        m.name
    );
    Ok(())
}

/// `staff me ID`: which staff member carries this device.
pub fn me(cx: &Ctx, node: &mut Node, id: &str) -> Result<()> {
    let space = cx.space(node)?;
    let id = staff_id(id)?;
    let list = node.staff_list(&space.id)?;
    let found = list.iter().find(|m| m.id == id);
    if found.is_none() && !list.is_empty() {
        return Err(
            anpi_core::Error::NotFound(format!("職員ID {id} (not on the staff list)")).into(),
        );
    }
    let mut staff = node.staff().clone();
    if let Some(m) = found {
        staff.name = m.name.clone();
        if !m.organisation.is_empty() {
            staff.organisation = m.organisation.clone();
        }
    }
    staff.id = Some(id.clone());
    node.set_staff(staff.clone())?;
    say!(
        "{}: {} {}",
        t(cx.lang, "この端末の職員", "this device is carried by"),
        id,
        staff.name
    );
    Ok(())
}

fn staff_id(raw: &str) -> Result<StaffId> {
    Ok(anpi_core::text::typed_staff_id(raw)?)
}

/// `staff board`: 職員安否 of the incident shown.
pub fn board(cx: &Ctx, node: &mut Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let incident = node
        .shown_incident(&space)?
        .ok_or(anpi_core::Error::NoOpenIncident)?;
    let b = node.staff_board(&space, &incident.id, Timestamp::now())?;
    if as_json {
        let rows: Vec<_> = b
            .rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.member.id,
                    "name": r.member.name,
                    "state": r.state.code(),
                    "state_label": r.state.label(lang),
                    "report": r.report,
                    "summary": r.report.as_ref().map(|x| x.summary(lang)),
                    "devices": r.devices,
                    "last_sync": r.last_sync,
                })
            })
            .collect();
        let forecast: Vec<_> = b
            .forecast
            .iter()
            .map(|d| json!({"day": d.day, "expected": d.expected, "share": d.share, "level": d.level.code()}))
            .collect();
        let out = json!({
            "incident": incident.id,
            "day": b.day,
            "total": b.total,
            "reported": b.reported,
            "not_reported": b.not_reported,
            "injured": b.injured,
            "today": {"expected": b.today.expected, "share": b.today.share, "level": b.today.level.code()},
            "forecast": forecast,
            "level": b.level.level.code(),
            "level_label": b.level.level.label(lang),
            "level_meaning": b.level.level.meaning(lang),
            "level_by_turnout": b.level.by_turnout.code(),
            "level_by_hand": b.level.by_hand,
            "rows": rows,
        });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let name = if incident.name.is_empty() {
        incident.id.to_string()
    } else {
        incident.name.clone()
    };
    match lang {
        Lang::Ja => say!("職員安否 — {name}（発生から{}日目）", b.day),
        Lang::En => say!("staff safety — {name} (day {} of the incident)", b.day),
    }
    say!(
        "  {}{}: {}",
        b.level.level.label(lang),
        match (&b.level.by_hand, lang) {
            (Some(d), Lang::Ja) => format!("（手動: {} {} {}）", d.by.name, d.at, d.reason),
            (Some(d), Lang::En) => format!(" (by hand: {} {} {})", d.by.name, d.at, d.reason),
            (None, Lang::Ja) => "（参集状況から）".to_string(),
            (None, Lang::En) => " (from turnout)".to_string(),
        },
        b.level.level.meaning(lang)
    );
    match lang {
        Lang::Ja => say!(
            "  職員 {} 人: 報告済み {} 人・未報告 {} 人・負傷 {} 人。今日の参集見込み {:.1} 人（{:.0}%）",
            b.total,
            b.reported,
            b.not_reported,
            b.injured,
            b.today.expected,
            b.today.share * 100.0
        ),
        Lang::En => say!(
            "  {} staff: {} reported, {} not reported, {} injured; expected today {:.1} ({:.0}%)",
            b.total,
            b.reported,
            b.not_reported,
            b.injured,
            b.today.expected,
            b.today.share * 100.0
        ),
    }
    let days: Vec<String> = b
        .forecast
        .iter()
        .filter(|d| d.day >= b.day)
        .map(|d| d.label(lang))
        .collect();
    say!(
        "  {}: {}",
        t(lang, "参集見込み", "turnout expected"),
        days.join(" / ")
    );
    for r in &b.rows {
        let detail = match (&r.report, r.last_sync) {
            (Some(x), _) => format!("{}（{} {}）", x.summary(lang), x.recorded_by.name, x.at),
            (None, Some(at)) => format!("{}: {at}", t(lang, "最終同期", "last sync")),
            (None, None) if r.devices == 0 => t(lang, "端末なし", "no device").to_string(),
            (None, None) => t(lang, "同期なし", "never synced").to_string(),
        };
        say!(
            "  [{}] {} {}  {}",
            r.state.label(lang),
            r.member.id,
            r.member.name,
            detail
        );
    }
    Ok(())
}

/// `report`'s arguments: one staff safety report.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Whose report (職員ID), when not this device's carrier's (a
    /// colleague who phoned in).
    #[arg(long)]
    pub staff: Option<String>,
    /// 本人: 無事, 軽傷, 重傷 (unharmed, minor_injury, serious_injury).
    #[arg(long)]
    pub person: String,
    /// 家族: 無事, 被害あり, 不明 (safe, harmed, unknown).
    #[arg(long)]
    pub family: String,
    /// 自宅: 被害なし, 一部損壊, 全半壊 (none, partial, severe).
    #[arg(long)]
    pub home: String,
    /// 出勤: 可能, 困難, 不可 (able, difficult, unable).
    #[arg(long)]
    pub attendance: String,
    /// いつから: 勤務中, すぐ, 1日以内, 2日以内, 3日以内, 3日超 (on_duty,
    /// now, within_1_day, …). Needed unless 出勤 is 不可.
    #[arg(long)]
    pub from: Option<String>,
    /// 現在地.
    #[arg(long, default_value = "")]
    pub location: String,
    /// 連絡手段.
    #[arg(long, default_value = "")]
    pub contact: String,
}

/// `report`: a staff safety report in the open incident.
pub fn report(cx: &Ctx, node: &mut Node, a: ReportArgs) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let incident = node.current_incident(&space)?;
    let new = NewReport {
        staff: a.staff.as_deref().map(staff_id).transpose()?,
        person: a.person.parse::<PersonalSafety>()?,
        family: a.family.parse::<FamilySafety>()?,
        home: a.home.parse::<HomeDamage>()?,
        attendance: a.attendance.parse::<Attendance>()?,
        from: a.from.map(|f| f.parse::<AvailableFrom>()).transpose()?,
        location: a.location,
        contact: a.contact,
        at: Timestamp::now(),
    };
    let r = node.record_report(&space, &incident.id, new)?;
    say!(
        "{}: {} {}",
        t(lang, "安否報告を記録しました", "safety report recorded"),
        r.staff,
        r.summary(lang)
    );
    Ok(())
}

/// `incident level LEVEL|auto --reason`.
pub fn level(cx: &Ctx, node: &mut Node, level: &str, reason: &str) -> Result<()> {
    let space = cx.space(node)?.id;
    let incident = node.current_incident(&space)?;
    let level = match level.trim() {
        "auto" | "自動" => None,
        l => Some(
            l.trim_end_matches('%')
                .trim_start_matches("運営レベル")
                .parse::<OperationLevel>()?,
        ),
    };
    let d = node.decide(&space, &incident.id, Decided::Level { level }, reason)?;
    say!(
        "{}: {}",
        t(cx.lang, "記録しました", "recorded"),
        d.what.describe(cx.lang)
    );
    Ok(())
}

/// `incident power on|off --reason`.
pub fn power(cx: &Ctx, node: &mut Node, on: &str, reason: &str) -> Result<()> {
    let space = cx.space(node)?.id;
    let incident = node.current_incident(&space)?;
    let on = match on.trim() {
        "on" | "通電" | "復旧" => true,
        "off" | "停電" => false,
        other => {
            return Err(
                format!("{other}: on（通電）か off（停電）で指定してください (on or off)").into(),
            );
        }
    };
    let d = node.decide(&space, &incident.id, Decided::Power { on }, reason)?;
    say!(
        "{}: {}",
        t(cx.lang, "記録しました", "recorded"),
        d.what.describe(cx.lang)
    );
    Ok(())
}

/// `assign`'s arguments.
#[derive(clap::Args)]
pub struct AssignArgs {
    /// 利用者IDs.
    pub ids: Vec<String>,
    /// To whom (職員ID).
    #[arg(long, conflicts_with = "clear")]
    pub to: Option<String>,
    /// Every recipient of this 担当ケアマネ.
    #[arg(long, conflicts_with_all = ["ids", "area"])]
    pub care_manager: Option<String>,
    /// Every recipient of this 地区.
    #[arg(long, conflicts_with_all = ["ids"])]
    pub area: Option<String>,
    /// Take the assignments of these recipients back.
    #[arg(long)]
    pub clear: bool,
}

/// `assign`.
pub fn assign(cx: &Ctx, node: &mut Node, a: AssignArgs) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let incident = node.current_incident(&space)?;
    let select = match (a.care_manager, a.area) {
        (Some(cm), _) => Select::CareManager(cm),
        (None, Some(area)) => Select::Area(area),
        (None, None) if a.ids.is_empty() => {
            return Err(t(
                lang,
                "利用者ID、--care-manager または --area で利用者を選んでください",
                "name recipients by id, --care-manager or --area",
            )
            .into());
        }
        (None, None) => Select::Ids(
            a.ids
                .iter()
                .map(|i| anpi_core::text::typed_id(i))
                .collect::<anpi_core::Result<Vec<RecipientId>>>()?,
        ),
    };
    let to = match (a.to, a.clear) {
        (Some(s), false) => Some(staff_id(&s)?),
        (None, true) => None,
        _ => {
            return Err(t(
                lang,
                "--to 職員ID か --clear を指定してください",
                "give --to STAFF_ID or --clear",
            )
            .into());
        }
    };
    let ids = node.select_recipients(&space, &select)?;
    let n = node.assign(&space, &incident.id, &ids, to.as_ref())?;
    match (&to, lang) {
        (Some(s), Lang::Ja) => say!("{} 人を {s} に割り当てました（{} 人が変更）", ids.len(), n),
        (Some(s), Lang::En) => say!("{} recipients assigned to {s} ({n} changed)", ids.len()),
        (None, Lang::Ja) => say!("{n} 人の割り当てを外しました"),
        (None, Lang::En) => say!("took back {n} assignments"),
    }
    Ok(())
}

/// `assignments`.
pub fn assignments(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let space = cx.space(node)?.id;
    let incident = node
        .shown_incident(&space)?
        .ok_or(anpi_core::Error::NoOpenIncident)?;
    let all = node.assignments(&space, &incident.id)?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let me = node.staff().id.clone();
    for a in all {
        let mark = if Some(&a.staff) == me.as_ref() {
            t(cx.lang, "（わたしの担当）", " (mine)")
        } else {
            ""
        };
        say!("{}\t{}{mark}\t{} {}", a.recipient, a.staff, a.by.name, a.at);
    }
    Ok(())
}
