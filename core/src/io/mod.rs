//! Files people bring and take: the roster CSV in, 様式2 (the priority list
//! on paper) out. No store, no document: the node and the CLI decide what to
//! do with them.

pub mod form2;
pub mod roster;
pub mod staff;
