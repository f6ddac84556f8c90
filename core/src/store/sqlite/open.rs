//! Connecting: the cipher settings, unlocking with the key, opening,
//! exporting a backup, and migrating on open.

use super::*;

/// A connection to `path`: read-write, or — on read-only media — read-only
/// and `immutable` (nothing can change the file, so SQLite needs neither
/// locks nor the WAL's shared memory, which it could not create there).
pub(super) fn connect(path: &Path, read_only: bool) -> Result<Connection> {
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
pub(super) fn unwritable(e: &Error, path: &Path) -> bool {
    path.exists()
        && matches!(
            e,
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
        )
}

pub(super) fn open_reader(
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
pub(super) enum Cipher {
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
pub(super) fn unlock(conn: &Connection, key: &DatabaseKey, cipher: Cipher) -> Result<()> {
    // The key must be the first statement on the connection; a raw key
    // (x'…') skips SQLCipher's own slow derivation.
    let pragma = zeroize::Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", *key.hex()));
    conn.execute_batch(&pragma)?;
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
pub(super) fn unlocked(
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
pub(super) fn unlocked_any(
    path: &Path,
    key: &DatabaseKey,
    read_only: bool,
) -> Result<(Connection, Cipher)> {
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

    pub(super) fn open_encrypted_as(
        path: &Path,
        key: &DatabaseKey,
        read_only: bool,
    ) -> Result<Self> {
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
        let attach = zeroize::Zeroizing::new(format!(
            "ATTACH DATABASE '{target}' AS backup KEY \"x'{}'\";
             PRAGMA backup.cipher_page_size = 8192;
             PRAGMA backup.cipher_hmac_algorithm = HMAC_SHA256;",
            *key.hex()
        ));
        conn.execute_batch(&attach)?;
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

    pub(super) fn setup(mut conn: Connection, read_only: bool) -> Result<Self> {
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
                checkpoint_deferred: false,
                data_version: None,
                writes: 0,
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
            checkpoint_deferred: false,
            data_version: None,
            writes: 0,
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

/// A lock that was not released within [`WRITE_WAIT`], a file that
/// cannot be written and a full disk are said as such.
pub(super) fn busy(e: Error) -> Error {
    match e {
        Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::DiskFull =>
        {
            Error::Full
        }
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

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
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
