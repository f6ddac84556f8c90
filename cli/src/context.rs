//! What every command runs with: the language, the data folder, the space
//! and the passphrase's source, taken from the command line once and
//! passed down (no process-wide state).

use std::path::{Path, PathBuf};

use anpi_core::codes::Lang;
use anpi_core::folder::{DataFolder, Secret};
use anpi_core::model::Space;
use anpi_core::node::Node;

use crate::{Result, key, t, tidy};

/// One run's context.
pub(crate) struct Ctx {
    /// The language of the output.
    pub lang: Lang,
    /// `--data` / `ANPI_DATA`.
    pub data: Option<PathBuf>,
    /// `--space`: which space, when the device holds several.
    pub space: Option<String>,
    /// `--key-file`: where the passphrase is (else `ANPI_PASSPHRASE`).
    pub key_file: Option<PathBuf>,
}

impl Ctx {
    /// The data folder, which must have been named.
    pub fn data_dir(&self) -> Result<PathBuf> {
        self.data.clone().ok_or_else(|| {
            t(
                self.lang,
                "データフォルダを --data DIR か環境変数 ANPI_DATA で指定してください",
                "name the data folder with --data DIR or the ANPI_DATA environment variable",
            )
            .into()
        })
    }

    /// This run's passphrase as the secret of a data folder.
    pub fn secret(&self) -> Result<Secret> {
        Ok(Secret::Passphrase(key::passphrase(
            self.lang,
            self.key_file.as_deref(),
        )?))
    }

    /// Open the data folder, which must hold a store.
    pub fn open(&self) -> Result<Node> {
        self.open_existing(&self.data_dir()?)
    }

    /// Open the folder `dir`, which must hold a store, with this run's
    /// passphrase.
    pub fn open_existing(&self, dir: &Path) -> Result<Node> {
        let secret = self.secret()?;
        key::said(self.lang, dir, DataFolder::new(dir).open(&secret))
    }

    /// Open (or, in a folder that never held one, create) the store of
    /// `dir` with this run's passphrase.
    pub fn open_or_create(&self, dir: &Path) -> Result<Node> {
        let secret = self.secret()?;
        key::said(self.lang, dir, DataFolder::new(dir).open_or_create(&secret))
    }

    /// Run a command on the data folder and leave it compacted.
    pub fn with_node(&self, f: impl FnOnce(&mut Node) -> Result<()>) -> Result<()> {
        let mut node = self.open()?;
        f(&mut node)?;
        tidy(self.lang, &mut node);
        Ok(())
    }

    /// The space a command works on: the one named with `--space`, or the
    /// only one this device holds.
    pub fn space(&self, node: &Node) -> anpi_core::Result<Space> {
        match &self.space {
            None => node.only_space(),
            Some(want) => named_space(node, want),
        }
    }
}

/// A space of this device by name or id.
pub(crate) fn named_space(node: &Node, want: &str) -> anpi_core::Result<Space> {
    let spaces = node.spaces()?;
    let names: Vec<String> = spaces
        .iter()
        .map(|s| format!("{} ({})", s.name, s.id))
        .collect();
    spaces
        .into_iter()
        .find(|s| s.name == want || s.id.as_str() == want)
        .ok_or_else(|| {
            anpi_core::Error::NotFound(format!(
                "space {want:?} (this device holds: {})",
                names.join(", ")
            ))
        })
}
