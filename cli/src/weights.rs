//! `priority show|set`: the office's priority weights. They live in the
//! space's roster document, so every device of the office ranks the same
//! way once the change reaches it.

use anpi_core::codes::Lang;
use anpi_core::node::Node;
use anpi_core::views::PriorityConfig;
use serde_json::{Map, Value};

use crate::{Result, t};

/// Each weight's name (as `priority set` takes it) and what it means.
const WEIGHTS: &[(&str, &str, &str)] = &[
    (
        "life_sustaining_device",
        "生命維持の医療機器（人工呼吸器・在宅酸素・吸引・透析・経管栄養）",
        "life-sustaining medical device",
    ),
    (
        "medical_needs",
        "医療必要度の記載あり",
        "medical needs recorded",
    ),
    ("lives_alone", "独居", "lives alone"),
    ("elderly_only", "高齢者世帯", "elderly-only household"),
    ("alone_daytime", "日中独居", "alone in the daytime"),
    ("bedridden", "寝たきり", "bedridden"),
    ("dementia", "認知症", "dementia"),
    ("no_supporter", "避難支援者なし", "no evacuation supporter"),
    (
        "flood_over_3m",
        "浸水想定3m以上（水害・台風）",
        "flood zone 3 m or more (floods, storms)",
    ),
    (
        "flood_0_5m_to_3m",
        "浸水想定0.5-3m（水害・台風）",
        "flood zone 0.5-3 m (floods, storms)",
    ),
    (
        "flood_below_0_5m",
        "浸水想定0.5m未満（水害・台風）",
        "flood zone below 0.5 m (floods, storms)",
    ),
    (
        "flood_unknown",
        "浸水想定あり・深さ不明（水害・台風）",
        "flood zone, depth unknown (floods, storms)",
    ),
    (
        "landslide_zone",
        "土砂災害警戒区域（土砂災害・台風）",
        "landslide zone (landslides, storms)",
    ),
    (
        "old_wooden_house",
        "旧耐震の木造住宅（地震）",
        "old wooden house (earthquakes)",
    ),
    (
        "care_level_step",
        "要介護度1段階ごと（要介護2以上）",
        "per care level above care level 1",
    ),
    (
        "high_priority_from",
        "この点数以上を「優先度高」として集計",
        "score from which a recipient counts as high priority",
    ),
];

fn as_map(w: &PriorityConfig) -> Map<String, Value> {
    match serde_json::to_value(w) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// `priority show`.
pub fn show(lang: Lang, node: &Node, as_json: bool) -> Result<()> {
    let space = crate::space(node)?;
    let weights = node.priority_weights(&space.id)?;
    if as_json {
        say!("{}", serde_json::to_string_pretty(&weights)?);
        return Ok(());
    }
    let values = as_map(&weights);
    let defaults = as_map(&PriorityConfig::default());
    say!(
        "{}",
        match lang {
            Lang::Ja => format!("「{}」の優先度の重み（名前=点数）:", space.name),
            Lang::En => format!("priority weights of \"{}\" (name=points):", space.name),
        }
    );
    for (name, ja, en) in WEIGHTS {
        let v = &values[*name];
        let mark = if values.get(*name) != defaults.get(*name) {
            t(lang, "（変更）", " (changed)")
        } else {
            ""
        };
        say!("  {name}={v}  {}{mark}", t(lang, ja, en));
    }
    Ok(())
}

/// `priority set NAME=POINTS...`: all or nothing.
pub fn set(lang: Lang, node: &mut Node, assignments: &[String], reset: bool) -> Result<()> {
    let space = crate::space(node)?;
    let mut values = if reset {
        as_map(&PriorityConfig::default())
    } else {
        as_map(&node.priority_weights(&space.id)?)
    };
    for a in assignments {
        let (name, points) = a.split_once('=').ok_or_else(|| match lang {
            Lang::Ja => format!("{a}: 「名前=点数」の形で指定してください（例: lives_alone=30）"),
            Lang::En => format!("{a}: give NAME=POINTS (e.g. lives_alone=30)"),
        })?;
        let name = name.trim();
        if !WEIGHTS.iter().any(|(n, _, _)| *n == name) {
            let names: Vec<&str> = WEIGHTS.iter().map(|(n, _, _)| *n).collect();
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
        values.insert(name.to_string(), Value::from(points));
    }
    let weights: PriorityConfig = serde_json::from_value(Value::Object(values))?;
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
