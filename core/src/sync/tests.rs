//! Tests of the sync protocol, sans-I/O: two documents exchanging
//! messages in memory.

use super::*;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use serde::Deserialize;

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
            seals: Vec::new(),
        }],
        about: None,
        anchor: None,
        clock: None,
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
        anchor: Some(Anchor {
            mine: Some(AuditHead {
                seq: 12,
                hash: [0xab; 16],
            }),
            yours: None,
        }),
        clock: Some(1_788_000_000_000),
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
    // A build with `about` but before the audit anchor reads `about` and
    // nothing after it; a message from it reads as one without anchor.
    let (_, rest) = postcard::take_from_bytes::<Before>(&bytes).unwrap();
    let about: About = postcard::from_bytes(rest).unwrap();
    assert_eq!(Some(about), m.about);
    let mut older = m.clone();
    older.anchor = None;
    assert_eq!(decode(&encode(&older)).unwrap().anchor, None);
    // A build with seals but before the clock reads the seals (none here)
    // and ignores what follows; a message from it has no clock.
    let (_, rest) = postcard::take_from_bytes::<Before>(&bytes).unwrap();
    let (_, rest) = postcard::take_from_bytes::<About>(rest).unwrap();
    let (_, rest) = postcard::take_from_bytes::<Anchor>(rest).unwrap();
    let seals: Vec<(u32, Vec<crate::seal::Seal>)> = postcard::from_bytes(rest).unwrap();
    assert!(seals.is_empty());
    older.clock = None;
    assert_eq!(decode(&encode(&older)).unwrap().clock, None);
    let mut unsealed = m.clone();
    unsealed.clock = None;
    assert_eq!(decode(&encode(&unsealed)).unwrap(), unsealed);
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
        anchor: None,
        clock: None,
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

/// A chunk of `kind` around `body`, with the checksum automerge checks.
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut len = Vec::new();
    uleb(body.len() as u64, &mut len);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[kind]);
    ctx.update(&len);
    ctx.update(body);
    let hash = ctx.finish();
    let mut out = crate::saved::MAGIC.to_vec();
    out.extend_from_slice(&hash.as_ref()[..4]);
    out.push(kind);
    out.extend(len);
    out.extend_from_slice(body);
    out
}

/// `size` zero bytes, deflated (a few hundred KiB for hundreds of MiB).
fn deflated_zeros(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..size / block.len() {
        enc.write_all(&block).unwrap();
    }
    enc.finish().unwrap()
}

fn uleb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            return;
        }
    }
}

/// Issue 20, 9: automerge inflates a document's deflated columns and a
/// compressed change without a limit of its own, so a member could send a
/// few hundred KiB that a phone inflates to gigabytes. Both are refused
/// before automerge touches them, saying why; a real document inflates well
/// within the bound.
#[test]
fn a_deflate_bomb_is_refused_before_it_inflates() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "k", "v").unwrap();
    let saved = doc.save();
    assert!(load_document(&saved).is_ok());
    assert!(crate::saved::inflated_size(&saved, MAX_INFLATED_BYTES).unwrap() < 4096);

    // The same document with one more operation column, deflated, of
    // zeros past the bound.
    let mut r = crate::saved::Reader(&saved);
    let (kind, body) = r.chunk().unwrap();
    assert_eq!(kind, crate::saved::DOCUMENT_CHUNK);
    let mut b = crate::saved::Reader(body);
    let start = body.len();
    let actors = b.len().unwrap();
    for _ in 0..actors {
        let n = b.len().unwrap();
        b.take(n).unwrap();
    }
    let heads = b.len().unwrap();
    b.take(heads * 32).unwrap();
    let prefix_len = start - b.0.len();
    let changes = b.layout().unwrap();
    let ops = b.layout().unwrap();
    let columns = b.0;
    let bomb_column = deflated_zeros(MAX_INFLATED_BYTES + (1 << 20));
    let mut new_body = body[..prefix_len].to_vec();
    for layout in [&changes, &ops] {
        let extra = std::ptr::eq(layout, &ops);
        uleb(layout.len() as u64 + u64::from(extra), &mut new_body);
        for (spec, len) in layout.iter() {
            uleb(*spec, &mut new_body);
            uleb(*len as u64, &mut new_body);
        }
        if extra {
            // An unknown column id (15), deflated.
            uleb((15 << 4) | crate::saved::DEFLATE | 7, &mut new_body);
            uleb(bomb_column.len() as u64, &mut new_body);
        }
    }
    let data_len: usize = changes.iter().chain(&ops).map(|(_, l)| l).sum();
    new_body.extend_from_slice(&columns[..data_len]);
    new_body.extend_from_slice(&bomb_column);
    new_body.extend_from_slice(&columns[data_len..]);
    let bomb = chunk(crate::saved::DOCUMENT_CHUNK, &new_body);
    assert!(
        bomb.len() < MAX_INFLATED_BYTES / 100,
        "{} bytes",
        bomb.len()
    );
    let err = load_document(&bomb).unwrap_err().to_string();
    assert!(err.contains("inflate beyond"), "{err}");

    // A compressed change of the same.
    let change = chunk(
        crate::saved::COMPRESSED_CHANGE_CHUNK,
        &deflated_zeros(MAX_INFLATED_BYTES + (1 << 20)),
    );
    let err = verified_change(change).unwrap_err().to_string();
    assert!(err.contains("inflate beyond"), "{err}");
}

/// Issue 20, 4: a device whose key signed two histories (its data folder
/// copied and used on two PCs) sends a second change under one actor and
/// sequence number. automerge refuses a whole batch for it; here it is
/// kept aside with what is built on it, and the rest of the batch joins.
#[test]
fn a_second_change_under_one_sequence_number_is_kept_aside_alone() {
    let twin_actor = automerge::ActorId::from(vec![7u8; 16]);
    let mut base = AutoCommit::new().with_actor(twin_actor.clone());
    base.put(ROOT, "start", "0").unwrap();
    base.commit();
    // The two copies of the folder each make their change 2.
    let mut here = base.fork().with_actor(twin_actor.clone());
    let mut copy = base.fork().with_actor(twin_actor.clone());
    here.put(ROOT, "a", "here").unwrap();
    here.commit();
    copy.put(ROOT, "a", "copy").unwrap();
    copy.commit();
    copy.put(ROOT, "b", "built on the copy").unwrap();
    copy.commit();
    // Someone else's change, unrelated, in the same batch.
    let mut other = base
        .fork()
        .with_actor(automerge::ActorId::from(vec![9u8; 16]));
    other.put(ROOT, "c", "other").unwrap();
    other.commit();
    let heads = base.get_heads();
    let mut batch = copy.get_changes(&heads);
    batch.extend(other.get_changes(&heads));
    assert_eq!(batch.len(), 3);
    assert!(
        here.clone().apply_changes_batch(batch.clone()).is_err(),
        "automerge alone refuses the whole batch"
    );
    let mut refused = Vec::new();
    let applied = apply_apart_from_twins(&mut here, batch, &mut refused).unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|(_, why)| why == TWIN_CHANGE));
    assert_eq!(
        here.get(ROOT, "c").unwrap().map(|(v, _)| v.to_string()),
        Some("\"other\"".to_string())
    );
    assert!(here.get(ROOT, "b").unwrap().is_none());
}

/// What the simulator found (docs/SIMULATION.md): a peer passes a
/// device's own changes back to it without the seals they were judged by.
/// Changes the device holds are not judged again — not refused, and what
/// is built on them joins on its own merit.
#[test]
fn changes_this_device_holds_are_not_judged_again() {
    /// Refuses every change of one actor, as changes without their seal.
    struct Unsealed(automerge::ActorId);
    impl Vet for Unsealed {
        fn changes(&self, _: &AutoCommit, changes: &[Change]) -> Vec<Option<String>> {
            changes
                .iter()
                .map(|c| (*c.actor_id() == self.0).then(|| "not sealed".to_string()))
                .collect()
        }
        fn whole(&self, _: &mut AutoCommit, _: &[u8]) -> bool {
            false
        }
    }
    let me = automerge::ActorId::from(vec![1u8; 16]);
    let mut here = AutoCommit::new().with_actor(me.clone());
    here.put(ROOT, "mine", "1").unwrap();
    here.commit();
    here.put(ROOT, "mine", "2").unwrap();
    here.commit();
    let mut peer = here
        .fork()
        .with_actor(automerge::ActorId::from(vec![2u8; 16]));
    peer.put(ROOT, "theirs", "built on mine").unwrap();
    peer.commit();
    // Everything the peer has, own changes included.
    let batch = peer.get_changes(&[]);
    let vet = Unsealed(me.clone());
    let mut refused = Vec::new();
    let held = holds(&mut here, &batch);
    let kept = vetted(
        &here,
        &held,
        &HashSet::new(),
        batch.clone(),
        &vet,
        &mut refused,
    );
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(kept.len(), batch.len());
    apply_apart_from_twins(&mut here, kept, &mut refused).unwrap();
    assert_eq!(
        here.get(ROOT, "theirs")
            .unwrap()
            .map(|(v, _)| v.to_string()),
        Some("\"built on mine\"".to_string())
    );
    // A device that does not hold them judges them, and what is built on
    // them goes with them.
    let mut stranger = AutoCommit::new();
    let held = holds(&mut stranger, &batch);
    let kept = vetted(&stranger, &held, &HashSet::new(), batch, &vet, &mut refused);
    assert!(kept.is_empty());
    assert_eq!(refused.len(), 3);
}

/// A change automerge queued for a missing dependency (its own protocol
/// sends one so when a Bloom filter errs) is not held: the batch that
/// brings the gap judges it with the rest, so a seal over it reaches the
/// changes below it.
#[test]
fn a_change_automerge_queued_is_not_held() {
    let mut origin = AutoCommit::new().with_actor(automerge::ActorId::from(vec![1u8; 16]));
    origin.put(ROOT, "a", "1").unwrap();
    origin.commit();
    origin.put(ROOT, "a", "2").unwrap();
    origin.commit();
    let all = origin.get_changes(&[]);
    let (below, above) = (all[0].clone(), all[1].clone());
    let mut here = AutoCommit::new();
    here.apply_changes([above.clone()]).unwrap();
    assert_eq!(here.get_missing_deps(&[]), vec![below.hash()], "queued");
    let held = holds(&mut here, &[below.clone(), above.clone()]);
    assert!(!held.contains(&above.hash()) && !held.contains(&below.hash()));
    assert!(waiting(&held, &[below.clone(), above.clone()]).is_empty());
    // Once the gap is filled, both are held.
    here.apply_changes([below.clone()]).unwrap();
    let held = holds(&mut here, &[below.clone(), above.clone()]);
    assert!(held.contains(&above.hash()) && held.contains(&below.hash()));
}

/// Through automerge's own protocol too, a change whose dependency is
/// neither held nor in the message (a Bloom filter's false positive left
/// it out) is set aside, not judged without it and refused with all that
/// is built on it; the answer asks for what it waits for by hash and has
/// the peer send again what it believes sent; the session settles with
/// everything.
#[test]
fn an_automerge_message_missing_a_dependency_asks_for_it_and_settles() {
    /// What the structure check does with a change that writes into an
    /// object it cannot find: here, one built on a change it cannot see.
    struct Structure;
    impl Vet for Structure {
        fn changes(&self, doc: &AutoCommit, changes: &[Change]) -> Vec<Option<String>> {
            let batch: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
            changes
                .iter()
                .map(|c| {
                    c.deps()
                        .iter()
                        .any(|d| !batch.contains(d) && doc.get_change_by_hash(d).is_none())
                        .then(|| "writes into an object that is not anpi's".to_string())
                })
                .collect()
        }
        fn whole(&self, _: &mut AutoCommit, _: &[u8]) -> bool {
            false
        }
    }
    let mut origin = AutoCommit::new().with_actor(automerge::ActorId::from(vec![1u8; 16]));
    let bucket = origin
        .put_object(ROOT, "bucket", automerge::ObjType::Map)
        .unwrap();
    origin.commit();
    for v in ["1", "2"] {
        origin.put(&bucket, v, v).unwrap();
        origin.commit();
    }
    let all = origin.get_changes(&[]);
    // The sender's message, the bucket's change left out.
    let first = automerge::sync::Message {
        heads: origin.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: all[1..]
            .iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect::<Vec<_>>()
            .into(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    let mut sender = automerge::sync::State::new();
    sender.sent_hashes = all[1..].iter().map(Change::hash).collect();
    let mut here = AutoCommit::new();
    let mut peer = PeerDoc::default();
    let entry = |msg: automerge::sync::Message| DocEntry {
        doc: "d".into(),
        heads: Vec::new(),
        need: false,
        data: Data::Automerge(msg.encode()),
        seals: Vec::new(),
    };
    let mut to_here = Some(first);
    let mut answers = 0;
    for _ in 0..10 {
        let Some(msg) = to_here.take() else { break };
        let got = receive_loaded(
            &mut here,
            &Recent::default(),
            &mut peer,
            entry(msg),
            &[],
            None,
            &Structure,
        )
        .unwrap();
        let why: Vec<&String> = got.refused.iter().map(|(_, why)| why).collect();
        assert!(why.is_empty(), "refused: {why:?}");
        let Some(DocEntry {
            data: Data::Automerge(bytes),
            ..
        }) = got.reply
        else {
            break;
        };
        let answer = automerge::sync::Message::decode(&bytes).unwrap();
        if answers == 0 {
            assert!(here.get_changes(&[]).is_empty(), "set aside, not applied");
            assert!(answer.need.contains(&all[0].hash()), "asks for the gap");
        }
        answers += 1;
        origin
            .sync()
            .receive_sync_message(&mut sender, answer)
            .unwrap();
        to_here = origin.sync().generate_sync_message(&mut sender);
    }
    assert_eq!(
        here.get_heads(),
        origin.get_heads(),
        "settled with everything"
    );
    assert!(answers <= 3, "{answers} answers");
}
