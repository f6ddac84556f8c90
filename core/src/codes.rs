//! Closed sets of codes (check results, methods, care levels, …).
//!
//! Each code has a stable ASCII form used in documents, JSON and the CLI
//! (`safe`, `visit`), a Japanese label shown to users (無事, 訪問) and an
//! English one. Documents store the ASCII code so that a relabelling never
//! rewrites history.

/// Defines a code enum with its ASCII code, Japanese and English labels, and
/// the conversions every code needs: `FromStr` (accepting the code or either
/// label), `Display` (the code), serde as the code string.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = ($code:literal, $ja:literal, $en:literal) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable ASCII code.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The Japanese label users see.
            pub fn label_ja(self) -> &'static str {
                match self { $($name::$variant => $ja),+ }
            }

            /// The English label.
            pub fn label_en(self) -> &'static str {
                match self { $($name::$variant => $en),+ }
            }

            /// The label in the given language.
            pub fn label(self, lang: $crate::codes::Lang) -> &'static str {
                match lang {
                    $crate::codes::Lang::Ja => self.label_ja(),
                    $crate::codes::Lang::En => self.label_en(),
                }
            }

            /// All valid codes, comma separated, for error messages.
            pub fn valid_codes() -> String {
                Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::codes::UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == s || v.label_ja() == s || v.label_en().eq_ignore_ascii_case(s))
                    .ok_or_else(|| $crate::codes::UnknownCode {
                        what: $what,
                        value: s.to_string(),
                        valid: $name::valid_codes(),
                    })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Language of labels shown to people. Japanese first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// 日本語
    #[default]
    Ja,
    /// English
    En,
}

/// A value that is not one of the known codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}' (valid: {valid})")]
pub struct UnknownCode {
    /// What kind of code was expected ("check result", "method", …).
    pub what: &'static str,
    /// The value that was given.
    pub value: String,
    /// The valid codes, comma separated.
    pub valid: String,
}

code_enum! {
    /// The outcome of a safety check (安否確認の結果).
    CheckResult, "check result" {
        /// 無事
        Safe = ("safe", "無事", "safe"),
        /// 無事・要支援
        SafeNeedsSupport = ("safe_needs_support", "無事・要支援", "safe, needs support"),
        /// 負傷
        Injured = ("injured", "負傷", "injured"),
        /// 要避難支援
        NeedsEvacuation = ("needs_evacuation", "要避難支援", "needs evacuation support"),
        /// 避難済（避難先）
        Evacuated = ("evacuated", "避難済", "evacuated"),
        /// 入院・搬送
        Hospitalized = ("hospitalized", "入院・搬送", "hospitalized"),
        /// 死亡
        Deceased = ("deceased", "死亡", "deceased"),
        /// 連絡不通
        Unreachable = ("unreachable", "連絡不通", "unreachable"),
        /// 不在
        Absent = ("absent", "不在", "absent"),
    }
}

impl CheckResult {
    /// Whether this result settles the person's safety status. A
    /// non-conclusive result (unreachable, absent) keeps them on the list.
    pub fn is_conclusive(self) -> bool {
        !matches!(self, CheckResult::Unreachable | CheckResult::Absent)
    }

    /// Whether the result asks someone to act now (要避難支援): such people
    /// stay at the very top of the list until a later check settles it.
    pub fn needs_action(self) -> bool {
        matches!(self, CheckResult::NeedsEvacuation)
    }

    /// How much attention the result asks for; higher first. When checks of
    /// one recipient disagree and none knew of the others, the one asking
    /// for most attention is the status shown, never the one with the later
    /// clock (a phone's clock is no evidence after its battery died). The
    /// order ([`ATTENTION_ORDER`], docs/CODES.md): 要避難支援, 負傷, 無事・要支援
    /// (someone must act), then 死亡, 入院・搬送 (to be reported), then
    /// 避難済, 無事; 連絡不通 and 不在 come last and never hide a
    /// conclusive result.
    pub fn attention(self) -> u8 {
        let place = ATTENTION_ORDER
            .iter()
            .position(|r| *r == self)
            .unwrap_or(ATTENTION_ORDER.len());
        (ATTENTION_ORDER.len() - place) as u8
    }
}

/// Every result, the one asking for most attention first (see
/// [`CheckResult::attention`]).
pub const ATTENTION_ORDER: [CheckResult; 9] = [
    CheckResult::NeedsEvacuation,
    CheckResult::Injured,
    CheckResult::SafeNeedsSupport,
    CheckResult::Deceased,
    CheckResult::Hospitalized,
    CheckResult::Evacuated,
    CheckResult::Safe,
    CheckResult::Unreachable,
    CheckResult::Absent,
];

code_enum! {
    /// How a safety check was made (確認方法).
    CheckMethod, "check method" {
        /// 電話
        Phone = ("phone", "電話", "phone"),
        /// 訪問
        Visit = ("visit", "訪問", "visit"),
        /// 家族
        Family = ("family", "家族", "via family"),
        /// 避難所名簿
        ShelterList = ("shelter_list", "避難所名簿", "shelter list"),
        /// その他
        Other = ("other", "その他", "other"),
    }
}

code_enum! {
    /// The kind of disaster an incident is.
    IncidentKind, "incident kind" {
        /// 地震
        Earthquake = ("earthquake", "地震", "earthquake"),
        /// 水害（洪水・浸水）
        Flood = ("flood", "水害", "flood"),
        /// 土砂災害
        Landslide = ("landslide", "土砂災害", "landslide"),
        /// 台風・大雨
        Storm = ("storm", "台風・大雨", "storm"),
        /// その他
        Other = ("other", "その他", "other"),
    }
}

code_enum! {
    /// Care level (要介護度).
    CareLevel, "care level" {
        /// 事業対象者
        ProgramEligible = ("program_eligible", "事業対象者", "program eligible"),
        /// 要支援1
        Support1 = ("support_1", "要支援1", "support level 1"),
        /// 要支援2
        Support2 = ("support_2", "要支援2", "support level 2"),
        /// 要介護1
        Care1 = ("care_1", "要介護1", "care level 1"),
        /// 要介護2
        Care2 = ("care_2", "要介護2", "care level 2"),
        /// 要介護3
        Care3 = ("care_3", "要介護3", "care level 3"),
        /// 要介護4
        Care4 = ("care_4", "要介護4", "care level 4"),
        /// 要介護5
        Care5 = ("care_5", "要介護5", "care level 5"),
    }
}

code_enum! {
    /// Household situation (世帯状況).
    Household, "household" {
        /// 独居
        Alone = ("alone", "独居", "lives alone"),
        /// 高齢者世帯
        ElderlyOnly = ("elderly_only", "高齢者世帯", "elderly-only household"),
        /// 日中独居
        AloneDaytime = ("alone_daytime", "日中独居", "alone in the daytime"),
        /// 同居
        WithFamily = ("with_family", "同居", "lives with family"),
    }
}

code_enum! {
    /// Expected flood depth class at home (浸水想定).
    FloodDepth, "flood depth" {
        /// 浸水想定なし
        None = ("none", "なし", "none"),
        /// 浸水想定あり（深さ不明）
        Unknown = ("yes", "あり", "yes, depth unknown"),
        /// 0.5m未満
        Below05 = ("below_0_5m", "0.5m未満", "below 0.5 m"),
        /// 0.5-3m
        From05To3 = ("0_5m_to_3m", "0.5-3m", "0.5 to 3 m"),
        /// 3m以上
        Over3 = ("over_3m", "3m以上", "3 m or more"),
    }
}

code_enum! {
    /// Medical devices the person depends on (医療機器).
    MedicalDevice, "medical device" {
        /// 人工呼吸器
        Ventilator = ("ventilator", "人工呼吸器", "ventilator"),
        /// 在宅酸素
        HomeOxygen = ("home_oxygen", "在宅酸素", "home oxygen"),
        /// 吸引
        Suction = ("suction", "吸引", "suction"),
        /// 透析
        Dialysis = ("dialysis", "透析", "dialysis"),
        /// 経管栄養
        TubeFeeding = ("tube_feeding", "経管栄養", "tube feeding"),
        /// 電動ベッド・エアマット
        PoweredBed = ("powered_bed", "エアマット", "powered bed or air mattress"),
        /// その他
        Other = ("other", "その他医療機器", "other device"),
    }
}

impl MedicalDevice {
    /// Devices whose failure (power cut, supply cut) threatens life.
    pub fn is_life_sustaining(self) -> bool {
        matches!(
            self,
            MedicalDevice::Ventilator
                | MedicalDevice::HomeOxygen
                | MedicalDevice::Suction
                | MedicalDevice::Dialysis
                | MedicalDevice::TubeFeeding
        )
    }
}

code_enum! {
    /// What a staff member may do in a space.
    Role, "role" {
        /// 管理者: changes membership and settings.
        Admin = ("admin", "管理者", "admin"),
        /// ケアマネジャー
        CareManager = ("care_manager", "ケアマネジャー", "care manager"),
        /// 連携先（他機関）
        Partner = ("partner", "連携先", "partner"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_from_code_and_labels() {
        assert_eq!("safe".parse::<CheckResult>(), Ok(CheckResult::Safe));
        assert_eq!(
            "連絡不通".parse::<CheckResult>(),
            Ok(CheckResult::Unreachable)
        );
        assert_eq!("Visit".parse::<CheckMethod>(), Ok(CheckMethod::Visit));
        let err = "fine".parse::<CheckResult>().unwrap_err();
        assert!(
            err.to_string().contains("safe, safe_needs_support"),
            "{err}"
        );
    }

    #[test]
    fn only_unreachable_and_absent_are_not_conclusive() {
        let open: Vec<_> = CheckResult::ALL
            .iter()
            .filter(|r| !r.is_conclusive())
            .collect();
        assert_eq!(open, [&CheckResult::Unreachable, &CheckResult::Absent]);
    }

    #[test]
    fn serde_uses_codes() {
        let json = serde_json::to_string(&CheckResult::NeedsEvacuation).unwrap();
        assert_eq!(json, "\"needs_evacuation\"");
        let back: CheckResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, CheckResult::NeedsEvacuation);
    }
}

code_enum! {
    /// A staff member's own safety in a safety report (本人).
    PersonalSafety, "personal safety" {
        /// 無事
        Unharmed = ("unharmed", "無事", "unharmed"),
        /// 軽傷
        MinorInjury = ("minor_injury", "軽傷", "minor injury"),
        /// 重傷
        SeriousInjury = ("serious_injury", "重傷", "serious injury"),
    }
}

code_enum! {
    /// A staff member's family in a safety report (家族).
    FamilySafety, "family safety" {
        /// 無事
        Safe = ("safe", "無事", "safe"),
        /// 被害あり
        Harmed = ("harmed", "被害あり", "harmed"),
        /// 不明
        Unknown = ("unknown", "不明", "unknown"),
    }
}

code_enum! {
    /// A staff member's home in a safety report (自宅).
    HomeDamage, "home damage" {
        /// 被害なし
        None = ("none", "被害なし", "no damage"),
        /// 一部損壊
        Partial = ("partial", "一部損壊", "partly damaged"),
        /// 全半壊
        Severe = ("severe", "全半壊", "destroyed or half destroyed"),
    }
}

code_enum! {
    /// Whether a staff member can come in (出勤).
    Attendance, "attendance" {
        /// 可能
        Able = ("able", "可能", "can come"),
        /// 困難
        Difficult = ("difficult", "困難", "difficult"),
        /// 不可
        Unable = ("unable", "不可", "cannot come"),
    }
}

code_enum! {
    /// From when a staff member can work (いつから).
    AvailableFrom, "available from" {
        /// 勤務中
        OnDuty = ("on_duty", "勤務中", "on duty"),
        /// すぐ
        Now = ("now", "すぐ", "at once"),
        /// 1日以内
        Within1Day = ("within_1_day", "1日以内", "within a day"),
        /// 2日以内
        Within2Days = ("within_2_days", "2日以内", "within 2 days"),
        /// 3日以内
        Within3Days = ("within_3_days", "3日以内", "within 3 days"),
        /// 3日超
        Later = ("later", "3日超", "after 3 days"),
    }
}

code_enum! {
    /// The operation level (運営レベル) the plans set by staff turnout.
    OperationLevel, "operation level" {
        /// 30%: only safety checks, highest priority first.
        Level30 = ("30", "運営レベル30%", "operation level 30%"),
        /// 50%: normal work partly paused.
        Level50 = ("50", "運営レベル50%", "operation level 50%"),
        /// 70%: approaching normal.
        Level70 = ("70", "運営レベル70%", "operation level 70%"),
        /// 90%: nearly normal.
        Level90 = ("90", "運営レベル90%", "operation level 90%"),
    }
}
