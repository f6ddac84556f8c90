//! Errors of the core: one enum every host matches, and [`ErrorKind`], the
//! few cases a person acts on differently (the SDK's error and the CLI's
//! messages are made from it, never from the text).

use std::fmt;

use crate::codes::UnknownCode;

/// What kind of failure, for a host to act on: ask for the key again,
/// show the form's problems, offer to start an incident, retry later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The recipient, space, incident or member does not exist here.
    NotFound,
    /// Checks and claims need an open incident, and there is none.
    NoOpenIncident,
    /// This device may not do that (not an admin, not a member).
    NotAllowed,
    /// Input the person gave is not valid (a code, an id, a file: see
    /// [`Error::problems`] for line and field).
    InvalidInput,
    /// The key does not open this data folder.
    WrongKey,
    /// The data folder could not be read or written (damaged, full,
    /// read-only, busy, or from a newer anpi).
    Storage,
    /// A peer could not be reached, refused, or sent what cannot be taken.
    Network,
    /// The data was made by a newer anpi, in a format this build cannot
    /// read: it is kept and passed on unchanged; updating anpi reads it.
    NeedsUpdate,
}

/// One problem in a file a person gave (a roster, a staff list): where and
/// what, in Japanese.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file (0: the file as a whole).
    pub line: u64,
    /// The column's header name, if the problem is in one cell.
    pub column: Option<String>,
    /// The offending value, as written.
    pub value: String,
    /// What is wrong, in Japanese.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}行目 「{c}」: {} (値: {:?})",
                self.line, self.message, self.value
            ),
            None if self.line == 0 => write!(f, "{}", self.message),
            None => write!(f, "{}行目: {}", self.line, self.message),
        }
    }
}

/// A file refused as a whole (nothing of it was taken), with every problem
/// found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// What was refused, as the first line of the message.
    pub summary: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.summary)?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Any failure of the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be read or written.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The stored data is not what anpi wrote (damaged or foreign file).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// An automerge operation failed.
    #[error("document error: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    /// Writing a value into a document failed.
    #[error("document write error: {0}")]
    Reconcile(Box<autosurgeon::ReconcileError>),
    /// A document did not hold the expected shape.
    #[error("document read error: {0}")]
    Hydrate(Box<autosurgeon::HydrateError>),
    /// Something named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is not valid (bad argument, closed incident, …).
    #[error("{0}")]
    Invalid(String),
    /// A file was refused as a whole: every problem with line and field.
    #[error("{0}")]
    Rejected(Box<Rejected>),
    /// Checks and claims need an open incident in the space, and there is
    /// none.
    #[error("no open incident in this space: start one first")]
    NoOpenIncident,
    /// An unknown code was given.
    #[error(transparent)]
    UnknownCode(Box<UnknownCode>),
    /// A peer sent something this device cannot accept. Only that peer's
    /// session is affected.
    #[error("sync with peer failed: {0}")]
    Sync(String),
    /// A network peer could not be reached, refused us, or was refused.
    #[error("{0}")]
    Network(String),
    /// This device may not do that (it is not an admin of the space).
    #[error("{0}")]
    NotAllowed(String),
    /// The database key does not open this store.
    #[error(
        "the database key does not open this data folder (wrong passphrase or key file, or not an anpi data folder)"
    )]
    WrongKey,
    /// A data folder that held a store has lost it (its database is missing
    /// or empty, or holds no device identity): what is wrong and how to
    /// recover. Nothing is made in its place.
    #[error("this data folder is damaged: {0}")]
    Damaged(String),
    /// The data folder is on read-only media: it answers reads, and nothing
    /// can be written.
    #[error("this data folder is read-only: it can be read, but nothing can be saved in it")]
    ReadOnly,
    /// Another process kept the data folder's write lock for longer than a
    /// writer waits (see `store`). Nothing was written.
    #[error(
        "another anpi process has been writing to this data folder for over a minute; nothing was saved, try again"
    )]
    Busy,
    /// The device's storage is full (SQLite could not grow its file).
    /// Nothing of the write was saved; what was saved before stands.
    #[error(
        "the device's storage is full: nothing of this was saved (what was saved before is kept); free some space and try again"
    )]
    Full,
    /// A document was made by a newer anpi, in a format this build cannot
    /// read ([`crate::doc::Format`]): it is kept and passed on unchanged,
    /// never read or written here.
    #[error(
        "{doc} was made by a newer anpi (data format {found}; this anpi reads up to {known}): update anpi to read or change it"
    )]
    NewerFormat {
        /// The document.
        doc: String,
        /// The oldest format that reads it.
        found: u32,
        /// The newest format this build reads.
        known: u32,
    },
    /// The store was created by a newer anpi.
    #[error(
        "this data folder was written by a newer anpi (schema {found}, this build knows {known})"
    )]
    TooNew {
        /// Schema version found.
        found: i64,
        /// Newest schema this build knows.
        known: i64,
    },
}

// The large third-party errors are boxed so that every `Result` of the core
// stays small.
macro_rules! boxed_from {
    ($($t:ty => $v:ident),+ $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$v(Box::new(e))
            }
        }
    )+};
}

boxed_from! {
    automerge::AutomergeError => Automerge,
    autosurgeon::ReconcileError => Reconcile,
    autosurgeon::HydrateError => Hydrate,
    UnknownCode => UnknownCode,
    Rejected => Rejected,
}

impl Error {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Error::Corrupt(msg.into())
    }
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
    pub(crate) fn network(msg: impl Into<String>) -> Self {
        Error::Network(msg.into())
    }

    pub(crate) fn sync(msg: impl Into<String>) -> Self {
        Error::Sync(msg.into())
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::NoOpenIncident => ErrorKind::NoOpenIncident,
            Error::NotAllowed(_) => ErrorKind::NotAllowed,
            Error::Invalid(_) | Error::Rejected(_) | Error::UnknownCode(_) => {
                ErrorKind::InvalidInput
            }
            Error::WrongKey => ErrorKind::WrongKey,
            Error::Sync(_) | Error::Network(_) => ErrorKind::Network,
            Error::NewerFormat { .. } => ErrorKind::NeedsUpdate,
            Error::Sqlite(_)
            | Error::Corrupt(_)
            | Error::Automerge(_)
            | Error::Reconcile(_)
            | Error::Hydrate(_)
            | Error::Damaged(_)
            | Error::ReadOnly
            | Error::Busy
            | Error::Full
            | Error::TooNew { .. } => ErrorKind::Storage,
        }
    }

    /// The problems of a refused file, each with its line and field; empty
    /// for any other error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Rejected(r) => &r.problems,
            _ => &[],
        }
    }
}

/// Result with the core's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
