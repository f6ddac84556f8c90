//! Text that people type or files bring: what is refused on the way in,
//! and how it is shown on the way out.
//!
//! - **Control characters** (NUL, ESC, …) are refused in every field of a
//!   roster and in a check's note; free-text fields may keep line breaks
//!   and tabs. Data that reached this device from elsewhere (an older
//!   version, a peer) may still hold them, so every output a person or a
//!   program reads ([`printable`]) shows them as visible symbols: an ESC
//!   sequence in a note must not drive the office's terminal, and a NUL
//!   must not reach Excel.
//! - **利用者ID** ([`recipient_id`]) is compared after width normalisation
//!   (`Ｒ０００１` is `R0001`), trimmed, at most [`MAX_ID_CHARS`] long.

use std::borrow::Cow;

/// The longest 利用者ID, in characters. Care systems use short codes; a
/// longer one is a pasted note, not an id.
pub const MAX_ID_CHARS: usize = 64;

/// Whether `c` is a control character that text may not hold (line breaks
/// and tabs aside, which free text may).
fn forbidden(c: char, free_text: bool) -> bool {
    if free_text && matches!(c, '\n' | '\r' | '\t') {
        return false;
    }
    c.is_control()
}

/// `Err` naming the first control character of `value`, in Japanese; line
/// breaks and tabs are allowed when `free_text`.
pub fn check(value: &str, free_text: bool) -> Result<(), String> {
    match value.chars().find(|c| forbidden(*c, free_text)) {
        None => Ok(()),
        Some(c) => Err(format!("制御文字（U+{:04X}）は使えません", u32::from(c))),
    }
}

/// `value` as it may be shown to a person or written to a file: control
/// characters other than line breaks and tabs become visible symbols
/// (U+2400…: `␀`, `␛`, …; others `\u{…}`).
pub fn printable(value: &str) -> Cow<'_, str> {
    if !value.chars().any(|c| forbidden(c, true)) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            c if !forbidden(c, true) => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// Full-width ASCII (`Ｒ０００１`, as Japanese input methods type it) and
/// the ideographic space as plain ASCII.
pub fn narrow(value: &str) -> String {
    value.chars().map(narrow_char).collect()
}

/// One character as [`narrow`] makes it.
fn narrow_char(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(u32::from(c) - 0xff01 + 0x21).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// A 利用者ID as typed or read from a file, as anpi keeps and compares it:
/// trimmed, narrowed ([`narrow`]), no control characters, not empty, at
/// most [`MAX_ID_CHARS`] characters. `Err` says why, in Japanese.
pub fn recipient_id(value: &str) -> Result<String, String> {
    id_named("利用者ID", value)
}

/// A 職員ID, kept and compared like a 利用者ID ([`recipient_id`]).
pub fn staff_id(value: &str) -> Result<String, String> {
    id_named("職員ID", value)
}

/// A 職員ID a person typed (a command, a phone): as [`staff_id`] keeps it.
pub fn typed_staff_id(value: &str) -> Result<crate::model::StaffId, crate::Error> {
    staff_id(value)
        .map(crate::model::StaffId)
        .map_err(|why| crate::Error::Invalid(format!("職員ID {:?}: {why}", printable(value))))
}

fn id_named(what: &str, value: &str) -> Result<String, String> {
    let id = narrow(value).trim().to_string();
    if id.is_empty() {
        return Err(format!("{what}が空です"));
    }
    check(&id, false)?;
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(format!(
            "{what}が長すぎます（{chars}文字。{MAX_ID_CHARS}文字まで）"
        ));
    }
    Ok(id)
}

/// A distance in km as people write it: `2`, `2.5`, `２．５ｋｍ`, `2.5 km`.
/// `None` when it is not one, or not between 0 and 1,000 km.
pub fn distance_km(value: &str) -> Option<f64> {
    let v = narrow(value).to_lowercase().replace([' ', '．'], "");
    let v = v.strip_suffix("km").unwrap_or(&v);
    let km: f64 = v.parse().ok()?;
    (km.is_finite() && (0.0..=1000.0).contains(&km)).then_some(km)
}

/// A 利用者ID a person typed to name a recipient (in a command, on a
/// phone): narrowed and trimmed like the roster's, so that `Ｒ０００１ `
/// finds `R0001`. Longer than a roster id may be: an area space's copy
/// carries its office's prefix.
pub fn typed_id(value: &str) -> Result<crate::model::RecipientId, crate::Error> {
    let id = narrow(value).trim().to_string();
    let bad =
        |why: String| crate::Error::Invalid(format!("利用者ID {:?}: {why}", printable(value)));
    if id.is_empty() {
        return Err(bad("空です".into()));
    }
    check(&id, false).map_err(bad)?;
    if id.chars().count() > 2 * MAX_ID_CHARS {
        return Err(bad("長すぎます".into()));
    }
    Ok(crate::model::RecipientId(id))
}

/// A length of time as people write it in a roster: `6`, `6時間`, `6.5h`,
/// `90分`, `1時間30分`, `６時間` (a bare number is hours). Minutes, rounded
/// down; `None` when it is not one (or more than a year).
pub fn duration_minutes(value: &str) -> Option<u32> {
    let v = narrow(value).replace(' ', "").to_lowercase();
    let (minutes, units, bare, rest) = scan_duration(&v);
    let minutes = match (units, bare) {
        _ if !rest.is_empty() => return None,
        (0, Some(hours)) => hours * 60.0,
        (1.., None) => minutes,
        _ => return None,
    };
    within_a_year(minutes)
}

/// How long a battery lasts, as free text says it: the first length of
/// time, with its units, within a few characters after "バッテリー"
/// (`バッテリー6時間`, `内部バッテリー：約4時間`, `予備バッテリーで8h`,
/// `バッテリー1時間30分`). Every list reads every recipient's needs: the
/// few characters after the word are narrowed only when they hold
/// full-width ones.
pub fn battery_in_words(text: &str) -> Option<u32> {
    const WORD: &str = "バッテリー";
    text.match_indices(WORD).find_map(|(at, _)| {
        let after = &text[at + WORD.len()..];
        let narrowed: String;
        let after = if after.chars().take(16).any(|c| narrow_char(c) != c) {
            narrowed = after.chars().take(16).map(narrow_char).collect();
            narrowed.as_str()
        } else {
            after
        };
        // The number, a few characters on ("で", "：約", "駆動").
        let (start, _) = after
            .char_indices()
            .take(6)
            .find(|(_, c)| c.is_ascii_digit())?;
        match scan_duration(&after[start..]) {
            (minutes, 1.., _, _) => within_a_year(minutes),
            _ => None,
        }
    })
}

/// Numbers, each with its unit (時間, hours, hour, hrs, h, 分, min, m),
/// from the start of `text`: the minutes they add up to, how many units
/// were read, a number read last with no unit after it, and what is left
/// after the last number read.
fn scan_duration(mut text: &str) -> (f64, u32, Option<f64>, &str) {
    const UNITS: [(&str, f64); 8] = [
        ("時間", 60.0),
        ("hours", 60.0),
        ("hour", 60.0),
        ("hrs", 60.0),
        ("h", 60.0),
        ("分", 1.0),
        ("min", 1.0),
        ("m", 1.0),
    ];
    let (mut minutes, mut units) = (0.0, 0);
    while text.starts_with(|c: char| c.is_ascii_digit()) {
        let digits = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let Ok(number) = text[..digits].parse::<f64>() else {
            return (minutes, units, None, text);
        };
        text = &text[digits..];
        match UNITS.into_iter().find(|(u, _)| text.starts_with(u)) {
            Some((u, per)) => {
                minutes += number * per;
                units += 1;
                text = &text[u.len()..];
            }
            None => return (minutes, units, Some(number), text),
        }
    }
    (minutes, units, None, text)
}

/// Whole minutes, when `minutes` is a length of time of at most a year.
fn within_a_year(minutes: f64) -> Option<u32> {
    (minutes.is_finite() && (0.0..=525_600.0).contains(&minutes)).then_some(minutes as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_narrowed_trimmed_and_bounded() {
        assert_eq!(recipient_id(" Ｒ０００１　").unwrap(), "R0001");
        assert_eq!(recipient_id("R0001").unwrap(), "R0001");
        assert!(recipient_id("").is_err());
        assert!(recipient_id("R\u{0}1").is_err());
        assert!(recipient_id(&"R".repeat(65)).is_err());
        assert!(recipient_id(&"利".repeat(64)).is_ok());
    }

    #[test]
    fn control_characters_are_refused_and_shown_visibly() {
        assert!(check("山田\u{0}花子", false).is_err());
        assert!(check("一行目\n二行目\t", true).is_ok());
        assert!(check("一行目\n二行目", false).is_err());
        assert!(check("\u{1b}[2J", true).is_err());
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a␛[2Jb\n");
        assert_eq!(printable("\u{0}\u{7f}\u{9b}"), "␀␡\\u{9b}");
        assert!(matches!(printable("普通の文"), Cow::Borrowed(_)));
    }

    #[test]
    fn lengths_of_time_read_as_people_write_them() {
        assert_eq!(duration_minutes("6"), Some(360));
        assert_eq!(duration_minutes("6時間"), Some(360));
        assert_eq!(duration_minutes("６時間"), Some(360));
        assert_eq!(duration_minutes("6.5h"), Some(390));
        assert_eq!(duration_minutes("90分"), Some(90));
        assert_eq!(duration_minutes("1時間30分"), Some(90));
        assert_eq!(duration_minutes(" 8 時間 "), Some(480));
        for bad in ["", "six", "6日", "時間", "-3", "1e9"] {
            assert_eq!(duration_minutes(bad), None, "{bad}");
        }
        assert_eq!(battery_in_words("人工呼吸器（バッテリー6時間）"), Some(360));
        assert_eq!(
            battery_in_words("内部バッテリー：約4時間、外部2個"),
            Some(240)
        );
        assert_eq!(battery_in_words("予備バッテリーで８ｈ"), Some(480));
        assert_eq!(battery_in_words("バッテリー交換 2024年"), None);
        assert_eq!(
            battery_in_words("バッテリーなし／吸引器 バッテリー45分"),
            Some(45)
        );
        assert_eq!(battery_in_words("在宅酸素 6時間"), None);
    }
}
