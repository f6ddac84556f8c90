package jp.anpi

import jp.anpi.ffi.AnpiEvent
import jp.anpi.ffi.AuditCheck
import jp.anpi.ffi.AuditEntry
import jp.anpi.ffi.Form2File
import jp.anpi.ffi.Form2Format
import jp.anpi.ffi.Form2Grouping
import jp.anpi.ffi.AnpiListener
import jp.anpi.ffi.AnpiNode
import jp.anpi.ffi.Check
import jp.anpi.ffi.Claim
import jp.anpi.ffi.Duplicate
import jp.anpi.ffi.ImportSummary
import jp.anpi.ffi.Incident
import jp.anpi.ffi.IncidentKind
import jp.anpi.ffi.IncidentSummary
import jp.anpi.ffi.Invite
import jp.anpi.ffi.Member
import jp.anpi.ffi.NewCheck
import jp.anpi.ffi.PeerStatus
import jp.anpi.ffi.PriorityRow
import jp.anpi.ffi.RecipientDetail
import jp.anpi.ffi.Role
import jp.anpi.ffi.Space
import jp.anpi.ffi.Staff
import jp.anpi.ffi.SyncConfig
import jp.anpi.ffi.SyncResult
import jp.anpi.ffi.Assignment
import jp.anpi.ffi.NewStaffReport
import jp.anpi.ffi.OperationLevel
import jp.anpi.ffi.StaffBoard
import jp.anpi.ffi.StaffImportSummary
import jp.anpi.ffi.StaffMember
import jp.anpi.ffi.StaffReport
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.withContext

/**
 * anpi for a Kotlin app: the generated [AnpiNode] behind suspend functions
 * that do their disk work on [io] (never the main thread), and the node's
 * events as a [Flow]. Errors arrive as [jp.anpi.ffi.AnpiException]
 * subclasses: `WrongKey`, `InvalidInput`, `NotFound`, `NoOpenIncident`,
 * `NotAllowed`, `Network`, `Storage`, `Closed`, `Listener`.
 */
class Anpi private constructor(
    /** The generated node, for what this layer does not wrap. */
    val node: AnpiNode,
    private val io: CoroutineDispatcher,
) : AutoCloseable {
    companion object {
        /**
         * Open (or create) the data folder [folder], encrypted with
         * [databaseKey] (32 random bytes kept in the Android Keystore).
         */
        suspend fun open(
            folder: String,
            databaseKey: ByteArray,
            language: String = "ja",
            io: CoroutineDispatcher = Dispatchers.IO,
        ): Anpi = withContext(io) { Anpi(AnpiNode.open(folder, databaseKey, language), io) }

        /** A sync config with the defaults a phone uses. */
        fun syncConfig(
            listen: String = "0.0.0.0:0",
            mdns: Boolean = false,
            interfaces: List<String> = emptyList(),
            peers: List<String> = emptyList(),
            debounceMs: Long = 2000,
        ) = SyncConfig(listen, mdns, interfaces, peers, debounceMs.toULong())
    }

    val deviceId: String get() = node.deviceId()
    val readableDeviceId: String get() = node.deviceIdReadable()

    suspend fun spaces(): List<Space> = withContext(io) { node.spaces() }
    suspend fun createSpace(name: String): Space = withContext(io) { node.createSpace(name) }
    /** A new area space shared with other agencies: the only kind partners sync. */
    suspend fun createAreaSpace(name: String): Space = withContext(io) { node.createAreaSpace(name) }
    /** Who carries this device; [staffId] (職員ID) links it to their safety reports and assignments. */
    suspend fun setStaff(name: String, organisation: String, staffId: String? = null) =
        withContext(io) { node.setStaff(Staff(name, organisation, staffId)) }
    suspend fun staff(): Staff = withContext(io) { node.staff() }

    suspend fun importRoster(space: String, csv: ByteArray): ImportSummary =
        withContext(io) { node.importRoster(space, csv) }
    suspend fun priorityList(space: String): List<PriorityRow> = withContext(io) { node.priorityList(space) }
    suspend fun recipient(space: String, id: String): RecipientDetail = withContext(io) { node.recipient(space, id) }

    suspend fun incidents(space: String): List<Incident> = withContext(io) { node.incidents(space) }
    suspend fun startIncident(space: String, kind: IncidentKind, name: String? = null): Incident =
        withContext(io) { node.startIncident(space, kind, name) }
    suspend fun endIncident(space: String): Incident = withContext(io) { node.endIncident(space) }
    suspend fun incidentSummary(space: String): IncidentSummary? = withContext(io) { node.incidentSummary(space) }
    /** When this device holds data a newer anpi made (kept and passed on, unread here): what to tell the person. */
    suspend fun updateNotice(): String? = withContext(io) { node.updateNotice() }
    /** When this device's clock is more than five minutes off, as its latest peers see it: what to tell the person. */
    suspend fun clockNotice(): String? = withContext(io) { node.clockNotice() }

    suspend fun recordCheck(space: String, check: NewCheck): Check = withContext(io) { node.recordCheck(space, check) }
    suspend fun claim(space: String, recipient: String, minutes: Int = 30): Claim =
        withContext(io) { node.claim(space, recipient, minutes.toUInt()) }
    suspend fun release(space: String, recipient: String): Boolean = withContext(io) { node.release(space, recipient) }
    suspend fun duplicates(space: String): List<Duplicate> = withContext(io) { node.duplicates(space) }

    // The staff side (docs/STAFF.md).
    suspend fun importStaff(space: String, csv: ByteArray): StaffImportSummary =
        withContext(io) { node.importStaff(space, csv) }
    /** Whether this device's carrier owes a safety report in the open incident: ask for it. */
    suspend fun staffReportDue(space: String): Boolean = withContext(io) { node.staffReportDue(space) }
    suspend fun staffList(space: String): List<StaffMember> = withContext(io) { node.staffList(space) }
    suspend fun recordStaffReport(space: String, report: NewStaffReport): StaffReport =
        withContext(io) { node.recordStaffReport(space, report) }
    suspend fun staffBoard(space: String): StaffBoard = withContext(io) { node.staffBoard(space) }
    suspend fun setOperationLevel(space: String, level: OperationLevel?, reason: String = "") =
        withContext(io) { node.setOperationLevel(space, level, reason) }
    suspend fun setPower(space: String, on: Boolean, reason: String = "") =
        withContext(io) { node.setPower(space, on, reason) }
    suspend fun assign(space: String, recipientIds: List<String>, staffId: String?): Int =
        withContext(io) { node.assign(space, recipientIds, staffId).toInt() }
    suspend fun assignments(space: String): List<Assignment> = withContext(io) { node.assignments(space) }

    suspend fun exportForm2(
        space: String,
        format: Form2Format,
        destination: String,
        grouping: Form2Grouping = Form2Grouping.CARE_MANAGER,
    ): Form2File = withContext(io) { node.exportForm2(space, format, grouping, destination) }
    suspend fun auditTrail(limit: Int = 100): List<AuditEntry> = withContext(io) { node.auditTrail(limit.toUInt()) }
    suspend fun verifyAudit(): AuditCheck = withContext(io) { node.verifyAudit() }

    suspend fun members(space: String): List<Member> = withContext(io) { node.members(space) }
    suspend fun addMember(space: String, deviceId: String, staff: Staff, role: Role): Member =
        withContext(io) { node.addMember(space, deviceId, staff, role) }
    suspend fun revokeMember(space: String, deviceId: String): Member =
        withContext(io) { node.revokeMember(space, deviceId) }
    suspend fun createInvite(space: String, staff: Staff, role: Role, addresses: List<String>, validHours: Int = 24): Invite =
        withContext(io) { node.createInvite(space, staff, role, addresses, validHours.toUInt()) }

    suspend fun join(officeAddress: String, officeId: String): List<Space> = node.join(officeAddress, officeId)
    suspend fun joinInvite(code: String): List<Space> = node.joinInvite(code)

    /** Start background sync; returns the address it listens on. */
    suspend fun startSync(config: SyncConfig = syncConfig()): String = withContext(io) { node.startSync(config) }
    suspend fun stopSync() = withContext(io) { node.stopSync() }
    fun addPeer(address: String): Boolean = node.addPeer(address)
    suspend fun syncNow(address: String, peerId: String? = null): SyncResult = node.syncNow(address, peerId)
    fun syncStatus(): List<PeerStatus> = node.syncStatus()

    /**
     * The node's events: the sync status first, then changes. Collecting
     * subscribes; cancelling the collector stops the events. Events are
     * buffered, so a slow collector never blocks the node.
     */
    fun events(): Flow<AnpiEvent> = callbackFlow {
        val handle = node.subscribe(object : AnpiListener {
            override fun onEvent(event: AnpiEvent) {
                trySend(event)
            }
        })
        awaitClose {
            handle.cancel()
            handle.destroy()
        }
    }.buffer(Channel.UNLIMITED)

    /** Stop sync and events and close the data folder. */
    override fun close() {
        node.shutdown()
        node.destroy()
    }
}

/** A check as recorded from the big result buttons. */
fun newCheck(
    recipientId: String,
    result: jp.anpi.ffi.CheckResult,
    method: jp.anpi.ffi.CheckMethod = jp.anpi.ffi.CheckMethod.VISIT,
    note: String = "",
    shelter: String? = null,
    supersedes: String? = null,
) = NewCheck(recipientId, method, result, note, shelter, supersedes)
