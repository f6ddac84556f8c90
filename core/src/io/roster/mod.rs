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
    "バッテリー時間",
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

/// A kind of row a CSV file of the office holds (a recipient of the
/// roster, a person of the staff list): its columns and how one row reads.
/// Every such file is read by one reader (`parse`), so the rules of
/// encoding, quoting, width and "all rows or none" are the same for each.
pub(crate) trait TableRow: Sized {
    /// Every column, in the documented order.
    const COLUMNS: &'static [&'static str];
    /// Columns a file must have.
    const REQUIRED: &'static [&'static str];
    /// Columns of free text, which may hold line breaks and tabs.
    const FREE_TEXT: &'static [&'static str];
    /// The column of the id no two rows may share.
    const ID_COLUMN: &'static str;
    /// What a file of a header alone is told.
    const NO_ROWS: &'static str;
    /// The row read; `None` without a usable id (the problem is recorded).
    fn read(row: &mut Row<'_>) -> Option<Self>;
    /// Its id.
    fn id(&self) -> &str;
}

impl TableRow for Recipient {
    const COLUMNS: &'static [&'static str] = COLUMNS;
    const REQUIRED: &'static [&'static str] = REQUIRED;
    const FREE_TEXT: &'static [&'static str] = FREE_TEXT;
    const ID_COLUMN: &'static str = "利用者ID";
    const NO_ROWS: &'static str = "利用者の行がありません（見出し行だけです）";
    fn read(row: &mut Row<'_>) -> Option<Self> {
        row.recipient()
    }
    fn id(&self) -> &str {
        self.id.as_str()
    }
}

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
    let (recipients, ignored_columns) = parse::<Recipient>(&text)?;
    Ok(Roster {
        recipients,
        encoding,
        ignored_columns,
    })
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

/// Every row of a CSV file of `T`s, and the header names that are no
/// column of it (ignored); or every problem found.
pub(crate) fn parse<T: TableRow>(text: &str) -> Result<(Vec<T>, Vec<String>), RosterErrors> {
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
        match T::COLUMNS.iter().find(|c| **c == name) {
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
    for r in T::REQUIRED {
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

    let mut rows = Vec::new();
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
            free_text: T::FREE_TEXT,
            problems: &mut problems,
        };
        let Some(r) = T::read(&mut row) else {
            continue;
        };
        match seen.get(r.id()) {
            Some(first) => problems.push(Problem {
                line,
                column: Some(T::ID_COLUMN.into()),
                value: r.id().to_string(),
                message: format!("{}が{first}行目と重複しています", T::ID_COLUMN),
            }),
            None => {
                seen.insert(r.id().to_string(), line);
            }
        }
        rows.push(r);
    }
    if problems.is_empty() && rows.is_empty() {
        return Err(whole(T::NO_ROWS.into()));
    }
    if problems.is_empty() {
        Ok((rows, ignored_columns))
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

/// One row of a CSV file being read, and the file's problems so far.
pub(crate) struct Row<'a> {
    record: &'a csv::StringRecord,
    index: &'a HashMap<&'static str, usize>,
    line: u64,
    free_text: &'static [&'static str],
    problems: &'a mut Vec<Problem>,
}

impl Row<'_> {
    /// The cell of `column`, line breaks as LF; a control character is a
    /// problem (free text may hold line breaks and tabs).
    pub(crate) fn get(&mut self, column: &str) -> String {
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
        if let Err(message) = crate::text::check(&value, self.free_text.contains(&column)) {
            let shown = crate::text::printable(&value).into_owned();
            self.problem(column, &shown, message);
        }
        value
    }

    pub(crate) fn problem(&mut self, column: &str, value: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            line: self.line,
            column: Some(column.to_string()),
            value: value.to_string(),
            message: message.into(),
        });
    }

    /// The id in `column`, as `read` keeps it; `None` (the problem
    /// recorded) when it is empty or not one.
    pub(crate) fn id(
        &mut self,
        column: &str,
        read: fn(&str) -> Result<String, String>,
    ) -> Option<String> {
        let raw = self.required(column);
        match read(&raw) {
            Ok(id) => Some(id),
            Err(message) => {
                if !raw.is_empty() {
                    self.problem(column, &raw, message);
                }
                None
            }
        }
    }

    pub(crate) fn required(&mut self, column: &str) -> String {
        let v = self.get(column);
        if v.is_empty() {
            self.problem(column, &v, "必須項目が空です");
        }
        v
    }

    pub(crate) fn yes_no(&mut self, column: &str) -> Option<bool> {
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

    pub(crate) fn duration(&mut self, column: &str) -> Option<u32> {
        let v = self.get(column);
        if v.is_empty() {
            return None;
        }
        let minutes = crate::text::duration_minutes(&v);
        if minutes.is_none() {
            self.problem(
                column,
                &v,
                "時間が読めません（例: 6、6時間、6.5時間、90分、1時間30分）",
            );
        }
        minutes
    }

    pub(crate) fn date(&mut self, column: &str) -> Option<Date> {
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

    pub(crate) fn code<T: std::str::FromStr<Err = crate::codes::UnknownCode>>(
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
        let id = self.id("利用者ID", crate::text::recipient_id);
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
        let battery = self.duration("バッテリー時間");
        let p = &mut r.plan;
        p.battery_minutes = battery;
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
mod tests;
