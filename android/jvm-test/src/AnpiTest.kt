package jp.anpi.test

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import jp.anpi.Anpi
import jp.anpi.ffi.AnpiEvent
import jp.anpi.ffi.AnpiException
import jp.anpi.ffi.AnpiListener
import jp.anpi.ffi.AnpiNode
import jp.anpi.ffi.CheckMethod
import jp.anpi.ffi.CheckResult
import jp.anpi.ffi.Form2Format
import jp.anpi.ffi.IncidentKind
import jp.anpi.ffi.Role
import jp.anpi.ffi.Staff
import jp.anpi.ffi.Standing
import jp.anpi.ffi.Attendance
import jp.anpi.ffi.AvailableFrom
import jp.anpi.ffi.FamilySafety
import jp.anpi.ffi.HomeDamage
import jp.anpi.ffi.NewStaffReport
import jp.anpi.ffi.OperationLevel
import jp.anpi.ffi.PersonalSafety
import jp.anpi.ffi.StaffState
import jp.anpi.newCheck
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test

/**
 * The phone SDK from Kotlin on the host JVM, against the real library: the
 * same scenario as the Python and Swift suites.
 */
class AnpiTest {
    private lateinit var dir: File
    private val fixtures = File(System.getProperty("anpi.fixtures"))
    private val roster get() = File(fixtures, "roster.csv").readBytes()

    private fun key(b: Int) = ByteArray(32) { b.toByte() }

    @Before
    fun setUp() {
        dir = Files.createTempDirectory("anpi-kotlin").toFile()
    }

    @After
    fun tearDown() {
        dir.deleteRecursively()
    }

    /** An office node with a space, the roster and an open earthquake. */
    private suspend fun office(name: String = "office"): Pair<Anpi, String> {
        val office = Anpi.open(File(dir, name).path, key(1))
        office.setStaff("事務所 管理者", "A居宅")
        val space = office.createSpace("A居宅介護支援事業所").id
        office.importRoster(space, roster)
        office.startIncident(space, IncidentKind.EARTHQUAKE)
        return office to space
    }

    /**
     * The first event of type [E] from [anpi], collected on another thread.
     * Returns once the subscription is live (its status event came), so that
     * what the caller does next cannot happen before it.
     */
    private suspend inline fun <reified E : AnpiEvent> CoroutineScope.nextEvent(anpi: Anpi, timeoutMs: Long): Deferred<E> {
        val subscribed = CompletableDeferred<Unit>()
        val event = async(Dispatchers.Default) {
            withTimeout(timeoutMs) {
                anpi.events()
                    .onEach { if (it is AnpiEvent.Status) subscribed.complete(Unit) }
                    .filterIsInstance<E>()
                    .first()
            }
        }
        subscribed.await()
        return event
    }

    private inline fun <reified E : Throwable> assertThrows(block: () -> Unit): E {
        try {
            block()
        } catch (e: Throwable) {
            if (e is E) return e
            throw AssertionError("expected ${E::class.simpleName}, got $e", e)
        }
        fail("expected ${E::class.simpleName}, nothing was thrown")
        throw IllegalStateException()
    }

    @Test
    fun openImportListAndRecord() = runBlocking {
        val (office, space) = office()
        val rows = office.priorityList(space)
        assertEquals(4, rows.size)
        assertEquals("R0001", rows[0].recipientId)
        assertTrue(rows[0].reasons.joinToString("・").contains("人工呼吸器"))
        assertEquals(Standing.NOT_REACHED, rows[0].standing)
        // バッテリー6時間 in an earthquake: a deadline, near, with the time left.
        assertTrue(rows[0].deadlineNear)
        assertTrue(rows[0].batteryDeadlineMs != null)
        assertTrue(rows[0].timeLeft, rows[0].timeLeft.startsWith("バッテリー残り"))

        val saved = office.recordCheck(space, newCheck("R0001", CheckResult.SAFE))
        assertEquals("無事", saved.resultLabel)
        assertEquals("A居宅", saved.organisation)
        val row = office.priorityList(space).first { it.recipientId == "R0001" }
        assertEquals(Standing.SETTLED, row.standing)
        assertEquals(saved.id, row.latest?.id)

        val detail = office.recipient(space, "R0001")
        assertEquals("佐藤 ハル", detail.recipient.name)
        assertTrue(detail.recipient.plan.medicalDevices.contains("人工呼吸器"))
        assertEquals(listOf(saved.id), detail.history.map { it.check.id })

        val summary = office.incidentSummary(space)!!
        assertEquals(4u, summary.recipients)
        assertEquals(1u, summary.checks)
        assertEquals(3u, summary.unchecked)

        assertEquals("事務所 管理者", office.claim(space, "R0002").staff)
        assertTrue(office.release(space, "R0002"))
        assertFalse(office.release(space, "R0002"))
        assertTrue(office.node.checkResults().any { it.label == "連絡不通" })
        office.close()

        val again = Anpi.open(File(dir, "office").path, key(1), language = "en")
        assertEquals("safe", again.priorityList(space).first { it.recipientId == "R0001" }.latest?.resultLabel)
        again.close()
    }

    @Test
    fun readingAPageAndExportingForm2AreInTheAuditTrail() = runBlocking {
        val (office, space) = office()
        office.recipient(space, "R0002")
        val form = office.exportForm2(space, Form2Format.CSV, "様式2.csv")
        assertTrue(form.logged)
        val trail = office.auditTrail(10)
        val done = trail.map { it.action to it.subject }
        assertTrue("$done", done.contains("viewed" to "R0002"))
        assertTrue("$done", done.contains("exported" to "form 2"))
        val export = trail.last { it.action == "exported" }
        assertEquals("出力", export.actionLabel)
        assertTrue(export.detail, export.detail.contains("様式2.csv"))
        assertEquals("事務所 管理者", export.staff.name)
        assertEquals(null, office.verifyAudit().brokenAt)
        office.close()
    }

    @Test
    fun errorsAreKotlinExceptions() = runBlocking {
        val (office, space) = office()
        val bad = assertThrows<AnpiException.InvalidInput> {
            runBlocking { office.importRoster(space, File(fixtures, "bad-roster.csv").readBytes()) }
        }
        assertTrue(bad.message!!, bad.message!!.contains("3行目") && bad.message!!.contains("要介護度"))
        // Each problem with its place, for a form to show where it is.
        assertEquals(listOf(3UL to "要介護度"), bad.problems.map { it.line to it.column })
        assertEquals(4, office.priorityList(space).size)
        assertThrows<AnpiException.NotFound> {
            runBlocking { office.recordCheck(space, newCheck("R9999", CheckResult.SAFE)) }
        }
        assertThrows<AnpiException.NotFound> { runBlocking { office.priorityList("no-such-space") } }
        office.endIncident(space)
        assertThrows<AnpiException.NoOpenIncident> {
            runBlocking { office.recordCheck(space, newCheck("R0001", CheckResult.SAFE)) }
        }
        assertThrows<AnpiException.InvalidInput> { AnpiNode.open(File(dir, "x").path, ByteArray(5), "ja") }
        office.node.shutdown()
        assertThrows<AnpiException.Closed> { office.node.priorityList(space) }
        office.node.destroy()
        assertThrows<AnpiException.WrongKey> { AnpiNode.open(File(dir, "office").path, key(2), "ja") }
        Unit
    }

    @Test
    fun listenersHearChangesAndAThrowingOneDoesNotCrash() = runBlocking {
        val (office, space) = office()
        val first = withTimeout(10_000) { office.events().first() }
        assertTrue(first is AnpiEvent.Status && !first.running)

        val changed = nextEvent<AnpiEvent.DataChanged>(office, 10_000)
        val thrower = object : AnpiListener {
            override fun onEvent(event: AnpiEvent) = throw IllegalStateException("the app's listener broke")
        }
        val bad = office.node.subscribe(thrower)
        office.recordCheck(space, newCheck("R0003", CheckResult.ABSENT))
        assertTrue(changed.await().local)
        val deadline = System.currentTimeMillis() + 10_000
        while (bad.listenerFailures() < 2uL && System.currentTimeMillis() < deadline) Thread.sleep(50)
        assertTrue(bad.listenerFailures() >= 2uL)
        assertTrue(bad.lastListenerError()!!.contains("the app's listener broke"))
        assertEquals(4, office.priorityList(space).size)

        val heard = CopyOnWriteArrayList<AnpiEvent>()
        val handle = office.node.subscribe(object : AnpiListener {
            override fun onEvent(event: AnpiEvent) { heard.add(event) }
        })
        Thread.sleep(100)
        handle.cancel()
        val count = heard.size
        office.recordCheck(space, newCheck("R0004", CheckResult.SAFE))
        Thread.sleep(300)
        assertEquals(count, heard.size)
        bad.destroy()
        office.close()
    }

    @Test
    fun twoNodesSyncOverLoopbackQuic() = runBlocking {
        val (office, space) = office()
        val officeId = office.deviceId
        val synced = nextEvent<AnpiEvent.Synced>(office, 20_000)
        val addr = office.startSync(Anpi.syncConfig(listen = "127.0.0.1:0", debounceMs = 200))

        val phone = Anpi.open(File(dir, "phone").path, key(3))
        office.addMember(space, phone.deviceId, Staff("佐藤 美咲", "B訪問看護"), Role.CARE_MANAGER)
        assertEquals(listOf(space), phone.join(addr, officeId).map { it.id })
        assertEquals("佐藤 美咲", phone.staff().name)
        assertEquals(4, phone.priorityList(space).size)

        phone.recordCheck(space, newCheck("R0002", CheckResult.SAFE))
        office.recordCheck(space, newCheck("R0002", CheckResult.SAFE_NEEDS_SUPPORT, CheckMethod.PHONE))
        assertEquals(1uL, phone.syncStatus()[0].pendingChanges)
        val result = phone.syncNow(addr, officeId)
        assertEquals(officeId, result.peerId)
        assertTrue(result.documentsChanged > 0u)
        assertEquals(0uL, phone.syncStatus()[0].pendingChanges)
        // Both clocks agree: nobody is told, and no time is corrected.
        assertNull(phone.clockNotice())
        assertNull(office.clockNotice())
        assertNull(office.recipient(space, "R0002").history.first().check.clockNote)

        for (node in listOf(office, phone)) {
            val dups = node.duplicates(space)
            assertEquals(listOf("R0002"), dups.map { it.recipientId })
            assertEquals(listOf("A居宅", "B訪問看護"), dups[0].checks.map { it.organisation }.sorted())
        }
        assertEquals(phone.deviceId, synced.await().result.peerId)

        // The staff side: the office's list, the phone carrier's own safety
        // report synced to the office, turnout and the level there.
        assertEquals(3u, office.importStaff(space, File(fixtures, "staff.csv").readBytes()).added)
        phone.syncNow(addr, officeId)
        phone.setStaff("佐藤 美咲", "B訪問看護", "S02")
        assertTrue(phone.staffReportDue(space))
        val report = phone.recordStaffReport(space, NewStaffReport(
            null, PersonalSafety.UNHARMED, FamilySafety.SAFE, HomeDamage.NONE,
            Attendance.ABLE, AvailableFrom.NOW, "", ""))
        assertEquals("S02", report.staffId)
        assertFalse(phone.staffReportDue(space))
        phone.syncNow(addr, officeId)
        val board = office.staffBoard(space)
        assertEquals(3u to 1u, board.total to board.reported)
        assertEquals(StaffState.REPORTED, board.rows.first { it.member.staffId == "S02" }.state)
        // S02 at once, half of S01 (0.5 km): 1.5 of 3, level 50%.
        assertEquals(1.5, board.today.expected, 1e-9)
        assertEquals(OperationLevel.LEVEL50, board.level)
        office.setOperationLevel(space, OperationLevel.LEVEL30, "道路寸断")
        assertEquals(1, office.assign(space, listOf("R0004"), "S02"))
        assertThrows<AnpiException.NotAllowed> { runBlocking { phone.setOperationLevel(space, null) } }
        phone.syncNow(addr, officeId)
        assertEquals("道路寸断", phone.staffBoard(space).levelReason)
        val rows = phone.priorityList(space)
        assertFalse(rows[0].postponed)
        assertTrue(rows.any { it.postponedLabel == "後回し（運営レベル）" })
        assertEquals(listOf("R0004"), rows.filter { it.mine }.map { it.recipientId })

        val invite = office.createInvite(space, Staff("高木 健", "A居宅"), Role.CARE_MANAGER, listOf(addr))
        val second = Anpi.open(File(dir, "second").path, key(4))
        assertEquals(listOf(space), second.joinInvite(invite.code).map { it.id })
        assertEquals(1, second.duplicates(space).size)
        val third = Anpi.open(File(dir, "third").path, key(5))
        assertThrows<AnpiException.Network> { runBlocking { third.joinInvite(invite.code) } }

        for (n in listOf(phone, second, third, office)) n.close()
    }

    /**
     * Phone A joins in week 1, phone B in week 3; A never hears of B. With
     * the office down they meet and sync, each dialling the other: each
     * proves its membership in its certificate.
     */
    @Test
    fun phonesEnrolledOnDifferentDaysSyncWhileTheOfficeIsDown() = runBlocking {
        val (office, space) = office()
        val officeId = office.deviceId
        val addr = office.startSync(Anpi.syncConfig(listen = "127.0.0.1:0", debounceMs = 200))
        val a = Anpi.open(File(dir, "a").path, key(3))
        office.addMember(space, a.deviceId, Staff("佐藤 美咲", "A居宅"), Role.CARE_MANAGER)
        a.join(addr, officeId)
        val b = Anpi.open(File(dir, "b").path, key(4))
        office.addMember(space, b.deviceId, Staff("鈴木 健", "B訪問看護"), Role.CARE_MANAGER)
        b.join(addr, officeId)
        office.close()

        val aAddr = a.startSync(Anpi.syncConfig(listen = "127.0.0.1:0", debounceMs = 200))
        b.recordCheck(space, newCheck("R0001", CheckResult.INJURED))
        val result = b.syncNow(aAddr, a.deviceId)
        assertEquals(a.deviceId, result.peerId)
        assertEquals(emptyList<String>(), result.failedDocuments)
        assertEquals(CheckResult.INJURED, a.priorityList(space).first { it.recipientId == "R0001" }.latest?.result)
        a.stopSync()
        val bAddr = b.startSync(Anpi.syncConfig(listen = "127.0.0.1:0", debounceMs = 200))
        a.recordCheck(space, newCheck("R0002", CheckResult.SAFE))
        a.syncNow(bAddr, b.deviceId)
        assertEquals(CheckResult.SAFE, b.priorityList(space).first { it.recipientId == "R0002" }.latest?.result)
        for (n in listOf(a, b)) n.close()
    }
}
