import Foundation
import AnpiFFI

/// anpi for a Swift app: the generated `AnpiNode` behind async functions
/// that do their disk work off the caller's actor, and the node's events as
/// an `AsyncStream`. Errors are `AnpiError` cases (`WrongKey`,
/// `InvalidInput`, `NotFound`, `NoOpenIncident`, `NotAllowed`, `Network`,
/// `Storage`, `Closed`, `Listener`).
public final class Anpi: @unchecked Sendable {
    /// The generated node, for what this layer does not wrap.
    public let node: AnpiNode

    private init(node: AnpiNode) {
        self.node = node
    }

    /// Open (or create) the data folder at `folder`, encrypted with
    /// `databaseKey` (32 random bytes kept in the Keychain; see
    /// `DatabaseKeychain` on Apple platforms).
    public static func open(folder: String, databaseKey: Data, language: String = "ja") async throws -> Anpi {
        try await offCaller { Anpi(node: try AnpiNode.open(folder: folder, databaseKey: databaseKey, language: language)) }
    }

    /// A sync config with the defaults a phone uses. On iOS leave `mdns`
    /// off and feed peers from `BonjourDiscovery` into `addPeer`.
    public static func syncConfig(
        listen: String = "0.0.0.0:0", mdns: Bool = false, interfaces: [String] = [],
        peers: [String] = [], debounceMs: UInt64 = 2000
    ) -> SyncConfig {
        SyncConfig(listen: listen, mdns: mdns, interfaces: interfaces, peers: peers, debounceMs: debounceMs)
    }

    public func deviceId() throws -> String { try node.deviceId() }
    public func readableDeviceId() throws -> String { try node.deviceIdReadable() }

    public func spaces() async throws -> [Space] { try await offCaller { try self.node.spaces() } }
    public func createSpace(_ name: String) async throws -> Space { try await offCaller { try self.node.createSpace(name: name) } }
    /// A new area space shared with other agencies: the only kind partners sync.
    public func createAreaSpace(_ name: String) async throws -> Space { try await offCaller { try self.node.createAreaSpace(name: name) } }
    /// Who carries this device; `staffId` (職員ID) links it to their safety reports and assignments.
    public func setStaff(name: String, organisation: String, staffId: String? = nil) async throws {
        try await offCaller { try self.node.setStaff(staff: Staff(name: name, organisation: organisation, staffId: staffId)) }
    }
    public func staff() async throws -> Staff { try await offCaller { try self.node.staff() } }

    public func importRoster(space: String, csv: Data) async throws -> ImportSummary {
        try await offCaller { try self.node.importRoster(spaceId: space, csv: csv) }
    }
    public func priorityList(space: String) async throws -> [PriorityRow] {
        try await offCaller { try self.node.priorityList(spaceId: space) }
    }
    public func recipient(space: String, id: String) async throws -> RecipientDetail {
        try await offCaller { try self.node.recipient(spaceId: space, recipientId: id) }
    }

    public func incidents(space: String) async throws -> [Incident] { try await offCaller { try self.node.incidents(spaceId: space) } }
    public func startIncident(space: String, kind: IncidentKind, name: String? = nil) async throws -> Incident {
        try await offCaller { try self.node.startIncident(spaceId: space, kind: kind, name: name) }
    }
    public func endIncident(space: String) async throws -> Incident { try await offCaller { try self.node.endIncident(spaceId: space) } }
    public func incidentSummary(space: String) async throws -> IncidentSummary? {
        try await offCaller { try self.node.incidentSummary(spaceId: space) }
    }
    /// When this device holds data a newer anpi made (kept and passed on,
    /// unread here): what to tell the person.
    public func updateNotice() async throws -> String? {
        try await offCaller { try self.node.updateNotice() }
    }
    /// When this device's clock is more than five minutes off, as its
    /// latest peers see it: what to tell the person.
    public func clockNotice() async throws -> String? {
        try await offCaller { try self.node.clockNotice() }
    }

    public func recordCheck(space: String, _ check: NewCheck) async throws -> Check {
        try await offCaller { try self.node.recordCheck(spaceId: space, check: check) }
    }
    public func claim(space: String, recipient: String, minutes: UInt32 = 30) async throws -> Claim {
        try await offCaller { try self.node.claim(spaceId: space, recipientId: recipient, minutes: minutes) }
    }
    public func release(space: String, recipient: String) async throws -> Bool {
        try await offCaller { try self.node.release(spaceId: space, recipientId: recipient) }
    }
    public func duplicates(space: String) async throws -> [Duplicate] { try await offCaller { try self.node.duplicates(spaceId: space) } }

    // The staff side (docs/STAFF.md).
    public func importStaff(space: String, csv: Data) async throws -> StaffImportSummary {
        try await offCaller { try self.node.importStaff(spaceId: space, csv: csv) }
    }
    /// Whether this device's carrier owes a safety report in the open incident: ask for it.
    public func staffReportDue(space: String) async throws -> Bool { try await offCaller { try self.node.staffReportDue(spaceId: space) } }
    public func staffList(space: String) async throws -> [StaffMember] { try await offCaller { try self.node.staffList(spaceId: space) } }
    public func recordStaffReport(space: String, report: NewStaffReport) async throws -> StaffReport {
        try await offCaller { try self.node.recordStaffReport(spaceId: space, report: report) }
    }
    public func staffBoard(space: String) async throws -> StaffBoard { try await offCaller { try self.node.staffBoard(spaceId: space) } }
    public func setOperationLevel(space: String, level: OperationLevel?, reason: String = "") async throws {
        try await offCaller { try self.node.setOperationLevel(spaceId: space, level: level, reason: reason) }
    }
    public func setPower(space: String, on: Bool, reason: String = "") async throws {
        try await offCaller { try self.node.setPower(spaceId: space, on: on, reason: reason) }
    }
    public func assign(space: String, recipientIds: [String], staffId: String?) async throws -> UInt32 {
        try await offCaller { try self.node.assign(spaceId: space, recipientIds: recipientIds, staffIdTo: staffId) }
    }
    public func assignments(space: String) async throws -> [Assignment] { try await offCaller { try self.node.assignments(spaceId: space) } }

    public func exportForm2(space: String, format: Form2Format, destination: String, grouping: Form2Grouping = .careManager) async throws -> Form2File {
        try await offCaller { try self.node.exportForm2(spaceId: space, format: format, grouping: grouping, destination: destination) }
    }
    public func auditTrail(limit: UInt32 = 100) async throws -> [AuditEntry] { try await offCaller { try self.node.auditTrail(limit: limit) } }
    public func verifyAudit() async throws -> AuditCheck { try await offCaller { try self.node.verifyAudit() } }

    public func members(space: String) async throws -> [Member] { try await offCaller { try self.node.members(spaceId: space) } }
    public func addMember(space: String, deviceId: String, staff: Staff, role: Role) async throws -> Member {
        try await offCaller { try self.node.addMember(spaceId: space, deviceIdText: deviceId, staff: staff, role: role) }
    }
    public func createInvite(space: String, staff: Staff, role: Role, addresses: [String], validHours: UInt32 = 24) async throws -> Invite {
        try await offCaller {
            try self.node.createInvite(spaceId: space, staff: staff, role: role, addresses: addresses, validHours: validHours)
        }
    }

    public func join(officeAddress: String, officeId: String) async throws -> [Space] {
        try await node.join(officeAddress: officeAddress, officeId: officeId)
    }
    public func joinInvite(_ code: String) async throws -> [Space] { try await node.joinInvite(code: code) }

    /// Start background sync; returns the address it listens on.
    public func startSync(_ config: SyncConfig = Anpi.syncConfig()) async throws -> String {
        try await offCaller { try self.node.startSync(config: config) }
    }
    public func stopSync() async throws { try await offCaller { try self.node.stopSync() } }
    @discardableResult
    public func addPeer(_ address: String) throws -> Bool { try node.addPeer(addressText: address) }
    public func syncNow(address: String, peerId: String? = nil) async throws -> SyncResult {
        try await node.syncNow(addressText: address, peerId: peerId)
    }
    public func syncStatus() throws -> [PeerStatus] { try node.syncStatus() }

    /// The node's events: the sync status first, then changes. Ending the
    /// iteration (or cancelling its task) stops them.
    public func events() -> AsyncStream<AnpiEvent> {
        AsyncStream { continuation in
            do {
                let handle = try node.subscribe(listener: StreamListener(continuation))
                continuation.onTermination = { _ in handle.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }

    /// Stop sync and events and close the data folder.
    public func close() throws { try node.shutdown() }
}

/// A check as recorded from the big result buttons.
public func newCheck(
    _ recipientId: String, _ result: CheckResult, method: CheckMethod = .visit,
    note: String = "", shelter: String? = nil, supersedes: String? = nil
) -> NewCheck {
    NewCheck(recipientId: recipientId, method: method, result: result, note: note, shelter: shelter, supersedes: supersedes)
}

/// Feeds the node's events into an AsyncStream.
final class StreamListener: AnpiListener, @unchecked Sendable {
    private let continuation: AsyncStream<AnpiEvent>.Continuation

    init(_ continuation: AsyncStream<AnpiEvent>.Continuation) {
        self.continuation = continuation
    }

    func onEvent(event: AnpiEvent) throws {
        continuation.yield(event)
    }
}

/// Run blocking library work on a detached task, so that the caller's actor
/// (the main actor in an app) never waits on the disk.
func offCaller<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try work() }.value
}
