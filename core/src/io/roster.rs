//! Roster CSV import (DOMAIN.md "Roster CSV"): UTF-8 with or without BOM, or
//! Shift_JIS (CP932), detected; header names in any order; all or nothing.
//!
//! Every problem of every row is collected with its line, column and value,
//! so a care manager fixes the file once rather than once per error.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;

use crate::codes::{CareLevel, FloodDepth, Household, MedicalDevice};
use crate::model::{ConsentRecord, Date, Recipient, RecipientId};

/// The text encoding a roster file was read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 with a byte-order mark (what Excel writes as "CSV UTF-8").
    Utf8Bom,
    /// UTF-8.
    Utf8,
    /// Shift_JIS / CP932 (what most care systems and older Excel write).
    ShiftJis,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS (CP932)",
        })
    }
}

/// One problem in a roster file (line, column, value, what is wrong).
pub use crate::error::Problem;

/// Why a roster file was not imported: every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RosterErrors {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl RosterErrors {
    fn summary(&self) -> String {
        format!(
            "名簿を取り込めませんでした（{}件の問題。1件も登録していません）",
            self.problems.len()
        )
    }
}

impl fmt::Display for RosterErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::error::Rejected {
            summary: self.summary(),
            problems: self.problems.clone(),
        }
        .fmt(f)
    }
}

impl From<RosterErrors> for crate::error::Error {
    fn from(e: RosterErrors) -> Self {
        crate::error::Rejected {
            summary: e.summary(),
            problems: e.problems,
        }
        .into()
    }
}

/// A roster file, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Roster {
    /// The recipients, in file order.
    pub recipients: Vec<Recipient>,
    /// The encoding it was read in.
    pub encoding: Encoding,
    /// Header names that are not roster columns (ignored).
    pub ignored_columns: Vec<String>,
}

/// The columns of the roster CSV, in DOMAIN.md's order.
pub const COLUMNS: &[&str] = &[
    "利用者ID",
    "氏名",
    "フリガナ",
    "生年月日",
    "性別",
    "住所",
    "地区",
    "電話",
    "世帯状況",
    "要介護度",
    "担当ケアマネ",
    "想定避難所",
    "避難手段",
    "避難支援者",
    "避難支援者続柄",
    "避難意思",
    "避難先での支援",
    "常備薬",
    "医療機器",
    "医療必要度",
    "非常持ち出し袋",
    "担当民生委員",
    "民生委員電話",
    "命のバトン",
    "緊急連絡先1",
    "緊急連絡先2",
    "緊急連絡先3",
    "浸水想定",
    "土砂災害警戒区域",
    "認知症",
    "寝たきり",
    "安否確認方法",
    "特記事項",
    "情報提供同意",
    "同意日",
    "同意範囲",
    "同意取得者",
    "旧耐震木造",
];

const REQUIRED: &[&str] = &["利用者ID", "氏名", "住所"];

/// Decode the file's bytes: a BOM means UTF-8; valid UTF-8 is UTF-8;
/// anything else must be valid Shift_JIS (CP932).
pub fn decode(bytes: &[u8]) -> Result<(String, Encoding), RosterErrors> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return match std::str::from_utf8(rest) {
            Ok(s) => Ok((s.to_string(), Encoding::Utf8Bom)),
            Err(e) => Err(encoding_problem(rest, e.valid_up_to(), "UTF-8")),
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_string(), Encoding::Utf8));
    }
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        // Report where the encoding that read further broke down: that is
        // most likely the one the file was meant to be in.
        let utf8_ok = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| bytes.len());
        let at = first_sjis_error(bytes).max(utf8_ok);
        return Err(encoding_problem(bytes, at, "UTF-8 でも Shift_JIS でも"));
    }
    Ok((text.into_owned(), Encoding::ShiftJis))
}

fn first_sjis_error(bytes: &[u8]) -> usize {
    // Decode growing prefixes line by line to find the first bad line.
    let mut start = 0;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let (_, bad) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(line);
        if bad {
            return start;
        }
        start += line.len();
    }
    start
}

fn encoding_problem(bytes: &[u8], at: usize, what: &str) -> RosterErrors {
    // Line breaks as CRLF, CR or LF, like [`Lines`].
    let before = &bytes[..at.min(bytes.len())];
    let line = before
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && before.get(i + 1) != Some(&b'\n')))
        .count() as u64
        + 1;
    RosterErrors {
        problems: vec![Problem {
            line,
            column: None,
            value: String::new(),
            message: format!(
                "文字コードが読めません（{what}ありません）。Excel では「CSV UTF-8」で保存してください"
            ),
        }],
    }
}

/// Read a roster file: decode, parse, check every row. Nothing is returned
/// unless every row is valid.
pub fn read(bytes: &[u8]) -> Result<Roster, RosterErrors> {
    let (text, encoding) = decode(bytes)?;
    parse(&text, encoding)
}

/// Where each line of a text starts, counting a line break as CRLF, CR
/// alone or LF alone (Excel writes CRLF; old Mac tools CR): the line of a
/// byte offset is the file's own line number, header = 1.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn of(text: &str) -> Self {
        let b = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\r' if b.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Lines { starts }
    }

    /// The 1-based line of byte `at`.
    fn line(&self, at: usize) -> u64 {
        self.starts.partition_point(|&s| s <= at) as u64
    }
}

/// Where a record really starts: the csv reader's position may point at
/// the line break before it (CRLF) or at blank lines it skipped.
fn record_start(text: &str, byte: u64) -> usize {
    let b = text.as_bytes();
    let mut at = (byte as usize).min(b.len());
    while at < b.len() && matches!(b[at], b'\r' | b'\n') {
        at += 1;
    }
    at
}

/// The byte of a quote opened in `raw` (one record's text, from its start
/// to the end of the file or the next record) and never closed.
fn unclosed_quote(raw: &str) -> Option<usize> {
    let b = raw.as_bytes();
    let (mut i, mut field_start, mut open) = (0, true, None);
    while i < b.len() {
        match (open, b[i]) {
            (None, b'"') if field_start => {
                open = Some(i);
                field_start = false;
            }
            (None, b',') => field_start = true,
            (None, b'\r' | b'\n') => return None,
            (None, _) => field_start = false,
            (Some(_), b'"') if b.get(i + 1) == Some(&b'"') => i += 1,
            (Some(_), b'"') => open = None,
            (Some(_), _) => {}
        }
        i += 1;
    }
    open
}

/// Columns of free text, which may hold line breaks and tabs.
const FREE_TEXT: &[&str] = &[
    "特記事項",
    "安否確認方法",
    "医療必要度",
    "避難先での支援",
    "同意範囲",
];

fn parse(text: &str, encoding: Encoding) -> Result<Roster, RosterErrors> {
    let whole = |message: String| RosterErrors {
        problems: vec![Problem {
            line: 0,
            column: None,
            value: String::new(),
            message,
        }],
    };
    if text.trim().is_empty() {
        return Err(whole(
            "ファイルが空です（見出し行と利用者の行がありません）".into(),
        ));
    }
    let lines = Lines::of(text);
    let mut problems = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header_line = lines.line(record_start(text, 0));
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(RosterErrors {
                problems: vec![Problem {
                    line: header_line,
                    column: None,
                    value: String::new(),
                    message: format!("見出し行を読めません: {e}"),
                }],
            });
        }
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    let mut ignored_columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let name = normalize_header(h);
        match COLUMNS.iter().find(|c| **c == name) {
            Some(c) if index.contains_key(c) => problems.push(Problem {
                line: header_line,
                column: Some(h.to_string()),
                value: h.to_string(),
                message: "同じ見出しが2回あります".into(),
            }),
            Some(c) => {
                index.insert(c, i);
            }
            None if !h.is_empty() => ignored_columns.push(h.to_string()),
            None => {}
        }
    }
    for r in REQUIRED {
        if !index.contains_key(r) {
            problems.push(Problem {
                line: header_line,
                column: None,
                value: String::new(),
                message: format!("必須の列「{r}」がありません"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(RosterErrors { problems });
    }

    let mut recipients = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut records = reader.records().peekable();
    while let Some(record) = records.next() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(0, |p| lines.line(record_start(text, p.byte())));
                problems.push(Problem {
                    line,
                    column: None,
                    value: String::new(),
                    message: format!("CSV として読めません: {e}"),
                });
                continue;
            }
        };
        let start = record
            .position()
            .map_or(0, |p| record_start(text, p.byte()));
        let line = lines.line(start);
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A quote that never closes swallows the rest of the file into one
        // field: say where it opened, not what it swallowed.
        let end = match records.peek() {
            Some(Ok(next)) => next.position().map_or(text.len(), |p| p.byte() as usize),
            _ => text.len(),
        };
        if let Some(q) = unclosed_quote(&text[start..end.max(start)]) {
            problems.push(Problem {
                line: lines.line(start + q),
                column: None,
                value: String::new(),
                message: "「\"」で始まる項目が閉じられていません（ファイルの終わりまで1つの項目として読まれます）".into(),
            });
            continue;
        }
        // A row of another width has its columns shifted (an unquoted comma
        // in 特記事項 would turn 情報提供同意 from 無 into 有): refused.
        if record.len() != headers.len() {
            problems.push(Problem {
                line,
                column: None,
                value: String::new(),
                message: format!(
                    "項目の数が見出しと違います（見出し {} 項目、この行 {} 項目）。値に「,」を含むときは「\"」で囲んでください",
                    headers.len(),
                    record.len()
                ),
            });
            continue;
        }
        let mut row = Row {
            record: &record,
            index: &index,
            line,
            problems: &mut problems,
        };
        let Some(r) = row.recipient() else {
            continue;
        };
        match seen.get(r.id.as_str()) {
            Some(first) => problems.push(Problem {
                line,
                column: Some("利用者ID".into()),
                value: r.id.0.clone(),
                message: format!("利用者IDが{first}行目と重複しています"),
            }),
            None => {
                seen.insert(r.id.0.clone(), line);
            }
        }
        recipients.push(r);
    }
    if problems.is_empty() && recipients.is_empty() {
        return Err(whole("利用者の行がありません（見出し行だけです）".into()));
    }
    if problems.is_empty() {
        Ok(Roster {
            recipients,
            encoding,
            ignored_columns,
        })
    } else {
        Err(RosterErrors { problems })
    }
}

fn normalize_header(h: &str) -> String {
    let h = h.trim().trim_start_matches('\u{feff}');
    let mut s = to_ascii_digits(h);
    // 緊急連絡先① … ③ are common spellings.
    for (from, to) in [("①", "1"), ("②", "2"), ("③", "3")] {
        s = s.replace(from, to);
    }
    s
}

/// Full-width digits and a few symbols to ASCII, as Excel users type them.
fn to_ascii_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '．' => '.',
            '／' => '/',
            '－' | '‐' => '-',
            _ => c,
        })
        .collect()
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a HashMap<&'static str, usize>,
    line: u64,
    problems: &'a mut Vec<Problem>,
}

impl Row<'_> {
    /// The cell of `column`, line breaks as LF; a control character is a
    /// problem (free text may hold line breaks and tabs).
    fn get(&mut self, column: &str) -> String {
        let raw = self
            .index
            .get(column)
            .and_then(|i| self.record.get(*i))
            .unwrap_or_default();
        let value = if raw.contains('\r') {
            raw.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            raw.to_string()
        };
        if let Err(message) = crate::text::check(&value, FREE_TEXT.contains(&column)) {
            let shown = crate::text::printable(&value).into_owned();
            self.problem(column, &shown, message);
        }
        value
    }

    fn problem(&mut self, column: &str, value: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            line: self.line,
            column: Some(column.to_string()),
            value: value.to_string(),
            message: message.into(),
        });
    }

    fn required(&mut self, column: &str) -> String {
        let v = self.get(column);
        if v.is_empty() {
            self.problem(column, &v, "必須項目が空です");
        }
        v
    }

    fn yes_no(&mut self, column: &str) -> Option<bool> {
        let v = self.get(column);
        match parse_yes_no(&v) {
            Ok(b) => b,
            Err(()) => {
                self.problem(
                    column,
                    &v,
                    "有/無・あり/なし・○/×・はい/いいえ・1/0・true/false のいずれかで書いてください",
                );
                None
            }
        }
    }

    fn date(&mut self, column: &str) -> Option<Date> {
        let v = self.get(column);
        if v.is_empty() {
            return None;
        }
        match parse_date(&v) {
            Some(d) => Some(Date(d)),
            None => {
                self.problem(
                    column,
                    &v,
                    "日付が読めません（例: 1940-03-02、1940/3/2、昭和15年3月2日、S15.3.2）",
                );
                None
            }
        }
    }

    fn code<T: std::str::FromStr<Err = crate::codes::UnknownCode>>(
        &mut self,
        column: &str,
        valid: &[&str],
    ) -> Option<T> {
        let v = to_ascii_digits(&self.get(column));
        if v.is_empty() {
            return None;
        }
        match v.parse::<T>() {
            Ok(c) => Some(c),
            Err(_) => {
                self.problem(
                    column,
                    &v,
                    format!("次のいずれかで書いてください: {}", valid.join("、")),
                );
                None
            }
        }
    }

    /// The row's recipient; `None` without a usable 利用者ID (the problem
    /// is recorded).
    fn recipient(&mut self) -> Option<Recipient> {
        let raw = self.required("利用者ID");
        let id = match crate::text::recipient_id(&raw) {
            Ok(id) => Some(id),
            Err(message) => {
                if !raw.is_empty() {
                    self.problem("利用者ID", &raw, message);
                }
                None
            }
        };
        let r = self.fields(RecipientId(id.clone().unwrap_or_default()));
        id.map(|_| r)
    }

    fn fields(&mut self, id: RecipientId) -> Recipient {
        let mut r = Recipient {
            id,
            name: self.required("氏名"),
            kana: self.get("フリガナ"),
            birth_date: self.date("生年月日"),
            sex: self.get("性別"),
            address: self.required("住所"),
            area: self.get("地区"),
            phone: self.get("電話"),
            care_manager: self.get("担当ケアマネ"),
            check_method: self.get("安否確認方法"),
            notes: self.get("特記事項"),
            ..Default::default()
        };
        let labels = |all: &[Household]| all.iter().map(|h| h.label_ja()).collect::<Vec<_>>();
        r.household = self.code("世帯状況", &labels(Household::ALL));
        let levels: Vec<&str> = CareLevel::ALL.iter().map(|c| c.label_ja()).collect();
        r.care_level = self.code("要介護度", &levels);
        r.dementia = self.yes_no("認知症");
        r.bedridden = self.yes_no("寝たきり");
        r.consent = self.yes_no("情報提供同意");
        if let Some(date) = self.date("同意日") {
            r.consent_record = Some(ConsentRecord {
                date,
                scope: self.get("同意範囲"),
                obtained_by: self.get("同意取得者"),
            });
        }

        let p = &mut r.plan;
        p.shelter = self.get("想定避難所");
        p.means = self.get("避難手段");
        p.supporter = self.get("避難支援者");
        p.supporter_relation = self.get("避難支援者続柄");
        p.support_at_shelter = self.get("避難先での支援");
        p.medical_needs = self.get("医療必要度");
        p.welfare_commissioner = self.get("担当民生委員");
        p.welfare_commissioner_phone = self.get("民生委員電話");
        p.emergency_contacts = ["緊急連絡先1", "緊急連絡先2", "緊急連絡先3"]
            .iter()
            .map(|c| self.get(c))
            .filter(|c| !c.is_empty())
            .collect();
        let intends = self.yes_no("避難意思");
        let medication = self.yes_no("常備薬");
        let bag = self.yes_no("非常持ち出し袋");
        let baton = self.yes_no("命のバトン");
        let devices_text = self.get("医療機器");
        let (devices, other) = parse_devices(&devices_text);
        let p = &mut r.plan;
        p.intends_to_evacuate = intends;
        p.regular_medication = medication;
        p.emergency_bag = bag;
        p.life_baton = baton;
        p.medical_devices = devices;
        if !other.is_empty() {
            // Devices anpi has no code for are kept, in the needs text.
            let extra = format!("その他機器: {}", other.join("・"));
            p.medical_needs = if p.medical_needs.is_empty() {
                extra
            } else {
                format!("{}／{extra}", p.medical_needs)
            };
        }

        let flood = self.get("浸水想定");
        r.hazards.flood_depth = match parse_flood(&flood) {
            Ok(d) => d,
            Err(()) => {
                self.problem(
                    "浸水想定",
                    &flood,
                    "0.5m未満・0.5-3m・3m以上、または 有/無 で書いてください",
                );
                None
            }
        };
        r.hazards.landslide_zone = self.yes_no("土砂災害警戒区域");
        r.hazards.old_wooden_house = self.yes_no("旧耐震木造");
        r
    }
}

/// 有/無 and the other spellings of DOMAIN.md; empty is unknown.
fn parse_yes_no(v: &str) -> Result<Option<bool>, ()> {
    match v.trim().to_lowercase().as_str() {
        "" => Ok(None),
        "有" | "あり" | "有り" | "○" | "〇" | "◯" | "はい" | "1" | "１" | "true" | "yes" => {
            Ok(Some(true))
        }
        "無" | "なし" | "無し" | "×" | "✕" | "いいえ" | "0" | "０" | "false" | "no" => {
            Ok(Some(false))
        }
        _ => Err(()),
    }
}

/// 1940-03-02, 1940/3/2, 昭和15年3月2日, S15.3.2 (and 元年).
pub fn parse_date(v: &str) -> Option<NaiveDate> {
    let v = to_ascii_digits(v.trim());
    let nums = |s: &str| -> Option<Vec<u32>> {
        let parts: Vec<&str> = s
            .split(|c: char| !c.is_ascii_digit() && c != '元')
            .filter(|p| !p.is_empty())
            .collect();
        parts
            .iter()
            .map(|p| if *p == "元" { Some(1) } else { p.parse().ok() })
            .collect()
    };
    const ERAS: &[(&str, &str, i32)] = &[
        ("明治", "M", 1868),
        ("大正", "T", 1912),
        ("昭和", "S", 1926),
        ("平成", "H", 1989),
        ("令和", "R", 2019),
    ];
    for (kanji, letter, base) in ERAS {
        let rest = v
            .strip_prefix(kanji)
            .or_else(|| v.strip_prefix(letter))
            .or_else(|| v.strip_prefix(&letter.to_lowercase()));
        if let Some(rest) = rest {
            let n = nums(rest)?;
            let [y, m, d] = n[..] else { return None };
            if y == 0 {
                return None;
            }
            return NaiveDate::from_ymd_opt(base + y as i32 - 1, m, d);
        }
    }
    let n = nums(&v)?;
    let [y, m, d] = n[..] else { return None };
    if y < 1000 {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

/// 人工呼吸器・在宅酸素 → known devices, and the names anpi has no code for.
pub fn parse_devices(v: &str) -> (Vec<MedicalDevice>, Vec<String>) {
    let mut known = Vec::new();
    let mut other = Vec::new();
    for part in v
        .split(['・', '、', ',', '，', '/', '／'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match part.parse::<MedicalDevice>() {
            Ok(d) if !known.contains(&d) => known.push(d),
            Ok(_) => {}
            Err(_) => other.push(part.to_string()),
        }
    }
    (known, other)
}

/// 浸水想定: a depth class or 有/無.
fn parse_flood(v: &str) -> Result<Option<FloodDepth>, ()> {
    let t = to_ascii_digits(v.trim())
        .replace(['〜', '～', '~'], "-")
        .to_lowercase();
    let t = t.replace("ｍ", "m");
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = t.parse::<FloodDepth>() {
        return Ok(Some(d));
    }
    match t.as_str() {
        "0.5m未満" | "0.5未満" => Ok(Some(FloodDepth::Below05)),
        "0.5-3m" | "0.5m-3m" | "0.5-3" | "0.5m-3.0m" => Ok(Some(FloodDepth::From05To3)),
        "3m以上" | "3.0m以上" | "3以上" => Ok(Some(FloodDepth::Over3)),
        _ => match parse_yes_no(&t)? {
            Some(true) => Ok(Some(FloodDepth::Unknown)),
            Some(false) => Ok(Some(FloodDepth::None)),
            None => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "利用者ID,氏名,住所,生年月日,世帯状況,要介護度,医療機器,浸水想定,認知症";

    fn csv(rows: &[&str]) -> String {
        let mut s = HEADER.to_string();
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s.push('\n');
        s
    }

    #[test]
    fn reads_utf8_with_bom_and_all_the_spellings() {
        let text = csv(&[
            "R001,山田 ハル,架空市1-1,昭和15年3月2日,独居,要介護３,人工呼吸器・在宅酸素,3m以上,○",
            "R002,鈴木 茂,架空市2-2,S10.12.1,同居,要支援1,,無,いいえ",
            "R003,佐藤 清,架空市3-3,1940/3/2,,,胃ろう,0.5-3m,",
        ]);
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let roster = read(&bytes).unwrap();
        assert_eq!(roster.encoding, Encoding::Utf8Bom);
        let r = &roster.recipients;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].birth_date, Date::from_ymd(1940, 3, 2));
        assert_eq!(r[0].care_level, Some(CareLevel::Care3));
        assert_eq!(
            r[0].plan.medical_devices,
            vec![MedicalDevice::Ventilator, MedicalDevice::HomeOxygen]
        );
        assert_eq!(r[0].hazards.flood_depth, Some(FloodDepth::Over3));
        assert_eq!(r[0].dementia, Some(true));
        assert_eq!(r[1].birth_date, Date::from_ymd(1935, 12, 1));
        assert_eq!(r[1].hazards.flood_depth, Some(FloodDepth::None));
        assert_eq!(r[1].dementia, Some(false));
        assert_eq!(r[2].birth_date, Date::from_ymd(1940, 3, 2));
        assert_eq!(r[2].dementia, None);
        assert_eq!(r[2].plan.medical_needs, "その他機器: 胃ろう");
    }

    #[test]
    fn reads_shift_jis() {
        let text = csv(&["R001,山田 ハル,架空市1-1,平成元年1月8日,高齢者世帯,,,,"]);
        let (sjis, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!bad);
        let roster = read(&sjis).unwrap();
        assert_eq!(roster.encoding, Encoding::ShiftJis);
        assert_eq!(roster.recipients[0].name, "山田 ハル");
        assert_eq!(roster.recipients[0].birth_date, Date::from_ymd(1989, 1, 8));
    }

    #[test]
    fn every_bad_row_is_reported_with_line_column_and_value() {
        let text = csv(&[
            "R001,山田 ハル,架空市1-1,昭和99年13月1日,独居,,,,",
            "R002,,架空市2-2,,,,,,たぶん",
            "R001,重複 太郎,架空市3-3,,一人暮らし,要介護6,,深い,",
        ]);
        let err = read(text.as_bytes()).unwrap_err();
        let found: Vec<(u64, Option<&str>, &str)> = err
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_deref(), p.value.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (2, Some("生年月日"), "昭和99年13月1日"),
                (3, Some("氏名"), ""),
                (3, Some("認知症"), "たぶん"),
                (4, Some("世帯状況"), "一人暮らし"),
                (4, Some("要介護度"), "要介護6"),
                (4, Some("浸水想定"), "深い"),
                (4, Some("利用者ID"), "R001"),
            ]
        );
        let text = err.to_string();
        assert!(text.contains("1件も登録していません"), "{text}");
        assert!(
            text.contains("4行目 「利用者ID」: 利用者IDが2行目と重複しています"),
            "{text}"
        );
        // As the core's error, a host gets the same places and words
        // without reading the text.
        let problems = err.problems.clone();
        let e = crate::error::Error::from(err);
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidInput);
        assert_eq!(e.problems(), problems.as_slice());
        assert_eq!(e.to_string(), text);
    }

    #[test]
    fn missing_required_columns_and_bad_encoding_are_refused() {
        let err = read("氏名,電話\n山田,03\n".as_bytes()).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.to_string().contains("必須の列「利用者ID」がありません"));
        // Bytes that are neither UTF-8 nor Shift_JIS.
        let mut bad = format!("{HEADER}\n").into_bytes();
        bad.extend_from_slice(b"R1,\x82,\xff\xff\n");
        let err = read(&bad).unwrap_err();
        assert_eq!(err.problems[0].line, 2, "{err}");
        assert!(err.to_string().contains("文字コード"), "{err}");
    }

    /// An unquoted comma in 特記事項 shifts every later column: 情報提供同意
    /// would read 有 where the file says 無. The row is refused instead.
    #[test]
    fn a_row_longer_or_shorter_than_the_header_is_refused() {
        let text = "利用者ID,氏名,住所,特記事項,情報提供同意\n\
                    R001,山田 ハル,架空市1,階段あり,無\n\
                    R002,鈴木 茂,架空市2,杖,歩行器使用,無\n\
                    R003,佐藤 清,架空市3,無\n";
        let err = read(text.as_bytes()).unwrap_err();
        let lines: Vec<u64> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4], "{err}");
        assert!(
            err.problems[0]
                .message
                .contains("見出し 5 項目、この行 6 項目"),
            "{err}"
        );
        assert!(err.problems[1].message.contains("この行 4 項目"), "{err}");
    }

    #[test]
    fn an_unclosed_quote_is_named_where_it_opens() {
        let text = "利用者ID,氏名,住所,特記事項\n\
                    R001,山田 ハル,架空市1,\"階段あり\n\
                    R002,鈴木 茂,架空市2,\n\
                    R003,佐藤 清,架空市3,\n";
        let err = read(text.as_bytes()).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].line, 2, "{err}");
        assert!(
            err.problems[0].message.contains("閉じられていません"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_or_a_header_alone_says_so() {
        for empty in ["", "\n\r\n  \n"] {
            let err = read(empty.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("ファイルが空です"), "{err}");
        }
        let err = read("利用者ID,氏名,住所\r\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("利用者の行がありません"), "{err}");
    }

    /// The file's own line numbers (header = 1), whatever the line endings,
    /// blank lines and quoted line breaks.
    #[test]
    fn problems_carry_the_files_own_line_numbers() {
        let rows = [
            "利用者ID,氏名,住所,特記事項,世帯状況",
            "R001,山田 ハル,架空市1,,独居",
            "",
            "",
            "R002,鈴木 茂,架空市2,\"一行目",
            "二行目\",一人暮らし",
            "R001,重複,架空市3,,",
        ];
        for eol in ["\n", "\r\n", "\r"] {
            let text = rows.join(eol) + eol;
            let err = read(text.as_bytes()).unwrap_err();
            let found: Vec<(u64, Option<&str>)> = err
                .problems
                .iter()
                .map(|p| (p.line, p.column.as_deref()))
                .collect();
            assert_eq!(
                found,
                [(5, Some("世帯状況")), (7, Some("利用者ID"))],
                "line endings {eol:?}: {err}"
            );
            assert!(
                err.to_string().contains("利用者IDが2行目と重複しています"),
                "{eol:?}: {err}"
            );
        }
        // A quoted line break survives as a line break.
        let ok = "利用者ID,氏名,住所,特記事項\r\nR001,山田,架空市,\"一行目\r\n二行目\"\r\n";
        assert_eq!(
            read(ok.as_bytes()).unwrap().recipients[0].notes,
            "一行目\n二行目"
        );
    }

    #[test]
    fn control_characters_are_refused_with_their_place() {
        let text = "利用者ID,氏名,住所,特記事項\n\
                    R001,山田\u{0}ハル,架空市1,\n\
                    R002,鈴木 茂,架空市2,\u{1b}[2J消える\n\
                    R003,佐藤 清,架空市3,\"段差あり\n手すりなし\"\n";
        let err = read(text.as_bytes()).unwrap_err();
        let found: Vec<(u64, Option<&str>)> = err
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_deref()))
            .collect();
        assert_eq!(found, [(2, Some("氏名")), (3, Some("特記事項"))], "{err}");
        assert!(err.to_string().contains("制御文字"), "{err}");
        assert!(
            !err.to_string().contains('\u{1b}'),
            "the value is shown escaped"
        );
    }

    #[test]
    fn ids_are_compared_after_width_normalisation() {
        let text = "利用者ID,氏名,住所\nＲ０００１,山田,架空市1\nR0001,重複,架空市2\n";
        let err = read(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("2行目と重複"), "{err}");
        let one = "利用者ID,氏名,住所\n Ｒ０００１ ,山田,架空市1\n";
        assert_eq!(
            read(one.as_bytes()).unwrap().recipients[0].id.as_str(),
            "R0001"
        );
        let long = format!("利用者ID,氏名,住所\n{},山田,架空市1\n", "R".repeat(65));
        let err = read(long.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("長すぎます"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_roster_or_problems_never_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)
        ) {
            if let Err(e) = read(&bytes) {
                proptest::prop_assert!(!e.problems.is_empty());
            }
        }

        #[test]
        fn any_text_after_a_valid_header_never_panics(body in "\\PC{0,400}") {
            let _ = read(format!("{HEADER}\n{body}").as_bytes());
        }
    }

    #[test]
    fn dates_in_every_documented_form() {
        for (v, y, m, d) in [
            ("1940-03-02", 1940, 3, 2),
            ("1940/3/2", 1940, 3, 2),
            ("昭和15年3月2日", 1940, 3, 2),
            ("S15.3.2", 1940, 3, 2),
            ("令和元年5月1日", 2019, 5, 1),
            ("大正１５年１２月２４日", 1926, 12, 24),
        ] {
            assert_eq!(parse_date(v), NaiveDate::from_ymd_opt(y, m, d), "{v}");
        }
        for bad in ["", "15/3/2", "昭和15年2月30日", "X15.3.2", "1940-03"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
