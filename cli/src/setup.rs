//! The commands that make a data folder or fill it: `init`, `import`,
//! `clone`.

use std::io::IsTerminal;
use std::path::Path;

use anpi_core::codes::Lang;
use anpi_core::io::roster;
use anpi_core::model::Staff;

use crate::context::Ctx;
use crate::{Result, t, tidy};

/// `init`: a new data folder founding a space.
pub fn init(cx: &Ctx, space: &str, org: Option<String>, staff: Option<String>) -> Result<()> {
    let lang = cx.lang;
    let dir = cx.data_dir()?;
    let mut node = cx.open_or_create(&dir)?;
    if let Some(s) = node.spaces()?.first() {
        return Err(match lang {
            Lang::Ja => format!(
                "{} にはすでにスペース「{}」があります",
                dir.display(),
                s.name
            ),
            Lang::En => format!("{} already holds the space \"{}\"", dir.display(), s.name),
        }
        .into());
    }
    node.set_staff(Staff {
        name: staff.unwrap_or_default(),
        organisation: org.unwrap_or_else(|| space.to_string()),
        id: None,
    })?;
    let created = node.create_space(space)?;
    match lang {
        Lang::Ja => say!(
            "スペース「{}」を作成しました（{}）\n端末ID: {}",
            created.name,
            dir.display(),
            node.device()
        ),
        Lang::En => say!(
            "created space \"{}\" in {}\ndevice id: {}",
            created.name,
            dir.display(),
            node.device()
        ),
    }
    Ok(())
}

/// `import FILE [--dry-run]`: the roster, all rows or none; with
/// `--dry-run`, only what it would do.
pub fn import(cx: &Ctx, file: &Path, dry_run: bool) -> Result<()> {
    let lang = cx.lang;
    let mut node = cx.open()?;
    let space = cx.space(&node)?;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let roster = roster::read(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    if !roster.ignored_columns.is_empty() {
        eprintln!(
            "{}: {}",
            t(lang, "読み飛ばした列", "columns ignored"),
            roster.ignored_columns.join(", ")
        );
    }
    let report = if dry_run {
        say!(
            "{}",
            t(
                lang,
                "確認のみ（取り込んでいません）:",
                "dry run (nothing imported):"
            )
        );
        node.preview_import(&space.id, &roster.recipients)?
    } else if std::io::stderr().is_terminal() {
        // A bar on a terminal only: scripts and logs get the summary line.
        let bar = indicatif::ProgressBar::new(roster.recipients.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
                .expect("the progress template is valid"),
        );
        bar.set_message(t(lang, "取り込み中", "importing").to_string());
        let report = node.import_roster(&space.id, roster.recipients, &mut |done, _| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        report
    } else {
        node.import_roster(&space.id, roster.recipients, &mut |_, _| {})?
    };
    tidy(lang, &mut node);
    let counts = report.counts;
    match lang {
        Lang::Ja => say!(
            "追加 {} 件・更新 {} 件・変更なし {} 件（文字コード: {}）",
            counts.added,
            counts.updated,
            counts.unchanged,
            roster.encoding
        ),
        Lang::En => say!(
            "{} added, {} updated, {} unchanged (encoding: {})",
            counts.added,
            counts.updated,
            counts.unchanged,
            roster.encoding
        ),
    }
    if !report.missing.is_empty() {
        let ids: Vec<&str> = report.missing.iter().map(|id| id.as_str()).collect();
        match lang {
            Lang::Ja => say!(
                "このファイルにない利用者 {} 件（削除していません。不要なら担当者が確認してください）: {}",
                ids.len(),
                ids.join(", ")
            ),
            Lang::En => say!(
                "{} recipients are not in this file (kept, not deleted): {}",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
    Ok(())
}

/// `clone SRC_DIR`: a new device from another data folder on this machine.
pub fn clone(cx: &Ctx, src: &Path, staff: Option<String>, org: Option<String>) -> Result<()> {
    let lang = cx.lang;
    let dir = cx.data_dir()?;
    let mut source = cx.open_existing(src)?;
    let mut node = cx.open_or_create(&dir)?;
    if !node.spaces()?.is_empty() {
        return Err(format!(
            "{}: {}",
            dir.display(),
            t(lang, "すでにスペースがあります", "already holds a space")
        )
        .into());
    }
    let spaces: Vec<_> = source.spaces()?.into_iter().map(|s| s.id).collect();
    let from = source.staff().clone();
    node.set_staff(Staff {
        name: staff.unwrap_or_default(),
        organisation: org.unwrap_or(from.organisation),
        id: None,
    })?;
    let x = anpi_core::node::sync_local(&mut node, &mut source, &spaces)?;
    tidy(lang, &mut node);
    let names: Vec<String> = node.spaces()?.into_iter().map(|s| s.name).collect();
    match lang {
        Lang::Ja => say!(
            "{} から「{}」を受け取りました（{} バイト）\n端末ID: {}",
            src.display(),
            names.join("」「"),
            x.initiator.bytes_received,
            node.device()
        ),
        Lang::En => say!(
            "received \"{}\" from {} ({} bytes)\ndevice id: {}",
            names.join("\", \""),
            src.display(),
            x.initiator.bytes_received,
            node.device()
        ),
    }
    Ok(())
}
