"""A phone whose clock is wrong, for test_sdk.py, which runs it under
libfaketime (`faketime -f -3h`): it joins the office, records a check,
syncs, and prints as one JSON line what the SDK told it."""

import asyncio
import json
import sys

import anpi_ffi as anpi

from test_sdk import Recorder, check, key


async def main(folder, addr, office_id, space):
    phone = anpi.AnpiNode.open(folder, key(3), "ja")
    heard = Recorder()
    handle = phone.subscribe(heard)
    await phone.join(addr, office_id)
    after_join = phone.clock_notice()
    phone.record_check(space, check("R0002", anpi.CheckResult.SAFE))
    await phone.sync_now(addr, office_id)
    event = heard.wait(lambda e: isinstance(e, anpi.AnpiEvent.CLOCK_OFF))
    mine = phone.recipient(space, "R0002").history[0].check
    print(json.dumps({"after_join": after_join, "event": event.message,
                      "clock_note": mine.clock_note, "at_ms": mine.at_ms}))
    handle.cancel()
    phone.shutdown()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
