//! Files people bring and take: the roster CSV in, and (with the CLI issue)
//! 様式2 out. Parsing only; the node decides what to do with the result.

pub mod roster;
