//! What the benchmarks share: the synthetic recipients and plain automerge
//! sync, the baseline every anpi figure is measured beside.

use anpi_core::model::*;
use automerge::AutoCommit;
use automerge::sync::SyncDoc;

/// Recipient `i` of the synthetic roster.
pub fn recipient(i: usize) -> Recipient {
    let mut r = Recipient {
        id: RecipientId(format!("R{i:06}")),
        name: format!("試験 利用者{i}"),
        kana: format!("シケン リヨウシャ{i}"),
        address: format!("東京都架空区一丁目{i}番"),
        area: format!("第{}地区", i % 12),
        phone: "03-0000-0000".into(),
        household: Some(match i % 4 {
            0 => Household::Alone,
            1 => Household::ElderlyOnly,
            2 => Household::WithFamily,
            _ => Household::AloneDaytime,
        }),
        care_level: Some(CareLevel::ALL[i % CareLevel::ALL.len()]),
        care_manager: format!("ケアマネ{}", i % 30),
        check_method: "電話→訪問".into(),
        ..Default::default()
    };
    r.plan.shelter = format!("第{}小学校", i % 9);
    r.plan.supporter = if i.is_multiple_of(3) {
        String::new()
    } else {
        "長女".into()
    };
    if i.is_multiple_of(10) {
        r.plan.medical_devices = vec![MedicalDevice::HomeOxygen];
    }
    r.hazards.flood_depth = Some(FloodDepth::ALL[i % FloodDepth::ALL.len()]);
    r
}

/// Plain automerge sync of two documents until neither has anything to say.
pub fn plain_sync(
    a: &mut AutoCommit,
    sa: &mut automerge::sync::State,
    b: &mut AutoCommit,
    sb: &mut automerge::sync::State,
) -> (usize, usize) {
    let (mut bytes, mut messages) = (0, 0);
    loop {
        let mut quiet = true;
        if let Some(m) = a.sync().generate_sync_message(sa) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            b.sync()
                .receive_sync_message(sb, automerge::sync::Message::decode(&enc).expect("msg"))
                .expect("recv");
            quiet = false;
        }
        if let Some(m) = b.sync().generate_sync_message(sb) {
            let enc = m.encode();
            bytes += enc.len();
            messages += 1;
            a.sync()
                .receive_sync_message(sa, automerge::sync::Message::decode(&enc).expect("msg"))
                .expect("recv");
            quiet = false;
        }
        if quiet {
            return (bytes, messages);
        }
    }
}
