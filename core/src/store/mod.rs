//! Durable storage of documents, sync states and the list index.
//!
//! A [`Store`] keeps, per document, a snapshot plus the changes appended since
//! (so recording a check writes only that change), the document's heads, and
//! **index rows** (recipients, checks, claims, incidents) from which lists are
//! answered without loading the automerge document. Every [`Batch`] is applied
//! atomically: changes, heads and index rows move together or not at all, and
//! `write` returns only once the batch is durable.
//!
//! Two implementations share one conformance suite ([`conformance`]):
//! [`SqliteStore`] for devices and [`MemoryStore`] for tests.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::doc::DocKey;
use crate::error::{Error, Result};
use crate::model::{
    Check, CheckId, Claim, DeviceId, FieldConflict, Incident, Recipient, RecipientId, Space,
    SpaceId,
};

/// Version of the index rows' layout. Bump it when what the index holds
/// changes; stores with another version rebuild their index on open.
pub const INDEX_VERSION: i64 = 6;

/// The meta key [`Store::index_version`] reads.
pub const INDEX_VERSION_KEY: &str = "index_version";

/// A recipient as the index holds it: the winning values and, if people
/// edited a field concurrently, every value of that field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedRecipient {
    /// The recipient (winning values).
    pub recipient: Recipient,
    /// Fields with concurrent values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<FieldConflict>,
}

/// What an incident's priority list is made from (see
/// [`Store::list_inputs`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListInputs {
    /// The space's recipients, ordered by id, without conflicts.
    pub recipients: Vec<Recipient>,
    /// The incident's checks.
    pub checks: Vec<Check>,
    /// The incident's claims, live or expired.
    pub claims: Vec<Claim>,
}

/// [`Store::list_inputs`] as three reads one after another.
pub(crate) fn list_inputs_one_by_one<S: Store + ?Sized>(
    s: &S,
    space: &SpaceId,
    doc: &DocKey,
) -> Result<ListInputs> {
    Ok(ListInputs {
        recipients: s.recipient_list(space)?,
        checks: s.checks(doc)?,
        claims: s.claims(doc)?,
    })
}

/// The meta key of a space's priority weights.
pub fn weights_key(space: &SpaceId) -> String {
    format!("weights/{space}")
}

/// The meta key of a space's membership statements (the founding and every
/// member entry, as the roster holds them), so that membership is read
/// without loading the whole roster.
pub fn members_key(space: &SpaceId) -> String {
    format!("members/{space}")
}

/// The meta key of one of a document's staff-side parts (the staff list,
/// reports, decisions, assignments), each kept whole as a JSON array.
pub fn part_key(doc: &DocKey, part: crate::doc::Part) -> String {
    format!("part/{doc}/{}", part.map())
}

/// The meta key of the devices revoked from a space.
pub fn revoked_key(space: &SpaceId) -> String {
    format!("revoked/{space}")
}

/// One change to the index of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexOp {
    /// Remove every index row of the document (before a rebuild).
    Clear,
    /// The space's name (roster documents).
    Space(Space),
    /// The office's priority weights (roster documents), kept under
    /// [`weights_key`] in the store's meta rows.
    Weights(Box<crate::priority::PriorityConfig>),
    /// The devices revoked from the space (roster documents), kept under
    /// [`revoked_key`] in the store's meta rows.
    Revoked(std::collections::BTreeSet<DeviceId>),
    /// The space's membership statements, encoded by the node (roster
    /// documents), kept under [`members_key`] in the store's meta rows.
    Members(Vec<u8>),
    /// Insert or replace a recipient (roster documents).
    Recipient(Box<IndexedRecipient>),
    /// Remove a recipient (roster documents).
    RemoveRecipient(RecipientId),
    /// Remove every recipient (roster) or check (incident) of a document
    /// this device did not hold: what [`Store::stage_index`] wrote ahead
    /// for it, when the document is not taken as it was read.
    ClearRows,
    /// The incident as its openings describe it (incident documents).
    Incident(Incident),
    /// Add a check (incident documents).
    Check(Check),
    /// Insert or replace a claim under its key (incident documents).
    Claim(String, Claim),
    /// Remove a claim (incident documents).
    RemoveClaim(String),
    /// One staff-side part of the document, whole, as a JSON array, kept
    /// under [`part_key`] in the store's meta rows.
    Part(crate::doc::Part, Vec<u8>),
    /// The document is of a newer format this build cannot read (the
    /// oldest format that reads it), or not (`None`); kept under
    /// [`newer_key`] in the store's meta rows (see
    /// [`Store::newer_documents`]).
    Newer(Option<u32>),
}

/// The meta row saying a document is of a newer format.
pub fn newer_key(doc: &DocKey) -> String {
    format!("{NEWER_PREFIX}{doc}")
}

const NEWER_PREFIX: &str = "newer_format/";

/// The documents marked newer in meta rows (`newer_key` → format).
pub(crate) fn newer_from_meta<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Vec<(DocKey, u32)>> {
    rows.into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(NEWER_PREFIX)?, v)))
        .map(|(k, v)| {
            let format = std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| Error::corrupt(format!("newer format of {k}")))?;
            Ok((k.parse()?, format))
        })
        .collect()
}

/// What to write for one document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocWrite {
    /// The document.
    pub key: Option<DocKey>,
    /// A full save that replaces everything stored for the document
    /// (compaction, or a document received whole).
    pub snapshot: Option<Vec<u8>>,
    /// Changes to append (after the snapshot, if one is given).
    pub changes: Vec<Vec<u8>>,
    /// Remove the document's journal entries first: their changes are in
    /// `changes` or `snapshot`.
    pub flush_journal: bool,
    /// Local operations to append to the document's journal: durable
    /// facts whose automerge changes are written later (see `node`).
    pub journal: Vec<Vec<u8>>,
    /// The document's heads once this write is applied.
    pub heads: Vec<ChangeHash>,
    /// Index rows to change, in order.
    pub index: Vec<IndexOp>,
}

impl IndexOp {
    /// Insert or replace a recipient with its conflicted fields.
    pub fn recipient(recipient: Recipient, conflicts: Vec<FieldConflict>) -> Self {
        IndexOp::Recipient(Box::new(IndexedRecipient {
            recipient,
            conflicts,
        }))
    }
}

impl DocWrite {
    /// A write for `key`.
    pub fn new(key: DocKey, heads: Vec<ChangeHash>) -> Self {
        DocWrite {
            key: Some(key),
            heads,
            ..Default::default()
        }
    }

    fn doc_key(&self) -> Result<&DocKey> {
        self.key
            .as_ref()
            .ok_or_else(|| Error::invalid("document write without a document"))
    }
}

/// Everything one user action (or one received sync message) writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Document writes.
    pub docs: Vec<DocWrite>,
    /// Sync states to save, per (peer, document).
    pub peer_states: Vec<(DeviceId, DocKey, Vec<u8>)>,
    /// Device settings to save.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Audit entries to append, in order (sealed by the store, in this
    /// transaction, after the trail's last entry).
    pub audit: Vec<crate::audit::Record>,
    /// What could not be applied to a document, kept aside.
    pub quarantine: Vec<Quarantined>,
}

/// Bytes that could not be applied to a document (a stored change that
/// clashes, a change a peer sent that does not fit), kept with the reason
/// rather than dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// The document they were for.
    pub doc: DocKey,
    /// Why they were not applied.
    pub reason: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Batch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
            && self.peer_states.is_empty()
            && self.meta.is_empty()
            && self.audit.is_empty()
            && self.quarantine.is_empty()
    }
}

/// A document as stored: load it with `AutoCommit::load` on [`Self::bytes`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredDoc {
    /// The last snapshot, if any.
    pub snapshot: Option<Vec<u8>>,
    /// Changes appended since, in order.
    pub changes: Vec<Vec<u8>>,
    /// Local operations not yet written as changes, in order.
    pub journal: Vec<Vec<u8>>,
    /// How many writes the document has had (see [`Store::doc_versions`]),
    /// read together with the rest.
    pub version: u64,
}

impl StoredDoc {
    /// Snapshot and changes as one byte string automerge can load (the
    /// journal is replayed by the node).
    pub fn bytes(&self) -> Vec<u8> {
        let len = self.snapshot.as_ref().map_or(0, Vec::len)
            + self.changes.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        if let Some(s) = &self.snapshot {
            out.extend_from_slice(s);
        }
        for c in &self.changes {
            out.extend_from_slice(c);
        }
        out
    }
}

/// What the store knows of a document without loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocInfo {
    /// The document.
    pub key: DocKey,
    /// Its heads.
    pub heads: Vec<ChangeHash>,
    /// Changes appended since the last snapshot.
    pub pending_changes: u64,
    /// Their size in bytes.
    pub pending_bytes: u64,
    /// Journal entries not yet written as changes.
    pub journal_entries: u64,
    /// Whether the index rows reflect the document. Every write moves the
    /// document and its index rows together, so this is false only when the
    /// index was lost.
    pub index_current: bool,
    /// How many writes the document has had (see [`Store::doc_versions`]).
    pub version: u64,
}

impl DocInfo {
    /// Whether the index rows are missing or behind the document.
    pub fn index_is_stale(&self) -> bool {
        !self.index_current
    }
}

/// The 256-bit key a device's database is encrypted with. Phones get it
/// from the platform's key store (Android Keystore, iOS Keychain); the CLI
/// derives it from a passphrase ([`DatabaseKey::from_passphrase`]).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey([u8; 32]);

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

impl Drop for DatabaseKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl DatabaseKey {
    /// A key the host already holds.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DatabaseKey(bytes)
    }

    /// Derive a key from a passphrase with Argon2id (64 MiB, 3 passes), so
    /// that guessing passphrases against a stolen file is slow and costly.
    /// `salt` is random per data folder and not secret.
    pub fn from_passphrase(passphrase: &[u8], salt: &[u8]) -> Result<Self> {
        let params = argon2::Params::new(64 * 1024, 3, 1, Some(32))
            .map_err(|e| Error::invalid(format!("key derivation: {e}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = [0u8; 32];
        argon
            .hash_password_into(passphrase, salt, &mut key)
            .map_err(|e| Error::invalid(format!("key derivation: {e}")))?;
        Ok(DatabaseKey(key))
    }

    /// The key as hex, as SQLCipher's `PRAGMA key = "x'…'"` takes it (for
    /// tools that open the file themselves).
    pub fn hex(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(data_encoding::HEXLOWER.encode(&self.0))
    }
}

/// Durable storage for one device.
///
/// Several processes may open one device's store at once (the office's
/// `anpi serve` and an `anpi check` beside it). What keeps them apart is the
/// write lock ([`Store::begin_write`]) and each document's version: a
/// process that read a document checks, under the lock, that nobody wrote
/// it since, and reads it again if somebody did (ARCHITECTURE.md, "One
/// folder, many processes").
pub trait Store: Send {
    /// Apply a batch atomically and durably. Inside [`Store::begin_write`]
    /// it becomes durable with [`Store::end_write`]; a batch that fails
    /// leaves nothing of itself either way.
    fn write(&mut self, batch: Batch) -> Result<()>;
    /// Whether [`Store::stage_index`] writes ahead: only where writing
    /// rows costs (SQLite; the memory store takes them with the batch).
    fn stages_index(&self) -> bool {
        false
    }
    /// Write the recipient or check rows of a document this device does
    /// not hold yet ahead of the batch that stores it, inside the write
    /// lock ([`Store::begin_write`]): a new device writes a whole roster's
    /// rows while the roster still loads. They become durable with the
    /// lock's commit, or go with its rollback; [`IndexOp::ClearRows`]
    /// takes them back when the document is not taken after all.
    fn stage_index(&mut self, _key: &DocKey, _rows: &[IndexOp]) -> Result<()> {
        Err(Error::invalid("this store writes no index rows ahead"))
    }
    /// Do the upkeep a large write left for later (SQLite: copy the WAL
    /// into the database, which the first sync's commit leaves out so
    /// that the peer is not kept waiting). Outside the write lock; cheap
    /// when there is none.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }
    /// Let the store grow by at most `pages` more pages, as if the disk had
    /// that little room left; `None` lifts the limit. For tests of a full
    /// disk: only SQLite stores have one.
    #[doc(hidden)]
    fn limit_growth_for_test(&self, _pages: Option<u64>) -> Result<()> {
        Err(Error::invalid("this store has no disk to fill"))
    }
    /// Take the store's write lock: no other process writes until
    /// [`Store::end_write`], and everything read meanwhile is the latest.
    /// Waits while another process holds it.
    fn begin_write(&mut self) -> Result<()>;
    /// Release the write lock, making the writes since
    /// [`Store::begin_write`] durable (`commit`) or undoing them.
    fn end_write(&mut self, commit: bool) -> Result<()>;
    /// Whether another process committed anything since the last call (the
    /// first call answers true).
    fn changed_elsewhere(&mut self) -> Result<bool>;
    /// Where the store stands: a pair that moves with every write, by this
    /// connection or any other (SQLite's `data_version` reads shared memory,
    /// not the disk). What was read at one stamp is current while the
    /// stamp is.
    fn stamp(&self) -> Result<(i64, u64)>;
    /// Each stored document's version: a number that grows with every
    /// write of the document (its changes, journal, snapshot or index), by
    /// whichever process.
    fn doc_versions(&self) -> Result<std::collections::HashMap<DocKey, u64>>;
    /// A device setting.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// The whole audit trail, oldest first.
    fn audit(&self) -> Result<Vec<crate::audit::Entry>>;
    /// The audit trail's entries from number `seq` on, oldest first, at
    /// most `limit` of them.
    fn audit_from(&self, seq: u64, limit: usize) -> Result<Vec<crate::audit::Entry>>;
    /// The audit trail's last entry.
    fn audit_last(&self) -> Result<Option<crate::audit::Entry>>;
    /// Everything kept aside, oldest first.
    fn quarantined(&self) -> Result<Vec<Quarantined>>;
    /// Every stored document, with its heads and counts.
    fn docs(&self) -> Result<Vec<DocInfo>>;
    /// One stored document's heads and counts, without its bytes.
    fn doc_info(&self, key: &DocKey) -> Result<Option<DocInfo>> {
        Ok(self.docs()?.into_iter().find(|d| &d.key == key))
    }
    /// The documents of a newer format than this build reads, each with
    /// the oldest format that reads it (see [`IndexOp::Newer`]).
    fn newer_documents(&self) -> Result<Vec<(DocKey, u32)>>;
    /// The names of the stored documents (cheaper than [`Store::docs`]).
    fn doc_keys(&self) -> Result<Vec<DocKey>>;
    /// One document's bytes.
    fn load(&self, key: &DocKey) -> Result<Option<StoredDoc>>;
    /// The saved sync state with `peer` for `doc`.
    fn peer_state(&self, peer: &DeviceId, doc: &DocKey) -> Result<Option<Vec<u8>>>;
    /// The layout version of the index rows ([`INDEX_VERSION`] for a store
    /// this build created or rebuilt).
    fn index_version(&self) -> Result<Option<i64>> {
        Ok(self
            .meta(INDEX_VERSION_KEY)?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Spaces (from the index).
    fn spaces(&self) -> Result<Vec<Space>>;
    /// Recipients of a space (from the index).
    fn recipients(&self, space: &SpaceId) -> Result<Vec<IndexedRecipient>>;
    /// Recipients of a space without their conflicts, ordered by id, as a
    /// list shows them (from the index).
    fn recipient_list(&self, space: &SpaceId) -> Result<Vec<Recipient>> {
        Ok(self
            .recipients(space)?
            .into_iter()
            .map(|r| r.recipient)
            .collect())
    }
    /// What an incident's priority list is made from, read together: the
    /// space's recipients as [`Store::recipient_list`] gives them, and the
    /// incident document's checks and claims.
    fn list_inputs(&self, space: &SpaceId, doc: &DocKey) -> Result<ListInputs> {
        list_inputs_one_by_one(self, space, doc)
    }
    /// One recipient (from the index).
    fn recipient(&self, space: &SpaceId, id: &RecipientId) -> Result<Option<IndexedRecipient>>;
    /// Incidents of a space (from the index).
    fn incidents(&self, space: &SpaceId) -> Result<Vec<Incident>>;
    /// Checks of an incident document (from the index).
    fn checks(&self, doc: &DocKey) -> Result<Vec<Check>>;
    /// Checks of one recipient in an incident document (from the index).
    fn checks_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Check>>;
    /// Ids of the checks of one recipient (from the index).
    fn check_ids_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<CheckId>>;
    /// Claims of an incident document, live or expired (from the index).
    fn claims(&self, doc: &DocKey) -> Result<Vec<Claim>>;
    /// Claims of one recipient (from the index).
    fn claims_of(&self, doc: &DocKey, recipient: &RecipientId) -> Result<Vec<Claim>>;
}

pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(Error::corrupt("heads are not a multiple of 32 bytes"));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect())
}

/// The conformance suite every [`Store`] must pass. Instantiate it with
/// `store_conformance!(module_name, || -> impl Store { ... })`.
#[cfg(test)]
pub(crate) mod conformance;
