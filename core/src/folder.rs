//! A device's data folder: where its encrypted database lives, and how it
//! is opened. The one place that names the folder's files; the CLI and the
//! phone SDK give a folder and a secret and get a [`Node`].
//!
//! | file | what |
//! |---|---|
//! | `anpi.db` (and SQLite's `-wal`, `-shm`) | the store, encrypted with SQLCipher |
//! | `anpi.salt` | the random salt a passphrase is turned into the key with (folders opened with a passphrase only) |
//!
//! A folder that has held a store is **never made again** by a command: a
//! new store there would be a new device with a new identity, and the
//! checks of the old one could never leave it. If its files are missing or
//! empty, opening says what is wrong and how to recover ([`Error::Damaged`]).
//! A folder on read-only media opens for reading ([`Error::ReadOnly`] on
//! any write).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::node::Node;
use crate::store::{DatabaseKey, SqliteStore};

/// The database file of a data folder.
pub const DB_FILE: &str = "anpi.db";
/// The passphrase salt of a data folder.
pub const SALT_FILE: &str = "anpi.salt";

/// What opens a data folder's database.
#[derive(Clone)]
pub enum Secret {
    /// A passphrase a person types (the office): turned into the key with
    /// Argon2id and the folder's salt (`anpi.salt`, made with the folder).
    Passphrase(Vec<u8>),
    /// A 256-bit key the platform keeps (Android Keystore, iOS Keychain).
    Key(DatabaseKey),
}

impl Drop for Secret {
    fn drop(&mut self) {
        if let Secret::Passphrase(p) = self {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Passphrase(_) => "Secret::Passphrase(…)",
            Secret::Key(_) => "Secret::Key(…)",
        })
    }
}

/// A data folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFolder {
    dir: PathBuf,
}

impl DataFolder {
    /// The folder at `dir` (nothing is read or made yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DataFolder { dir: dir.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether anything says this folder has held an anpi store (its
    /// database, the database's log, or a passphrase salt).
    pub fn has_been_used(&self) -> bool {
        [DB_FILE, "anpi.db-wal", SALT_FILE]
            .iter()
            .any(|f| self.file(f).exists())
    }

    /// `Err` when the folder held a store but its database is missing or
    /// empty (a crash of the disk, a file deleted or truncated).
    fn sound(&self) -> Result<()> {
        let db = self.file(DB_FILE);
        let damaged = |what: &str| {
            Err(Error::Damaged(format!(
                "{}: {what}. A new database here would be a new device, and the checks of this one could never leave it, so anpi makes none. Restore the folder from a backup (anpi restore), or move it aside and enroll this device again",
                self.dir.display()
            )))
        };
        match std::fs::metadata(&db) {
            Ok(m) if m.len() == 0 => damaged("anpi.db is empty (0 bytes)"),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                damaged("anpi.db is missing, though the folder held one")
            }
            Err(e) => Err(Error::Damaged(format!("{}: {e}", db.display()))),
        }
    }

    /// The database key: the platform's, or the passphrase's with the
    /// folder's salt (made, race-free, when `create`).
    fn key(&self, secret: &Secret, create: bool) -> Result<DatabaseKey> {
        let passphrase = match secret {
            Secret::Key(key) => return Ok(key.clone()),
            Secret::Passphrase(p) => p,
        };
        let path = self.file(SALT_FILE);
        let salt = match std::fs::read(&path) {
            Ok(salt) => salt,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                self.make_salt(&path)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Damaged(format!(
                    "{}: missing; without it the database key cannot be made from the passphrase. Restore the folder from a backup",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::Damaged(format!("{}: {e}", path.display()))),
        };
        DatabaseKey::from_passphrase(passphrase, &salt)
    }

    /// A new random salt at `path`; if another process made one first,
    /// that one. The salt is written whole and synced under a name of its
    /// own, then linked to `path` (which fails if `path` exists), so no
    /// process ever reads a salt half written, and the folder's entry is
    /// synced too: a power cut cannot lose the salt of a store it keys.
    fn make_salt(&self, path: &Path) -> Result<Vec<u8>> {
        use std::io::Write;
        let io = |e: std::io::Error| Error::Damaged(format!("{}: {e}", path.display()));
        let salt = uuid::Uuid::new_v4().as_bytes().to_vec();
        let draft = path.with_extension(format!("salt-{}", uuid::Uuid::new_v4().simple()));
        let written = (|| {
            let mut f = std::fs::File::create_new(&draft)?;
            f.write_all(&salt)?;
            f.sync_all()
        })();
        let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(io)?;
                }
                Ok(salt)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::read(path).map_err(io)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The key of a folder that holds a sound store: a new folder is
    /// [`Error::NotFound`], a damaged one [`Error::Damaged`].
    fn existing_key(&self, secret: &Secret) -> Result<DatabaseKey> {
        if !self.has_been_used() {
            return Err(Error::NotFound(format!(
                "anpi data folder at {}",
                self.dir.display()
            )));
        }
        self.sound()?;
        self.key(secret, false)
    }

    /// Open the store of a folder that holds one. A new folder is
    /// [`Error::NotFound`]; a damaged one [`Error::Damaged`]; a wrong
    /// secret [`Error::WrongKey`].
    pub fn open(&self, secret: &Secret) -> Result<Node> {
        let key = self.existing_key(secret)?;
        Node::open_existing(SqliteStore::open_encrypted(&self.file(DB_FILE), &key)?)
    }

    /// Open the folder's store, or make a new one (a new device) in a
    /// folder that never held one. A damaged folder is refused as by
    /// [`DataFolder::open`].
    pub fn open_or_create(&self, secret: &Secret) -> Result<Node> {
        if self.has_been_used() {
            return self.open(secret);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::Damaged(format!("{}: {e}", self.dir.display())))?;
        let key = self.key(secret, true)?;
        Node::open(SqliteStore::open_encrypted(&self.file(DB_FILE), &key)?)
    }
}

/// The first line of a backup file: what it is, its format, when it was
/// made (UTC milliseconds), and the folder's passphrase salt in hex (`-`
/// for a folder opened with a platform key). The encrypted database
/// follows. The salt is not secret: without the passphrase or key the
/// database is unreadable.
const BACKUP_MAGIC: &str = "ANPI-BACKUP";
const BACKUP_FORMAT: &str = "1";

/// What [`DataFolder::restore`] read from a backup file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// When the backup was made.
    pub made: crate::model::Timestamp,
}

impl DataFolder {
    /// Write a backup of this folder to `out`: a consistent copy of the
    /// database as it is now (while `anpi serve` or other commands go on
    /// writing), still encrypted, with what opening it needs besides the
    /// secret (the passphrase salt). Written to a temporary file, synced,
    /// then renamed, so `out` is whole or absent.
    pub fn backup(&self, secret: &Secret, out: &Path) -> Result<()> {
        let key = self.existing_key(secret)?;
        let io =
            |what: &Path, e: std::io::Error| Error::invalid(format!("{}: {e}", what.display()));
        let tmp = out.with_extension("anpi-backup-tmp");
        let db = out.with_extension("anpi-backup-db");
        let _ = std::fs::remove_file(&db);
        SqliteStore::export_encrypted(&self.file(DB_FILE), &key, &db)?;
        let salt = match secret {
            Secret::Passphrase(_) => {
                let path = self.file(SALT_FILE);
                let salt = std::fs::read(&path).map_err(|e| io(&path, e))?;
                data_encoding::HEXLOWER.encode(&salt)
            }
            Secret::Key(_) => "-".to_string(),
        };
        let written = (|| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(
                f,
                "{BACKUP_MAGIC} {BACKUP_FORMAT} {} {salt}",
                crate::model::Timestamp::now().millis()
            )?;
            std::io::copy(&mut std::fs::File::open(&db)?, &mut f)?;
            f.sync_all()?;
            std::fs::rename(&tmp, out)?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&db);
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| io(out, e))
    }

    /// Make this folder again from the backup `file`: only into a folder
    /// that never held a store. The device keeps its identity (phones trust
    /// the office by its id) but writes under a new automerge actor from now
    /// on: changes it made after the backup may be on other devices, and a
    /// new actor can never clash with them; they come back at the next
    /// syncs. The secret is checked by opening the restored store.
    pub fn restore(&self, file: &Path, secret: &Secret) -> Result<(Node, Restored)> {
        if self.has_been_used() {
            return Err(Error::invalid(format!(
                "{} holds a data folder already: restore into a new folder (move the damaged one aside first)",
                self.dir.display()
            )));
        }
        let bad = |why: &str| Error::invalid(format!("{}: {why}", file.display()));
        let bytes =
            std::fs::read(file).map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
        let end = bytes
            .iter()
            .position(|b| *b == b'\n')
            .filter(|&n| n < 256)
            .ok_or_else(|| bad("not an anpi backup"))?;
        let header = std::str::from_utf8(&bytes[..end]).map_err(|_| bad("not an anpi backup"))?;
        let parts: Vec<&str> = header.split(' ').collect();
        let [magic, format, made, salt] = parts[..] else {
            return Err(bad("not an anpi backup"));
        };
        if magic != BACKUP_MAGIC {
            return Err(bad("not an anpi backup"));
        }
        if format != BACKUP_FORMAT {
            return Err(bad(&format!(
                "a backup of format {format}, made by a newer anpi: update anpi to restore it"
            )));
        }
        let made = made.parse().map_err(|_| bad("damaged header"))?;
        let db = &bytes[end + 1..];
        if db.is_empty() {
            return Err(bad("the backup holds no database (truncated)"));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::invalid(format!("{}: {e}", self.dir.display())))?;
        let write = |name: &str, data: &[u8]| -> Result<()> {
            use std::io::Write;
            let path = self.file(name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
            f.write_all(data)
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
        };
        if salt != "-" {
            let salt = data_encoding::HEXLOWER
                .decode(salt.as_bytes())
                .map_err(|_| bad("damaged header"))?;
            write(SALT_FILE, &salt)?;
        }
        write(DB_FILE, db)?;
        let opened = self.open(secret).and_then(|mut node| {
            node.begin_new_actor(&format!(
                "restored from a backup made at {}",
                crate::model::Timestamp::from_millis(made)
            ))?;
            Ok(node)
        });
        match opened {
            Ok(node) => Ok((
                node,
                Restored {
                    made: crate::model::Timestamp::from_millis(made),
                },
            )),
            Err(e) => {
                // A wrong passphrase or a damaged backup: leave the folder
                // as it was, empty, for another try.
                let _ = std::fs::remove_file(self.file(DB_FILE));
                let _ = std::fs::remove_file(self.file(SALT_FILE));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::Key(DatabaseKey::from_bytes([3; 32]))
    }

    #[test]
    fn a_folder_that_held_a_store_is_never_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path().join("phone"));
        assert!(matches!(folder.open(&secret()), Err(Error::NotFound(_))));
        let device = folder.open_or_create(&secret()).unwrap().device().clone();
        assert_eq!(folder.open(&secret()).unwrap().device(), &device);
        // Truncated to nothing: refused, by both ways of opening.
        std::fs::write(folder.path().join(DB_FILE), b"").unwrap();
        for r in [folder.open(&secret()), folder.open_or_create(&secret())] {
            match r {
                Err(Error::Damaged(why)) => assert!(why.contains("0 bytes"), "{why}"),
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("a damaged folder opened"),
            }
        }
        assert_eq!(
            std::fs::metadata(folder.path().join(DB_FILE))
                .unwrap()
                .len(),
            0,
            "nothing was written"
        );
        // Deleted, with its log left: refused too.
        std::fs::remove_file(folder.path().join(DB_FILE)).unwrap();
        std::fs::write(folder.path().join("anpi.db-wal"), b"x").unwrap();
        assert!(matches!(
            folder.open_or_create(&secret()),
            Err(Error::Damaged(_))
        ));
    }

    /// The office is lost after a backup; changes it made after the backup
    /// live on a phone. The restored office keeps its id, writes under a
    /// new actor, and syncs with the phone: nothing is lost, nothing
    /// clashes.
    #[test]
    fn a_restored_folder_writes_under_a_new_actor_and_syncs_with_peers() {
        use crate::model::*;
        use crate::node::{NewCheck, sync_local};
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::Passphrase(b"office passphrase".to_vec());
        let office_dir = DataFolder::new(dir.path().join("office"));
        let mut office = office_dir.open_or_create(&secret).unwrap();
        let space = office.create_space("ひまわり").unwrap().id;
        office
            .upsert_recipients(
                &space,
                vec![Recipient {
                    id: "R1".into(),
                    name: "山田".into(),
                    ..Default::default()
                }],
            )
            .unwrap();
        let inc = office
            .start_incident(&space, IncidentKind::Earthquake, "", Timestamp::now())
            .unwrap();
        let mut phone = Node::open(crate::store::MemoryStore::new()).unwrap();
        sync_local(&mut phone, &mut office, std::slice::from_ref(&space)).unwrap();
        let backup = dir.path().join("office.anpi-backup");
        office_dir.backup(&secret, &backup).unwrap();
        // After the backup: a check that only the phone will keep.
        let lost = office
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Phone, CheckResult::Injured),
            )
            .unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        let device = office.device().clone();
        drop(office);
        std::fs::remove_dir_all(office_dir.path()).unwrap();

        let again = DataFolder::new(dir.path().join("office-restored"));
        assert!(matches!(
            again.restore(&backup, &Secret::Passphrase(b"wrong".to_vec())),
            Err(Error::WrongKey)
        ));
        assert!(!again.has_been_used(), "a failed restore leaves nothing");
        let (mut office, restored) = again.restore(&backup, &secret).unwrap();
        assert!(restored.made <= Timestamp::now());
        assert_eq!(office.device(), &device, "the office keeps its id");
        assert!(office.checks(&space, &inc.id).unwrap().is_empty());
        let new = office
            .record_check(
                &space,
                &inc.id,
                NewCheck::new("R1".into(), CheckMethod::Visit, CheckResult::Safe),
            )
            .unwrap();
        sync_local(&mut phone, &mut office, &[]).unwrap();
        for n in [&office, &phone] {
            let mut ids: Vec<CheckId> = n
                .checks(&space, &inc.id)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            ids.sort();
            let mut want = vec![lost.id, new.id];
            want.sort();
            assert_eq!(ids, want);
        }
        assert!(
            office
                .audit_trail()
                .unwrap()
                .iter()
                .any(|e| e.record.detail.starts_with("restored from a backup"))
        );
        // Into a folder in use: refused.
        assert!(again.restore(&backup, &secret).is_err());
    }

    #[test]
    fn a_passphrase_folder_needs_its_salt() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path());
        let secret = Secret::Passphrase(b"correct horse".to_vec());
        let device = folder.open_or_create(&secret).unwrap().device().clone();
        assert_eq!(folder.open(&secret).unwrap().device(), &device);
        assert!(matches!(
            folder.open(&Secret::Passphrase(b"wrong".to_vec())),
            Err(Error::WrongKey)
        ));
        std::fs::remove_file(dir.path().join(SALT_FILE)).unwrap();
        assert!(matches!(folder.open(&secret), Err(Error::Damaged(_))));
    }

    /// Issue 20, 12: processes making a folder's salt at once all get the
    /// one salt, whole (before: one could read the file another had made
    /// but not yet written, and key the store with an empty salt).
    #[test]
    fn processes_making_the_salt_at_once_share_one_whole_salt() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(SALT_FILE);
            let salts: Vec<Vec<u8>> = std::thread::scope(|s| {
                let running: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| DataFolder::new(dir.path()).make_salt(&path).unwrap()))
                    .collect();
                running.into_iter().map(|t| t.join().unwrap()).collect()
            });
            assert_eq!(salts[0].len(), 16);
            assert!(salts.iter().all(|s| s == &salts[0]));
            let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert_eq!(files.len(), 1, "drafts left behind");
        }
    }
}
