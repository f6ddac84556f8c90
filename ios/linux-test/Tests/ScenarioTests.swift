import Foundation
import AnpiFFI
import AnpiKit

/// The phone SDK from Swift against the real library: the same scenario as
/// the Kotlin and Python suites.
let fixtures = URL(fileURLWithPath: CommandLine.arguments[1])
let roster = try! Data(contentsOf: fixtures.appendingPathComponent("roster.csv"))

func key(_ b: UInt8) -> Data { Data(repeating: b, count: 32) }

/// An office node with a space, the roster and an open earthquake.
func office(_ dir: URL) async throws -> (Anpi, String) {
    let office = try await Anpi.open(folder: dir.appendingPathComponent("office").path, databaseKey: key(1))
    try await office.setStaff(name: "事務所 管理者", organisation: "A居宅")
    let space = try await office.createSpace("A居宅介護支援事業所").id
    _ = try await office.importRoster(space: space, csv: roster)
    _ = try await office.startIncident(space: space, kind: .earthquake)
    return (office, space)
}

func openImportListAndRecord() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        let rows = try await office.priorityList(space: space)
        try expectEqual(rows.count, 4)
        try expectEqual(rows[0].recipientId, "R0001")
        try expect(rows[0].reasons.joined(separator: "・").contains("人工呼吸器"), "reasons \(rows[0].reasons)")
        try expectEqual(rows[0].standing, .notReached)
        // バッテリー6時間 in an earthquake: a deadline, near, with the time left.
        try expect(rows[0].deadlineNear, "deadline near")
        try expect(rows[0].batteryDeadlineMs != nil, "a deadline")
        try expect(rows[0].timeLeft.hasPrefix("バッテリー残り"), "time left \(rows[0].timeLeft)")

        let saved = try await office.recordCheck(space: space, newCheck("R0001", .safe))
        try expectEqual(saved.resultLabel, "無事")
        try expectEqual(saved.organisation, "A居宅")
        let row = try await office.priorityList(space: space).first { $0.recipientId == "R0001" }!
        try expectEqual(row.standing, .settled)
        try expectEqual(row.latest?.id, saved.id)

        let detail = try await office.recipient(space: space, id: "R0001")
        try expectEqual(detail.recipient.name, "佐藤 ハル")
        try expect(detail.recipient.plan.medicalDevices.contains("人工呼吸器"), "devices")
        try expectEqual(detail.history.map { $0.check.id }, [saved.id])

        let summary = try await office.incidentSummary(space: space)!
        try expectEqual(summary.recipients, 4)
        try expectEqual(summary.checks, 1)
        try expectEqual(summary.unchecked, 3)

        try expectEqual(try await office.claim(space: space, recipient: "R0002").staff, "事務所 管理者")
        try expect(try await office.release(space: space, recipient: "R0002"), "released")
        try expect(!(try await office.release(space: space, recipient: "R0002")), "nothing to release")
        try expect(office.node.checkResults().contains { $0.label == "連絡不通" }, "labels")
        try office.close()

        let again = try await Anpi.open(folder: dir.appendingPathComponent("office").path, databaseKey: key(1), language: "en")
        let r1 = try await again.priorityList(space: space).first { $0.recipientId == "R0001" }!
        try expectEqual(r1.latest?.resultLabel, "safe")
        try again.close()
    }
}

func readingAPageAndExportingForm2AreInTheAuditTrail() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        _ = try await office.recipient(space: space, id: "R0002")
        let form = try await office.exportForm2(space: space, format: .csv, destination: "様式2.csv")
        try expect(form.logged, "form 2 export not logged")
        let trail = try await office.auditTrail(limit: 10)
        let done = trail.map { "\($0.action) \($0.subject)" }
        try expect(done.contains("viewed R0002"), "\(done)")
        try expect(done.contains("exported form 2"), "\(done)")
        let export = trail.last { $0.action == "exported" }!
        try expectEqual(export.actionLabel, "出力")
        try expect(export.detail.contains("様式2.csv"), export.detail)
        try expectEqual(export.staff.name, "事務所 管理者")
        try expectEqual(try await office.verifyAudit().brokenAt, nil)
        try office.close()
    }
}

func errorsAreSwiftErrors() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        let bad = try await expectError {
            _ = try await office.importRoster(space: space, csv: try Data(contentsOf: fixtures.appendingPathComponent("bad-roster.csv")))
        }
        guard case let AnpiError.InvalidInput(detail, problems) = bad else { throw Failure(description: "got \(bad)") }
        try expect(detail.contains("3行目") && detail.contains("要介護度"), detail)
        // Each problem with its place, for a form to show where it is.
        try expectEqual(problems.map { "\($0.line) \($0.column ?? "")" }, ["3 要介護度"])
        try expectEqual(try await office.priorityList(space: space).count, 4)
        let unknown = try await expectError { _ = try await office.recordCheck(space: space, newCheck("R9999", .safe)) }
        guard case AnpiError.NotFound = unknown else { throw Failure(description: "got \(unknown)") }
        _ = try await office.endIncident(space: space)
        let noIncident = try await expectError { _ = try await office.recordCheck(space: space, newCheck("R0001", .safe)) }
        try expectEqual(noIncident as? AnpiError, AnpiError.NoOpenIncident)
        let short = try await expectError { _ = try AnpiNode.open(folder: dir.appendingPathComponent("x").path, databaseKey: Data([1, 2]), language: "ja") }
        guard case AnpiError.InvalidInput = short else { throw Failure(description: "got \(short)") }
        try office.close()
        let closed = try await expectError { _ = try office.node.priorityList(spaceId: space) }
        try expectEqual(closed as? AnpiError, AnpiError.Closed)
        let wrong = try await expectError { _ = try AnpiNode.open(folder: dir.appendingPathComponent("office").path, databaseKey: key(2), language: "ja") }
        try expectEqual(wrong as? AnpiError, AnpiError.WrongKey)
    }
}

final class Thrower: AnpiListener, @unchecked Sendable {
    struct Broke: Error {}
    func onEvent(event: AnpiEvent) throws { throw AnpiError.Listener(detail: "the app's listener broke") }
}

final class Recorder: AnpiListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [AnpiEvent] = []
    var events: [AnpiEvent] { lock.lock(); defer { lock.unlock() }; return seen }
    func onEvent(event: AnpiEvent) throws { lock.lock(); seen.append(event); lock.unlock() }
}

func listenersHearChangesAndAThrowingOneDoesNotCrash() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        var stream = office.events().makeAsyncIterator()
        guard case let .status(running, _, _)? = await stream.next() else { throw Failure(description: "no status first") }
        try expect(!running, "not running")

        let bad = try office.node.subscribe(listener: Thrower())
        _ = try await office.recordCheck(space: space, newCheck("R0003", .absent))
        var local = false
        while let e = await stream.next() {
            if case let .dataChanged(l) = e { local = l; break }
        }
        try expect(local, "a local change")
        try expect(await eventually { bad.listenerFailures() >= 2 }, "failures counted: \(bad.listenerFailures())")
        try expect(bad.lastListenerError()?.contains("the app's listener broke") == true, "\(String(describing: bad.lastListenerError()))")
        try expectEqual(try await office.priorityList(space: space).count, 4)

        let recorder = Recorder()
        let handle = try office.node.subscribe(listener: recorder)
        try expect(await eventually { !recorder.events.isEmpty }, "status first")
        handle.cancel()
        let count = recorder.events.count
        _ = try await office.recordCheck(space: space, newCheck("R0004", .safe))
        try await Task.sleep(nanoseconds: 300_000_000)
        try expectEqual(recorder.events.count, count)
        try office.close()
    }
}

func twoNodesSyncOverLoopbackQuic() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        let officeId = try office.deviceId()
        let recorder = Recorder()
        let handle = try office.node.subscribe(listener: recorder)
        let addr = try await office.startSync(Anpi.syncConfig(listen: "127.0.0.1:0", debounceMs: 200))

        let phone = try await Anpi.open(folder: dir.appendingPathComponent("phone").path, databaseKey: key(3))
        _ = try await office.addMember(space: space, deviceId: try phone.deviceId(), staff: Staff(name: "佐藤 美咲", organisation: "B訪問看護"), role: .careManager)
        try expectEqual(try await phone.join(officeAddress: addr, officeId: officeId).map { $0.id }, [space])
        try expectEqual(try await phone.staff().name, "佐藤 美咲")
        try expectEqual(try await phone.priorityList(space: space).count, 4)

        _ = try await phone.recordCheck(space: space, newCheck("R0002", .safe))
        _ = try await office.recordCheck(space: space, newCheck("R0002", .safeNeedsSupport, method: .phone))
        try expectEqual(try phone.syncStatus()[0].pendingChanges, 1)
        let result = try await phone.syncNow(address: addr, peerId: officeId)
        try expectEqual(result.peerId, officeId)
        try expect(result.documentsChanged > 0, "documents changed")
        try expectEqual(try phone.syncStatus()[0].pendingChanges, 0)
        // Both clocks agree: nobody is told.
        try expect(try await phone.clockNotice() == nil, "the phone's clock is right")
        try expect(try await office.clockNotice() == nil, "the office's clock is right")

        for node in [office, phone] {
            let dups = try await node.duplicates(space: space)
            try expectEqual(dups.map { $0.recipientId }, ["R0002"])
            try expectEqual(dups[0].checks.map { $0.organisation }.sorted(), ["A居宅", "B訪問看護"])
        }
        let phoneId = try phone.deviceId()
        try expect(await eventually {
            recorder.events.contains { if case let .synced(r) = $0 { return r.peerId == phoneId } else { return false } }
        }, "the office heard the sync")

        // The staff side: the office's list, the phone carrier's own safety
        // report synced to the office, turnout and the level there.
        let staffCsv = try Data(contentsOf: fixtures.appendingPathComponent("staff.csv"))
        try expectEqual(try await office.importStaff(space: space, csv: staffCsv).added, 3)
        _ = try await phone.syncNow(address: addr, peerId: officeId)
        try await phone.setStaff(name: "佐藤 美咲", organisation: "B訪問看護", staffId: "S02")
        try expect(try await phone.staffReportDue(space: space), "a report is due")
        let report = try await phone.recordStaffReport(space: space, report: NewStaffReport(
            staffId: nil, person: .unharmed, family: .safe, home: .none, attendance: .able,
            availableFrom: .now, location: "", contact: ""))
        try expectEqual(report.staffId, "S02")
        try expect(!(try await phone.staffReportDue(space: space)), "reported")
        _ = try await phone.syncNow(address: addr, peerId: officeId)
        let board = try await office.staffBoard(space: space)
        try expectEqual([board.total, board.reported], [3, 1])
        try expectEqual(board.rows.first { $0.member.staffId == "S02" }?.state, .reported)
        // S02 at once, half of S01 (0.5 km): 1.5 of 3, level 50%.
        try expect(abs(board.today.expected - 1.5) < 1e-9, "turnout \(board.today)")
        try expectEqual(board.level, .level50)
        try await office.setOperationLevel(space: space, level: .level30, reason: "道路寸断")
        try expectEqual(try await office.assign(space: space, recipientIds: ["R0004"], staffId: "S02"), 1)
        let refused = try await expectError { try await phone.setOperationLevel(space: space, level: nil) }
        guard case AnpiError.NotAllowed = refused else { throw Failure(description: "got \(refused)") }
        _ = try await phone.syncNow(address: addr, peerId: officeId)
        try expectEqual(try await phone.staffBoard(space: space).levelReason, "道路寸断")
        let rows = try await phone.priorityList(space: space)
        try expect(!rows[0].postponed, "the first row is not postponed")
        try expect(rows.contains { $0.postponedLabel == "後回し（運営レベル）" }, "some rows postponed")
        try expectEqual(rows.filter { $0.mine }.map { $0.recipientId }, ["R0004"])

        let invite = try await office.createInvite(space: space, staff: Staff(name: "高木 健", organisation: "A居宅"), role: .careManager, addresses: [addr])
        let second = try await Anpi.open(folder: dir.appendingPathComponent("second").path, databaseKey: key(4))
        try expectEqual(try await second.joinInvite(invite.code).map { $0.id }, [space])
        try expectEqual(try await second.duplicates(space: space).count, 1)
        let third = try await Anpi.open(folder: dir.appendingPathComponent("third").path, databaseKey: key(5))
        let replay = try await expectError { _ = try await third.joinInvite(invite.code) }
        guard case AnpiError.Network = replay else { throw Failure(description: "got \(replay)") }

        handle.cancel()
        for n in [phone, second, third, office] { try n.close() }
    }
}

/// Phone A joins in week 1, phone B in week 3; A never hears of B. With the
/// office down they meet and sync, each dialling the other: each proves its
/// membership in its certificate.
func phonesEnrolledOnDifferentDaysSyncWhileTheOfficeIsDown() async throws {
    try await withTempDir { dir in
        let (office, space) = try await office(dir)
        let officeId = try office.deviceId()
        let addr = try await office.startSync(Anpi.syncConfig(listen: "127.0.0.1:0", debounceMs: 200))
        let a = try await Anpi.open(folder: dir.appendingPathComponent("a").path, databaseKey: key(3))
        _ = try await office.addMember(space: space, deviceId: try a.deviceId(), staff: Staff(name: "佐藤 美咲", organisation: "A居宅"), role: .careManager)
        _ = try await a.join(officeAddress: addr, officeId: officeId)
        let b = try await Anpi.open(folder: dir.appendingPathComponent("b").path, databaseKey: key(4))
        _ = try await office.addMember(space: space, deviceId: try b.deviceId(), staff: Staff(name: "鈴木 健", organisation: "B訪問看護"), role: .careManager)
        _ = try await b.join(officeAddress: addr, officeId: officeId)
        try office.close()

        let aAddr = try await a.startSync(Anpi.syncConfig(listen: "127.0.0.1:0", debounceMs: 200))
        _ = try await b.recordCheck(space: space, newCheck("R0001", .injured))
        let result = try await b.syncNow(address: aAddr, peerId: try a.deviceId())
        try expectEqual(result.peerId, try a.deviceId())
        try expectEqual(result.failedDocuments, [])
        try expectEqual(try await a.priorityList(space: space).first { $0.recipientId == "R0001" }?.latest?.result, .injured)
        try await a.stopSync()
        let bAddr = try await b.startSync(Anpi.syncConfig(listen: "127.0.0.1:0", debounceMs: 200))
        _ = try await a.recordCheck(space: space, newCheck("R0002", .safe))
        _ = try await a.syncNow(address: bAddr, peerId: try b.deviceId())
        try expectEqual(try await b.priorityList(space: space).first { $0.recipientId == "R0002" }?.latest?.result, .safe)
        for n in [a, b] { try n.close() }
    }
}
