//! The deterministic in-memory network the multi-replica tests run on: nodes
//! exchange sync messages directly, one at a time, until nobody has anything
//! left to say. Nothing is random here; the tests bring the randomness.

use anpi_core::Result;
use anpi_core::node::{Node, SyncStats};

/// Most messages one session may take before the harness calls it a
/// livelock. Real sessions take 2 to 4.
pub const MAX_MESSAGES: usize = 64;

/// What one session between two nodes moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The initiator's counters.
    pub initiator: SyncStats,
    /// The responder's counters.
    pub responder: SyncStats,
    /// Messages the initiator sent that were answered.
    pub round_trips: usize,
}

impl Exchange {
    /// Bytes both ways.
    pub fn bytes(&self) -> usize {
        self.initiator.bytes_sent + self.responder.bytes_sent
    }
}

/// Run one sync session from `a` to `b` until quiescent. `a` names `b` as
/// its peer when `known` (so it can use the sync state it persisted).
pub fn sync(a: &mut Node, b: &mut Node) -> Result<Exchange> {
    sync_with(a, b, true)
}

/// [`sync`], choosing whether the initiator names its peer.
pub fn sync_with(a: &mut Node, b: &mut Node, known: bool) -> Result<Exchange> {
    let peer = b.device().clone();
    let (mut sa, hello) = a.sync_start(known.then_some(&peer), &[])?;
    let mut sb = b.sync_accept();
    let mut round_trips = 0;
    let mut to_b = Some(hello);
    let mut to_a = None;
    for _ in 0..MAX_MESSAGES {
        if let Some(m) = to_b.take() {
            to_a = b.sync_receive(&mut sb, &m)?;
            if to_a.is_some() {
                round_trips += 1;
            }
        } else if let Some(m) = to_a.take() {
            to_b = a.sync_receive(&mut sa, &m)?;
        } else {
            return Ok(Exchange {
                initiator: sa.stats,
                responder: sb.stats,
                round_trips,
            });
        }
    }
    panic!("sync between two nodes did not settle within {MAX_MESSAGES} messages");
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
