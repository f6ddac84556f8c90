use super::*;
use crate::model::{CheckMethod, CheckResult, Recipient, RecipientId, Role, Staff};
use crate::node::NewCheck;
use crate::store::MemoryStore;

fn shared(node: Node) -> SharedNode {
    Arc::new(Mutex::new(node))
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn staff(name: &str) -> Staff {
    Staff {
        name: name.into(),
        organisation: "ひまわり".into(),
        id: None,
    }
}

/// An office holding recipient R1, and a phone it added as a member
/// (not yet joined).
fn office_and_phone() -> (Node, Node, SpaceId) {
    let mut office = Node::open(MemoryStore::new()).unwrap();
    let space = office.create_space("ひまわり").unwrap().id;
    office
        .upsert_recipients(
            &space,
            vec![Recipient {
                id: RecipientId("R1".into()),
                name: "山田 花子".into(),
                ..Default::default()
            }],
        )
        .unwrap();
    let phone = Node::open(MemoryStore::new()).unwrap();
    office
        .add_member(&space, phone.device(), staff("佐藤"), Role::CareManager)
        .unwrap();
    (office, phone, space)
}

/// Answer every incoming connection of `net`, as a running node would.
fn answer_all(net: Arc<NetNode>) {
    tokio::spawn(async move {
        while let Some(incoming) = net.accept().await {
            if let Ok(conn) = incoming {
                let n = net.clone();
                tokio::spawn(async move { n.respond(conn).await });
            }
        }
    });
}

/// Start a flood incident on `node` (or reuse the open one) and record
/// one check of R1 there.
fn record(node: &SharedNode, space: &SpaceId, method: CheckMethod) {
    let mut n = node.lock().unwrap();
    let incident = match n.open_incident(space).unwrap() {
        Some(i) => i,
        None => n
            .start_incident(
                space,
                crate::model::IncidentKind::Flood,
                "水害",
                crate::model::Timestamp::now(),
            )
            .unwrap(),
    };
    n.record_check(
        space,
        &incident.id,
        NewCheck::new(RecipientId("R1".into()), method, CheckResult::Safe),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joins_syncs_and_a_stranger_is_refused() {
    let (office, phone, space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());

    let phone = NetNode::bind(shared(phone), loopback()).unwrap();
    let report = phone.join(office_addr, &office_id).await.unwrap();
    assert_eq!(report.peer, office_id);
    assert!(report.stats.docs_changed > 0);
    assert_eq!(phone.node().lock().unwrap().spaces().unwrap().len(), 1);
    record(phone.node(), &space, CheckMethod::Visit);
    phone
        .sync_with(office_addr, Some(&office_id))
        .await
        .unwrap();
    // A known peer and one side changed: one round trip.
    record(phone.node(), &space, CheckMethod::Phone);
    let report = phone
        .sync_with(office_addr, Some(&office_id))
        .await
        .unwrap();
    assert_eq!(report.round_trips, 1, "{report:?}");
    {
        let n = office.node().lock().unwrap();
        let incidents = n.incidents(&space).unwrap();
        assert_eq!(n.checks(&space, &incidents[0].id).unwrap().len(), 2);
    }

    // Once revoked, the phone is refused at the handshake.
    {
        let phone_id = phone.device().clone();
        let mut n = office.node().lock().unwrap();
        n.revoke_member(&space, &phone_id).unwrap();
    }
    office.refresh_trust().await.unwrap();
    let err = phone
        .sync_with(office_addr, Some(&office_id))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );

    // A device nobody added is refused during the handshake.
    let stranger =
        NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
    let err = stranger.join(office_addr, &office_id).await.unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );
    // And a device that expects another office id refuses this one.
    let wrong = DeviceId("0".repeat(32));
    let err = phone
        .sync_with(office_addr, Some(&wrong))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );
}

/// A stranger's handshake is judged by what the node last read (its
/// gate): it never waits for the node — busy with a long session's write,
/// or held by anything else — and reads no disk, so strangers dialling a
/// shelter's office cost it nothing but a signature check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_handshake_never_waits_for_the_node() {
    let (office, _phone, _space) = office_and_phone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let stranger =
        NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
    // The office's node is held until the stranger has its answer.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let node = office.node().clone();
    let holder = std::thread::spawn(move || {
        let _n = node.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
    });
    held_rx.recv().unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        stranger.sync_with(office_addr, None),
    )
    .await;
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let err = answer
        .expect("the stranger's handshake waited for the office's node")
        .unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );
}

/// The office enrolls A, A joins; weeks later it enrolls B, B joins;
/// then the office goes dark. A has never heard of B. They meet and
/// sync, whichever dials: each proves its membership in its
/// certificate. A phone revoked meanwhile, showing its old entry, is
/// refused by a device that knows the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_enrolled_on_different_days_sync_with_each_other_while_the_office_is_down() {
    let (office, a, space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
    a.join(office_addr, &office_id).await.unwrap();
    // Days later: B and C are enrolled, after A's last sync.
    let b = Node::open(MemoryStore::new()).unwrap();
    let c = Node::open(MemoryStore::new()).unwrap();
    {
        let mut n = office.node().lock().unwrap();
        n.add_member(&space, b.device(), staff("鈴木"), Role::CareManager)
            .unwrap();
        n.add_member(&space, c.device(), staff("田中"), Role::CareManager)
            .unwrap();
    }
    let b = Arc::new(NetNode::bind(shared(b), loopback()).unwrap());
    let c = Arc::new(NetNode::bind(shared(c), loopback()).unwrap());
    b.join(office_addr, &office_id).await.unwrap();
    c.join(office_addr, &office_id).await.unwrap();
    // C is lost and revoked; B learns it, A does not.
    let c_id = c.device().clone();
    office
        .node()
        .lock()
        .unwrap()
        .revoke_member(&space, &c_id)
        .unwrap();
    b.sync_with(office_addr, Some(&office_id)).await.unwrap();
    office.close().await;

    record(a.node(), &space, CheckMethod::Visit);
    record(b.node(), &space, CheckMethod::Phone);
    answer_all(a.clone());
    answer_all(b.clone());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // B dials A (A has never heard of B): B's proof gets it in.
    let report = b.sync_with(a_addr, None).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    assert!(report.stats.docs_changed > 0);
    record(a.node(), &space, CheckMethod::Family);
    // And A dials B (A knows B now, from the roster B brought).
    let report = a.sync_with(b_addr, None).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    for n in [&a, &b] {
        let n = n.node().lock().unwrap();
        let incident = n.open_incident(&space).unwrap().unwrap();
        assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 3);
    }
    // C shows its old entry to B, which knows the revocation: refused.
    let err = c.sync_with(b_addr, None).await.unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );
    // A learnt the revocation from B: refused there too.
    let err = c.sync_with(a_addr, None).await.unwrap_err();
    assert!(
        err.to_string().contains("refused at the handshake"),
        "{err}"
    );
}

/// A fresh pair: the first device to dial is the one nobody knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_nobody_has_heard_of_dials_first_and_is_admitted_by_its_proof() {
    let (office, a, space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
    a.join(office_addr, &office_id).await.unwrap();
    let b = Node::open(MemoryStore::new()).unwrap();
    office
        .node()
        .lock()
        .unwrap()
        .add_member(&space, b.device(), staff("鈴木"), Role::CareManager)
        .unwrap();
    let b = Arc::new(NetNode::bind(shared(b), loopback()).unwrap());
    b.join(office_addr, &office_id).await.unwrap();
    office.close().await;
    // A (which does not know B) dials B: B's server certificate proves.
    answer_all(b.clone());
    record(a.node(), &space, CheckMethod::Visit);
    let report = a.sync_with(b.local_addr().unwrap(), None).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    let n = b.node().lock().unwrap();
    let incident = n.open_incident(&space).unwrap().unwrap();
    assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 1);
}

/// Two peers that dial each other at the same moment, many times: every
/// session ends synced on both sides, and they converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_dialing_each_other_at_once_both_end_synced() {
    let (office, a, space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let a = Arc::new(NetNode::bind(shared(a), loopback()).unwrap());
    a.join(office_addr, &office_id).await.unwrap();
    answer_all(a.clone());
    let a_addr = a.local_addr().unwrap();
    let a_id = a.device().clone();
    record(office.node(), &space, CheckMethod::Visit);
    for round in 0..30 {
        record(a.node(), &space, CheckMethod::Phone);
        record(office.node(), &space, CheckMethod::Family);
        let (x, y) = tokio::join!(
            a.sync_with(office_addr, Some(&office_id)),
            office.sync_with(a_addr, Some(&a_id)),
        );
        let x = x.unwrap_or_else(|e| panic!("round {round}, the phone's session: {e}"));
        let y = y.unwrap_or_else(|e| panic!("round {round}, the office's session: {e}"));
        assert!(
            x.failures.is_empty() && y.failures.is_empty(),
            "{x:?} {y:?}"
        );
    }
    a.sync_with(office_addr, Some(&office_id)).await.unwrap();
    let heads = |n: &NetNode| n.node().lock().unwrap().heads().unwrap();
    assert_eq!(heads(&a), heads(&office));
    let n = a.node().lock().unwrap();
    let incident = n.open_incident(&space).unwrap().unwrap();
    assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 61);
}

/// An office running its node (`serve::run`, with `debounce` before it
/// passes its own changes on) and a phone that joined it from an
/// endpoint of its own, since closed: the SDK's scenario.
struct ServingOffice {
    net: Arc<NetNode>,
    id: DeviceId,
    addr: SocketAddr,
    phone: SharedNode,
    space: SpaceId,
    changes: Arc<tokio::sync::Notify>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl ServingOffice {
    async fn start(debounce: Duration) -> ServingOffice {
        let (office, phone, space) = office_and_phone();
        let id = office.device().clone();
        let net = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
        let addr = net.local_addr().unwrap();
        let options = serve::Options {
            debounce,
            ..Default::default()
        };
        let changes = options.local_changes.clone();
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(serve::run(net.clone(), options, events, stop_rx));
        let phone = shared(phone);
        let joining = NetNode::bind(phone.clone(), loopback()).unwrap();
        joining.join(addr, &id).await.unwrap();
        joining.close().await;
        ServingOffice {
            net,
            id,
            addr,
            phone,
            space,
            changes,
            stop,
            task,
        }
    }

    /// The phone syncs from a new endpoint, as the SDK's `syncNow`
    /// does; the session must succeed whole.
    async fn phone_syncs(&self, round: usize) {
        let net = NetNode::bind(self.phone.clone(), loopback()).unwrap();
        let r = net.sync_with(self.addr, Some(&self.id)).await;
        net.close().await;
        let r = r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(r.failures.is_empty(), "round {round}: {r:?}");
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn checks_at(node: &SharedNode, space: &SpaceId) -> usize {
    let n = node.lock().unwrap();
    let incident = n.open_incident(space).unwrap().unwrap();
    n.checks(space, &incident.id).unwrap().len()
}

/// A serving node wakes for many things while a phone's handshake is in
/// flight (its own changes, a finished session, a peer found): none of
/// them may cut the handshake. Here the office's own changes arrive
/// every millisecond while a phone syncs again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_in_flight_survives_the_serving_node_waking_for_other_things() {
    let office = ServingOffice::start(Duration::from_secs(3600)).await;
    let changes = office.changes.clone();
    let nudger = tokio::spawn(async move {
        for _ in 0..20_000 {
            changes.notify_one();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    for round in 0..20 {
        record(&office.phone, &office.space, CheckMethod::Visit);
        office.phone_syncs(round).await;
    }
    nudger.abort();
    let (node, space) = (office.net.node().clone(), office.space.clone());
    office.stop().await;
    assert_eq!(checks_at(&node, &space), 20);
}

/// The phone SDK's scenario, many times: the office runs its node (which
/// passes its own changes on to the peers it heard from), while a phone
/// joins and then syncs from short-lived endpoints of its own, right
/// after the office recorded something. No session of the phone may
/// fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_syncing_while_the_office_pushes_its_own_changes_never_fails() {
    let office = ServingOffice::start(Duration::from_millis(20)).await;
    for round in 0..25 {
        record(office.net.node(), &office.space, CheckMethod::Phone);
        office.changes.notify_one();
        record(&office.phone, &office.space, CheckMethod::Visit);
        office.phone_syncs(round).await;
    }
    let (phone, space) = (office.phone.clone(), office.space.clone());
    office.stop().await;
    assert_eq!(checks_at(&phone, &space), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_protocol_version_gets_a_clear_error() {
    let (office, phone, _space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let addr = office.local_addr().unwrap();
    let server = office.clone();
    let refused = tokio::spawn(async move {
        match server.accept().await {
            Some(Err((_, e))) => e.to_string(),
            other => format!("unexpected: {:?}", other.map(|r| r.is_ok())),
        }
    });
    // A later anpi speaking anpi/2 only.
    let newer = NetNode::bind_with_alpn(shared(phone), loopback(), &[b"anpi/2"]).unwrap();
    let err = newer.join(addr, &office_id).await.unwrap_err();
    assert!(
        err.to_string().contains("incompatible protocol version"),
        "{err}"
    );
    let seen = refused.await.unwrap();
    assert!(seen.contains("incompatible protocol version"), "{seen}");
}

/// A phone not yet updated (it speaks `anpi/1`, changes packed by zlib)
/// syncs with an office of this build both ways, dialling and answered:
/// what this build sends it is packed so it reads it (the older side here
/// refuses LZMA on its connection, as a build before LZMA packs would fail
/// to read it), and two current builds agree on LZMA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_of_an_older_build_syncs_with_changes_packed_as_it_reads_them() {
    let (office, phone, space) = office_and_phone();
    let office_id = office.device().clone();
    let phone_id = phone.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let older = Arc::new(NetNode::bind_with_alpn(shared(phone), loopback(), &[ALPN_ZLIB]).unwrap());
    let older_addr = older.local_addr().unwrap();
    answer_all(older.clone());

    older.join(office_addr, &office_id).await.unwrap();
    record(office.node(), &space, CheckMethod::Visit);
    record(older.node(), &space, CheckMethod::Phone);
    // Both sides hold changes the other lacks; the older side dials.
    let report = older
        .sync_with(office_addr, Some(&office_id))
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(checks_at(office.node(), &space), 2);
    assert_eq!(checks_at(older.node(), &space), 2);
    // The office dials the older phone with a new check of its own.
    record(office.node(), &space, CheckMethod::Visit);
    let report = office.sync_with(older_addr, Some(&phone_id)).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    assert_eq!(checks_at(older.node(), &space), 3);

    // The same office meets a current phone: the connection agrees on LZMA.
    let current = Arc::new(
        NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap(),
    );
    let current_id = current.device().clone();
    office
        .node()
        .lock()
        .unwrap()
        .add_member(&space, &current_id, staff("鈴木"), Role::CareManager)
        .unwrap();
    office.refresh_trust().await.unwrap();
    current.join(office_addr, &office_id).await.unwrap();
    for (phone, packing) in [
        (&current, crate::sync::Packing::Lzma),
        (&older, crate::sync::Packing::Zlib),
    ] {
        let conn = phone
            .connect(office_addr, Some(&office_id), false)
            .await
            .unwrap();
        assert_eq!(stream::packing(&conn), packing);
        conn.close(0u32.into(), b"");
    }
}

async fn next_sync(rx: &mut tokio::sync::mpsc::UnboundedReceiver<serve::Event>) -> SyncReport {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(serve::Event::Synced(r))) => return r,
            Ok(Some(_)) => continue,
            other => panic!("no sync within 10 s: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_syncs_peers_the_host_feeds_in_and_passes_local_changes_on() {
    use serve::Options;
    let (office, phone, space) = office_and_phone();
    let office_id = office.device().clone();
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let office_addr = office.local_addr().unwrap();
    let (office_events, _office_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_office, stop_rx) = tokio::sync::watch::channel(false);
    let office_task = tokio::spawn(serve::run(
        office.clone(),
        Options::default(),
        office_events,
        stop_rx,
    ));

    let phone_net = Arc::new(NetNode::bind(shared(phone), loopback()).unwrap());
    phone_net.join(office_addr, &office_id).await.unwrap();
    let manual = Arc::new(discovery::Manual::new());
    let options = Options {
        discovery: vec![manual.clone()],
        debounce: Duration::from_millis(100),
        ..Default::default()
    };
    let changes = options.local_changes.clone();
    let (events, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_phone, stop_rx) = tokio::sync::watch::channel(false);
    let phone_task = tokio::spawn(serve::run(phone_net.clone(), options, events, stop_rx));
    // The host found the office itself (say, through Bonjour).
    while !manual.add_peer(office_addr) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(next_sync(&mut rx).await.peer, office_id);
    // A check recorded here reaches the office after the debounce.
    record(phone_net.node(), &space, CheckMethod::Visit);
    changes.notify_one();
    assert_eq!(next_sync(&mut rx).await.peer, office_id);
    {
        let n = office.node().lock().unwrap();
        let incident = n.open_incident(&space).unwrap().unwrap();
        assert_eq!(n.checks(&space, &incident.id).unwrap().len(), 1);
    }
    stop_phone.send(true).unwrap();
    stop_office.send(true).unwrap();
    phone_task.await.unwrap().unwrap();
    office_task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_enrolls_one_device_once_before_it_expires() {
    let mut office = Node::open(MemoryStore::new()).unwrap();
    let space = office.create_space("ひまわり").unwrap().id;
    let office = Arc::new(NetNode::bind(shared(office), loopback()).unwrap());
    let addr = office.local_addr().unwrap();
    answer_all(office.clone());
    let invite = |valid_ms: i64| {
        let mut n = office.node().lock().unwrap();
        n.create_invite(
            &space,
            staff("佐藤"),
            Role::CareManager,
            vec![addr.to_string()],
            crate::model::Timestamp::from_millis(
                crate::model::Timestamp::now().millis() + valid_ms,
            ),
        )
        .unwrap()
    };
    let code = invite(600_000).encode();

    let phone = NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
    let parsed = crate::invite::Code::decode(&code).unwrap();
    // Another device at the office's address is not taken for the office:
    // the code commits to the office's key.
    {
        let (impostor, _, _) = office_and_phone();
        let impostor = Arc::new(NetNode::bind(shared(impostor), loopback()).unwrap());
        answer_all(impostor.clone());
        let mut elsewhere = parsed.clone();
        elsewhere.addresses = vec![impostor.local_addr().unwrap().to_string()];
        let err = phone.join_invite(&elsewhere).await.unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
        assert!(phone.node().lock().unwrap().spaces().unwrap().is_empty());
    }
    let report = phone.join_invite(&parsed).await.unwrap();
    assert!(report.stats.docs_changed > 0);
    assert_eq!(phone.node().lock().unwrap().spaces().unwrap().len(), 1);
    let members = office.node().lock().unwrap().members(&space).unwrap();
    assert!(members.iter().any(|(m, s)| &m.device == phone.device()
        && *s == crate::model::MemberStanding::Active
        && m.staff.name == "佐藤"));
    // The enrolled phone now syncs as a member.
    phone.sync_with(addr, Some(office.device())).await.unwrap();

    // The same code again, from another device: refused.
    let other = NetNode::bind(shared(Node::open(MemoryStore::new()).unwrap()), loopback()).unwrap();
    let err = other.join_invite(&parsed).await.unwrap_err();
    assert!(err.to_string().contains("refused this invite"), "{err}");
    // An expired invite is refused before it is even tried.
    let stale = invite(-1).code();
    let err = other.join_invite(&stale).await.unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    // And the office refuses it too, whatever the phone's clock says.
    let mut lying = stale.clone();
    lying.expires = crate::model::Timestamp::now().plus_minutes(60 * 24 * 365);
    let err = other.join_invite(&lying).await.unwrap_err();
    assert!(err.to_string().contains("refused this invite"), "{err}");
}

/// Issue 22, faults: a link that loses 30% of the datagrams each way,
/// duplicates some and holds others back so that later ones overtake them
/// — under the real QUIC transport. The phone joins, both sides record,
/// they sync twice: every check is everywhere, nothing is lost, and every
/// step ends (an error would be reported, never a hang: each is bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_over_a_link_that_loses_reorders_and_duplicates_datagrams_loses_nothing() {
    use super::lossy::{Faults, Lossy};
    let faults = Faults {
        loss: 0.3,
        duplicate: 0.1,
        delay: 0.2,
        max_delay: Duration::from_millis(80),
    };
    let bounded = |what: &'static str| {
        move |r: std::result::Result<Result<SyncReport>, tokio::time::error::Elapsed>| {
            r.unwrap_or_else(|_| panic!("{what} did not end within two minutes"))
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        }
    };
    let limit = Duration::from_secs(120);
    for seed in 1..=3u64 {
        let (office, phone, space) = office_and_phone();
        let office_id = office.device().clone();
        let office_link = Lossy::on_loopback(faults, seed);
        let office = Arc::new(NetNode::bind_over(shared(office), office_link.clone()).unwrap());
        let office_addr = office.local_addr().unwrap();
        answer_all(office.clone());
        let phone_link = Lossy::on_loopback(faults, seed + 1000);
        let phone = NetNode::bind_over(shared(phone), phone_link.clone()).unwrap();

        bounded("joining")(tokio::time::timeout(limit, phone.join(office_addr, &office_id)).await);
        for _ in 0..20 {
            record(phone.node(), &space, CheckMethod::Visit);
        }
        bounded("the first sync")(
            tokio::time::timeout(limit, phone.sync_with(office_addr, Some(&office_id))).await,
        );
        for _ in 0..10 {
            record(office.node(), &space, CheckMethod::Phone);
        }
        bounded("the second sync")(
            tokio::time::timeout(limit, phone.sync_with(office_addr, Some(&office_id))).await,
        );

        let ids = |node: &SharedNode| -> Vec<crate::model::CheckId> {
            let n = node.lock().unwrap();
            let incident = n.open_incident(&space).unwrap().expect("an open incident");
            let mut ids: Vec<_> = n
                .checks(&space, &incident.id)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids
        };
        let (at_office, at_phone) = (ids(office.node()), ids(phone.node()));
        assert_eq!(at_office.len(), 30, "seed {seed}");
        assert_eq!(at_office, at_phone, "seed {seed}");
        for (end, link) in [("office", &office_link), ("phone", &phone_link)] {
            let c = &link.counts;
            for (what, n) in [
                ("lost", &c.lost),
                ("duplicated", &c.duplicated),
                ("delayed", &c.delayed),
            ] {
                assert!(
                    n.load(std::sync::atomic::Ordering::Relaxed) > 0,
                    "seed {seed}: the {end}'s link {what} nothing ({})",
                    c
                );
            }
        }
        eprintln!(
            "seed {seed}: office sent {}; phone sent {}",
            office_link.counts, phone_link.counts
        );
        office.close().await;
        phone.close().await;
    }
}
