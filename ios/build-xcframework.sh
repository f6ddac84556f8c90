#!/usr/bin/env bash
# Build AnpiKit's binary for iOS (macOS with Xcode only): the Rust library as
# a static library for devices and simulators, bundled as
# AnpiKit/build/AnpiFFI.xcframework with the uniffi header and module map,
# and the generated Swift bindings in AnpiKit/Sources/AnpiFFI.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode"; exit 1; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  # Phones have no system OpenSSL: SQLCipher gets a vendored one.
  cargo rustc --locked -p anpi-ffi --lib --profile mobile --features vendored-openssl \
    --target "$t" --crate-type staticlib
done

# Bindings from a host build (the metadata is the same on every target).
scripts/bindings target/bindings >/dev/null
kit=ios/AnpiKit
rm -rf "$kit/build" "$kit/Sources/AnpiFFI"
mkdir -p "$kit/build/headers" "$kit/Sources/AnpiFFI"
cp target/bindings/swift/AnpiFFI.swift "$kit/Sources/AnpiFFI/"
cp target/bindings/swift/AnpiFFIFFI.h "$kit/build/headers/"
cp target/bindings/swift/AnpiFFIFFI.modulemap "$kit/build/headers/module.modulemap"

# One library per platform: the two simulator architectures are merged.
mkdir -p "$kit/build/sim"
lipo -create target/aarch64-apple-ios-sim/mobile/libanpi_ffi.a target/x86_64-apple-ios/mobile/libanpi_ffi.a \
  -output "$kit/build/sim/libanpi_ffi.a"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/mobile/libanpi_ffi.a -headers "$kit/build/headers" \
  -library "$kit/build/sim/libanpi_ffi.a" -headers "$kit/build/headers" \
  -output "$kit/build/AnpiFFI.xcframework"
echo "built $kit/build/AnpiFFI.xcframework"
