import Foundation

let tests: [(String, () async throws -> Void)] = [
    ("openImportListAndRecord", openImportListAndRecord),
    ("errorsAreSwiftErrors", errorsAreSwiftErrors),
    ("readingAPageAndExportingForm2AreInTheAuditTrail", readingAPageAndExportingForm2AreInTheAuditTrail),
    ("listenersHearChangesAndAThrowingOneDoesNotCrash", listenersHearChangesAndAThrowingOneDoesNotCrash),
    ("twoNodesSyncOverLoopbackQuic", twoNodesSyncOverLoopbackQuic),
    ("phonesEnrolledOnDifferentDaysSyncWhileTheOfficeIsDown", phonesEnrolledOnDifferentDaysSyncWhileTheOfficeIsDown),
]

var passed = 0
var failed = 0
for (name, test) in tests {
    do {
        try await test()
        passed += 1
        print("test \(name) ... ok")
    } catch {
        failed += 1
        print("test \(name) ... FAILED: \(error)")
    }
}
print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
