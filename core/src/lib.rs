#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod codes;
pub mod doc;
pub mod error;
pub mod model;
pub mod store;

pub use error::{Error, Result};
