//! The audit trail: who (staff, device) did what (viewed, recorded,
//! changed, exported, shared) and when, kept per device, append-only and
//! hash-chained. Each entry's hash covers the previous entry's hash and the
//! entry itself, so changing, removing or reordering any entry breaks the
//! chain from there on ([`verify`]). The store writes an entry in the same
//! transaction as what it records, so the trail and the data never
//! disagree.

use serde::{Deserialize, Serialize};

use crate::codes::Lang;
use crate::model::{DeviceId, Staff, Timestamp};

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A recipient's record was looked at.
    Viewed,
    /// A safety check or a claim was recorded.
    Recorded,
    /// The roster, an incident or the member list was changed.
    Changed,
    /// Data left the system on paper or in a file (form 2).
    Exported,
    /// Data went to another device (a sync session).
    Shared,
    /// Changes from another device were refused: they did not fit the
    /// document or their writer may not make them (docs/SECURITY.md).
    Refused,
    /// Something was found that should not be: an audit trail cut short
    /// (this device's, or a peer's), seen by comparing with what a peer
    /// saw before.
    Warned,
}

impl Action {
    /// The code, as stored.
    pub fn code(self) -> &'static str {
        match self {
            Action::Viewed => "viewed",
            Action::Recorded => "recorded",
            Action::Changed => "changed",
            Action::Exported => "exported",
            Action::Shared => "shared",
            Action::Refused => "refused",
            Action::Warned => "warned",
        }
    }

    /// Every action, in the order hosts list them.
    pub const ALL: [Action; 7] = [
        Action::Viewed,
        Action::Recorded,
        Action::Changed,
        Action::Exported,
        Action::Shared,
        Action::Refused,
        Action::Warned,
    ];

    /// From the stored code.
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == s)
    }

    /// The label people read.
    pub fn label(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ja => self.label_ja(),
            Lang::En => match self {
                Action::Viewed => "viewed",
                Action::Recorded => "recorded",
                Action::Changed => "changed",
                Action::Exported => "exported",
                Action::Shared => "shared",
                Action::Refused => "refused",
                Action::Warned => "warning",
            },
        }
    }

    /// Japanese label.
    pub fn label_ja(self) -> &'static str {
        match self {
            Action::Viewed => "閲覧",
            Action::Recorded => "記録",
            Action::Changed => "変更",
            Action::Exported => "出力",
            Action::Shared => "提供",
            Action::Refused => "拒否",
            Action::Warned => "警告",
        }
    }
}

/// An entry to append (the store numbers and seals it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When.
    pub at: Timestamp,
    /// On which device.
    pub device: DeviceId,
    /// By whom.
    pub staff: Staff,
    /// What.
    pub action: Action,
    /// Of what (a recipient id, an incident, a file, a peer).
    pub subject: String,
    /// Anything more, in words.
    pub detail: String,
}

/// An entry as kept: numbered and chained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the trail, from 1.
    pub seq: u64,
    /// The entry.
    #[serde(flatten)]
    pub record: Record,
    /// The previous entry's hash (zeros for the first).
    pub prev: String,
    /// This entry's hash.
    pub hash: String,
}

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hash_of(seq: u64, prev: &str, r: &Record) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"anpi-audit/v1\n");
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev.as_bytes());
    ctx.update(&serde_json::to_vec(r).expect("an audit record always serializes"));
    data_encoding::HEXLOWER.encode(ctx.finish().as_ref())
}

/// Number and chain `record` after `last` (the trail's last entry, if any).
pub fn seal(last: Option<&Entry>, record: Record) -> Entry {
    let seq = last.map_or(1, |e| e.seq + 1);
    let prev = last.map_or(GENESIS.to_string(), |e| e.hash.clone());
    let hash = hash_of(seq, &prev, &record);
    Entry {
        seq,
        record,
        prev,
        hash,
    }
}

/// Where a trail stops being what was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the audit trail was altered at entry {seq}: {why}")]
pub struct Broken {
    /// The first entry that does not check out.
    pub seq: u64,
    /// What is wrong with it.
    pub why: String,
}

/// Which entries a person looks for: one action, and words found in who,
/// of what, or the detail (case-insensitive); empty matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this action.
    pub action: Option<Action>,
    /// Words to find.
    pub text: String,
}

impl Filter {
    /// Whether `e` is one of the entries looked for.
    pub fn matches(&self, e: &Entry) -> bool {
        if self.action.is_some_and(|a| a != e.record.action) {
            return false;
        }
        let text = self.text.trim().to_lowercase();
        if text.is_empty() {
            return true;
        }
        let r = &e.record;
        [&r.staff.name, &r.staff.organisation, &r.subject, &r.detail]
            .iter()
            .any(|field| field.to_lowercase().contains(&text))
    }
}

/// Check a whole trail, in order.
pub fn verify(entries: &[Entry]) -> Result<(), Broken> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let seq = i as u64 + 1;
        let broken = |why: &str| Broken {
            seq,
            why: why.to_string(),
        };
        if e.seq != seq {
            return Err(broken("entries are missing or out of order"));
        }
        if e.prev != prev {
            return Err(broken("it does not follow the entry before it"));
        }
        if hash_of(e.seq, &e.prev, &e.record) != e.hash {
            return Err(broken("its content does not match its hash"));
        }
        prev = e.hash.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: &str) -> Record {
        Record {
            at: Timestamp::from_millis(1),
            device: DeviceId("ab".repeat(16)),
            staff: Staff {
                name: "佐藤".into(),
                organisation: "ひまわり".into(),
                id: None,
            },
            action: Action::Viewed,
            subject: subject.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn a_filter_finds_entries_by_action_and_words() {
        let mut viewed = record("R0001");
        viewed.action = Action::Viewed;
        viewed.staff.name = "佐藤 花子".into();
        let e = seal(None, viewed);
        let all = Filter::default();
        assert!(all.matches(&e));
        let by_action = Filter {
            action: Some(Action::Exported),
            text: String::new(),
        };
        assert!(!by_action.matches(&e));
        for (text, found) in [("佐藤", true), ("r0001", true), ("鈴木", false)] {
            let f = Filter {
                action: Some(Action::Viewed),
                text: text.into(),
            };
            assert_eq!(f.matches(&e), found, "{text}");
        }
    }

    #[test]
    fn any_change_to_the_trail_is_found() {
        let mut trail: Vec<Entry> = Vec::new();
        for s in ["R1", "R2", "R3"] {
            let e = seal(trail.last(), record(s));
            trail.push(e);
        }
        assert_eq!(verify(&trail), Ok(()));

        let mut edited = trail.clone();
        edited[1].record.subject = "R9".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 2);

        let mut removed = trail.clone();
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().seq, 2);

        // Re-sealing the edited entry does not help: the next one no
        // longer follows it.
        let mut resealed = trail.clone();
        resealed[1] = seal(Some(&trail[0]), record("R9"));
        assert_eq!(verify(&resealed).unwrap_err().seq, 3);
    }
}
