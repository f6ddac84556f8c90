//! The bytes a peer can send: the wire frame decoder and the sync engine's
//! receive path (see `anpi_tests::feed_untrusted`).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anpi_tests::feed_untrusted(data);
});
