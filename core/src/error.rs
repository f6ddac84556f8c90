//! Errors of the core. Rich and specific here; the FFI layer maps them to the
//! few variants an app can act on.

use crate::codes::UnknownCode;

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
}

/// Result with the core's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
