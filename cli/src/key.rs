//! Where the CLI gets a data folder's passphrase: `--key-file FILE`, the
//! environment variable `ANPI_PASSPHRASE`, or typed at the terminal (core's
//! `folder` turns it into the key). Every data folder the CLI makes is
//! encrypted.
//!
//! A passphrase given in the environment does not stay there: the process
//! starts itself again without it ([`out_of_the_environment`]), handing it
//! over through a pipe, so that `serve`, which runs for days, holds it in
//! no environment another process or a crash report could read.

use std::path::Path;

use anpi_core::codes::Lang;
use anpi_core::folder::{DataFolder, Secret};
use anpi_core::node::Node;

use crate::Result;

/// The environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "ANPI_PASSPHRASE";

/// Where the passphrase taken out of the environment waits: the number of
/// an inherited pipe's reading end (a number, not a secret).
const HANDED_OVER_ENV: &str = "ANPI_PASSPHRASE_FD";

/// If `ANPI_PASSPHRASE` is set, start this program again without it, the
/// passphrase written into a pipe the new program reads once. Returns only
/// when there is nothing to do, or with why the new start failed. Removing
/// a variable in place is not enough (and needs unsafe code): the kernel
/// keeps the environment a process started with in `/proc/PID/environ`.
#[cfg(unix)]
pub fn out_of_the_environment() -> std::io::Error {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let Some(secret) = std::env::var_os(PASSPHRASE_ENV) else {
        return std::io::Error::other("no passphrase in the environment");
    };
    let secret = zeroize::Zeroizing::new(secret.into_encoded_bytes());
    let hand_over = || -> std::io::Result<std::io::Error> {
        let (reader, mut writer) = std::io::pipe()?;
        // A passphrase is far smaller than a pipe's buffer: this never
        // waits for the reader.
        writer.write_all(&secret)?;
        drop(writer);
        // The reading end must survive the exec; std opens it close-on-exec.
        rustix::io::fcntl_setfd(&reader, rustix::io::FdFlags::empty())?;
        let exe = std::env::current_exe()?;
        Ok(std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env_remove(PASSPHRASE_ENV)
            .env(HANDED_OVER_ENV, reader.as_raw_fd().to_string())
            .exec())
    };
    hand_over().unwrap_or_else(|e| e)
}

/// The passphrase handed over by [`out_of_the_environment`]; the pipe
/// holds it for one read.
fn handed_over() -> Option<Result<Vec<u8>>> {
    let fd = std::env::var(HANDED_OVER_ENV).ok()?;
    let Ok(fd) = fd.parse::<u32>() else {
        return Some(Err(
            format!("{HANDED_OVER_ENV}: not a file descriptor").into()
        ));
    };
    Some(match std::fs::read(format!("/dev/fd/{fd}")) {
        Err(e) => Err(format!("{HANDED_OVER_ENV}: {e}").into()),
        Ok(bytes) if bytes.is_empty() => Err(format!("{HANDED_OVER_ENV}: no passphrase").into()),
        Ok(bytes) => Ok(bytes),
    })
}

/// The passphrase from outside a file, found once per process (a command
/// that opens two folders asks twice; the pipe and the person at the
/// terminal answer once).
static FOUND: std::sync::OnceLock<Option<zeroize::Zeroizing<Vec<u8>>>> = std::sync::OnceLock::new();

fn find(lang: Lang) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
    if let Some(handed) = handed_over() {
        return handed.map(|p| Some(zeroize::Zeroizing::new(p)));
    }
    if let Ok(p) = std::env::var(PASSPHRASE_ENV)
        && !p.is_empty()
    {
        return Ok(Some(zeroize::Zeroizing::new(p.into_bytes())));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let typed = zeroize::Zeroizing::new(rpassword::prompt_password(match lang {
            Lang::Ja => "パスフレーズ: ",
            Lang::En => "Passphrase: ",
        })?);
        if !typed.is_empty() {
            return Ok(Some(zeroize::Zeroizing::new(typed.as_bytes().to_vec())));
        }
    }
    Ok(None)
}

/// The passphrase: the first line of `key_file`, else `ANPI_PASSPHRASE`
/// (handed over, see [`out_of_the_environment`]), else typed at the
/// terminal.
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
    let found = match FOUND.get() {
        Some(found) => found,
        None => {
            let found = find(lang)?;
            FOUND.get_or_init(|| found)
        }
    };
    match found {
        Some(p) => Ok(p.to_vec()),
        None => Err(match lang {
            Lang::Ja => format!(
                "データフォルダは暗号化されています。パスフレーズを --key-file ファイル（1行目がパスフレーズ）か環境変数 {PASSPHRASE_ENV} で指定するか、端末で入力してください"
            ),
            Lang::En => format!(
                "data folders are encrypted: give the passphrase with --key-file FILE (its first line) or the {PASSPHRASE_ENV} environment variable, or type it at a terminal"
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
