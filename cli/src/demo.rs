//! `anpi demo`: the story anpi exists for, on one machine, with real data
//! folders (SQLite, durable writes) and the real sync engine between them.

use std::path::{Path, PathBuf};

use anpi_core::codes::Lang;
use anpi_core::io::form2;
use anpi_core::model::*;
use anpi_core::node::{LocalSync, NewCheck, Node, sync_local};
use anpi_core::store::SqliteStore;
use anpi_core::views::{self, PriorityConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn t<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

/// The bundled roster: 200 fictional recipients in a city that does not
/// exist, in the roster CSV format of DOMAIN.md (UTF-8 with BOM, half the
/// birth dates in 和暦, as care software exports them).
const DEMO_ROSTER: &[u8] = include_bytes!("../data/demo-roster.csv");

fn open(dir: &Path, name: &str, staff: Staff) -> Result<Node> {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder)?;
    let mut node = Node::open(SqliteStore::open(&folder.join("anpi.db"))?)?;
    node.set_staff(staff)?;
    Ok(node)
}

fn moved(lang: Lang, x: &LocalSync) -> String {
    match lang {
        Lang::Ja => format!(
            "送信 {} バイト・受信 {} バイト・往復 {} 回",
            x.initiator.bytes_sent, x.initiator.bytes_received, x.round_trips
        ),
        Lang::En => format!(
            "{} bytes sent, {} received, {} round trips",
            x.initiator.bytes_sent, x.initiator.bytes_received, x.round_trips
        ),
    }
}

/// Run the demo in `keep` (or a temporary folder).
pub fn run(lang: Lang, keep: Option<PathBuf>) -> Result<()> {
    // The folder stays after the demo: it holds the printable form 2 and
    // the data folders people may want to look into.
    let dir: PathBuf = match keep {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => tempfile::Builder::new()
            .prefix("anpi-demo-")
            .tempdir()?
            .keep(),
    };
    let dir = dir.as_path();
    println!("== anpi {} ==", t(lang, "デモ", "demo"));
    println!(
        "{}: {}",
        t(lang, "作業フォルダ", "working folder"),
        dir.display()
    );

    let office_org = "ひまわり居宅介護支援事業所";
    let mut office = open(
        dir,
        "office",
        Staff {
            name: "事務 花子".into(),
            organisation: office_org.into(),
        },
    )?;
    let space = office.create_space(office_org)?.id;
    // The office imports the roster file the way `anpi import` does.
    let roster_file = dir.join("roster.csv");
    std::fs::write(&roster_file, DEMO_ROSTER)?;
    let roster = anpi_core::io::roster::read(&std::fs::read(&roster_file)?)
        .map_err(|e| format!("{}: {e}", roster_file.display()))?;
    let counts = office.upsert_recipients(&space, roster.recipients)?;
    println!(
        "\n1. {}",
        match lang {
            Lang::Ja => format!(
                "事務所: スペース「{office_org}」を作成し、名簿 {} から利用者 {} 名を取り込みました",
                roster_file.display(),
                counts.added
            ),
            Lang::En => format!(
                "Office: created space \"{office_org}\" and imported {} recipients from {}",
                counts.added,
                roster_file.display()
            ),
        }
    );

    let mut phone_a = open(
        dir,
        "phone-a",
        Staff {
            name: "佐藤 美咲".into(),
            organisation: office_org.into(),
        },
    )?;
    let mut phone_b = open(
        dir,
        "phone-b",
        Staff {
            name: "田中 一郎".into(),
            organisation: "架空市役所 防災課".into(),
        },
    )?;
    for phone in [&mut phone_a, &mut phone_b] {
        let x = sync_local(phone, &mut office, std::slice::from_ref(&space))?;
        println!(
            "2. {} {}（{}）: {}",
            t(lang, "端末", "Phone"),
            phone.staff().name,
            phone.staff().organisation,
            match lang {
                Lang::Ja => format!("事務所から名簿を受け取りました（{}）", moved(lang, &x)),
                Lang::En => format!("received the roster from the office ({})", moved(lang, &x)),
            }
        );
    }

    let quake = Timestamp::now();
    println!(
        "\n3. {}",
        t(
            lang,
            "地震発生。通信は途絶。各端末がそれぞれ災害を開始し、オフラインで安否確認を記録します",
            "An earthquake. The network is down. Each phone starts the incident on its own and records checks offline",
        )
    );
    let inc_a = phone_a.start_incident(&space, IncidentKind::Earthquake, "地震", quake)?;
    let inc_b =
        phone_b.start_incident(&space, IncidentKind::Earthquake, "", quake.plus_minutes(4))?;
    let list = |node: &Node, inc: &IncidentId| -> Result<Vec<RecipientId>> {
        let data = node.incident_data(&space, Some(inc))?;
        Ok(data
            .priority_list(&PriorityConfig::default(), quake)
            .iter()
            .map(|e| e.recipient.id.clone())
            .collect())
    };
    let top = list(&phone_a, &inc_a.id)?;
    let results = [
        CheckResult::Safe,
        CheckResult::NeedsEvacuation,
        CheckResult::Unreachable,
        CheckResult::Safe,
        CheckResult::SafeNeedsSupport,
    ];
    let mut at = quake.plus_minutes(15);
    for (i, id) in top.iter().take(5).enumerate() {
        let mut c = NewCheck::new(id.clone(), CheckMethod::Visit, results[i]);
        c.at = at;
        at = at.plus_minutes(12);
        let check = phone_a.record_check(&space, &inc_a.id, c)?;
        print_check(lang, &phone_a, &space, &check)?;
    }
    // Phone B works from the same list by phone calls, unaware of A's visits.
    for (i, id) in top.iter().take(3).enumerate() {
        let mut c = NewCheck::new(
            id.clone(),
            CheckMethod::Phone,
            if i == 1 {
                CheckResult::NeedsEvacuation
            } else {
                CheckResult::Safe
            },
        );
        c.at = quake.plus_minutes(20 + 5 * i as i64);
        let check = phone_b.record_check(&space, &inc_b.id, c)?;
        print_check(lang, &phone_b, &space, &check)?;
    }

    println!(
        "\n4. {}",
        t(
            lang,
            "通信回復。端末Aが端末Bと出会い、端末Bが事務所に戻ります（端末Aの記録も運びます）",
            "The network returns. Phone A meets phone B; phone B reaches the office, carrying A's checks too",
        )
    );
    let x = sync_local(&mut phone_a, &mut phone_b, &[])?;
    println!("   A ⇄ B: {}", moved(lang, &x));
    let x = sync_local(&mut phone_b, &mut office, &[])?;
    println!(
        "   B ⇄ {}: {}",
        t(lang, "事務所", "office"),
        moved(lang, &x)
    );

    let incident = office
        .open_incident(&space)?
        .ok_or("the incident did not reach the office")?;
    let data = office.incident_data(&space, Some(&incident.id))?;
    let now = at;
    let list = data.priority_list(&PriorityConfig::default(), now);
    println!(
        "\n5. {} — {} ({}: {})",
        t(
            lang,
            "事務所の安否確認優先順位リスト（上位15名）",
            "The office's priority list (top 15)"
        ),
        incident.name,
        t(lang, "フェーズ", "phase"),
        incident.phase(now).label_ja()
    );
    for e in list.iter().take(15) {
        let status = match e.latest {
            Some(c) => format!("{}（{}）", c.result.label(lang), c.staff.name),
            None => views::standing_label(e.standing, lang).to_string(),
        };
        println!(
            "  {:>3}. {} {:<8} {:<14} {}{}",
            e.rank,
            e.recipient.id,
            e.recipient.name,
            status,
            e.reasons_line(),
            if e.duplicate {
                t(lang, "  ⚠重複", "  ⚠duplicate")
            } else {
                ""
            }
        );
    }

    let dups = views::duplicates(&data.checks);
    println!(
        "\n6. {} ({})",
        t(lang, "重複訪問", "Duplicate visits"),
        dups.len()
    );
    for d in &dups {
        println!("  {}", crate::office::duplicate_line(lang, d));
    }
    let s = views::incident_summary(
        &incident,
        &list,
        data.checks.len(),
        &PriorityConfig::default(),
        now,
    );
    println!(
        "\n7. {}: {} {} / {} {} / {} {} / {} {}",
        t(lang, "集計", "Summary"),
        t(lang, "利用者", "recipients"),
        s.recipients,
        t(lang, "未確認", "unchecked"),
        s.unchecked,
        t(lang, "高優先で未確認", "high priority not reached"),
        s.high_priority_not_reached,
        t(lang, "重複", "duplicates"),
        s.duplicates
    );
    let form = form2::build(
        office_org,
        Some(&incident.name),
        &list,
        form2::GroupBy::CareManager,
        now.jst(),
    );
    let form_path = dir.join("form2.html");
    std::fs::write(&form_path, form2::to_html(&form))?;
    println!(
        "\n8. {}: {}",
        t(
            lang,
            "印刷用の様式2（A4横・担当ケアマネごと）",
            "printable form 2 (A4 landscape, by care manager)"
        ),
        form_path.display()
    );
    println!(
        "   {}: {}",
        t(lang, "データフォルダ", "data folders"),
        dir.display()
    );
    Ok(())
}

fn print_check(lang: Lang, node: &Node, space: &SpaceId, c: &Check) -> Result<()> {
    let r = node.recipient(space, &c.recipient)?.recipient;
    println!(
        "   {} {}: {} {} — {} — {}",
        t(lang, "端末", "phone"),
        c.staff.name,
        c.recipient,
        r.name,
        c.method.label(lang),
        c.result.label(lang)
    );
    Ok(())
}
