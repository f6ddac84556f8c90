//! The deterministic in-memory network the multi-replica tests run on: nodes
//! exchange sync messages directly, one at a time, until nobody has anything
//! left to say ([`anpi_core::node::sync_local`]). Nothing is random here;
//! the tests bring the randomness.

pub mod chromedriver;
pub mod netns;
pub mod sim;

use anpi_core::Result;
use anpi_core::node::{LocalSync, Node, sync_local};

/// A store at `path`, encrypted (as devices open it) with a fixed key, or
/// not. One key for the tests, the processes they start and kill, and the
/// benchmarks, so each can reopen what another made.
pub fn open_store(
    path: &std::path::Path,
    encrypted: bool,
) -> Result<anpi_core::store::SqliteStore> {
    use anpi_core::store::{DatabaseKey, SqliteStore};
    if encrypted {
        SqliteStore::open_encrypted(path, &DatabaseKey::from_bytes([3; 32]))
    } else {
        SqliteStore::open(path)
    }
}

/// Run one sync session from `a` to `b` until quiescent.
pub fn sync(a: &mut Node, b: &mut Node) -> Result<LocalSync> {
    sync_local(a, b, &[])
}

/// Sync every pair in order, twice around, which lets every change reach
/// every node through any chain of peers.
pub fn sync_all(nodes: &mut [Node]) -> Result<()> {
    let n = nodes.len();
    for _ in 0..2 {
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (a, b) = pair(nodes, i, j);
                    sync(a, b)?;
                }
            }
        }
    }
    Ok(())
}

/// Two distinct nodes of a slice, mutably.
pub fn pair(nodes: &mut [Node], i: usize, j: usize) -> (&mut Node, &mut Node) {
    assert_ne!(i, j, "a node does not sync with itself");
    if i < j {
        let (l, r) = nodes.split_at_mut(j);
        (&mut l[i], &mut r[0])
    } else {
        let (l, r) = nodes.split_at_mut(i);
        (&mut r[0], &mut l[j])
    }
}

/// What the fuzzer (`fuzz/`) and the crash replay test run on one input:
/// the wire decoder over the bytes as a received stream, then the bytes as
/// one message to a node that holds a space — as a responder and as an
/// initiator mid-session. Errors are fine; a panic is the bug.
pub fn feed_untrusted(bytes: &[u8]) {
    use anpi_core::model::{Recipient, RecipientId};
    use anpi_core::store::MemoryStore;
    let _ = anpi_core::net::wire::decode_stream(bytes);
    // The per-document stream layout: a control frame, a document's entry.
    let _ = anpi_core::net::wire::decode_control(bytes);
    let _ = anpi_core::net::wire::decode_entry(bytes, anpi_core::sync::Packing::Lzma);
    let _ = anpi_core::net::wire::decode_entry(bytes, anpi_core::sync::Packing::Zlib);
    let open = || -> Result<Node> {
        let mut node = Node::open(MemoryStore::new())?;
        let space = node.create_space("ひまわり")?.id;
        node.upsert_recipients(
            &space,
            vec![Recipient {
                id: RecipientId("R1".into()),
                name: "山田 花子".into(),
                ..Default::default()
            }],
        )?;
        Ok(node)
    };
    let Ok(mut node) = open() else { return };
    let mut session = node.sync_accept();
    let _ = node.sync_receive_bytes(&mut session, bytes);
    let Ok(mut node) = open() else { return };
    let peer = anpi_core::model::DeviceId("00".repeat(16));
    if let Ok((mut session, _hello)) = node.sync_start(Some(&peer), &[]) {
        let _ = node.sync_receive_bytes(&mut session, bytes);
    }
}
