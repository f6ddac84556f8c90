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
