//! The schema: migrations, applied in order by `PRAGMA user_version`.

/// Schema migrations, applied in order; `user_version` is how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
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
