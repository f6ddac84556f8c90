//! The one error the apps see. Each variant is something an app can act on
//! (ask for the key again, show a form error, start an incident, retry
//! later); the message says what happened in words a person can read.

use anpi_core::Error as CoreError;
use anpi_core::error::ErrorKind;

/// What went wrong, for an app to act on.
#[derive(Debug, thiserror::Error, uniffi::Error)]
// Fields are named `detail`, not `message`: Kotlin exceptions already have
// a `message`, and a field of that name does not compile there.
pub enum AnpiError {
    /// The database key does not open this data folder (a different key,
    /// or not an anpi database).
    #[error("the database key does not open this data folder")]
    WrongKey,
    /// Input the app passed is not valid: a code, an id, a roster file
    /// (the message names the line and the field; `problems` holds each
    /// one for a form to show at its place).
    #[error("{detail}")]
    InvalidInput {
        /// What and where.
        detail: String,
        /// Each problem of a refused file, in file order (empty otherwise).
        problems: Vec<InputProblem>,
    },
    /// The recipient, space, incident or member does not exist here.
    #[error("{detail}")]
    NotFound {
        /// What was looked for.
        detail: String,
    },
    /// No incident is open in this space: checks and claims need one.
    #[error("no open incident in this space")]
    NoOpenIncident,
    /// This device may not do that (not an admin of the space).
    #[error("{detail}")]
    NotAllowed {
        /// Why.
        detail: String,
    },
    /// A peer or the office could not be reached, refused this device, or
    /// the session broke off. Nothing was lost; try again later.
    #[error("{detail}")]
    Network {
        /// What happened.
        detail: String,
    },
    /// The data folder could not be read or written (disk full, damaged).
    #[error("{detail}")]
    Storage {
        /// What happened.
        detail: String,
    },
    /// Data made by a newer anpi, in a format this app cannot read: it is
    /// kept and passed on unchanged. Tell the person to update the app.
    #[error("{detail}")]
    NeedsUpdate {
        /// What, in Japanese.
        detail: String,
    },
    /// The node was shut down; open it again.
    #[error("the node is shut down")]
    Closed,
    /// A listener implemented by the app failed (threw).
    #[error("the app's listener failed: {detail}")]
    Listener {
        /// What it reported.
        detail: String,
    },
}

/// One problem of a refused file: where (line, column) and what.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct InputProblem {
    /// 1-based line (0: the file as a whole).
    pub line: u64,
    /// The column's header, when the problem is in one cell.
    pub column: Option<String>,
    /// The value as written.
    pub value: String,
    /// What is wrong, in Japanese.
    pub detail: String,
}

impl AnpiError {
    pub(crate) fn invalid(message: impl std::fmt::Display) -> Self {
        AnpiError::InvalidInput {
            detail: message.to_string(),
            problems: Vec::new(),
        }
    }
}

// By the core's kind: the text is for people, never matched.
impl From<CoreError> for AnpiError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match e.kind() {
            ErrorKind::WrongKey => AnpiError::WrongKey,
            ErrorKind::NotFound => AnpiError::NotFound { detail },
            ErrorKind::NoOpenIncident => AnpiError::NoOpenIncident,
            ErrorKind::InvalidInput => AnpiError::InvalidInput {
                problems: e
                    .problems()
                    .iter()
                    .map(|p| InputProblem {
                        line: p.line,
                        column: p.column.clone(),
                        value: p.value.clone(),
                        detail: p.message.clone(),
                    })
                    .collect(),
                detail,
            },
            ErrorKind::Network => AnpiError::Network { detail },
            ErrorKind::NotAllowed => AnpiError::NotAllowed { detail },
            ErrorKind::Storage => AnpiError::Storage { detail },
            ErrorKind::NeedsUpdate => AnpiError::NeedsUpdate {
                detail: format!(
                    "{} ({detail})",
                    anpi_core::doc::format::update_notice(anpi_core::codes::Lang::Ja, 1)
                ),
            },
        }
    }
}

// A listener that throws something other than an AnpiError still comes
// back as an error, never as a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for AnpiError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        AnpiError::Listener { detail: e.reason }
    }
}
