//! The bindgen of the phone SDK, pinned to the uniffi version the library
//! is built with: `cargo run -p anpi-ffi --bin
//! uniffi-bindgen -- generate --library target/debug/libanpi_ffi.so
//! --language kotlin --out-dir OUT` (scripts/bindings does this).

fn main() {
    uniffi::uniffi_bindgen_main()
}
