//! The device store: one SQLite file, WAL, `synchronous=FULL`, one writer
//! connection (and a read-only one for long lists), migrations by
//! `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Batch, DatabaseKey, DocInfo, DocWrite, INDEX_VERSION, INDEX_VERSION_KEY, IndexOp,
    IndexedRecipient, ListInputs, Store, StoredDoc, decode_heads, encode_heads, members_key,
    revoked_key, weights_key,
};
use crate::doc::{DocKey, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    Check, CheckId, Claim, DeviceId, Incident, Recipient, RecipientId, Space, SpaceId,
};

/// How long a writer waits for another process's write to finish before it
/// gives up with [`Error::Busy`]. An import of 50,000 rows holds the lock
/// for about six seconds.
const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The writer's page cache (negative: KiB): 16 MiB, so that the index of a
/// large incident stays in memory and recording a check at a long history
/// does not wait on page reads.
const WRITER_CACHE_KIB: i64 = -16_384;

/// The page cache a whole list is read through (SQLite's default size).
const LIST_CACHE_KIB: i64 = -2_000;

/// SQLite's own default: the WAL is copied into the database at the commit
/// that takes it past this many pages.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    /// Inside [`Store::begin_write`].
    writing: bool,
    /// Rows were staged (a new device's first sync, tens of MB): the WAL
    /// is copied into the database by [`Store::settle`], after the session,
    /// not inside the commit the peer waits for.
    checkpoint_deferred: bool,
    /// Opened on read-only media: every write is [`Error::ReadOnly`].
    read_only: bool,
    /// `PRAGMA data_version` when last asked: it moves when another
    /// connection commits.
    data_version: Option<i64>,
    /// Batches this connection wrote (see [`Store::stamp`]).
    writes: u64,
    /// A second, read-only connection to the same file (none in memory): a
    /// priority list reads the recipients on the store's connection and the
    /// checks on this one at once. Decrypting their pages was most of
    /// opening an encrypted 50,000-recipient list, and a phone has cores.
    /// Opened with the store, so the key is not kept for later.
    reader: Option<std::sync::Mutex<Connection>>,
}

mod open;
mod rows;
mod schema;
use open::*;
use rows::*;
use schema::*;

impl SqliteStore {
    /// Every document's info, or one document's.
    fn doc_infos(&self, only: Option<&DocKey>) -> Result<Vec<DocInfo>> {
        // The heads are those of the newest change row, or the snapshot's.
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.doc, d.heads, d.index_current,
                    (SELECT count(*) FROM changes c WHERE c.doc = d.doc),
                    (SELECT coalesce(sum(length(c.bytes)), 0) FROM changes c WHERE c.doc = d.doc),
                    (SELECT c.heads FROM changes c WHERE c.doc = d.doc ORDER BY c.id DESC LIMIT 1),
                    (SELECT count(*) FROM journal j WHERE j.doc = d.doc),
                    d.version
             FROM docs d WHERE ?1 IS NULL OR d.doc = ?1 ORDER BY d.doc",
        )?;
        let rows = stmt.query_map([only.map(|k| k.to_string())], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                doc,
                snapshot_heads,
                index_current,
                pending,
                pending_bytes,
                change_heads,
                journal,
                version,
            ) = row?;
            out.push(DocInfo {
                key: doc.parse()?,
                heads: decode_heads(change_heads.as_deref().unwrap_or(&snapshot_heads))?,
                pending_changes: pending.max(0) as u64,
                pending_bytes: pending_bytes.max(0) as u64,
                journal_entries: journal.max(0) as u64,
                index_current,
                version: version.max(0) as u64,
            });
        }
        Ok(out)
    }
}

/// An audit row read back. The row's own number is what counts: an entry
/// moved to another row must not pass as in place.
fn audit_entry((seq, text): (i64, String)) -> Result<crate::audit::Entry> {
    let mut e: crate::audit::Entry = serde_json::from_str(&text)
        .map_err(|e| Error::corrupt(format!("audit entry {seq} is not an audit entry: {e}")))?;
    e.seq = u64::try_from(seq).unwrap_or_default();
    Ok(e)
}

impl Store for SqliteStore {
    fn write(&mut self, batch: Batch) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        // Dropping an uncommitted transaction or savepoint rolls it back:
        // any `?` leaves the database as it was.
        if self.writing {
            let sp = self.conn.savepoint()?;
            write_batch(&sp, batch).map_err(busy)?;
            sp.commit()?;
        } else {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| busy(e.into()))?;
            write_batch(&tx, batch).map_err(busy)?;
            tx.commit().map_err(|e| busy(e.into()))?;
        }
        self.writes += 1;
        Ok(())
    }

    fn stages_index(&self) -> bool {
        true
    }

    fn stage_index(&mut self, key: &DocKey, rows: &[IndexOp]) -> Result<()> {
        if !self.writing {
            return Err(Error::invalid("index rows are staged under the write lock"));
        }
        if !self.checkpoint_deferred {
            self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            self.checkpoint_deferred = true;
        }
        let doc = key.to_string();
        // All of them or none: a failure leaves nothing staged.
        let sp = self.conn.savepoint()?;
        for op in rows {
            if !matches!(
                op,
                IndexOp::Recipient(_) | IndexOp::Check(_) | IndexOp::ClearRows
            ) {
                return Err(Error::invalid("only recipient and check rows are staged"));
            }
            apply_index(&sp, key, &doc, op).map_err(busy)?;
        }
        sp.commit()?;
        Ok(())
    }

    fn settle(&mut self) -> Result<()> {
        if !self.checkpoint_deferred || self.writing {
            return Ok(());
        }
        // PASSIVE: copies what no reader still needs; the rest goes with
        // the next checkpoint SQLite makes on its own.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        self.checkpoint_deferred = false;
        Ok(())
    }

    fn limit_growth_for_test(&self, pages: Option<u64>) -> Result<()> {
        // SQLite's `max_page_count`, for this connection.
        let now: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let max = pages.map_or(i64::from(u32::MAX - 1), |p| now + p as i64);
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))?;
        Ok(())
    }

    fn begin_write(&mut self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if self.writing {
            return Err(Error::invalid("the store's write lock is already held"));
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| busy(e.into()))?;
        self.writing = true;
        Ok(())
    }

    fn end_write(&mut self, commit: bool) -> Result<()> {
        if !self.writing {
            return Ok(());
        }
        self.writing = false;
        if commit {
            if let Err(e) = self.conn.execute_batch("COMMIT") {
                // A failed commit (a full disk) leaves the transaction open:
                // undo it, so that nothing of it is half there.
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        } else if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn stamp(&self) -> Result<(i64, u64)> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        Ok((version, self.writes))
    }

    fn changed_elsewhere(&mut self) -> Result<bool> {
        let now: i64 = self
            .conn
            .pragma_query_value(None, "data_version", |r| r.get(0))?;
        Ok(self.data_version.replace(now) != Some(now))
    }

    fn doc_versions(&self) -> Result<std::collections::HashMap<DocKey, u64>> {
        let mut stmt = self.conn.prepare_cached("SELECT doc, version FROM docs")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (doc, version) = row?;
            out.insert(doc.parse()?, version.max(0) as u64);
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn audit(&self) -> Result<Vec<crate::audit::Entry>> {
        self.audit_from(1, usize::MAX)
    }

    fn audit_from(&self, seq: u64, limit: usize) -> Result<Vec<crate::audit::Entry>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, entry FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2")?;
        let from = i64::try_from(seq).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([from, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| audit_entry(row?)).collect()
    }

    fn audit_last(&self) -> Result<Option<crate::audit::Entry>> {
        let row = self
            .conn
            .query_row(
                "SELECT seq, entry FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        row.map(audit_entry).transpose()
    }

    fn quarantined(&self) -> Result<Vec<super::Quarantined>> {
        let mut stmt = self
            .conn
            .prepare("SELECT doc, reason, bytes FROM quarantine ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (doc, reason, bytes) = row?;
            out.push(super::Quarantined {
                doc: doc.parse()?,
                reason,
                bytes,
            });
        }
        Ok(out)
    }

    fn docs(&self) -> Result<Vec<DocInfo>> {
        self.doc_infos(None)
    }

    fn doc_info(&self, key: &DocKey) -> Result<Option<DocInfo>> {
        Ok(self.doc_infos(Some(key))?.pop())
    }

    fn newer_documents(&self) -> Result<Vec<(DocKey, u32)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM meta WHERE key >= 'newer_format/' AND key < 'newer_format0'",
        )?;
        let rows: Vec<(String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<std::result::Result<_, _>>()?;
        super::newer_from_meta(rows.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    fn doc_keys(&self) -> Result<Vec<DocKey>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT doc FROM docs ORDER BY doc")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        names.iter().map(|n| n.parse()).collect()
    }

    fn load(&self, key: &DocKey) -> Result<Option<StoredDoc>> {
        // One read transaction (a savepoint works inside the write lock
        // and outside it): the version, changes and journal of one moment,
        // even while another process flushes the journal into changes.
        self.conn.execute_batch("SAVEPOINT load")?;
        let loaded = self.load_now(key);
        self.conn.execute_batch("RELEASE load")?;
        loaded
    }

    fn peer_state(&self, peer: &DeviceId, doc: &DocKey) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT state FROM peer_states WHERE peer = ?1 AND doc = ?2")?
            .query_row(params![peer.as_str(), doc.to_string()], |r| r.get(0))
            .optional()?)
    }

    fn spaces(&self) -> Result<Vec<Space>> {
        self.rows("space", "SELECT data FROM idx_spaces ORDER BY space", [])
    }

    fn recipients(&self, space: &SpaceId) -> Result<Vec<IndexedRecipient>> {
        self.rows("recipient", RECIPIENTS_OF_SPACE, [space.as_str()])
    }

    fn recipient_list(&self, space: &SpaceId) -> Result<Vec<Recipient>> {
        /// An index row without its conflicts, which a list does not show.
        #[derive(serde::Deserialize)]
        struct Row {
            recipient: Recipient,
        }
        rows_on(
            &self.conn,
            "recipient",
            RECIPIENTS_OF_SPACE,
            [space.as_str()],
            |row: Row| row.recipient,
        )
    }

    fn list_inputs(&self, space: &SpaceId, doc: &DocKey) -> Result<ListInputs> {
        let Some(reader) = &self.reader else {
            return super::list_inputs_one_by_one(self, space, doc);
        };
        std::thread::scope(|scope| {
            let checks = scope.spawn(|| {
                let conn = reader
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                rows_on(&conn, "check", CHECKS_OF_DOC, [doc.to_string()], unchanged)
            });
            // A whole list read through the writer's 16 MiB page cache
            // would fill it with pages read once, on top of the list itself
            // (a tenth of `anpi list`'s peak at 50,000 recipients): read it
            // through a small cache, then give the writer its cache back.
            let small = self
                .conn
                .pragma_update(None, "cache_size", LIST_CACHE_KIB)
                .is_ok();
            let recipients = self.recipient_list(space);
            if small {
                self.conn
                    .pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
            }
            let claims = self.claims(doc);
            let checks = checks
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok(ListInputs {
                recipients: recipients?,
                checks: checks?,
                claims: claims?,
            })
        })
    }

    fn recipient(&self, space: &SpaceId, id: &RecipientId) -> Result<Option<IndexedRecipient>> {
        Ok(self
            .rows(
                "recipient",
                "SELECT data FROM idx_recipients WHERE space = ?1 AND id = ?2",
                [space.as_str(), id.as_str()],
            )?
            .pop())
    }

    fn incidents(&self, space: &SpaceId) -> Result<Vec<Incident>> {
        self.rows(
            "incident",
            "SELECT data FROM idx_incidents WHERE space = ?1 ORDER BY doc",
            [space.as_str()],
        )
    }

    fn checks(&self, doc: &DocKey) -> Result<Vec<Check>> {
        self.rows("check", CHECKS_OF_DOC, [doc.to_string()])
    }

    fn checks_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Check>> {
        self.rows(
            "check",
            "SELECT data FROM idx_checks WHERE doc = ?1 AND recipient = ?2",
            [doc.to_string().as_str(), recipient.as_str()],
        )
    }

    fn check_ids_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<CheckId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM idx_checks WHERE doc = ?1 AND recipient = ?2")?;
        let mut rows = stmt.query(params![doc.to_string(), recipient.as_str()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let text = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            out.push(
                text.parse()
                    .map_err(|_| Error::corrupt(format!("index row: bad check id {text:?}")))?,
            );
        }
        Ok(out)
    }

    fn claims_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Claim>> {
        self.rows(
            "claim",
            "SELECT data FROM idx_claims WHERE doc = ?1 AND recipient = ?2 ORDER BY key",
            [doc.to_string().as_str(), recipient.as_str()],
        )
    }

    fn claims(&self, doc: &DocKey) -> Result<Vec<Claim>> {
        self.rows(
            "claim",
            "SELECT data FROM idx_claims WHERE doc = ?1 ORDER BY key",
            [doc.to_string()],
        )
    }
}

#[cfg(test)]
mod tests;
