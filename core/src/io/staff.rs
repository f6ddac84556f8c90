//! The staff list CSV (職員名簿): read by the roster's reader, with its
//! rules — UTF-8 or Shift_JIS, headers in any order, every problem with its
//! line, column and value, all rows or none.

use super::roster::{Encoding, RosterErrors, Row, TableRow, decode, parse};
use crate::model::{StaffId, StaffMember};

/// The columns of the staff list CSV, in the documented order.
pub const COLUMNS: &[&str] = &["職員ID", "氏名", "所属", "職種", "電話", "距離", "地区"];

/// A staff list file, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct StaffFile {
    /// The people, in file order.
    pub staff: Vec<StaffMember>,
    /// The encoding it was read in.
    pub encoding: Encoding,
    /// Header names that are not staff list columns (ignored).
    pub ignored_columns: Vec<String>,
}

impl TableRow for StaffMember {
    const COLUMNS: &'static [&'static str] = COLUMNS;
    const REQUIRED: &'static [&'static str] = &["職員ID", "氏名"];
    const FREE_TEXT: &'static [&'static str] = &[];
    const ID_COLUMN: &'static str = "職員ID";
    const NO_ROWS: &'static str = "職員の行がありません（見出し行だけです）";

    fn read(row: &mut Row<'_>) -> Option<Self> {
        let id = row.id("職員ID", crate::text::staff_id);
        let distance = row.get("距離");
        let distance_km = if distance.is_empty() {
            None
        } else {
            let km = crate::text::distance_km(&distance);
            if km.is_none() {
                row.problem(
                    "距離",
                    &distance,
                    "自宅から事業所までの距離を km で書いてください（例: 2.5、2.5km）",
                );
            }
            km
        };
        let member = StaffMember {
            id: StaffId(id.clone().unwrap_or_default()),
            name: row.required("氏名"),
            organisation: row.get("所属"),
            role: row.get("職種"),
            phone: row.get("電話"),
            distance_km,
            area: row.get("地区"),
        };
        id.map(|_| member)
    }

    fn id(&self) -> &str {
        self.id.as_str()
    }
}

/// Read a staff list file: decode, parse, check every row. Nothing is
/// returned unless every row is valid.
pub fn read(bytes: &[u8]) -> Result<StaffFile, RosterErrors> {
    let (text, encoding) = decode(bytes)?;
    let (staff, ignored_columns) = parse::<StaffMember>(&text)?;
    Ok(StaffFile {
        staff,
        encoding,
        ignored_columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_staff_list_in_shift_jis_with_its_distances() {
        let text = "職員ID,氏名,所属,職種,電話,距離,地区,備考\r\n\
                    Ｓ０１,田中 花子,みどり居宅,ケアマネジャー,090-1111-2222,１．５ｋｍ,,\r\n\
                    S02,佐藤 一郎,みどり居宅,訪問介護員,,,北区,夜勤明け\r\n";
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let f = read(&bytes).unwrap();
        assert_eq!(f.encoding, Encoding::ShiftJis);
        assert_eq!(f.ignored_columns, vec!["備考".to_string()]);
        assert_eq!(f.staff.len(), 2);
        assert_eq!(f.staff[0].id.as_str(), "S01");
        assert_eq!(f.staff[0].distance_km, Some(1.5));
        assert_eq!(f.staff[1].distance_km, None);
        assert_eq!(f.staff[1].area, "北区");
    }

    #[test]
    fn every_bad_row_is_named_and_nothing_is_read() {
        let text = "職員ID,氏名,距離\n\
                    S01,田中 花子,遠い\n\
                    S01,佐藤 一郎,3\n\
                    ,鈴木 次郎,1\n\
                    S04,,-2\n";
        let e = read(text.as_bytes()).unwrap_err();
        let got: Vec<(u64, Option<&str>, &str)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_deref(), p.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Some("距離"), "遠い"),
                (3, Some("職員ID"), "S01"),
                (4, Some("職員ID"), ""),
                (5, Some("距離"), "-2"),
                (5, Some("氏名"), ""),
            ],
            "{e}"
        );
        assert!(e.problems[1].message.contains("2行目と重複"), "{e}");
        let missing = read("氏名,距離\n田中,1\n".as_bytes()).unwrap_err();
        assert!(missing.to_string().contains("「職員ID」"), "{missing}");
    }
}
