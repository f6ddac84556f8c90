//! Where the CLI gets a data folder's passphrase: `--key-file FILE` or the
//! environment variable `ANPI_PASSPHRASE` (core's `folder` turns it into
//! the key). Every data folder the CLI makes is encrypted.

use std::path::Path;

use anpi_core::codes::Lang;
use anpi_core::folder::{DataFolder, Secret};
use anpi_core::node::Node;

use crate::Result;

/// The environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "ANPI_PASSPHRASE";

/// The passphrase: the first line of `key_file`, else `ANPI_PASSPHRASE`.
pub fn passphrase(lang: Lang, key_file: Option<&Path>) -> Result<Vec<u8>> {
    if let Some(path) = key_file {
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

/// Open (or create) the node of data folder `dir` with `passphrase`.
pub fn open_with(dir: &Path, passphrase: &[u8]) -> Result<Node> {
    Ok(DataFolder::new(dir).open_or_create(&Secret::Passphrase(passphrase.to_vec()))?)
}

/// The errors of opening a folder, in the user's language.
pub fn said(lang: Lang, dir: &Path, opened: anpi_core::Result<Node>) -> Result<Node> {
    opened.map_err(|e| match (lang, e) {
        (Lang::Ja, anpi_core::Error::WrongKey) => format!(
            "{}: パスフレーズが違います（またはanpiのデータフォルダではありません）。--key-file か {PASSPHRASE_ENV} を確かめてください",
            dir.display()
        )
        .into(),
        (Lang::Ja, anpi_core::Error::Damaged(why)) => format!(
            "データフォルダが壊れています: {why}\n（新しい端末として作り直すことはしません。バックアップから戻す手順は README の「Backup and recovery（バックアップと復元）」にあります）"
        )
        .into(),
        (Lang::Ja, anpi_core::Error::NotFound(_)) => format!(
            "{} は anpi のデータフォルダではありません（先に `anpi --data {} init --space 名前` を実行してください）",
            dir.display(),
            dir.display()
        )
        .into(),
        (Lang::En, anpi_core::Error::NotFound(_)) => format!(
            "{} is not an anpi data folder (run `anpi --data {} init --space NAME` first)",
            dir.display(),
            dir.display()
        )
        .into(),
        (_, e @ (anpi_core::Error::WrongKey | anpi_core::Error::Damaged(_))) => {
            format!("{}: {e}", dir.display()).into()
        }
        (_, e) => format!("{}: {e}", dir.display()).into(),
    })
}
