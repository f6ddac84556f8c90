//! Writing a batch (documents, journal, index rows, audit) in one
//! transaction, and reading long lists of index rows in parallel parts.

use super::*;

pub(super) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("model types always serialize")
}

/// The recipients of one space, by id.
pub(super) const RECIPIENTS_OF_SPACE: &str =
    "SELECT data FROM idx_recipients WHERE space = ?1 ORDER BY id";

/// The checks of one incident document.
pub(super) const CHECKS_OF_DOC: &str = "SELECT data FROM idx_checks WHERE doc = ?1";

/// For lists whose rows are parsed as they are.
pub(super) fn unchanged<T>(row: T) -> T {
    row
}

/// Below this many rows, one thread parses them: starting threads would
/// cost more than it saves.
pub(super) const PARALLEL_PARSE_ROWS: usize = 2_000;

pub(super) fn write_doc(tx: &Connection, w: &DocWrite) -> Result<()> {
    let key = w.doc_key()?;
    let doc = key.to_string();
    let heads = encode_heads(&w.heads);
    if w.flush_journal || w.snapshot.is_some() {
        clear_journal(tx, &doc)?;
    }
    if let Some(snapshot) = &w.snapshot {
        tx.execute("DELETE FROM changes WHERE doc = ?1", [&doc])?;
        tx.execute(
            "INSERT OR REPLACE INTO snapshots (doc, bytes) VALUES (?1, ?2)",
            params![doc, snapshot],
        )?;
        tx.execute(
            "INSERT INTO docs (doc, heads, index_current, version) VALUES (?1, ?2, 1, 1)
             ON CONFLICT (doc) DO UPDATE SET heads = ?2, index_current = 1,
                 version = version + 1",
            params![doc, heads],
        )?;
    } else if w.changes.is_empty() && w.journal.is_empty() {
        // An index rebuild.
        tx.execute(
            "INSERT INTO docs (doc, heads, index_current, version) VALUES (?1, ?2, 1, 1)
             ON CONFLICT (doc) DO UPDATE SET index_current = 1, version = version + 1",
            params![doc, heads],
        )?;
    } else {
        // The heads ride on the change rows; the version moves with every
        // write, a journal entry included (another process holding the
        // document must see it).
        tx.prepare_cached(
            "INSERT INTO docs (doc, heads, index_current, version) VALUES (?1, ?2, 1, 1)
             ON CONFLICT (doc) DO UPDATE SET version = version + 1",
        )?
        .execute(params![doc, heads])?;
    }
    if let Some((last, rest)) = w.changes.split_last() {
        let mut insert =
            tx.prepare_cached("INSERT INTO changes (doc, heads, bytes) VALUES (?1, ?2, ?3)")?;
        for c in rest {
            insert.execute(params![doc, &[] as &[u8], c])?;
        }
        insert.execute(params![doc, heads, last])?;
    }
    if !w.journal.is_empty() {
        let mut insert = tx.prepare_cached("INSERT INTO journal (doc, op) VALUES (?1, ?2)")?;
        for op in &w.journal {
            insert.execute(params![doc, op])?;
        }
    }
    for op in &w.index {
        apply_index(tx, key, &doc, op)?;
    }
    Ok(())
}

/// Delete a document's journal. Deleting rows one by one rebalances the
/// journal's B-tree, and SQLite renumbers pages in a rebalance through a
/// page number past the end of the file (the pending-byte page); the commit
/// then scans the whole page cache to drop it, which cost ~0.6 ms a flush
/// at a long history (BENCHMARKS.md, "Sync"). When the journal holds only
/// this document's rows, the usual case, the table is cleared instead:
/// SQLite frees its pages without rebalancing.
pub(super) fn clear_journal(tx: &Connection, doc: &str) -> Result<()> {
    let others: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM journal WHERE doc != ?1)")?
        .query_row([doc], |r| r.get(0))?;
    if others {
        tx.prepare_cached("DELETE FROM journal WHERE doc = ?1")?
            .execute([doc])?;
    } else {
        tx.prepare_cached("DELETE FROM journal")?.execute([])?;
    }
    Ok(())
}

pub(super) fn apply_index(tx: &Connection, key: &DocKey, doc: &str, op: &IndexOp) -> Result<()> {
    let space = key.space.as_str();
    match op {
        IndexOp::Clear => {
            for part in crate::doc::Part::of(&key.kind) {
                tx.execute(
                    "DELETE FROM meta WHERE key = ?1",
                    [crate::store::part_key(key, *part)],
                )?;
            }
            clear(tx, key, space, doc)?;
        }
        IndexOp::Part(part, bytes) => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![crate::store::part_key(key, *part), bytes],
            )?;
        }
        IndexOp::Space(s) => {
            tx.execute(
                "INSERT OR REPLACE INTO idx_spaces (space, data) VALUES (?1, ?2)",
                params![space, json(s)],
            )?;
        }
        IndexOp::Weights(w) => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![weights_key(&key.space), json(w).into_bytes()],
            )?;
        }
        IndexOp::Revoked(devices) => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![revoked_key(&key.space), json(devices).into_bytes()],
            )?;
        }
        IndexOp::Members(bytes) => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![members_key(&key.space), bytes],
            )?;
        }
        IndexOp::Recipient(r) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO idx_recipients (space, id, data) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![space, r.recipient.id.as_str(), json(r)])?;
        }
        IndexOp::RemoveRecipient(id) => {
            tx.execute(
                "DELETE FROM idx_recipients WHERE space = ?1 AND id = ?2",
                params![space, id.as_str()],
            )?;
        }
        IndexOp::ClearRows => match key.kind {
            DocKind::Roster => {
                tx.execute("DELETE FROM idx_recipients WHERE space = ?1", [space])?;
            }
            DocKind::Incident(_) => {
                tx.execute("DELETE FROM idx_checks WHERE doc = ?1", [doc])?;
            }
        },
        IndexOp::Incident(i) => {
            tx.execute(
                "INSERT OR REPLACE INTO idx_incidents (doc, space, data) VALUES (?1, ?2, ?3)",
                params![doc, space, json(i)],
            )?;
        }
        IndexOp::Check(c) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO idx_checks (doc, recipient, id, data)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                doc,
                c.recipient.as_str(),
                c.id.to_string(),
                json(c)
            ])?;
        }
        IndexOp::Claim(k, c) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO idx_claims (doc, key, recipient, data)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![doc, k, c.recipient.as_str(), json(c)])?;
        }
        IndexOp::RemoveClaim(k) => {
            tx.execute(
                "DELETE FROM idx_claims WHERE doc = ?1 AND key = ?2",
                params![doc, k],
            )?;
        }
        IndexOp::Newer(Some(format)) => {
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![
                    super::super::newer_key(key),
                    format.to_string().into_bytes()
                ],
            )?;
        }
        IndexOp::Newer(None) => {
            tx.execute(
                "DELETE FROM meta WHERE key = ?1",
                [super::super::newer_key(key)],
            )?;
        }
    }
    Ok(())
}

impl SqliteStore {
    pub(super) fn load_now(&self, key: &DocKey) -> Result<Option<StoredDoc>> {
        let doc = key.to_string();
        let Some(version) = self
            .conn
            .query_row("SELECT version FROM docs WHERE doc = ?1", [&doc], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
        else {
            return Ok(None);
        };
        let snapshot: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT bytes FROM snapshots WHERE doc = ?1", [&doc], |r| {
                r.get(0)
            })
            .optional()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM changes WHERE doc = ?1 ORDER BY id")?;
        let changes = stmt
            .query_map([&doc], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT op FROM journal WHERE doc = ?1 ORDER BY id")?;
        let journal = stmt
            .query_map([&doc], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Some(StoredDoc {
            snapshot,
            changes,
            journal,
            version: version.max(0) as u64,
        }))
    }

    pub(super) fn rows<T: serde::de::DeserializeOwned + Send>(
        &self,
        what: &str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        rows_on(&self.conn, what, sql, args, unchanged)
    }
}

/// Rows read before they are parsed and their text let go: a list is never
/// held twice over, as text and as values (at 50,000 recipients that was a
/// fifth of `anpi list`'s peak memory), and each part is still long enough
/// to be parsed on several threads.
pub(super) const ROWS_PER_PART: usize = 8_192;

/// The rows of `sql`'s one text column on `conn`, parsed and passed
/// through `f`. A long list is parsed on several threads: parsing the JSON
/// was most of opening a 50,000-recipient list, and a phone has cores to
/// spare.
pub(super) fn rows_on<T, U>(
    conn: &Connection,
    what: &str,
    sql: &str,
    args: impl rusqlite::Params,
    f: impl Fn(T) -> U + Sync,
) -> Result<Vec<U>>
where
    T: serde::de::DeserializeOwned,
    U: Send,
{
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(args)?;
    // Bytes, not text: the JSON parser validates UTF-8 as it goes, and
    // validating each row here first cost a tenth of reading a long list.
    let mut texts: Vec<u8> = Vec::new();
    let mut ends = Vec::new();
    let mut out: Vec<U> = Vec::new();
    loop {
        texts.clear();
        ends.clear();
        while ends.len() < ROWS_PER_PART {
            let Some(row) = rows.next()? else { break };
            texts.extend_from_slice(row.get_ref(0)?.as_bytes().map_err(rusqlite::Error::from)?);
            ends.push(texts.len());
        }
        if ends.is_empty() {
            return Ok(out);
        }
        let last = ends.len() < ROWS_PER_PART;
        parse_part(&texts, &ends, out.len(), what, &f, &mut out)?;
        if last {
            return Ok(out);
        }
    }
}

/// Parse the rows `ends` delimits in `texts` (row numbers from `first`)
/// onto `out`, on several threads when there are many.
pub(super) fn parse_part<T, U>(
    texts: &[u8],
    ends: &[usize],
    first: usize,
    what: &str,
    f: &(impl Fn(T) -> U + Sync),
    out: &mut Vec<U>,
) -> Result<()>
where
    T: serde::de::DeserializeOwned,
    U: Send,
{
    // Rows `at..at + count` of this part, each error naming its row.
    let parse_rows = |at: usize, count: usize| -> Result<Vec<U>> {
        let mut part = Vec::with_capacity(count);
        let mut from = at.checked_sub(1).map_or(0, |i| ends[i]);
        for (row, &end) in ends[at..at + count].iter().enumerate() {
            let text = &texts[from..end];
            let parsed = serde_json::from_slice(text).map_err(|e| {
                Error::corrupt(format!(
                    "index row ({what}, row {}): {e}",
                    first + at + row + 1
                ))
            })?;
            part.push(f(parsed));
            from = end;
        }
        Ok(part)
    };
    let threads = if ends.len() < PARALLEL_PARSE_ROWS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    if threads == 1 {
        out.append(&mut parse_rows(0, ends.len())?);
        return Ok(());
    }
    let (total, per) = (ends.len(), ends.len().div_ceil(threads));
    let parts: Vec<Result<Vec<U>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..total)
            .step_by(per)
            .map(|at| {
                let parse_rows = &parse_rows;
                scope.spawn(move || parse_rows(at, per.min(total - at)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    out.reserve(total);
    for part in parts {
        out.append(&mut part?);
    }
    Ok(())
}

/// Write a whole batch on `tx`, a transaction or a savepoint.
pub(super) fn write_batch(tx: &Connection, batch: Batch) -> Result<()> {
    for w in &batch.docs {
        write_doc(tx, w)?;
    }
    for (peer, doc, state) in &batch.peer_states {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO peer_states (peer, doc, state) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![peer.as_str(), doc.to_string(), state])?;
    }
    for (k, v) in &batch.meta {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![k, v],
        )?;
    }
    for q in &batch.quarantine {
        tx.execute(
            "INSERT INTO quarantine (doc, reason, bytes) VALUES (?1, ?2, ?3)",
            params![q.doc.to_string(), q.reason, q.bytes],
        )?;
    }
    if !batch.audit.is_empty() {
        let mut last: Option<crate::audit::Entry> = tx
            .query_row(
                "SELECT entry FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| Error::corrupt(format!("audit trail: {e}")))
            })
            .transpose()?;
        for r in batch.audit {
            let e = crate::audit::seal(last.as_ref(), r);
            tx.prepare_cached("INSERT INTO audit (seq, entry) VALUES (?1, ?2)")?
                .execute(params![
                    e.seq as i64,
                    serde_json::to_string(&e).expect("an audit entry always serializes")
                ])?;
            last = Some(e);
        }
    }
    Ok(())
}

/// Remove the rows a document's index had (before a rebuild).
fn clear(tx: &Connection, key: &DocKey, space: &str, doc: &str) -> Result<()> {
    match key.kind {
        DocKind::Roster => {
            tx.execute("DELETE FROM idx_spaces WHERE space = ?1", [space])?;
            tx.execute("DELETE FROM idx_recipients WHERE space = ?1", [space])?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [weights_key(&key.space)])?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [revoked_key(&key.space)])?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [members_key(&key.space)])?;
        }
        DocKind::Incident(_) => {
            tx.execute("DELETE FROM idx_incidents WHERE doc = ?1", [doc])?;
            tx.execute("DELETE FROM idx_checks WHERE doc = ?1", [doc])?;
            tx.execute("DELETE FROM idx_claims WHERE doc = ?1", [doc])?;
        }
    }
    Ok(())
}
