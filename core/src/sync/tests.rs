//! Tests of the sync protocol, sans-I/O: two documents exchanging
//! messages in memory.

use super::*;
use automerge::ROOT;
use automerge::transaction::Transactable;

#[test]
fn messages_round_trip() {
    let m = Message {
        version: PROTOCOL_VERSION,
        kind: Kind::Hello {
            device: "d1".into(),
            spaces: vec!["s".into()],
        },
        docs: vec![DocEntry {
            doc: "s/roster".into(),
            heads: vec![[7; 32]],
            need: false,
            data: Data::Changes(vec![1, 2, 3]),
        }],
        about: None,
    };
    assert_eq!(decode(&encode(&m)).unwrap(), m);
}

#[test]
fn what_a_device_runs_rides_after_the_message_where_older_builds_never_look() {
    let mut m = Message {
        version: PROTOCOL_VERSION,
        kind: Kind::Hello {
            device: "d1".into(),
            spaces: vec!["s".into()],
        },
        docs: vec![],
        about: Some(About {
            software: "0.1.0".into(),
            format: 2,
        }),
    };
    let bytes = encode(&m);
    assert_eq!(bytes.len(), encoded_len(&m));
    assert_eq!(decode(&bytes).unwrap(), m);
    // A build before `about` read the message as it always did.
    #[derive(Deserialize, PartialEq, Debug)]
    struct Before {
        version: u32,
        kind: Kind,
        docs: Vec<DocEntry>,
    }
    let before: Before = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(before.kind, m.kind);
    // And a message without it, from such a build, reads as before.
    m.about = None;
    assert_eq!(decode(&encode(&m)).unwrap().about, None);
}

#[test]
fn another_version_gets_a_clear_error() {
    let m = Message {
        version: PROTOCOL_VERSION + 1,
        kind: Kind::Reply {
            device: "d2".into(),
        },
        docs: vec![],
        about: None,
    };
    let err = decode(&encode(&m)).unwrap_err().to_string();
    assert!(
        err.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
        "{err}"
    );
    assert!(err.contains("update anpi"), "{err}");
}

#[test]
fn recent_serves_the_steps_since_a_peer_s_heads_and_nothing_across_a_gap() {
    let mut doc = AutoCommit::new();
    let mut heads = vec![doc.get_heads()];
    for i in 0..3 {
        doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
        doc.commit();
        heads.push(doc.get_heads());
    }
    let mut recent = Recent::default();
    recent.record(
        &heads[0],
        &heads[1],
        doc.get_changes(&heads[0])[..1].to_vec(),
    );
    recent.record(
        &heads[1],
        &heads[2],
        doc.get_changes(&heads[1])[..1].to_vec(),
    );
    let hashes =
        |c: Option<Vec<&Change>>| c.map(|c| c.iter().map(|c| c.hash()).collect::<Vec<_>>());
    assert_eq!(hashes(recent.since(&heads[0], &heads[2])).unwrap().len(), 2);
    assert_eq!(hashes(recent.since(&heads[1], &heads[2])).unwrap().len(), 1);
    // Not the document's heads now: nothing is served.
    assert!(recent.since(&heads[0], &heads[3]).is_none());
    // A step that does not continue the last one drops the older ones.
    recent.record(&heads[0], &heads[3], doc.get_changes(&heads[0]));
    assert!(recent.since(&heads[1], &heads[3]).is_none());
    assert_eq!(hashes(recent.since(&heads[0], &heads[3])).unwrap().len(), 3);
}

#[test]
fn a_stored_form_is_sent_as_it_is_only_when_it_looks_sound() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "a", 1).unwrap();
    doc.commit();
    let snapshot = doc.save();
    let heads = doc.get_heads();
    doc.put(ROOT, "b", 2).unwrap();
    doc.commit();
    let change = doc.get_changes(&heads)[0].raw_bytes().to_vec();
    assert!(stored_form_is_sound(
        Some(&snapshot),
        std::slice::from_ref(&change)
    ));
    assert!(stored_form_is_sound(None, std::slice::from_ref(&change)));
    // Two rows under one (actor, sequence number): loading repairs it.
    assert!(!stored_form_is_sound(
        Some(&snapshot),
        &[change.clone(), change.clone()]
    ));
    let mut damaged = change.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    assert!(!stored_form_is_sound(Some(&snapshot), &[damaged]));
    // A change where the snapshot belongs, or anything else.
    assert!(!stored_form_is_sound(Some(&change), &[]));
    assert!(!stored_form_is_sound(Some(b"not a document"), &[]));
}

#[test]
fn packed_changes_round_trip() {
    let mut doc = AutoCommit::new();
    for i in 0..10 {
        doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
        doc.commit();
    }
    let changes = doc.get_changes(&[]);
    let back = unpack_changes(&pack_changes(&changes)).unwrap();
    assert_eq!(
        back.iter().map(|c| c.hash()).collect::<Vec<_>>(),
        changes.iter().map(|c| c.hash()).collect::<Vec<_>>()
    );
    assert!(unpack_changes(b"not zlib").is_err());
    // A change whose bytes were altered after it was made is refused.
    let mut raw = changes[3].raw_bytes().to_vec();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert!(verified_change(raw).is_err());
}
