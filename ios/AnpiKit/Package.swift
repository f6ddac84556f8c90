// swift-tools-version:5.9
// AnpiKit: anpi for iOS apps. Build the binary first with
// ../build-xcframework.sh on macOS (it also writes Sources/AnpiFFI, the
// generated bindings); then add this package to the app in Xcode.
import PackageDescription

let package = Package(
    name: "AnpiKit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "AnpiKit", targets: ["AnpiKit"]),
    ],
    targets: [
        // The Rust library (static, per iOS architecture) with its C header
        // and module map (module AnpiFFIFFI).
        .binaryTarget(name: "AnpiFFIFFI", path: "build/AnpiFFI.xcframework"),
        // The uniffi-generated Swift bindings (not committed).
        .target(name: "AnpiFFI", dependencies: ["AnpiFFIFFI"], path: "Sources/AnpiFFI"),
        // The Swift layer: async/await, AsyncStream events, Bonjour
        // discovery, the Keychain key.
        .target(name: "AnpiKit", dependencies: ["AnpiFFI"], path: "Sources/AnpiKit"),
    ]
)
