//! Random, truncated and corrupted bytes fed to the sync engine give errors,
//! never a panic, and never change what the store holds. A good session
//! afterwards still converges.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use anpi_core::model::*;
use anpi_core::node::{NewCheck, Node};
use anpi_core::store::MemoryStore;
use anpi_tests::sync;
use proptest::prelude::*;

struct Fixture {
    office: Node,
    phone: Node,
    space: SpaceId,
    incident: IncidentId,
    /// A real hello from the office to the phone, carrying changes.
    hello: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut office = Node::open(MemoryStore::new()).unwrap();
    let space = office.create_space("ひまわり").unwrap().id;
    office
        .upsert_recipients(
            &space,
            (0..5)
                .map(|i| Recipient {
                    id: RecipientId(format!("R{i}")),
                    name: format!("利用者{i}"),
                    ..Default::default()
                })
                .collect(),
        )
        .unwrap();
    let incident = office
        .start_incident(&space, IncidentKind::Flood, "", Timestamp::from_millis(0))
        .unwrap()
        .id;
    let mut phone = Node::open(MemoryStore::new()).unwrap();
    anpi_core::node::sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
    sync(&mut office, &mut phone).unwrap();
    for i in 0..5 {
        office
            .record_check(
                &space,
                &incident,
                NewCheck::new(
                    RecipientId(format!("R{i}")),
                    CheckMethod::Phone,
                    CheckResult::Safe,
                ),
            )
            .unwrap();
    }
    let (_, hello) = office.sync_start(Some(phone.device()), &[]).unwrap();
    let hello = anpi_core::sync::encode(&hello);
    Fixture {
        office,
        phone,
        space,
        incident,
        hello,
    }
}

/// Everything the phone's store holds that a bad message must not touch.
fn holdings(n: &mut Node, space: &SpaceId, incident: &IncidentId) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        n.heads().unwrap(),
        n.store().docs().unwrap(),
        n.recipients(space).unwrap(),
        n.checks(space, incident).unwrap(),
        n.incidents(space).unwrap(),
    )
}

fn feed(f: &mut Fixture, bytes: &[u8]) -> bool {
    let before = holdings(&mut f.phone, &f.space, &f.incident);
    let mut session = f.phone.sync_accept();
    let result = f.phone.sync_receive_bytes(&mut session, bytes);
    if result.is_err() {
        assert_eq!(
            holdings(&mut f.phone, &f.space, &f.incident),
            before,
            "a rejected message changed the store"
        );
    }
    result.is_err()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let mut f = fixture();
        feed(&mut f, &bytes);
    }

    #[test]
    fn truncated_messages_are_refused(cut in 0.0f64..1.0) {
        let mut f = fixture();
        let hello = f.hello.clone();
        let len = ((hello.len() as f64) * cut) as usize;
        // Cut exactly where what the sender runs begins, where the audit
        // anchor after it begins, where the seals after that begin, or
        // where the sender's clock after them begins, it is whole: the
        // message a build from before any of them sends.
        let mut older = anpi_core::sync::decode(&hello).unwrap();
        let sealed = older.docs.iter().any(|d| !d.seals.is_empty());
        older.clock = None;
        let before_clock = anpi_core::sync::encode(&older).len();
        for d in &mut older.docs {
            d.seals.clear();
        }
        let before_seals = anpi_core::sync::encode(&older).len();
        older.anchor = None;
        let before_anchor = anpi_core::sync::encode(&older).len();
        older.about = None;
        let before_about = anpi_core::sync::encode(&older).len();
        // With no seals, an empty list of them comes before the clock.
        let empty_seals = if sealed { before_about } else { before_seals + 1 };
        if ![before_about, before_anchor, before_seals, empty_seals, before_clock].contains(&len) {
            prop_assert!(feed(&mut f, &hello[..len]), "a truncated message was accepted");
        }
    }

    #[test]
    fn corrupted_messages_do_no_harm(pos in 0.0f64..1.0, xor in 1u8..=255) {
        let mut f = fixture();
        let mut bad = f.hello.clone();
        let i = ((bad.len() as f64) * pos) as usize % bad.len();
        bad[i] ^= xor;
        feed(&mut f, &bad);
        // Whatever happened, a good session afterwards converges.
        sync(&mut f.office, &mut f.phone).unwrap();
        prop_assert_eq!(f.office.heads().unwrap(), f.phone.heads().unwrap());
        prop_assert_eq!(f.phone.checks(&f.space, &f.incident).unwrap().len(), 5);
    }
}

#[test]
fn a_corrupted_change_payload_is_refused_and_the_next_sync_recovers() {
    let mut f = fixture();
    // Damage the packed changes themselves, keeping the message well formed.
    let mut msg = anpi_core::sync::decode(&f.hello).unwrap();
    let mut damaged = 0;
    for entry in &mut msg.docs {
        if let anpi_core::sync::Data::Changes(bytes) = &mut entry.data {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x5a;
            damaged += 1;
        }
    }
    assert_eq!(damaged, 1, "the hello carries the incident's new checks");
    let bad = anpi_core::sync::encode(&msg);
    // The damaged document fails alone and is reported; nothing of it is
    // kept, and the rest of the message is taken.
    let before = f.phone.checks(&f.space, &f.incident).unwrap();
    let mut session = f.phone.sync_accept();
    f.phone.sync_receive_bytes(&mut session, &bad).unwrap();
    assert_eq!(session.stats.docs_failed, 1, "{:?}", session.failures);
    assert!(
        session.failures[0].0.incident_id() == Some(&f.incident),
        "{:?}",
        session.failures
    );
    assert_eq!(f.phone.checks(&f.space, &f.incident).unwrap(), before);
    sync(&mut f.office, &mut f.phone).unwrap();
    assert_eq!(f.phone.checks(&f.space, &f.incident).unwrap().len(), 5);
}

/// A message with one document that does not fit and one that does: the
/// good one is applied and synced, the bad one fails alone.
#[test]
fn a_bad_document_fails_alone_and_the_rest_of_the_message_is_applied() {
    let mut f = fixture();
    // The office also renames the space: the hello carries the roster too.
    let mut r = f
        .office
        .recipient(&f.space, &RecipientId("R0".into()))
        .unwrap()
        .recipient;
    r.phone = "090-1234-5678".into();
    f.office.upsert_recipients(&f.space, vec![r]).unwrap();
    let (_, hello) = f.office.sync_start(Some(f.phone.device()), &[]).unwrap();
    let mut msg = hello;
    let mut damaged = 0;
    for entry in &mut msg.docs {
        let key: anpi_core::doc::DocKey = entry.doc.parse().unwrap();
        if let (Some(_), anpi_core::sync::Data::Changes(bytes)) =
            (key.incident_id(), &mut entry.data)
        {
            let i = bytes.len() / 2;
            bytes[i] ^= 0x5a;
            damaged += 1;
        }
    }
    assert_eq!(damaged, 1);
    let mut session = f.phone.sync_accept();
    f.phone.sync_receive(&mut session, msg).unwrap();
    assert_eq!(session.stats.docs_failed, 1, "{:?}", session.failures);
    let phone = f
        .phone
        .recipient(&f.space, &RecipientId("R0".into()))
        .unwrap()
        .recipient
        .phone;
    assert_eq!(
        phone, "090-1234-5678",
        "the roster of the same message was taken"
    );
}
