//! The office's reads on a tablet or phone: form 2 (様式2) and the audit
//! trail. Both are the core's; what is read or exported is logged there.

use anpi_core::io::form2;
use anpi_core::model::Timestamp;

use crate::node::{AnpiNode, Staff, space_of};
use crate::types::millis;
use crate::{AnpiError, Incident};

type Result<T> = std::result::Result<T, AnpiError>;

/// The file form 2 is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Form2Format {
    /// Printable HTML (A4 landscape).
    Html,
    /// CSV, UTF-8 with a BOM (what Excel opens without asking).
    Csv,
    /// CSV in Shift_JIS (CP932), for older Excel and care systems.
    CsvShiftJis,
}

/// How form 2 groups its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Form2Grouping {
    /// One group per care manager (担当ケアマネ).
    CareManager,
    /// One group per area (地区).
    Area,
}

/// Form 2 as a file.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Form2File {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The incident whose results it shows (the open one, else the latest).
    pub incident: Option<Incident>,
    /// Whether the export was written to the audit trail (not on a
    /// read-only folder).
    pub logged: bool,
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    /// Position in the trail, from 1.
    pub seq: u64,
    /// When.
    pub at_ms: i64,
    /// On which device.
    pub device_id: String,
    /// By whom.
    pub staff: Staff,
    /// What, as a code (`viewed`, `recorded`, `changed`, `exported`,
    /// `shared`).
    pub action: String,
    /// What, in the node's language (閲覧, 記録, 変更, 出力, 提供).
    pub action_label: String,
    /// Of what (a recipient id, an incident, a file, a peer).
    pub subject: String,
    /// Anything more, in words.
    pub detail: String,
}

/// Whether the trail is as it was written.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AuditCheck {
    /// Entries in the trail.
    pub entries: u64,
    /// The first entry that does not check out (changed, removed or out
    /// of order), if any.
    pub broken_at: Option<u64>,
    /// What is wrong with it.
    pub why: Option<String>,
}

#[uniffi::export]
impl AnpiNode {
    /// Form 2 (様式2) of the space's incident (the open one, else the
    /// latest) as the list stands now. It holds every recipient's health
    /// information, so the export is written to the audit trail with
    /// `destination` (where the app puts it: a file name, a printer).
    pub fn export_form2(
        &self,
        space_id: String,
        format: Form2Format,
        grouping: Form2Grouping,
        destination: String,
    ) -> Result<Form2File> {
        let lang = self.lang;
        let format = match format {
            Form2Format::Html => form2::Format::Html,
            Form2Format::Csv => form2::Format::Csv(form2::CsvEncoding::Utf8Bom),
            Form2Format::CsvShiftJis => form2::Format::Csv(form2::CsvEncoding::Cp932),
        };
        let group_by = match grouping {
            Form2Grouping::CareManager => form2::GroupBy::CareManager,
            Form2Grouping::Area => form2::GroupBy::Area,
        };
        let export = self.with(|n| {
            let space = space_of(n, &space_id)?;
            n.export_form2(&space, format, group_by, &destination, Timestamp::now())
        })?;
        Ok(Form2File {
            bytes: export.bytes,
            incident: export.incident.map(|i| Incident::from_core(&i, lang)),
            logged: export.logged,
        })
    }

    /// The last `limit` entries of this device's audit trail, oldest
    /// first: who viewed, recorded, changed, exported or shared what.
    pub fn audit_trail(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let lang = self.lang;
        let trail = self.with(|n| n.audit_trail())?;
        let skip = trail.len().saturating_sub(limit as usize);
        Ok(trail
            .into_iter()
            .skip(skip)
            .map(|e| AuditEntry {
                seq: e.seq,
                at_ms: millis(e.record.at),
                device_id: e.record.device.0,
                staff: Staff::from(&e.record.staff),
                action: e.record.action.code().to_string(),
                action_label: e.record.action.label(lang).to_string(),
                subject: e.record.subject,
                detail: e.record.detail,
            })
            .collect())
    }

    /// Check the whole audit trail's hash chain.
    pub fn verify_audit(&self) -> Result<AuditCheck> {
        let (entries, checked) = self.with(|n| n.verify_audit())?;
        let broken = checked.err();
        Ok(AuditCheck {
            entries: entries as u64,
            broken_at: broken.as_ref().map(|b| b.seq),
            why: broken.map(|b| b.why),
        })
    }
}
