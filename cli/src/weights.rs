//! `priority show|set`: the office's priority weights. They live in the
//! space's roster document, so every device of the office ranks the same
//! way once the change reaches it.

use anpi_core::codes::Lang;
use anpi_core::node::Node;
use anpi_core::priority::{PriorityConfig, WEIGHTS};

use crate::context::Ctx;
use crate::{Result, t};

/// `priority show`.
pub fn show(cx: &Ctx, node: &Node, as_json: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let weights = node.priority_weights(&space.id)?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&weights)?);
        return Ok(());
    }
    let defaults = PriorityConfig::default();
    say!(
        "{}",
        match lang {
            Lang::Ja => format!("「{}」の優先度の重み（名前=点数）:", space.name),
            Lang::En => format!("priority weights of \"{}\" (name=points):", space.name),
        }
    );
    for w in WEIGHTS {
        let v = weights.get(w.name).unwrap_or_default();
        let mark = if weights.get(w.name) != defaults.get(w.name) {
            t(lang, "（変更）", " (changed)")
        } else {
            ""
        };
        say!("  {}={v}  {}{mark}", w.name, w.label(lang));
    }
    Ok(())
}

/// `priority set NAME=POINTS...`: all or nothing.
pub fn set(cx: &Ctx, node: &mut Node, assignments: &[String], reset: bool) -> Result<()> {
    let lang = cx.lang;
    let space = cx.space(node)?;
    let mut weights = if reset {
        PriorityConfig::default()
    } else {
        node.priority_weights(&space.id)?
    };
    for a in assignments {
        let (name, points) = a.split_once('=').ok_or_else(|| match lang {
            Lang::Ja => format!("{a}: 「名前=点数」の形で指定してください（例: lives_alone=30）"),
            Lang::En => format!("{a}: give NAME=POINTS (e.g. lives_alone=30)"),
        })?;
        let name = name.trim();
        if weights.get(name).is_none() {
            let names: Vec<&str> = WEIGHTS.iter().map(|w| w.name).collect();
            return Err(match lang {
                Lang::Ja => format!("{name}: そのような重みはありません（{}）", names.join(", ")),
                Lang::En => format!("{name}: no such weight ({})", names.join(", ")),
            }
            .into());
        }
        let points: i64 = points.trim().parse().map_err(|_| match lang {
            Lang::Ja => format!("{a}: 点数は整数で指定してください"),
            Lang::En => format!("{a}: the points must be a whole number"),
        })?;
        weights.set(name, points)?;
    }
    node.set_priority_weights(&space.id, weights)?;
    say!(
        "{}",
        match lang {
            Lang::Ja => format!(
                "「{}」の優先度の重みを更新しました。同期した端末すべてがこの重みで並べます",
                space.name
            ),
            Lang::En => format!(
                "updated the priority weights of \"{}\"; every device ranks by them once synced",
                space.name
            ),
        }
    );
    Ok(())
}
