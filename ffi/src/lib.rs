//! anpi for phones. The uniffi bindings (`AnpiNode`, listener traits, the
//! error enum) are built under the phone-SDK issue; until then this crate
//! only re-exports the version the bindings will report.

/// The anpi version the phone SDK reports.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The sync protocol version the phone SDK speaks.
pub fn protocol_version() -> u32 {
    anpi_core::sync::PROTOCOL_VERSION
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_the_core_protocol() {
        assert_eq!(super::protocol_version(), anpi_core::sync::PROTOCOL_VERSION);
    }
}
