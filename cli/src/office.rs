//! The office commands over one data folder: incidents, checks, claims, the
//! lists, and merging with another data folder.

use std::path::Path;

use anpi_core::audit::Action;
use anpi_core::codes::Lang;
use anpi_core::io::form2;
use anpi_core::model::{CheckMethod, CheckResult, Incident, IncidentKind, Staff, Timestamp};
use anpi_core::node::{NewCheck, Node, sync_local};
use anpi_core::views::{self, Relation};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::{Result, t};

fn current_incident(cx: &Ctx, node: &Node) -> Result<(anpi_core::model::SpaceId, Incident)> {
    let space = cx.space(node)?.id;
    let incident = node.current_incident(&space)?;
    Ok((space, incident))
}

/// `incident start`.
pub fn incident_start(cx: &Ctx, node: &mut Node, kind: &str, name: Option<String>) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let kind: IncidentKind = kind.parse()?;
    let (i, started) = node.open_incident_for(
        &space,
        kind,
        // A name everyone on the team reads the same, whatever their --lang.
        &name.unwrap_or_else(|| kind.label_ja().to_string()),
        Timestamp::now(),
    )?;
    use anpi_core::node::Started;
    match (lang, started) {
        (Lang::Ja, Started::New) => say!(
            "災害「{}」({}) を開始しました: {}",
            i.name,
            i.kind.label_ja(),
            i.id
        ),
        (Lang::Ja, Started::Joined) => say!(
            "災害「{}」({}) はすでに開始されています（参加しました）: {}",
            i.name,
            i.kind.label_ja(),
            i.id
        ),
        (Lang::Ja, Started::Reopened) => say!(
            "終了していた災害「{}」({}) を再開しました（{}回目の再開）: {}",
            i.name,
            i.kind.label_ja(),
            i.round,
            i.id
        ),
        (Lang::En, Started::New) => say!(
            "incident \"{}\" ({}) started: {}",
            i.name,
            i.kind.label_en(),
            i.id
        ),
        (Lang::En, Started::Joined) => say!(
            "incident \"{}\" ({}) was open already (joined): {}",
            i.name,
            i.kind.label_en(),
            i.id
        ),
        (Lang::En, Started::Reopened) => say!(
            "incident \"{}\" ({}) had ended and is open again (reopening {}): {}",
            i.name,
            i.kind.label_en(),
            i.round,
            i.id
        ),
    }
    Ok(())
}

/// `incident list`.
pub fn incident_list(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let incidents = node.incidents(&space)?;
    if as_json {
        let rows: Vec<Value> = incidents
            .iter()
            .map(|i| {
                json!({"id": i.id, "kind": i.kind, "name": i.name, "started_at": i.started_at,
                       "ended_at": i.ended_at, "open": i.is_open()})
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let now = Timestamp::now();
    for i in &incidents {
        say!(
            "{}  {}  {}  {} {}  {}",
            i.id,
            i.kind.label(lang),
            i.name,
            t(lang, "開始", "started"),
            i.started_at,
            match (i.ended_at, lang) {
                (Some(e), Lang::Ja) => format!("終了 {e}"),
                (Some(e), Lang::En) => format!("ended {e}"),
                (None, _) => i.phase(now).label_ja().to_string(),
            }
        );
    }
    Ok(())
}

/// `incident end`.
pub fn incident_end(cx: &Ctx, node: &mut Node) -> Result<()> {
    let lang = cx.lang;
    let (space, i) = current_incident(cx, node)?;
    node.end_incident(&space, &i.id, Timestamp::now())?;
    say!(
        "{}: {}",
        t(lang, "災害を終了しました", "incident ended"),
        i.id
    );
    Ok(())
}

/// `incident merge`.
pub fn incident_merge(cx: &Ctx, node: &mut Node, from: &str, into: &str) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let r = node.merge_incidents(
        &space,
        &anpi_core::model::IncidentId(from.into()),
        &anpi_core::model::IncidentId(into.into()),
    )?;
    match lang {
        Lang::Ja => say!(
            "災害 {from} の安否確認 {} 件を「{}」({}) に統合し、{from} を終了しました（統合済み {} 件）",
            r.collected,
            r.incident.name,
            r.incident.id,
            r.already
        ),
        Lang::En => say!(
            "merged {} checks of incident {from} into \"{}\" ({}) and ended {from} ({} merged before)",
            r.collected,
            r.incident.name,
            r.incident.id,
            r.already
        ),
    }
    Ok(())
}

/// The arguments of `check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// 利用者ID
    pub id: String,
    /// Result: safe, safe_needs_support, injured, needs_evacuation,
    /// evacuated, hospitalized, deceased, unreachable, absent.
    #[arg(long)]
    pub status: String,
    /// How: phone, visit, family, shelter_list, other.
    #[arg(long)]
    pub method: String,
    /// Who checked, if not this device's person.
    #[arg(long)]
    pub staff: Option<String>,
    /// Their organisation, if not this device's.
    #[arg(long)]
    pub org: Option<String>,
    /// A note.
    #[arg(long)]
    pub note: Option<String>,
    /// The shelter, when evacuated or found on a shelter list.
    #[arg(long)]
    pub shelter: Option<String>,
    /// The id of a check this one corrects.
    #[arg(long)]
    pub supersedes: Option<String>,
}

/// `check`.
pub fn check(cx: &Ctx, node: &mut Node, a: CheckArgs) -> Result<()> {
    let lang = cx.lang;
    let result: CheckResult = a.status.parse()?;
    let method: CheckMethod = a.method.parse()?;
    let (space, incident) = current_incident(cx, node)?;
    let mut c = NewCheck::new(anpi_core::text::typed_id(&a.id)?, method, result);
    c.note = a.note.unwrap_or_default();
    c.shelter = a.shelter;
    c.supersedes = a
        .supersedes
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| format!("--supersedes: {e}"))?;
    if a.staff.is_some() || a.org.is_some() {
        let me = node.staff().clone();
        // Someone else named on the command line is not this device's
        // carrier: their staff number is not known here.
        let id = me.id.filter(|_| a.staff.is_none());
        c.staff = Some(Staff {
            name: a.staff.unwrap_or(me.name),
            organisation: a.org.unwrap_or(me.organisation),
            id,
        });
    }
    // Everything that can fail comes before the check is saved: once it
    // is, the only answer is that it was (people would record it again).
    let name = node.recipient(&space, &c.recipient)?.recipient.name;
    let check = node.record_check(&space, &incident.id, c)?;
    match lang {
        Lang::Ja => say!(
            "記録しました: {} {} — {} — {}（{}）",
            check.recipient,
            name,
            check.method.label_ja(),
            check.result.label_ja(),
            check.id
        ),
        Lang::En => say!(
            "recorded: {} {} — {} — {} ({})",
            check.recipient,
            name,
            check.method.label_en(),
            check.result.label_en(),
            check.id
        ),
    }
    Ok(())
}

/// `claim`.
pub fn claim(cx: &Ctx, node: &mut Node, id: &str, minutes: i64) -> Result<()> {
    let lang = cx.lang;
    let (space, incident) = current_incident(cx, node)?;
    let c = node.claim(
        &space,
        &incident.id,
        &anpi_core::text::typed_id(id)?,
        minutes,
        Timestamp::now(),
    )?;
    match lang {
        Lang::Ja => say!("{} に向かっています（{} まで）", c.recipient, c.expires),
        Lang::En => say!("on the way to {} (until {})", c.recipient, c.expires),
    }
    Ok(())
}

/// `release`.
pub fn release(cx: &Ctx, node: &mut Node, id: &str) -> Result<()> {
    let lang = cx.lang;
    let (space, incident) = current_incident(cx, node)?;
    let had = node.release(&space, &incident.id, &anpi_core::text::typed_id(id)?)?;
    say!(
        "{}",
        match (had, lang) {
            (true, Lang::Ja) => format!("{id} の「向かっています」を取り消しました"),
            (true, Lang::En) => format!("claim on {id} released"),
            (false, Lang::Ja) => format!("{id} にこの端末の「向かっています」はありません"),
            (false, Lang::En) => format!("this device has no claim on {id}"),
        }
    );
    Ok(())
}

/// `list`: the priority list.
pub fn list(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let incident = node.open_incident(&space)?;
    let data = node.incident_data(&space, incident.as_ref().map(|i| &i.id))?;
    let now = Timestamp::now();
    let list = data.priority_list(now);
    let today = now.jst().date_naive();
    if as_json {
        // Written row by row as each is made: at 50,000 recipients a whole
        // array of JSON values held at once was most of the process's
        // memory (BENCHMARKS.md, "list --json").
        let out = std::io::stdout();
        let mut out = std::io::BufWriter::new(out.lock());
        let mut first = true;
        let rows = list.iter().map(|e| {
            json!({
                "rank": e.rank,
                "id": e.recipient.id,
                "name": e.recipient.name,
                "age": e.recipient.age_on(today),
                "area": e.recipient.area,
                "care_manager": e.recipient.care_manager,
                "score": e.score,
                "reasons": e.reasons.iter().map(|r| &r.label).collect::<Vec<_>>(),
                "standing": e.standing,
                "status": e.latest.map_or("unchecked", |c| c.result.code()),
                "checked_by": e.latest.map(|c| json!({
                    "staff": c.staff.name, "org": c.staff.organisation,
                    "at": c.shown_at(), "clock_ahead_secs": c.clock_ahead_secs, "method": c.method,
                })),
                "duplicate": e.duplicate,
                "conflict": !e.conflict.is_empty(),
                "conflicting": e.conflict.iter().map(|c| json!({
                    "id": c.id, "status": c.result.code(), "staff": c.staff.name,
                    "org": c.staff.organisation, "at": c.shown_at(), "method": c.method,
                })).collect::<Vec<_>>(),
                "claims": e.live_claims.iter().map(|c| json!({
                    "staff": c.staff.name, "org": c.staff.organisation,
                    "device": c.device, "expires": c.expires,
                })).collect::<Vec<_>>(),
                "battery_deadline": e.deadline,
                "time_left": e.time_left(now, lang),
                "assigned_to": e.assigned_to,
                "mine": e.mine,
                "postponed": e.postponed,
                "despite_assignment": e.despite_assignment,
            })
        });
        write_out(&mut out, b"[")?;
        for row in rows {
            let text = serde_json::to_string_pretty(&row)?;
            write_out(&mut out, if first { b"\n" } else { b",\n" })?;
            first = false;
            for (i, line) in text.lines().enumerate() {
                if i > 0 {
                    write_out(&mut out, b"\n")?;
                }
                write_out(&mut out, b"  ")?;
                write_out(&mut out, line.as_bytes())?;
            }
        }
        write_out(&mut out, if first { b"]\n" } else { b"\n]\n" })?;
        use std::io::Write;
        if let Err(e) = out.flush() {
            return closed_pipe(e);
        }
        return Ok(());
    }
    if let Some(i) = &incident {
        say!(
            "{} — {} ({})",
            i.name,
            i.kind.label(lang),
            i.phase(now).label_ja()
        );
    }
    if let Some(level) = data.operation.level {
        say!("{}", level.with_meaning(lang));
    }
    if node.report_due(&space)?.is_some() {
        say!(
            "{}",
            t(
                lang,
                "⚠ あなたの安否報告がまだです: anpi report --person 無事 --family 無事 --home 被害なし --attendance 可能 --from すぐ",
                "⚠ your own safety report is due: anpi report --person unharmed --family safe --home none --attendance able --from now"
            )
        );
    }
    for e in &list {
        let status = match e.latest {
            Some(c) => format!(
                "{}（{}・{}）",
                c.result.label(lang),
                c.staff.name,
                c.staff.organisation
            ),
            None => views::standing_label(e.standing, lang).to_string(),
        };
        let age = e
            .recipient
            .age_on(today)
            .map(|a| format!("({a})"))
            .unwrap_or_default();
        let mut marks = String::new();
        if e.mine {
            marks.push_str(&format!(" ★{}", views::PriorityEntry::mine_label(lang)));
        }
        if e.postponed {
            marks.push_str(&format!(
                " ({})",
                views::PriorityEntry::postponed_label(lang)
            ));
        }
        if e.despite_assignment {
            marks.push_str(&format!(
                " ({})",
                views::PriorityEntry::despite_assignment_label(lang)
            ));
        }
        if let Some(left) = e.time_left(now, lang) {
            marks.push_str(&format!(" ⚠{left}"));
        }
        if !e.conflict.is_empty() {
            marks.push_str(&format!(" ⚠{}", views::conflict_line(&e.conflict, lang)));
        }
        if e.duplicate {
            marks.push_str(t(lang, " ⚠重複", " ⚠duplicate"));
        }
        for c in &e.live_claims {
            marks.push_str(&format!(" →{}", c.staff.name));
        }
        if e.claim_conflict() {
            marks.push_str(t(lang, " ⚠向かう人が複数", " ⚠several on the way"));
        }
        say!(
            "{:>4}. {} {}{} {} [{}] {}{}",
            e.rank,
            e.recipient.id,
            e.recipient.name,
            age,
            status,
            e.reasons_line(),
            e.recipient.area,
            marks
        );
    }
    Ok(())
}

/// Write to standard output; a reader that went away (`| head`) ends the
/// command quietly, as `say!` does.
fn write_out(out: &mut impl std::io::Write, bytes: &[u8]) -> Result<()> {
    match out.write_all(bytes) {
        Ok(()) => Ok(()),
        Err(e) => closed_pipe(e),
    }
}

fn closed_pipe(e: std::io::Error) -> Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    Err(e.into())
}

/// `show`: one recipient, 様式1 and check history.
pub fn show(cx: &Ctx, node: &mut Node, id: &str, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let page = node.recipient_page(&space, &anpi_core::text::typed_id(id)?)?;
    if !page.logged {
        read_only_audit(lang);
    }
    let detail = page.detail(Timestamp::now());
    let r = &page.record;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&detail)?);
        return Ok(());
    }
    let x = &r.recipient;
    let p = &x.plan;
    let yn = |v: Option<bool>| match v {
        Some(true) => "有",
        Some(false) => "無",
        None => "不明",
    };
    say!("{} {}（{}）", x.id, x.name, x.kana);
    say!("  住所: {}（{}）  電話: {}", x.address, x.area, x.phone);
    say!(
        "  世帯状況: {}  要介護度: {}  担当ケアマネ: {}",
        x.household.map_or("", |h| h.label_ja()),
        x.care_level.map_or("", |c| c.label_ja()),
        x.care_manager
    );
    say!("  様式1 利用者避難情報");
    say!("    想定避難所: {}  避難手段: {}", p.shelter, p.means);
    say!(
        "    避難支援者: {}（{}）  避難意思: {}",
        p.supporter,
        p.supporter_relation,
        yn(p.intends_to_evacuate)
    );
    say!(
        "    医療機器: {}  医療必要度: {}  常備薬: {}",
        p.medical_devices
            .iter()
            .map(|d| d.label_ja())
            .collect::<Vec<_>>()
            .join("・"),
        p.medical_needs,
        yn(p.regular_medication)
    );
    if let Some(m) = anpi_core::priority::battery_minutes(p) {
        say!(
            "    バッテリー時間: {}",
            anpi_core::priority::duration_label(i64::from(m), Lang::Ja)
        );
    }
    say!(
        "    非常持ち出し袋: {}  命のバトン: {}  民生委員: {} {}",
        yn(p.emergency_bag),
        yn(p.life_baton),
        p.welfare_commissioner,
        p.welfare_commissioner_phone
    );
    say!("    緊急連絡先: {}", p.emergency_contacts.join(" / "));
    say!(
        "    安否確認方法: {}  特記事項: {}",
        x.check_method,
        x.notes
    );
    for c in detail.conflicts {
        say!(
            "  ⚠ {}: {}",
            t(lang, "同時に変更された項目", "concurrently edited field"),
            format_args!("{} = {}", c.field, c.values.join(" | "))
        );
    }
    if !detail.conflict.is_empty() {
        say!(
            "  ⚠ {}{}",
            views::conflict_line(&detail.conflict, lang),
            t(
                lang,
                "（互いを知らずに記録されました。表示は対応が必要な方です）",
                " (recorded unaware of each other; the one needing most attention is shown)"
            )
        );
    }
    say!("  {}:", t(lang, "安否確認の記録", "checks"));
    for h in &detail.history {
        let c = h.check;
        let rel = match (&h.relation, lang) {
            (Relation::Check, _) => String::new(),
            (Relation::FollowUp, Lang::Ja) => " （追加確認）".into(),
            (Relation::FollowUp, Lang::En) => " (follow-up)".into(),
            (Relation::Duplicate { .. }, Lang::Ja) => " ⚠重複".into(),
            (Relation::Duplicate { .. }, Lang::En) => " ⚠duplicate".into(),
            (Relation::Correction { of }, _) => format!(" ← {of}"),
            (Relation::Superseded { by }, Lang::Ja) => format!(" （訂正済み → {by}）"),
            (Relation::Superseded { by }, Lang::En) => format!(" (corrected by {by})"),
        };
        say!(
            "    {} {}（{}） {} {}{}{}",
            anpi_core::clock::check_time(c, lang),
            c.staff.name,
            c.staff.organisation,
            c.method.label(lang),
            c.result.label(lang),
            if c.note.is_empty() {
                String::new()
            } else {
                format!(" 「{}」", c.note)
            },
            rel
        );
    }
    Ok(())
}

/// Record in the audit trail that data was read or exported. A folder on
/// read-only media cannot keep that entry; it still answers (a disaster is
/// no time to refuse a record or the paper list), and says so.
pub fn audit_read(
    cx: &Ctx,
    node: &mut Node,
    action: Action,
    subject: &str,
    detail: &str,
) -> Result<()> {
    let lang = cx.lang;
    match node.record_audit(action, subject, detail) {
        Err(anpi_core::Error::ReadOnly) => {
            read_only_audit(lang);
            Ok(())
        }
        other => Ok(other?),
    }
}

fn read_only_audit(lang: Lang) {
    eprintln!(
        "anpi: {}",
        t(
            lang,
            "データフォルダが読み取り専用のため、この記録（監査ログ）を残せませんでした",
            "the data folder is read-only: this could not be written to the audit trail"
        )
    );
}

/// `duplicates`.
pub fn duplicates(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?.id;
    let Some(incident) = node.shown_incident(&space)? else {
        if as_json {
            say!("[]");
        } else {
            say!("{}", t(lang, "災害がありません", "no incident"));
        }
        return Ok(());
    };
    let checks = node.checks(&space, &incident.id)?;
    let dups = views::duplicates(&checks);
    if as_json {
        let rows: Vec<Value> = dups
            .iter()
            .map(|d| {
                json!({
                    "recipient_id": d.recipient,
                    "checks": d.checks.iter().map(|c| json!({
                        "id": c.id, "staff": c.staff.name, "org": c.staff.organisation,
                        "at": c.shown_at(), "method": c.method, "status": c.result,
                    })).collect::<Vec<_>>(),
                    "pairs": d.pairs,
                    "despite_claim": d.despite_claim,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for d in &dups {
        say!("{}", duplicate_line(lang, d));
    }
    if dups.is_empty() {
        say!("{}", t(lang, "重複訪問はありません", "no duplicate visits"));
    }
    Ok(())
}

/// 様式2 of the open incident (or of the roster alone), as CSV or HTML.
/// `export form2`: the bytes, the audit entry written by core on the way.
pub fn form2(
    cx: &Ctx,
    node: &mut Node,
    format: form2::Format,
    group_by: form2::GroupBy,
    out: Option<&Path>,
) -> Result<Vec<u8>> {
    let space = cx.space(node)?;
    let to = out.map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    let export = node.export_form2(&space.id, format, group_by, &to, Timestamp::now())?;
    if !export.logged {
        read_only_audit(cx.lang);
    }
    Ok(export.bytes)
}

/// One duplicate visit on one line: who, when, how, with what result.
pub fn duplicate_line(lang: Lang, d: &views::Duplicate<'_>) -> String {
    let who: Vec<String> = d
        .checks
        .iter()
        .map(|c| {
            format!(
                "{} {}（{}）{} {}",
                anpi_core::clock::check_time(c, lang),
                c.staff.name,
                c.staff.organisation,
                c.method.label(lang),
                c.result.label(lang)
            )
        })
        .collect();
    format!("{}: {}", d.recipient, who.join(" / "))
}

/// `merge OTHER_DIR`: two-way sync with another data folder.
pub fn merge(cx: &Ctx, node: &mut Node, other_dir: &Path) -> Result<()> {
    let lang = cx.lang;
    // The other folder opens with the same passphrase as this one.
    let mut other = cx.open_existing(other_dir)?;
    if !anpi_core::node::share_a_space(node, &other)? {
        return Err(format!(
            "{}: {}",
            other_dir.display(),
            t(
                lang,
                "共通のスペースがないため、統合するものはありません（別の事業所のデータフォルダです）",
                "the two data folders share no space: nothing to merge (another office's folder)"
            )
        )
        .into());
    }
    let x = sync_local(node, &mut other, &[])?;
    for (doc, why) in &x.failures {
        eprintln!(
            "anpi: ⚠ {} {doc}: {why}",
            t(
                lang,
                "この文書は統合できませんでした（ほかの文書は統合しました）:",
                "this document could not be merged (the others were):"
            )
        );
    }
    crate::tidy(lang, &mut other);
    match lang {
        Lang::Ja => say!(
            "統合しました: こちらで更新された文書 {}・相手で更新された文書 {}（送信 {} バイト・受信 {} バイト・往復 {} 回）",
            x.initiator.docs_changed,
            x.responder.docs_changed,
            x.initiator.bytes_sent,
            x.initiator.bytes_received,
            x.round_trips
        ),
        Lang::En => say!(
            "merged: {} documents changed here, {} there ({} bytes sent, {} received, {} round trips)",
            x.initiator.docs_changed,
            x.responder.docs_changed,
            x.initiator.bytes_sent,
            x.initiator.bytes_received,
            x.round_trips
        ),
    }
    Ok(())
}

/// `audit list`.
pub fn audit_list(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let trail = node.audit_trail()?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&trail)?);
        return Ok(());
    }
    for e in &trail {
        let r = &e.record;
        say!(
            "{:>5}  {}  {}（{}）  {}  {}  {}",
            e.seq,
            r.at,
            r.staff.name,
            r.staff.organisation,
            match lang {
                Lang::Ja => r.action.label_ja(),
                Lang::En => r.action.code(),
            },
            r.subject,
            r.detail
        );
    }
    Ok(())
}

/// `audit verify`.
pub fn audit_verify(cx: &Ctx, node: &Node) -> Result<()> {
    let lang = cx.lang;
    let (entries, checked) = node.verify_audit()?;
    checked.map_err(|b| match lang {
        Lang::Ja => format!("監査ログが改ざんされています（{} 件目: {}）", b.seq, b.why),
        Lang::En => b.to_string(),
    })?;
    match lang {
        Lang::Ja => say!("監査ログ {} 件: 改ざんはありません", entries),
        Lang::En => say!("audit trail of {} entries: intact", entries),
    }
    Ok(())
}

/// `backup --out FILE`.
pub fn backup(cx: &Ctx, dir: &Path, out: &Path) -> Result<()> {
    let lang = cx.lang;
    let secret = cx.secret()?;
    let folder = anpi_core::folder::DataFolder::new(dir);
    let mut node = crate::key::said(lang, dir, folder.open(&secret))?;
    folder.backup(&secret, out)?;
    // Everything the folder holds left it, encrypted: the trail says where.
    audit_read(
        cx,
        &mut node,
        Action::Exported,
        "backup",
        &format!("encrypted backup to {}", out.display()),
    )?;
    match lang {
        Lang::Ja => say!(
            "バックアップを書き出しました: {}（暗号化済み。復元には `anpi --data 新しいフォルダ restore {}` と、このフォルダのパスフレーズが必要です）",
            out.display(),
            out.display()
        ),
        Lang::En => say!(
            "backup written: {} (encrypted; restore it with `anpi --data NEW_FOLDER restore {}` and this folder's passphrase)",
            out.display(),
            out.display()
        ),
    }
    Ok(())
}

/// `restore FILE`.
pub fn restore(cx: &Ctx, dir: &Path, file: &Path) -> Result<()> {
    let lang = cx.lang;
    let secret = cx.secret()?;
    let folder = anpi_core::folder::DataFolder::new(dir);
    let (node, restored) = match folder.restore(file, &secret) {
        Ok(r) => r,
        Err(anpi_core::Error::Invalid(why)) if folder.has_been_used() => {
            return Err(match lang {
                Lang::Ja => format!(
                    "{} にはすでにデータフォルダがあります。壊れたフォルダは別名に移してから、新しいフォルダに復元してください",
                    dir.display()
                )
                .into(),
                Lang::En => why.into(),
            });
        }
        // A wrong passphrase, a damaged backup: said as opening says it.
        Err(e) => return crate::key::said(lang, dir, Err(e)).map(|_| ()),
    };
    match lang {
        Lang::Ja => say!(
            "{} 時点のバックアップから {} を復元しました（端末ID {} は同じです）。\nそれ以降の記録は、端末と同期すると戻ってきます（`anpi serve` を起動してください）",
            restored.made,
            dir.display(),
            node.device()
        ),
        Lang::En => say!(
            "restored {} from the backup made at {} (device id {} unchanged).\nWhat was recorded after it comes back as the phones sync (start `anpi serve`)",
            dir.display(),
            restored.made,
            node.device()
        ),
    }
    Ok(())
}

/// `anpi export automerge --out DIR`: the space's documents as plain saved
/// Automerge files (core's `export_automerge`, audited there).
pub fn export_automerge(cx: &Ctx, node: &mut Node, out: &std::path::Path) -> Result<()> {
    let space = cx.space(node)?.id;
    let files = node.export_automerge(&space, &out.display().to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for (name, bytes) in &files {
        let path = out.join(name);
        // Written beside and renamed: a file is whole or absent.
        let part = out.join(format!(".{name}.part"));
        std::fs::write(&part, bytes)
            .and_then(|()| std::fs::rename(&part, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    match cx.lang {
        Lang::Ja => say!(
            "{} 件の文書を {} に書き出しました（Automerge 形式、中身は docs/FORMAT.md）",
            files.len(),
            out.display()
        ),
        Lang::En => say!(
            "wrote {} documents to {} (Automerge files, described in docs/FORMAT.md)",
            files.len(),
            out.display()
        ),
    }
    Ok(())
}
