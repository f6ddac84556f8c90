//! The table and chart of a set of runs: each strategy's figures as the
//! mean over the seeds, with the lowest and highest beside it.

use std::fmt::Write;

use super::{Config, Outcome, Strategy};

/// One strategy's runs, one per seed.
pub struct Runs {
    /// The strategy.
    pub strategy: Strategy,
    /// Its outcome for each seed, in seed order.
    pub outcomes: Vec<Outcome>,
}

/// One figure of a run, when it has one.
type Figure<'a> = &'a dyn Fn(&Outcome) -> Option<f64>;

/// Mean, lowest and highest of `f` over the runs where it has a value,
/// and how many runs had none.
fn spread(outcomes: &[Outcome], f: impl Fn(&Outcome) -> Option<f64>) -> (f64, f64, f64, usize) {
    let v: Vec<f64> = outcomes.iter().filter_map(&f).collect();
    let missing = outcomes.len() - v.len();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, missing);
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (mean, lo, hi, missing)
}

fn cell(outcomes: &[Outcome], digits: usize, f: impl Fn(&Outcome) -> Option<f64>) -> String {
    let (mean, lo, hi, missing) = spread(outcomes, f);
    let mut s = if mean.is_nan() {
        "—".to_string()
    } else {
        format!("{mean:.digits$} ({lo:.digits$}–{hi:.digits$})")
    };
    if missing > 0 {
        let _ = write!(s, "; 72 h内に未達 {missing}/{} runs", outcomes.len());
    }
    s
}

/// The mean of `f` over the runs.
pub fn mean(runs: &Runs, f: impl Fn(&Outcome) -> f64) -> f64 {
    spread(&runs.outcomes, |o| Some(f(o))).0
}

/// The markdown table, with what made it.
pub fn table(config: &Config, seeds: &[u64], command: &str, all: &[Runs]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# 災害当日のシミュレーション / The disaster day, simulated\n\n\
         Made by `{command}` (seeds {}–{}, {} runs per strategy).\n\n\
         World: {} agencies × {} care managers' phones × {} people × {} hours; \
         {:.0}% of people served by a second agency; consent to share recorded for {:.0}%; \
         care managers whose own people are done help with {}. \
         docs/SIMULATION.md says how the world and the staff work, and what each figure means.\n\n\
         Each cell: mean over the seeds (lowest–highest).\n",
        seeds.first().unwrap_or(&0),
        seeds.last().unwrap_or(&0),
        seeds.len(),
        config.agencies,
        config.phones,
        config.recipients,
        config.hours,
        config.overlap * 100.0,
        config.consent * 100.0,
        match config.helping {
            super::Helping::HighPriority => "the high-priority people on their list",
            super::Helping::Anyone => "anyone on their list",
        },
    );
    let rows: [(&str, usize, Figure); 17] = [
        (
            "重複訪問・電話（件） / duplicate visits and calls",
            0,
            &|o| Some(o.duplicate_visits as f64),
        ),
        ("うち事業所間 / of them across agencies", 0, &|o| {
            Some(o.cross_agency as f64)
        }),
        ("うち応援者による / of them by helpers", 0, &|o| {
            Some(o.by_helpers as f64)
        }),
        (
            "重複に費やした職員時間 (h) / staff hours spent on them",
            1,
            &|o| Some(o.duplicate_hours),
        ),
        (
            "高優先度の全員を確認するまで (h) / every high-priority person checked (h)",
            1,
            &|o| o.high_priority_done,
        ),
        (
            "高優先度の95%を確認するまで (h) / 95% of high-priority checked (h)",
            1,
            &|o| o.high_priority_95,
        ),
        ("6時間で確認済 (%) / checked at 6 h", 1, &|o| {
            Some(o.checked_at[0] * 100.0)
        }),
        ("24時間で確認済 (%) / checked at 24 h", 1, &|o| {
            Some(o.checked_at[1] * 100.0)
        }),
        ("72時間で確認済 (%) / checked at 72 h", 1, &|o| {
            Some(o.checked_at[2] * 100.0)
        }),
        (
            "事業所が知るまで (h) / until the person's own office knew (h)",
            1,
            &|o| Some(o.office_delay),
        ),
        (
            "事業所に届かなかった確認 (%) / checks the own office never saw",
            1,
            &|o| Some(o.office_never * 100.0),
        ),
        (
            "端末あたり通信量 (KB) / bytes per phone (KB)",
            0,
            &|o| Some(o.bytes_per_phone / 1000.0),
        ),
        (
            "端末あたり同期回数 / radio sessions per phone",
            1,
            &|o| Some(o.sessions_per_phone),
        ),
        (
            "通信が使った電池 (%) / the radio's share of battery used",
            1,
            &|o| Some(o.radio_share * 100.0),
        ),
        (
            "充電に事務所へ戻った回数 / trips back to charge",
            1,
            &|o| Some(o.charge_trips as f64),
        ),
        (
            "電池切れの時間（端末・時間） / phone-hours flat",
            1,
            &|o| Some(o.flat_hours),
        ),
        ("確認の記録（件） / checks recorded", 0, &|o| {
            Some(o.checks as f64)
        }),
    ];
    let _ = write!(md, "| | ");
    for r in all {
        let _ = write!(md, "{} | ", r.strategy.label());
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "|---|{}", "---|".repeat(all.len()));
    for (name, digits, f) in rows {
        let _ = write!(md, "| {name} | ");
        for r in all {
            let _ = write!(md, "{} | ", cell(&r.outcomes, digits, f));
        }
        let _ = writeln!(md);
    }
    let _ = write!(
        md,
        "| anpiの重複表示 = 実際 / anpi's duplicate view = what happened | "
    );
    for r in all {
        let same = r
            .outcomes
            .iter()
            .filter(|o| o.anpi_pairs == o.true_pairs)
            .count();
        let _ = write!(md, "{same}/{} runs | ", r.outcomes.len());
    }
    let _ = writeln!(md);
    let _ = write!(md, "| anpiの不整合 / anpi's faults (runs with any) | ");
    for r in all {
        let bad = r.outcomes.iter().filter(|o| !o.faults.is_empty()).count();
        let _ = write!(md, "{bad}/{} | ", r.outcomes.len());
    }
    let _ = writeln!(md);
    md
}

/// A bar chart (SVG) of duplicate visits and of the hours until 95% of the
/// high-priority people were checked, per strategy, with each bar's
/// lowest–highest range. Written by hand: four bars with Japanese labels,
/// which a browser lays out itself.
pub fn chart(all: &[Runs]) -> String {
    let (w, h) = (780.0, 390.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"'Noto Sans CJK JP', 'Hiragino Sans', sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
    );
    let colours = ["#9e9e9e", "#90caf9", "#42a5f5", "#1565c0"];
    let panels: [(&str, &str, Figure); 2] = [
        (
            "重複訪問・電話（件）",
            "duplicate visits and calls",
            &|o| Some(o.duplicate_visits as f64),
        ),
        (
            "高優先度の95%を確認するまで（時間）",
            "hours until 95% of high priority checked",
            &|o| o.high_priority_95,
        ),
    ];
    for (p, (title, english, f)) in panels.iter().enumerate() {
        let x0 = 40.0 + p as f64 * 380.0;
        let (top, bottom, width) = (70.0, 310.0, 320.0);
        let stats: Vec<(f64, f64, f64, usize)> =
            all.iter().map(|r| spread(&r.outcomes, f)).collect();
        let max = stats
            .iter()
            .map(|s| s.2)
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max)
            * 1.1;
        let _ = writeln!(
            svg,
            "<text x=\"{x0}\" y=\"26\" font-weight=\"bold\">{title}</text>\n\
             <text x=\"{x0}\" y=\"44\" fill=\"#333\">{english}</text>"
        );
        let _ = writeln!(
            svg,
            "<line x1=\"{x0}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#333\"/>",
            x0 + width
        );
        let bar = width / all.len() as f64;
        for (i, ((mean, lo, hi, _), r)) in stats.iter().zip(all).enumerate() {
            if !mean.is_finite() {
                continue;
            }
            let y = |v: f64| bottom - (v / max) * (bottom - top);
            let x = x0 + i as f64 * bar + bar * 0.15;
            let bw = bar * 0.7;
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{}\"/>",
                y(*mean),
                bottom - y(*mean),
                colours[i % colours.len()]
            );
            let cx = x + bw / 2.0;
            let _ = writeln!(
                svg,
                "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"#000\"/>",
                y(*lo),
                y(*hi)
            );
            let _ = writeln!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{mean:.1}</text>",
                y(*hi) - 6.0
            );
            let _ = writeln!(
                svg,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 16.0,
                r.strategy.code()
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"40\" y=\"356\" fill=\"#555\">alone = 各事業所単独（紙） / office = 事業所とだけ同期 / p2p = 端末間同期 / shared = 端末間＋向かっています＋連携エリア</text>\n\
         <text x=\"40\" y=\"374\" fill=\"#555\">棒は平均、線は最小–最大 (bars: mean; lines: lowest–highest over the seeds)</text>\n</svg>"
    );
    svg
}
