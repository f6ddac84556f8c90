//! Where the CLI gets a data folder's database key: a passphrase from
//! `--key-file FILE` or the environment variable `ANPI_PASSPHRASE`, turned
//! into a key with Argon2id and the folder's salt (`anpi.salt`, random,
//! not secret). Every data folder the CLI makes is encrypted.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anpi_core::codes::Lang;
use anpi_core::node::Node;
use anpi_core::store::{DatabaseKey, SqliteStore};

use crate::{DB_FILE, Result};

/// The environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "ANPI_PASSPHRASE";
const SALT_FILE: &str = "anpi.salt";

static KEY_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remember `--key-file` for this run.
pub fn set_key_file(path: Option<PathBuf>) {
    let _ = KEY_FILE.set(path);
}

fn passphrase(lang: Lang) -> Result<Vec<u8>> {
    if let Some(Some(path)) = KEY_FILE.get() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // A trailing newline from an editor is not part of the passphrase.
        let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            return Err(format!("{}: the key file is empty", path.display()).into());
        }
        return Ok(text.to_vec());
    }
    match std::env::var(PASSPHRASE_ENV) {
        Ok(p) if !p.is_empty() => Ok(p.into_bytes()),
        _ => Err(match lang {
            Lang::Ja => format!(
                "データフォルダは暗号化されています。パスフレーズを --key-file ファイル（1行目がパスフレーズ）か環境変数 {PASSPHRASE_ENV} で指定してください"
            ),
            Lang::En => format!(
                "data folders are encrypted: give the passphrase with --key-file FILE (its first line) or the {PASSPHRASE_ENV} environment variable"
            ),
        }
        .into()),
    }
}

/// The key of the data folder `dir` from `passphrase`; a new folder gets a
/// new salt.
pub fn key_for(dir: &Path, passphrase: &[u8]) -> Result<DatabaseKey> {
    let salt_path = dir.join(SALT_FILE);
    let salt = match std::fs::read(&salt_path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(DB_FILE).exists() {
                return Err(format!(
                    "{}: missing; without it the database key cannot be derived",
                    salt_path.display()
                )
                .into());
            }
            std::fs::create_dir_all(dir)?;
            let salt = uuid::Uuid::new_v4().as_bytes().to_vec();
            std::fs::write(&salt_path, &salt)?;
            salt
        }
        Err(e) => return Err(format!("{}: {e}", salt_path.display()).into()),
    };
    Ok(DatabaseKey::from_passphrase(passphrase, &salt)?)
}

/// Open (or create) the node of data folder `dir` with `passphrase`.
pub fn open_with(dir: &Path, passphrase: &[u8]) -> Result<Node> {
    std::fs::create_dir_all(dir)?;
    let key = key_for(dir, passphrase)?;
    let store = match SqliteStore::open_encrypted(&dir.join(DB_FILE), &key) {
        // Kept as it is, for open_node to say it in the user's language.
        Err(anpi_core::Error::WrongKey) => return Err(Box::new(anpi_core::Error::WrongKey)),
        other => other.map_err(|e| format!("{}: {e}", dir.display()))?,
    };
    Ok(Node::open(store)?)
}

/// Open (or create) the node of data folder `dir` with this run's
/// passphrase.
pub fn open_node(lang: Lang, dir: &Path) -> Result<Node> {
    open_with(dir, &passphrase(lang)?).map_err(|e| {
        let wrong = e
            .downcast_ref::<anpi_core::Error>()
            .is_some_and(|e| matches!(e, anpi_core::Error::WrongKey));
        match (lang, wrong) {
            (Lang::Ja, true) => format!(
                "{}: パスフレーズが違います（またはanpiのデータフォルダではありません）。--key-file か {PASSPHRASE_ENV} を確かめてください",
                dir.display()
            )
            .into(),
            (Lang::En, true) => format!("{}: {e}", dir.display()).into(),
            _ => e,
        }
    })
}
