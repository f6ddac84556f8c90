"""The phone SDK driven from Python through the generated bindings: the same
scenario as the Kotlin (android/jvm-test) and Swift (ios/linux-test) suites,
against the real library. Run by tests/python/run."""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import anpi_ffi as anpi

HERE = pathlib.Path(__file__).resolve().parent
ROSTER = (HERE.parent / "sdk" / "roster.csv").read_bytes()
BAD_ROSTER = (HERE.parent / "sdk" / "bad-roster.csv").read_bytes()
STAFF = (HERE.parent / "sdk" / "staff.csv").read_bytes()


def key(byte):
    return bytes([byte]) * 32


def check(recipient, result, method=anpi.CheckMethod.VISIT, note=""):
    return anpi.NewCheck(recipient_id=recipient, method=method, result=result,
                         note=note, shelter=None, supersedes=None)


def listen(node):
    """Start `node`'s sync on loopback (no mDNS): its address."""
    return node.start_sync(anpi.SyncConfig(
        listen="127.0.0.1:0", mdns=False, interfaces=[], peers=[], debounce_ms=200))


class Recorder(anpi.AnpiListener):
    """Keeps every event; wait() blocks until one matches."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def on_event(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {timeout}s: {self.events}")
                self.cond.wait(left)


class Thrower(anpi.AnpiListener):
    def __init__(self):
        self.calls = 0

    def on_event(self, event):
        self.calls += 1
        raise ValueError("the app's listener broke")


class Office:
    """An office node with a space, the roster and an open earthquake."""

    def __init__(self, folder):
        self.node = anpi.AnpiNode.open(folder, key(1), "ja")
        self.node.set_staff(anpi.Staff(name="事務所 管理者", organisation="A居宅"))
        self.space = self.node.create_space("A居宅介護支援事業所").id
        self.node.import_roster(self.space, ROSTER)
        self.node.start_incident(self.space, anpi.IncidentKind.EARTHQUAKE, None)

    def member(self, folder, key_byte, name, organisation):
        """A phone opened in `folder`, added to the space as a care manager."""
        phone = anpi.AnpiNode.open(folder, key(key_byte), "ja")
        self.node.add_member(self.space, phone.device_id(),
                             anpi.Staff(name=name, organisation=organisation),
                             anpi.Role.CARE_MANAGER)
        return phone


class SdkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_open_import_list_and_record(self):
        office = Office(str(self.dir / "office"))
        rows = office.node.priority_list(office.space)
        self.assertEqual(len(rows), 4)
        first = rows[0]
        self.assertEqual(first.rank, 1)
        self.assertEqual(first.recipient_id, "R0001")
        self.assertIn("人工呼吸器", "・".join(first.reasons))
        self.assertEqual(first.standing, anpi.Standing.NOT_REACHED)
        # バッテリー6時間 in an earthquake: a deadline, near, with the time left.
        self.assertTrue(first.deadline_near)
        self.assertIsNotNone(first.battery_deadline_ms)
        self.assertTrue(first.time_left.startswith("バッテリー残り"), first.time_left)

        saved = office.node.record_check(office.space, check("R0001", anpi.CheckResult.SAFE))
        self.assertEqual(saved.result_label, "無事")
        self.assertEqual(saved.organisation, "A居宅")
        row = [r for r in office.node.priority_list(office.space) if r.recipient_id == "R0001"][0]
        self.assertEqual(row.standing, anpi.Standing.SETTLED)
        self.assertEqual(row.latest.id, saved.id)

        detail = office.node.recipient(office.space, "R0001")
        self.assertEqual(detail.recipient.name, "佐藤 ハル")
        self.assertIn("人工呼吸器", detail.recipient.plan.medical_devices)
        self.assertEqual([h.check.id for h in detail.history], [saved.id])

        summary = office.node.incident_summary(office.space)
        self.assertEqual(summary.recipients, 4)
        self.assertEqual(summary.checks, 1)
        self.assertEqual(summary.unchecked, 3)

        claim = office.node.claim(office.space, "R0002", 30)
        self.assertEqual(claim.staff, "事務所 管理者")
        self.assertTrue(office.node.release(office.space, "R0002"))
        self.assertFalse(office.node.release(office.space, "R0002"))
        labels = [c.label for c in office.node.check_results()]
        self.assertIn("連絡不通", labels)
        office.node.shutdown()

        # Reopened with its key, everything is there.
        again = anpi.AnpiNode.open(str(self.dir / "office"), key(1), "en")
        row = [r for r in again.priority_list(office.space) if r.recipient_id == "R0001"][0]
        self.assertEqual(row.latest.result_label, "safe")
        self.assertEqual(len(again.incidents(office.space)), 1)
        again.shutdown()

    def test_reading_a_page_and_exporting_form2_are_in_the_audit_trail(self):
        office = Office(str(self.dir / "office"))
        office.node.recipient(office.space, "R0002")
        form = office.node.export_form2(office.space, anpi.Form2Format.CSV,
                                        anpi.Form2Grouping.CARE_MANAGER, "様式2.csv")
        self.assertTrue(form.logged)
        self.assertIn("佐藤 ハル", form.bytes.decode("utf-8-sig"))
        trail = office.node.audit_trail(10)
        done = [(e.action, e.subject) for e in trail]
        self.assertIn(("viewed", "R0002"), done)
        self.assertIn(("exported", "form 2"), done)
        export = [e for e in trail if e.action == "exported"][-1]
        self.assertEqual(export.action_label, "出力")
        self.assertIn("様式2.csv", export.detail)
        self.assertEqual(export.staff.name, "事務所 管理者")
        check_ = office.node.verify_audit()
        self.assertIsNone(check_.broken_at)
        self.assertGreaterEqual(check_.entries, len(trail))
        office.node.shutdown()

    def test_errors_reach_python_as_exceptions(self):
        folder = str(self.dir / "office")
        office = Office(folder)
        with self.assertRaises(anpi.AnpiError.InvalidInput) as bad:
            office.node.import_roster(office.space, BAD_ROSTER)
        self.assertIn("3行目", str(bad.exception))  # the line at fault
        self.assertIn("要介護度", str(bad.exception))  # and the field
        # Each problem with its place, for a form to show where it is.
        self.assertEqual([(p.line, p.column) for p in bad.exception.problems], [(3, "要介護度")])
        self.assertEqual(len(office.node.priority_list(office.space)), 4)  # nothing half-imported
        with self.assertRaises(anpi.AnpiError.NotFound):
            office.node.record_check(office.space, check("R9999", anpi.CheckResult.SAFE))
        with self.assertRaises(anpi.AnpiError.NotFound):
            office.node.priority_list("no-such-space")
        office.node.end_incident(office.space)
        with self.assertRaises(anpi.AnpiError.NoOpenIncident):
            office.node.record_check(office.space, check("R0001", anpi.CheckResult.SAFE))
        with self.assertRaises(anpi.AnpiError.InvalidInput):
            anpi.AnpiNode.open(str(self.dir / "x"), b"short", "ja")
        office.node.shutdown()
        with self.assertRaises(anpi.AnpiError.Closed):
            office.node.priority_list(office.space)
        with self.assertRaises(anpi.AnpiError.WrongKey):
            anpi.AnpiNode.open(folder, key(2), "ja")

    def test_listeners_hear_changes_and_a_throwing_one_does_not_crash(self):
        office = Office(str(self.dir / "office"))
        heard = Recorder()
        handle = office.node.subscribe(heard)
        first = heard.wait(lambda e: True)
        self.assertIsInstance(first, anpi.AnpiEvent.STATUS)
        self.assertFalse(first.running)

        thrower = Thrower()
        bad = office.node.subscribe(thrower)
        office.node.record_check(office.space, check("R0003", anpi.CheckResult.ABSENT))
        heard.wait(lambda e: isinstance(e, anpi.AnpiEvent.DATA_CHANGED) and e.local)
        deadline = time.monotonic() + 10
        while bad.listener_failures() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(bad.listener_failures(), 2)
        self.assertIn("the app's listener broke", bad.last_listener_error())
        # The node goes on working after the listener threw.
        self.assertEqual(len(office.node.priority_list(office.space)), 4)

        handle.cancel()
        count = len(heard.events)
        office.node.record_check(office.space, check("R0004", anpi.CheckResult.SAFE))
        time.sleep(0.3)
        self.assertEqual(len(heard.events), count)
        office.node.shutdown()

    def test_two_nodes_sync_over_loopback_quic(self):
        asyncio.run(self.two_nodes())

    async def two_nodes(self):
        office = Office(str(self.dir / "office"))
        office_id = office.node.device_id()
        heard = Recorder()
        handle = office.node.subscribe(heard)
        addr = listen(office.node)

        phone = office.member(str(self.dir / "phone"), 3, "佐藤 美咲", "B訪問看護")
        spaces = await phone.join(addr, office_id)
        self.assertEqual([s.id for s in spaces], [office.space])
        self.assertEqual(phone.staff().name, "佐藤 美咲")
        self.assertEqual(len(phone.priority_list(office.space)), 4)

        # Both visit the same person without knowing of each other.
        phone.record_check(office.space, check("R0002", anpi.CheckResult.SAFE))
        office.node.record_check(office.space, check("R0002", anpi.CheckResult.SAFE_NEEDS_SUPPORT,
                                                     method=anpi.CheckMethod.PHONE))
        status = phone.sync_status()
        self.assertEqual(status[0].pending_changes, 1)
        result = await phone.sync_now(addr, office_id)
        self.assertEqual(result.peer_id, office_id)
        self.assertGreater(result.documents_changed, 0)
        self.assertEqual(phone.sync_status()[0].pending_changes, 0)

        for node in (office.node, phone):
            dups = node.duplicates(office.space)
            self.assertEqual([d.recipient_id for d in dups], ["R0002"])
            self.assertEqual(sorted(c.organisation for c in dups[0].checks), ["A居宅", "B訪問看護"])
        heard.wait(lambda e: isinstance(e, anpi.AnpiEvent.SYNCED) and e.result.peer_id == phone.device_id())
        heard.wait(lambda e: isinstance(e, anpi.AnpiEvent.SYNC_STARTED))
        heard.wait(lambda e: isinstance(e, anpi.AnpiEvent.DATA_CHANGED) and not e.local)

        # The staff side: the office's list, the phone carrier's own safety
        # report synced to the office, turnout and the level there.
        imported = office.node.import_staff(office.space, STAFF)
        self.assertEqual(imported.added, 3)
        await phone.sync_now(addr, office_id)
        me = phone.staff()
        phone.set_staff(anpi.Staff(name=me.name, organisation=me.organisation, staff_id="S02"))
        self.assertTrue(phone.staff_report_due(office.space))
        report = phone.record_staff_report(office.space, anpi.NewStaffReport(
            staff_id=None, person=anpi.PersonalSafety.UNHARMED, family=anpi.FamilySafety.SAFE,
            home=anpi.HomeDamage.NONE, attendance=anpi.Attendance.ABLE,
            available_from=anpi.AvailableFrom.NOW, location="", contact=""))
        self.assertEqual(report.staff_id, "S02")
        self.assertFalse(phone.staff_report_due(office.space))
        self.assertTrue(report.summary.startswith("本人 無事"), report.summary)
        await phone.sync_now(addr, office_id)
        board = office.node.staff_board(office.space)
        self.assertEqual((board.total, board.reported), (3, 1))
        s02 = [r for r in board.rows if r.member.staff_id == "S02"][0]
        self.assertEqual(s02.state, anpi.StaffState.REPORTED)
        self.assertEqual(s02.report.recorded_by.name, "佐藤 美咲")
        # S02 at once, half of S01 (0.5 km): 1.5 of 3, level 50%.
        self.assertAlmostEqual(board.today.expected, 1.5)
        self.assertEqual(board.level, anpi.OperationLevel.LEVEL50)
        self.assertIn("通常業務の一部を休止", board.level_meaning)
        # The level by hand and an assignment reach the phone's list.
        office.node.set_operation_level(office.space, anpi.OperationLevel.LEVEL30, "道路寸断")
        self.assertEqual(office.node.assign(office.space, ["R0004"], "S02"), 1)
        with self.assertRaises(anpi.AnpiError.NotAllowed):
            phone.set_operation_level(office.space, None, "")
        await phone.sync_now(addr, office_id)
        self.assertEqual(phone.staff_board(office.space).level_reason, "道路寸断")
        summary = phone.incident_summary(office.space)
        self.assertEqual(summary.operation_level, anpi.OperationLevel.LEVEL30)
        self.assertTrue(summary.operation_level_label.startswith("運営レベル30%: 安否確認のみ"))
        rows = phone.priority_list(office.space)
        self.assertFalse(rows[0].postponed)
        self.assertTrue(any(r.postponed_label == "後回し（運営レベル）" for r in rows), rows)
        mine = [r for r in rows if r.mine]
        self.assertEqual([r.recipient_id for r in mine], ["R0004"])
        self.assertEqual(mine[0].mine_label, "わたしの担当")

        # An invite: a second phone joins once; the code is spent after.
        invite = office.node.create_invite(office.space, anpi.Staff(name="高木 健", organisation="A居宅"),
                                           anpi.Role.CARE_MANAGER, [addr], 24)
        second = anpi.AnpiNode.open(str(self.dir / "second"), key(4), "ja")
        spaces = await second.join_invite(invite.code)
        self.assertEqual([s.id for s in spaces], [office.space])
        self.assertEqual(len(second.duplicates(office.space)), 1)
        third = anpi.AnpiNode.open(str(self.dir / "third"), key(5), "ja")
        with self.assertRaises(anpi.AnpiError.Network):
            await third.join_invite(invite.code)

        handle.cancel()
        for n in (phone, second, third, office.node):
            n.shutdown()

    def test_phones_enrolled_on_different_days_sync_while_the_office_is_down(self):
        asyncio.run(self.enrolled_on_different_days())

    async def enrolled_on_different_days(self):
        office = Office(str(self.dir / "office"))
        office_id = office.node.device_id()
        addr = listen(office.node)
        # Week 1: phone A joins. Week 3: phone B; A never hears of it.
        a = office.member(str(self.dir / "a"), 3, "佐藤 美咲", "A居宅")
        await a.join(addr, office_id)
        b = office.member(str(self.dir / "b"), 4, "鈴木 健", "B訪問看護")
        await b.join(addr, office_id)
        office.node.shutdown()
        # The office is dark. They meet: B dials A, then A dials B.
        a_addr = listen(a)
        b.record_check(office.space, check("R0001", anpi.CheckResult.INJURED))
        result = await b.sync_now(a_addr, a.device_id())
        self.assertEqual(result.peer_id, a.device_id())
        self.assertEqual(result.failed_documents, [])
        row = [r for r in a.priority_list(office.space) if r.recipient_id == "R0001"][0]
        self.assertEqual(row.latest.result, anpi.CheckResult.INJURED)
        a.stop_sync()
        b_addr = listen(b)
        a.record_check(office.space, check("R0002", anpi.CheckResult.SAFE))
        await a.sync_now(b_addr, b.device_id())
        row = [r for r in b.priority_list(office.space) if r.recipient_id == "R0002"][0]
        self.assertEqual(row.latest.result, anpi.CheckResult.SAFE)
        for n in (a, b):
            n.shutdown()

    def test_a_phone_with_a_wrong_clock_is_told_and_its_check_shown_corrected(self):
        asyncio.run(self.wrong_clock())

    async def wrong_clock(self):
        # The phone runs in its own process under libfaketime, three hours
        # slow (its battery died and it came back wrong); the office and a
        # phone with the right clock run here.
        faketime = shutil.which("faketime")
        self.assertIsNotNone(faketime, "faketime is missing (Debian package faketime)")
        office = Office(str(self.dir / "office"))
        office_id = office.node.device_id()
        addr = listen(office.node)
        right = office.member(str(self.dir / "right"), 4, "鈴木 健", "A居宅")
        await right.join(addr, office_id)
        folder = str(self.dir / "slow")
        # Added here, then closed: the phone's own process opens it.
        office.member(folder, 3, "佐藤 美咲", "B訪問看護").shutdown()
        before = time.time()
        ran = subprocess.run(
            [faketime, "-f", "-3h", sys.executable, str(HERE / "phone_with_a_wrong_clock.py"),
             folder, addr, office_id, office.space],
            capture_output=True, text=True, timeout=120)
        after = time.time()
        self.assertEqual(ran.returncode, 0, ran.stderr)
        told = json.loads(ran.stdout.strip().splitlines()[-1])
        # Told at its first session, and by the event after a sync.
        self.assertIn("この端末の時計が約3時間遅れています", told["after_join"])
        self.assertIn("この端末の時計が約3時間遅れています", told["event"])
        # Its own check is shown at the right time, said corrected.
        self.assertEqual(told["clock_note"], "端末の時計が約3時間遅れていたため補正")
        self.assertLess(abs(told["at_ms"] / 1000 - before), after - before + 5)
        # The office shows it so; its own clock is not blamed, as the
        # other phone agrees with it.
        there = office.node.recipient(office.space, "R0002").history[0].check
        self.assertEqual(there.clock_note, told["clock_note"])
        self.assertLess(abs(there.at_ms / 1000 - before), after - before + 5)
        self.assertIsNone(office.node.clock_notice())
        self.assertIsNone(right.clock_notice())
        for n in (right, office.node):
            n.shutdown()


if __name__ == "__main__":
    unittest.main()
