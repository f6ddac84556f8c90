#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod access;
pub mod audit;
pub mod bcp;
pub mod clock;
pub mod codes;
pub mod doc;
pub mod error;
pub mod folder;
pub mod identity;
pub mod invite;
pub mod io;
pub mod membership;
pub mod model;
pub mod net;
pub mod node;
pub mod priority;
pub mod repair;
pub(crate) mod saved;
pub mod seal;
pub mod sharing;
pub mod store;
pub mod sync;
pub mod text;
pub mod views;

pub use error::{Error, Result};
