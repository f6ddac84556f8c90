//! 様式2 災害時利用者一覧表（安否確認優先順位）: the priority list as a file,
//! for Excel (CSV) and for paper (HTML that prints on A4 landscape, marked ㊙,
//! one group per page, with blank columns for writing results by hand when
//! the systems are down).

use askama::Template;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};

use crate::codes::Lang;
use crate::views::{PriorityEntry, Standing};

/// How the paper form is split into pages: one group per care manager
/// (担当ケアマネ) or per area (地区), as the board breaks the work down.
pub use crate::views::GroupBy;

/// One line of the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Priority rank.
    pub rank: usize,
    /// 利用者ID
    pub id: String,
    /// 氏名
    pub name: String,
    /// Age on the printing day.
    pub age: Option<u32>,
    /// 地区
    pub area: String,
    /// 住所
    pub address: String,
    /// 担当ケアマネ
    pub care_manager: String,
    /// 世帯状況
    pub household: String,
    /// 想定避難所
    pub shelter: String,
    /// 医療や介護
    pub care: String,
    /// 特記事項・安否確認方法
    pub notes: String,
    /// Why this rank.
    pub reasons: String,
    /// Status when printed.
    pub status: String,
    /// Not reached yet (printed in bold).
    pub open: bool,
}

impl Row {
    fn printable(self) -> Row {
        let p = |s: String| crate::text::printable(&s).into_owned();
        Row {
            id: p(self.id),
            name: p(self.name),
            area: p(self.area),
            address: p(self.address),
            care_manager: p(self.care_manager),
            household: p(self.household),
            shelter: p(self.shelter),
            care: p(self.care),
            notes: p(self.notes),
            reasons: p(self.reasons),
            status: p(self.status),
            ..self
        }
    }
}

/// A group of rows: one page (or more) of the paper form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The care manager or area.
    pub name: String,
    /// Its rows, in priority order.
    pub rows: Vec<Row>,
}

/// The whole form.
#[derive(Clone, Debug, PartialEq, Eq, Template)]
#[template(path = "form2.html")]
pub struct Form2 {
    /// The space (office) name.
    pub space: String,
    /// The incident, if one is open.
    pub incident: Option<String>,
    /// What the groups are ("担当ケアマネ" or "地区").
    pub group_label: String,
    /// The printing date, western form.
    pub printed_western: String,
    /// The printing date, Japanese era form.
    pub printed_era: String,
    /// The groups, in order of their most urgent row.
    pub groups: Vec<Group>,
}

/// A date in the Japanese era form (令和8年11月22日; 元年 for the first
/// year). Dates before Meiji are given in the western form.
pub fn japanese_era(d: NaiveDate) -> String {
    const ERAS: &[(&str, (i32, u32, u32))] = &[
        ("令和", (2019, 5, 1)),
        ("平成", (1989, 1, 8)),
        ("昭和", (1926, 12, 25)),
        ("大正", (1912, 7, 30)),
        ("明治", (1868, 10, 23)),
    ];
    for (name, (y, m, day)) in ERAS {
        let start = NaiveDate::from_ymd_opt(*y, *m, *day).expect("era start dates are valid");
        if d >= start {
            let year = d.year() - y + 1;
            let year = if year == 1 {
                "元".to_string()
            } else {
                year.to_string()
            };
            return format!("{name}{year}年{}月{}日", d.month(), d.day());
        }
    }
    d.format("%Y年%-m月%-d日").to_string()
}

/// Build the form from a priority list.
pub fn build(
    space: &str,
    incident: Option<&str>,
    list: &[PriorityEntry<'_>],
    group_by: GroupBy,
    printed: DateTime<FixedOffset>,
) -> Form2 {
    let today = printed.date_naive();
    let mut groups: Vec<Group> = Vec::new();
    for e in list {
        let r = e.recipient;
        let key = match group_by {
            GroupBy::CareManager => &r.care_manager,
            GroupBy::Area => &r.area,
        };
        let key = if key.is_empty() {
            "（未設定）".to_string()
        } else {
            key.clone()
        };
        let mut care: Vec<String> = Vec::new();
        if let Some(l) = r.care_level {
            care.push(l.label_ja().to_string());
        }
        if !r.plan.medical_devices.is_empty() {
            care.push(
                r.plan
                    .medical_devices
                    .iter()
                    .map(|d| d.label_ja())
                    .collect::<Vec<_>>()
                    .join("・"),
            );
        }
        if r.bedridden == Some(true) {
            care.push("寝たきり".into());
        }
        if r.dementia == Some(true) {
            care.push("認知症".into());
        }
        if !r.plan.medical_needs.is_empty() {
            care.push(r.plan.medical_needs.clone());
        }
        let notes = [r.notes.as_str(), r.check_method.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" ／ 確認方法: ");
        let status = match e.latest {
            _ if !e.conflict.is_empty() => {
                format!("⚠{}", crate::views::conflict_line(&e.conflict, Lang::Ja))
            }
            Some(c) => format!("{}（{}）", c.result.label_ja(), c.staff.name),
            None => "未確認".to_string(),
        };
        let row = Row {
            rank: e.rank,
            id: r.id.0.clone(),
            name: r.name.clone(),
            age: r.age_on(today),
            area: r.area.clone(),
            address: r.address.clone(),
            care_manager: r.care_manager.clone(),
            household: r
                .household
                .map(|h| h.label_ja().to_string())
                .unwrap_or_default(),
            shelter: r.plan.shelter.clone(),
            care: care.join("・"),
            notes,
            reasons: e.reasons_line(),
            status,
            open: e.standing != Standing::Settled || !e.conflict.is_empty(),
        };
        // Names and notes may hold control characters from elsewhere (an
        // older version, a peer): never into Excel or onto paper.
        let row = row.printable();
        let key = crate::text::printable(&key).into_owned();
        match groups.iter_mut().find(|g| g.name == key) {
            Some(g) => g.rows.push(row),
            None => groups.push(Group {
                name: key,
                rows: vec![row],
            }),
        }
    }
    Form2 {
        space: space.to_string(),
        incident: incident.map(str::to_string),
        group_label: match group_by {
            GroupBy::CareManager => "担当ケアマネ",
            GroupBy::Area => "地区",
        }
        .to_string(),
        printed_western: printed.format("%Y-%m-%d %H:%M").to_string(),
        printed_era: japanese_era(today),
        groups,
    }
}

/// The CSV's header row.
pub const CSV_COLUMNS: &[&str] = &[
    "順位",
    "担当ケアマネ",
    "利用者ID",
    "氏名",
    "年齢",
    "地区",
    "住所",
    "世帯状況",
    "想定避難所",
    "医療や介護",
    "特記事項・確認方法",
    "優先の理由",
    "印刷時の状況",
    "確認日時",
    "確認者",
    "結果",
];

/// What form 2 is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Printable HTML (A4 landscape).
    Html,
    /// CSV in the given encoding.
    Csv(CsvEncoding),
}

/// Text encodings the CSV can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvEncoding {
    /// UTF-8 with a BOM: what Excel opens correctly without asking.
    Utf8Bom,
    /// Shift_JIS / CP932, for older Excel and care systems.
    Cp932,
}

/// A value that cannot be written in the chosen encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{id} の「{column}」は Shift_JIS (CP932) で書けない文字を含みます: {value:?}（UTF-8 で出力してください）"
)]
pub struct Unencodable {
    /// The recipient.
    pub id: String,
    /// The column.
    pub column: String,
    /// The value.
    pub value: String,
}

/// The form as CSV, rows in priority order, the last three columns blank for
/// writing results by hand.
pub fn to_csv(form: &Form2, encoding: CsvEncoding) -> Result<Vec<u8>, Unencodable> {
    let mut rows: Vec<&Row> = form.groups.iter().flat_map(|g| &g.rows).collect();
    rows.sort_by_key(|r| r.rank);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)
        .expect("writing CSV to memory cannot fail");
    for r in rows {
        let fields = [
            r.rank.to_string(),
            r.care_manager.clone(),
            r.id.clone(),
            r.name.clone(),
            r.age.map(|a| a.to_string()).unwrap_or_default(),
            r.area.clone(),
            r.address.clone(),
            r.household.clone(),
            r.shelter.clone(),
            r.care.clone(),
            r.notes.clone(),
            r.reasons.clone(),
            r.status.clone(),
            String::new(),
            String::new(),
            String::new(),
        ];
        if encoding == CsvEncoding::Cp932 {
            for (column, value) in CSV_COLUMNS.iter().zip(&fields) {
                let (_, _, bad) = encoding_rs::SHIFT_JIS.encode(value);
                if bad {
                    return Err(Unencodable {
                        id: r.id.clone(),
                        column: column.to_string(),
                        value: value.clone(),
                    });
                }
            }
        }
        w.write_record(&fields)
            .expect("writing CSV to memory cannot fail");
    }
    let text = w.into_inner().expect("writing CSV to memory cannot fail");
    Ok(match encoding {
        CsvEncoding::Utf8Bom => {
            let mut out = b"\xEF\xBB\xBF".to_vec();
            out.extend_from_slice(&text);
            out
        }
        CsvEncoding::Cp932 => {
            let s = String::from_utf8(text).expect("the CSV writer writes UTF-8");
            encoding_rs::SHIFT_JIS.encode(&s).0.into_owned()
        }
    })
}

/// The form as printable HTML.
pub fn to_html(form: &Form2) -> String {
    form.render()
        .expect("the form template renders from plain strings")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::priority::PriorityConfig;
    use crate::views::priority_list;

    fn roster() -> Vec<Recipient> {
        (0..6)
            .map(|i| {
                let mut r = Recipient {
                    id: RecipientId(format!("R{i}")),
                    name: format!("利用者<{i}>"),
                    care_manager: if i % 2 == 0 { "佐藤" } else { "高木" }.into(),
                    area: "東地区".into(),
                    household: Some(Household::Alone),
                    birth_date: Date::from_ymd(1940, 1, 1),
                    ..Default::default()
                };
                if i == 3 {
                    r.plan.medical_devices = vec![MedicalDevice::Ventilator];
                }
                r
            })
            .collect()
    }

    fn unchecked_list(rs: &[Recipient]) -> Vec<PriorityEntry<'_>> {
        priority_list(
            rs,
            None,
            &[],
            &[],
            &PriorityConfig::default(),
            Timestamp::from_millis(0),
        )
    }

    fn printed() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00+09:00").unwrap()
    }

    #[test]
    fn era_dates() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(japanese_era(d(2026, 11, 22)), "令和8年11月22日");
        assert_eq!(japanese_era(d(2019, 5, 1)), "令和元年5月1日");
        assert_eq!(japanese_era(d(2019, 4, 30)), "平成31年4月30日");
        assert_eq!(japanese_era(d(1989, 1, 7)), "昭和64年1月7日");
        assert_eq!(japanese_era(d(1940, 3, 2)), "昭和15年3月2日");
    }

    #[test]
    fn groups_follow_priority_and_html_is_escaped() {
        let rs = roster();
        let list = unchecked_list(&rs);
        let form = build(
            "ひまわり",
            Some("地震"),
            &list,
            GroupBy::CareManager,
            printed(),
        );
        // R3 (ventilator, 高木) is first, so 高木's page comes first.
        assert_eq!(form.groups[0].name, "高木");
        assert_eq!(form.groups[0].rows[0].id, "R3");
        assert_eq!(form.groups.len(), 2);
        assert_eq!(form.groups[0].rows[0].age, Some(86));
        let html = to_html(&form);
        assert!(html.contains("㊙"));
        assert!(
            html.contains("2026-11-22 10:00（令和8年11月22日）"),
            "{html}"
        );
        assert!(html.contains("size: A4 landscape"));
        assert!(
            html.contains("利用者&#60;3&#62;") || html.contains("利用者&lt;3&gt;"),
            "escaped"
        );
        assert!(!html.contains("利用者<3>"));
        assert_eq!(html.matches("<section class=\"group\">").count(), 2);
    }

    #[test]
    fn csv_in_utf8_with_bom_and_in_cp932() {
        let rs = roster();
        let list = unchecked_list(&rs);
        let form = build("ひまわり", None, &list, GroupBy::Area, printed());
        let utf8 = to_csv(&form, CsvEncoding::Utf8Bom).unwrap();
        assert!(utf8.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(utf8[3..].to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert!(lines[1].starts_with("1,高木,R3,"), "{}", lines[1]);
        assert!(lines[1].ends_with(",,,"), "blank columns for handwriting");
        let sjis = to_csv(&form, CsvEncoding::Cp932).unwrap();
        let (back, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis);
        assert!(!bad);
        assert_eq!(back, text);

        let mut odd = rs.clone();
        odd[0].name = "𠮷田 花子".into();
        let list = unchecked_list(&odd);
        let form = build("ひまわり", None, &list, GroupBy::Area, printed());
        let err = to_csv(&form, CsvEncoding::Cp932).unwrap_err();
        assert_eq!(err.column, "氏名");
        assert_eq!(err.id, "R0");
    }
}
