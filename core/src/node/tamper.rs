//! A member gone bad, for tests (docs/SECURITY.md): modified code that
//! writes into a document whatever automerge accepts. Built only for tests
//! and with the `attacks` feature (the tests crate's).

use super::*;

impl Node {
    /// Modified code, for tests of a member gone bad: `f` writes into the
    /// document as automerge allows, past every rule of this node, and the
    /// result is stored and offered to peers like any change.
    pub fn tamper(&mut self, key: &DocKey, f: impl FnOnce(&mut AutoCommit)) -> Result<()> {
        self.locked(|n| {
            n.flush(key)?;
            let l = n.loaded(key)?;
            let from = l.persisted.clone();
            f(&mut l.doc);
            let (w, changes) = settled_write(key, &mut l.doc, &from);
            let to = w.heads.clone();
            n.write_settled(key, w, Vec::new())?;
            if let Some(l) = n.docs.get_mut(key) {
                l.recent.record(&from, &to, changes);
            }
            Ok(())
        })
    }
}
