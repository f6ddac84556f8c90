//! The deterministic in-memory network the multi-replica tests run on: nodes
//! exchange sync messages directly, one at a time, until nobody has anything
//! left to say ([`anpi_core::node::sync_local`]). Nothing is random here;
//! the tests bring the randomness.

pub mod netns;

use anpi_core::Result;
use anpi_core::node::{LocalSync, Node, sync_local};

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
