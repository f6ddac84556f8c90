import Foundation

/// A small test harness: the suite runs as one binary inside the Linux
/// chroot (no XCTest or swift-testing package needed there), prints each
/// test and ends with "N passed, N failed".
struct Failure: Error, CustomStringConvertible {
    let description: String
}

func expect(_ ok: Bool, _ what: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) throws {
    if !ok { throw Failure(description: "\(file):\(line): \(what())") }
}

func expectEqual<T: Equatable>(_ a: T, _ b: T, file: StaticString = #file, line: UInt = #line) throws {
    if a != b { throw Failure(description: "\(file):\(line): \(a) != \(b)") }
}

/// The error `body` throws, or a failure when it throws none.
func expectError(file: StaticString = #file, line: UInt = #line, _ body: () async throws -> Void) async throws -> Error {
    do {
        try await body()
    } catch {
        return error
    }
    throw Failure(description: "\(file):\(line): nothing was thrown")
}

/// A temporary folder, removed after `body`.
func withTempDir<T>(_ body: (URL) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("anpi-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir)
}

/// Wait up to `seconds` for `cond`.
func eventually(_ seconds: Double = 10, _ cond: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if cond() { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return cond()
}
