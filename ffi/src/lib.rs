#![doc = include_str!("../README.md")]

uniffi::setup_scaffolding!();

// First: its `mirror!` macro is used by the modules after it.
#[macro_use]
mod types;
mod error;
mod events;
mod node;
mod office;
mod runtime;
mod staffing;

pub use error::{AnpiError, InputProblem};
pub use events::{AnpiListener, EventHandle};
pub use node::{AnpiNode, Staff};
pub use office::{AuditCheck, AuditEntry, Form2File, Form2Format, Form2Grouping};
pub use staffing::*;
pub use types::*;

/// The anpi version of this library.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The sync protocol version this library speaks.
#[uniffi::export]
pub fn protocol_version() -> u32 {
    anpi_core::sync::PROTOCOL_VERSION
}
