//! The device store: one SQLite file, WAL, `synchronous=FULL`, one writer
//! connection (and a read-only one for long lists), migrations by
//! `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Batch, DatabaseKey, DocInfo, DocWrite, INDEX_VERSION, INDEX_VERSION_KEY, IndexOp,
    IndexedRecipient, ListInputs, Store, StoredDoc, decode_heads, encode_heads, revoked_key,
    weights_key,
};
use crate::doc::{DocKey, DocKind};
use crate::error::{Error, Result};
use crate::model::{
    Check, CheckId, Claim, DeviceId, Incident, Recipient, RecipientId, Space, SpaceId,
};

/// Schema migrations, applied in order; `user_version` is how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    -- Small rows only: a row holding a multi-megabyte snapshot would be
    -- copied whole by every update of its other columns.
    CREATE TABLE docs (
        doc TEXT PRIMARY KEY,
        heads BLOB NOT NULL,
        index_current INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE snapshots (doc TEXT PRIMARY KEY, bytes BLOB NOT NULL);
    -- Changes since each document's snapshot. Compaction keeps this table
    -- small, so reading one document's rows needs no index of its own, and
    -- each row carries the heads after it: appending a change touches no
    -- other table's pages.
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        doc TEXT NOT NULL,
        heads BLOB NOT NULL,
        bytes BLOB NOT NULL
    );
    -- Local operations acknowledged to the user whose automerge changes are
    -- not written yet; replayed on load, replaced by changes on flush.
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        doc TEXT NOT NULL,
        op BLOB NOT NULL
    );
    CREATE TABLE peer_states (
        peer TEXT NOT NULL,
        doc TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (peer, doc)
    ) WITHOUT ROWID;
    CREATE TABLE idx_spaces (space TEXT PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE idx_recipients (
        space TEXT NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (space, id)
    ) WITHOUT ROWID;
    CREATE TABLE idx_incidents (doc TEXT PRIMARY KEY, space TEXT NOT NULL, data TEXT NOT NULL);
    -- Rows in arrival order (appends touch the table's last pages only);
    -- the small unique index finds a recipient's checks. One WITHOUT ROWID
    -- table keyed by recipient would insert large rows at random places in
    -- a table too large for the page cache.
    CREATE TABLE idx_checks (
        doc TEXT NOT NULL,
        recipient TEXT NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX idx_checks_by_recipient ON idx_checks (doc, recipient, id);
    CREATE TABLE idx_claims (
        doc TEXT NOT NULL,
        key TEXT NOT NULL,
        recipient TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (doc, key)
    ) WITHOUT ROWID;
"#,
    r#"
    -- The audit trail: append-only (the triggers refuse any other write)
    -- and hash-chained (see `audit`), so tampering with the file itself is
    -- found by `anpi audit verify`.
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        entry TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#,
    r#"
    -- Grows with every write of a document, by any process: a process
    -- holding the document in memory reads it again when this moved.
    ALTER TABLE docs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    -- What could not be applied to a document (a change a peer sent that
    -- does not fit, a stored change that clashes with another): kept, never
    -- dropped, with the reason, for a later version or a person to settle.
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY,
        doc TEXT NOT NULL,
        reason TEXT NOT NULL,
        bytes BLOB NOT NULL
    );
"#,
];

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

/// A store in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    /// Inside [`Store::begin_write`].
    writing: bool,
    /// Opened on read-only media: every write is [`Error::ReadOnly`].
    read_only: bool,
    /// `PRAGMA data_version` when last asked: it moves when another
    /// connection commits.
    data_version: Option<i64>,
    /// A second, read-only connection to the same file (none in memory): a
    /// priority list reads the recipients on the store's connection and the
    /// checks on this one at once. Decrypting their pages was most of
    /// opening an encrypted 50,000-recipient list, and a phone has cores.
    /// Opened with the store, so the key is not kept for later.
    reader: Option<std::sync::Mutex<Connection>>,
}

/// A connection to `path`: read-write, or — on read-only media — read-only
/// and `immutable` (nothing can change the file, so SQLite needs neither
/// locks nor the WAL's shared memory, which it could not create there).
fn connect(path: &Path, read_only: bool) -> Result<Connection> {
    if !read_only {
        return Ok(Connection::open(path)?);
    }
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Ok(Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )?)
}

/// Whether opening `path` failed because its media cannot be written.
fn unwritable(e: &Error, path: &Path) -> bool {
    path.exists()
        && matches!(
            e,
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
        )
}

fn open_reader(
    path: &Path,
    key: Option<(&DatabaseKey, Cipher)>,
    read_only: bool,
) -> Result<std::sync::Mutex<Connection>> {
    let conn = connect(path, read_only)?;
    if let Some((key, cipher)) = key {
        unlock(&conn, key, cipher)?;
    }
    conn.pragma_update(None, "query_only", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(std::sync::Mutex::new(conn))
}

/// How an encrypted store's pages are laid out and authenticated. Chosen
/// when the file is made; a connection must name the same one, or every
/// page fails its check as if the key were wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    /// What this version makes. Every page read is authenticated, and
    /// opening a list reads thousands: HMAC-SHA256 has instructions of its
    /// own on phones' ARMv8 cores and on current x86 (SHA-NI), SHA-512
    /// mostly not; 8 KiB pages halve the fixed work per page. Measured
    /// (BENCHMARKS.md): scanning the 50,000-recipient index took 187 ms
    /// with SQLCipher's defaults, 130 ms with HMAC-SHA256, 86 ms with both;
    /// recording a check costs about the same with either page size.
    Current,
    /// SQLCipher 4's defaults (4 KiB pages, HMAC-SHA512): stores made
    /// before, which still open as they are.
    Sqlcipher4,
}

impl Cipher {
    fn pragmas(self) -> &'static str {
        match self {
            Cipher::Current => {
                "PRAGMA cipher_page_size = 8192; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;"
            }
            Cipher::Sqlcipher4 => "PRAGMA cipher_compatibility = 4;",
        }
    }
}

/// Give a just-opened connection its key.
fn unlock(conn: &Connection, key: &DatabaseKey, cipher: Cipher) -> Result<()> {
    // The key must be the first statement on the connection; a raw key
    // (x'…') skips SQLCipher's own slow derivation.
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.hex()))?;
    // SQLCipher would also print its own low-level lines ("hmac check
    // failed for pgno=1") on stderr or logcat for a wrong key; the error
    // returned says it in words people act on.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.execute_batch(cipher.pragmas())?;
    Ok(())
}

/// A connection to the encrypted file at `path` with `key` and `cipher`,
/// or `None` when its pages do not open that way (a wrong key, or a store
/// made with another cipher). Only reads: a failed try changes nothing.
fn unlocked(
    path: &Path,
    key: &DatabaseKey,
    cipher: Cipher,
    read_only: bool,
) -> Result<Option<Connection>> {
    let conn = connect(path, read_only)?;
    unlock(&conn, key, cipher)?;
    // A wrong key shows on the first read of the schema.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(Some(conn)),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

/// A connection to the encrypted file at `path` with `key`, in whichever
/// cipher settings the file was made with: a new or current store opens on
/// the first try, one made before on the second. Both failing is the key
/// ([`Error::WrongKey`]).
fn unlocked_any(path: &Path, key: &DatabaseKey, read_only: bool) -> Result<(Connection, Cipher)> {
    for cipher in [Cipher::Current, Cipher::Sqlcipher4] {
        if let Some(conn) = unlocked(path, key, cipher, read_only)? {
            return Ok((conn, cipher));
        }
    }
    Err(Error::WrongKey)
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path`, unencrypted. For
    /// tests and benchmarks; devices use [`SqliteStore::open_encrypted`].
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        let mut store = Self::setup(conn, false)?;
        store.reader = Some(open_reader(path, None, false)?);
        Ok(store)
    }

    /// Open (creating if needed) the store at `path`, encrypted with `key`
    /// (SQLCipher: every page of the database and its WAL). A wrong key is
    /// [`Error::WrongKey`], and nothing is written. On read-only media the
    /// store opens for reading, and every write is [`Error::ReadOnly`].
    pub fn open_encrypted(path: &Path, key: &DatabaseKey) -> Result<Self> {
        match Self::open_encrypted_as(path, key, false) {
            Err(e) if unwritable(&e, path) => Self::open_encrypted_as(path, key, true),
            other => other,
        }
    }

    fn open_encrypted_as(path: &Path, key: &DatabaseKey, read_only: bool) -> Result<Self> {
        let (conn, cipher) = unlocked_any(path, key, read_only)?;
        let mut store = Self::setup(conn, read_only)?;
        store.reader = Some(open_reader(path, Some((key, cipher)), read_only)?);
        Ok(store)
    }

    /// Write a consistent copy of the encrypted store at `path` into the new
    /// file `out`, encrypted with the same `key` (in this version's cipher
    /// settings). It runs on a connection of its own, in one read
    /// transaction, so other processes go on writing meanwhile (`anpi
    /// serve`); the copy is checked (`integrity_check`) before it counts.
    pub fn export_encrypted(path: &Path, key: &DatabaseKey, out: &Path) -> Result<()> {
        let (conn, _) = unlocked_any(path, key, false)?;
        conn.busy_timeout(WRITE_WAIT)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let target = out.to_string_lossy().replace('\'', "''");
        conn.execute_batch(&format!(
            "ATTACH DATABASE '{target}' AS backup KEY \"x'{}'\";
             PRAGMA backup.cipher_page_size = 8192;
             PRAGMA backup.cipher_hmac_algorithm = HMAC_SHA256;",
            key.hex()
        ))?;
        let copied = (|| -> Result<()> {
            conn.execute_batch("BEGIN; SELECT sqlcipher_export('backup');")?;
            conn.pragma_update(Some("backup"), "user_version", version)?;
            conn.execute_batch("COMMIT;")?;
            let report: String =
                conn.query_row("PRAGMA backup.integrity_check", [], |r| r.get(0))?;
            if report != "ok" {
                return Err(Error::corrupt(format!(
                    "the copy fails its check: {report}"
                )));
            }
            Ok(())
        })();
        if copied.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK;");
        }
        conn.execute_batch("DETACH DATABASE backup;")?;
        copied
    }

    /// A store in memory (tests and benchmarks of the SQL itself).
    pub fn open_in_memory() -> Result<Self> {
        Self::setup(Connection::open_in_memory()?, false)
    }

    fn setup(mut conn: Connection, read_only: bool) -> Result<Self> {
        if read_only {
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let known = MIGRATIONS.len() as i64;
            if version > known {
                return Err(Error::TooNew {
                    found: version,
                    known,
                });
            }
            if version < known {
                // It would need its schema brought up to date first.
                return Err(Error::ReadOnly);
            }
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            return Ok(SqliteStore {
                conn,
                writing: false,
                data_version: None,
                reader: None,
                read_only: true,
            });
        }
        // WAL: readers never block the writer; FULL: a commit is on disk
        // (the WAL fsynced) before it returns, so an acknowledged check
        // survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Sorting and temporary tables stay in memory: no plaintext temp
        // files beside the encrypted database.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        // Other processes on the same folder (an `anpi check` beside
        // `anpi serve`) wait for each other's writes rather than fail.
        conn.busy_timeout(WRITE_WAIT)?;
        migrate(&mut conn).map_err(busy)?;
        Ok(SqliteStore {
            conn,
            writing: false,
            data_version: None,
            reader: None,
            read_only: false,
        })
    }

    /// Run `PRAGMA integrity_check`; `Ok(())` when SQLite reports "ok".
    pub fn integrity_check(&self) -> Result<()> {
        let report: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if report == "ok" {
            Ok(())
        } else {
            Err(Error::corrupt(format!("integrity check: {report}")))
        }
    }

    /// Drop every index row, as if the index had been lost. For tests of the
    /// rebuild on open.
    pub fn drop_index_for_test(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "DELETE FROM idx_spaces; DELETE FROM idx_recipients; DELETE FROM idx_incidents;
             DELETE FROM idx_checks; DELETE FROM idx_claims; UPDATE docs SET index_current = 0;",
        )?;
        Ok(())
    }
}

/// A lock that was not released within [`WRITE_WAIT`], and a file that
/// cannot be written, are said as such.
fn busy(e: Error) -> Error {
    match e {
        Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Error::Busy
        }
        Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ReadOnly =>
        {
            Error::ReadOnly
        }
        other => other,
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::TooNew {
            found: version,
            known,
        });
    }
    if version == known {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have migrated it while this one waited.
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == known {
        return Ok(());
    }
    for m in &MIGRATIONS[version as usize..] {
        tx.execute_batch(m)?;
    }
    if version == 0 {
        // A new store's (empty) index is current by construction.
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)",
            params![INDEX_VERSION_KEY, INDEX_VERSION.to_string().into_bytes()],
        )?;
    }
    tx.pragma_update(None, "user_version", known)?;
    tx.commit()?;
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("model types always serialize")
}

/// The recipients of one space, by id.
const RECIPIENTS_OF_SPACE: &str = "SELECT data FROM idx_recipients WHERE space = ?1 ORDER BY id";

/// The checks of one incident document.
const CHECKS_OF_DOC: &str = "SELECT data FROM idx_checks WHERE doc = ?1";

/// For lists whose rows are parsed as they are.
fn unchanged<T>(row: T) -> T {
    row
}

/// Below this many rows, one thread parses them: starting threads would
/// cost more than it saves.
const PARALLEL_PARSE_ROWS: usize = 2_000;

fn write_doc(tx: &Connection, w: &DocWrite) -> Result<()> {
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
fn clear_journal(tx: &Connection, doc: &str) -> Result<()> {
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

fn apply_index(tx: &Connection, key: &DocKey, doc: &str, op: &IndexOp) -> Result<()> {
    let space = key.space.as_str();
    match op {
        IndexOp::Clear => match key.kind {
            DocKind::Roster => {
                tx.execute("DELETE FROM idx_spaces WHERE space = ?1", [space])?;
                tx.execute("DELETE FROM idx_recipients WHERE space = ?1", [space])?;
                tx.execute("DELETE FROM meta WHERE key = ?1", [weights_key(&key.space)])?;
                tx.execute("DELETE FROM meta WHERE key = ?1", [revoked_key(&key.space)])?;
            }
            DocKind::Incident(_) => {
                tx.execute("DELETE FROM idx_incidents WHERE doc = ?1", [doc])?;
                tx.execute("DELETE FROM idx_checks WHERE doc = ?1", [doc])?;
                tx.execute("DELETE FROM idx_claims WHERE doc = ?1", [doc])?;
            }
        },
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
    }
    Ok(())
}

impl SqliteStore {
    fn load_now(&self, key: &DocKey) -> Result<Option<StoredDoc>> {
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

    fn rows<T: serde::de::DeserializeOwned + Send>(
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
const ROWS_PER_PART: usize = 8_192;

/// The rows of `sql`'s one text column on `conn`, parsed and passed
/// through `f`. A long list is parsed on several threads: parsing the JSON
/// was most of opening a 50,000-recipient list, and a phone has cores to
/// spare.
fn rows_on<T, U>(
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
fn parse_part<T, U>(
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
fn write_batch(tx: &Connection, batch: Batch) -> Result<()> {
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
        let mut stmt = self
            .conn
            .prepare("SELECT seq, entry FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, text) = row?;
            let mut e: crate::audit::Entry = serde_json::from_str(&text).map_err(|e| {
                Error::corrupt(format!("audit entry {seq} is not an audit entry: {e}"))
            })?;
            // The row's own number is what counts: an entry moved to
            // another row must not pass as in place.
            e.seq = u64::try_from(seq).unwrap_or_default();
            out.push(e);
        }
        Ok(out)
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
        // The heads are those of the newest change row, or the snapshot's.
        let mut stmt = self.conn.prepare(
            "SELECT d.doc, d.heads, d.index_current,
                    (SELECT count(*) FROM changes c WHERE c.doc = d.doc),
                    (SELECT c.heads FROM changes c WHERE c.doc = d.doc ORDER BY c.id DESC LIMIT 1),
                    (SELECT count(*) FROM journal j WHERE j.doc = d.doc),
                    d.version
             FROM docs d ORDER BY d.doc",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (doc, snapshot_heads, index_current, pending, change_heads, journal, version) =
                row?;
            out.push(DocInfo {
                key: doc.parse()?,
                heads: decode_heads(change_heads.as_deref().unwrap_or(&snapshot_heads))?,
                pending_changes: pending.max(0) as u64,
                journal_entries: journal.max(0) as u64,
                index_current,
                version: version.max(0) as u64,
            });
        }
        Ok(out)
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
mod tests {
    use super::*;
    use crate::store::conformance::store_conformance;

    store_conformance!(
        sqlite_conformance,
        SqliteStore::open_in_memory().expect("in-memory sqlite")
    );

    #[test]
    fn an_encrypted_store_holds_no_plaintext_and_needs_its_key() {
        use crate::model::{Recipient, RecipientId};
        use crate::node::Node;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let key = DatabaseKey::from_bytes([7; 32]);
        let name = "暗号 花子ユニーク";
        {
            let mut node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
            let space = node.create_space("ひまわり").unwrap().id;
            node.upsert_recipients(
                &space,
                vec![Recipient {
                    id: RecipientId("R1".into()),
                    name: name.into(),
                    ..Default::default()
                }],
            )
            .unwrap();
            // Still open: the WAL holds the latest pages.
            for file in std::fs::read_dir(dir.path()).unwrap() {
                let bytes = std::fs::read(file.unwrap().path()).unwrap();
                assert!(
                    !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
                    "plaintext name on disk"
                );
            }
        }
        let wrong = DatabaseKey::from_bytes([8; 32]);
        assert!(matches!(
            SqliteStore::open_encrypted(&path, &wrong),
            Err(Error::WrongKey)
        ));
        let node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
        let space = node.only_space().unwrap().id;
        assert_eq!(node.recipients(&space).unwrap()[0].recipient.name, name);
    }

    /// A connection to `path` with `cipher`, as anyone holding the key
    /// would make it with SQLCipher itself.
    fn raw(path: &Path, key: &DatabaseKey, cipher: Cipher) -> Option<Connection> {
        unlocked(path, key, cipher, false).unwrap()
    }

    #[test]
    fn stores_made_with_sqlciphers_defaults_still_open_and_stay_as_they_are() {
        use crate::model::{Recipient, RecipientId};
        use crate::node::Node;
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::from_bytes([5; 32]);
        let made = dir.path().join("made.db");
        let before = dir.path().join("before.db");
        let recipient = |id: &str| Recipient {
            id: RecipientId(id.into()),
            name: format!("利用者 {id}"),
            ..Default::default()
        };
        let space = {
            let mut node = Node::open(SqliteStore::open_encrypted(&made, &key).unwrap()).unwrap();
            let space = node.create_space("ひまわり").unwrap().id;
            node.upsert_recipients(&space, vec![recipient("R1")])
                .unwrap();
            space
        };
        // What this version makes is the current cipher, not the old one.
        assert!(raw(&made, &key, Cipher::Sqlcipher4).is_none());
        // The same store as an earlier version made it (the export leaves
        // out the schema's version).
        let conn = raw(&made, &key, Cipher::Current).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch(&format!(
            "ATTACH DATABASE '{}' AS before KEY \"x'{}'\";
             PRAGMA before.cipher_compatibility = 4;
             SELECT sqlcipher_export('before');
             PRAGMA before.user_version = {version};
             DETACH DATABASE before;",
            before.display(),
            key.hex()
        ))
        .unwrap();
        drop(conn);
        assert!(raw(&before, &key, Cipher::Current).is_none());

        let wrong = DatabaseKey::from_bytes([6; 32]);
        assert!(matches!(
            SqliteStore::open_encrypted(&before, &wrong),
            Err(Error::WrongKey)
        ));
        let crash = dir.path().join("crash");
        std::fs::create_dir(&crash).unwrap();
        {
            let mut node = Node::open(SqliteStore::open_encrypted(&before, &key).unwrap()).unwrap();
            assert_eq!(node.recipients(&space).unwrap().len(), 1);
            node.upsert_recipients(&space, vec![recipient("R2")])
                .unwrap();
            // The files as a power cut would leave them: the last write in
            // the WAL only, made with the old cipher.
            for name in ["before.db", "before.db-wal"] {
                std::fs::copy(dir.path().join(name), crash.join(name)).unwrap();
            }
            assert!(
                std::fs::metadata(crash.join("before.db-wal"))
                    .unwrap()
                    .len()
                    > 0
            );
        }
        for path in [before.clone(), crash.join("before.db")] {
            let node = Node::open(SqliteStore::open_encrypted(&path, &key).unwrap()).unwrap();
            let names: Vec<_> = node
                .recipients(&space)
                .unwrap()
                .into_iter()
                .map(|r| r.recipient.name)
                .collect();
            assert_eq!(names, ["利用者 R1", "利用者 R2"], "{}", path.display());
            drop(node);
            assert!(raw(&path, &key, Cipher::Current).is_none());
            let conn = raw(&path, &key, Cipher::Sqlcipher4).unwrap();
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
        }
    }

    #[test]
    fn a_damaged_row_in_a_long_list_is_named_and_the_list_refused() {
        use crate::store::{IndexedRecipient, conformance::space};
        let mut s = SqliteStore::open_in_memory().unwrap();
        let mut w = DocWrite::new(DocKey::roster(&space()), vec![]);
        w.index = (0..3 * PARALLEL_PARSE_ROWS)
            .map(|i| {
                IndexOp::Recipient(Box::new(IndexedRecipient {
                    recipient: Recipient {
                        id: RecipientId(format!("R{i:05}")),
                        ..Default::default()
                    },
                    conflicts: vec![],
                }))
            })
            .collect();
        s.write(Batch {
            docs: vec![w],
            ..Default::default()
        })
        .unwrap();
        s.conn
            .execute(
                "UPDATE idx_recipients SET data = '{\"recipient\":' WHERE id = 'R05000'",
                [],
            )
            .unwrap();
        let err = s.recipient_list(&space()).unwrap_err().to_string();
        assert!(err.contains("row 5001"), "{err}");
        assert!(s.recipients(&space()).is_err());
    }

    /// `list_inputs` reads the checks on a second connection: it must see
    /// every commit made on the first, encrypted or not.
    #[test]
    fn list_inputs_on_two_connections_see_the_latest_commit() {
        use crate::store::conformance::{check, space};
        use crate::store::{IndexedRecipient, ListInputs};
        let dir = tempfile::tempdir().unwrap();
        let key = DatabaseKey::from_bytes([9; 32]);
        for encrypted in [false, true] {
            let path = dir.path().join(format!("anpi-{encrypted}.db"));
            let mut s = if encrypted {
                SqliteStore::open_encrypted(&path, &key).unwrap()
            } else {
                SqliteStore::open(&path).unwrap()
            };
            let incident = DocKey::incident(&space(), &"flood-2026-11-21".into());
            let mut made = Vec::new();
            for round in 0..3 {
                let mut w = DocWrite::new(DocKey::roster(&space()), vec![]);
                w.index = vec![IndexOp::Recipient(Box::new(IndexedRecipient {
                    recipient: Recipient {
                        id: RecipientId(format!("R{round}")),
                        ..Default::default()
                    },
                    conflicts: vec![],
                }))];
                let c = check(&format!("R{round}"));
                made.push(c.clone());
                let mut wi = DocWrite::new(incident.clone(), vec![]);
                wi.index = vec![IndexOp::Check(c)];
                s.write(Batch {
                    docs: vec![w, wi],
                    ..Default::default()
                })
                .unwrap();
                let mut inputs = s.list_inputs(&space(), &incident).unwrap();
                inputs.checks.sort_by_key(|c| c.id);
                let mut want = ListInputs {
                    recipients: s.recipient_list(&space()).unwrap(),
                    checks: made.clone(),
                    claims: vec![],
                };
                want.checks.sort_by_key(|c| c.id);
                assert_eq!(inputs, want, "round {round}, encrypted {encrypted}");
                assert_eq!(inputs.recipients.len(), round + 1);
            }
        }
    }

    #[test]
    fn a_passphrase_derives_the_same_key_for_the_same_salt_only() {
        let a = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-1").unwrap();
        let b = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-1").unwrap();
        let c = DatabaseKey::from_passphrase(b"correct horse", b"salt-of-folder-2").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_file_store_reopens_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        let key = DocKey::roster(&SpaceId("s".into()));
        {
            let mut s = SqliteStore::open(&path).unwrap();
            let mut w = DocWrite::new(key.clone(), vec![]);
            w.changes = vec![b"x".to_vec()];
            s.write(Batch {
                docs: vec![w],
                ..Default::default()
            })
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.load(&key).unwrap().unwrap().bytes(), b"x");
        s.integrity_check().unwrap();
        let mode: String = s
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = s
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anpi.db");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        match SqliteStore::open(&path) {
            Err(Error::TooNew { found: 99, .. }) => {}
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("opened a newer store"),
        }
    }
}
