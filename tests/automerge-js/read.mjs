// Reads documents written by `anpi export automerge` with stock Automerge
// for JavaScript, as docs/FORMAT.md describes them, and checks what it
// finds against what the run script recorded with anpi itself.
// Usage: node read.mjs DIR EXPECTED.json   (prints one line per check)
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as Automerge from "@automerge/automerge";

const [dir, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedFile, "utf8"));
let passed = 0;
let failed = 0;
function check(what, got, want) {
  // Scalar strings come back as Automerge.ImmutableString: compare text.
  const same = typeof want === "string" ? got !== undefined && String(got) === want : got === want;
  if (same) {
    passed++;
    console.log(`ok   ${what}: ${got}`);
  } else {
    failed++;
    console.log(`FAIL ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}
const load = (name) => Automerge.load(new Uint8Array(readFileSync(join(dir, name))));

// The roster: a recipient's name is in its "person" register (JSON).
const roster = load("roster.automerge");
check("roster format", roster.format, expected.format);
const person = JSON.parse(roster.recipients[expected.recipient].person);
check(`name of ${expected.recipient}`, person.name, expected.name);

// A member's role: a signed entry (JSON) under its device id.
const entry = JSON.parse(roster.members[expected.device]);
check(`role of ${expected.device}`, entry.member.role, expected.role);
check("the space's name", roster.space.name, expected.space);

// The same role from the membership statements (format 3): a signed
// statement's JSON text names the act, its device and role.
let stated;
for (const stored of Object.values(roster.statements ?? {})) {
  const entry = JSON.parse(String(stored));
  if (!entry.signed) continue;
  const s = JSON.parse(entry.signed.statement);
  if (s.act.act === "add" && s.act.device === expected.device) stated = s.act.role;
}
check(`role of ${expected.device} by its statement`, stated, expected.role);

// A check's result: in its device's bucket of the incident.
const incidentFile = readdirSync(dir).find((f) => f.startsWith("incident-"));
const incident = load(incidentFile);
let result;
for (const bucket of Object.values(incident.checks)) {
  for (const json of Object.values(bucket)) {
    const c = JSON.parse(json);
    if (c.id === expected.check) result = c.result;
  }
}
check(`result of check ${expected.check}`, result, expected.result);
const opening = JSON.parse(Object.values(incident.opened)[0]);
check("the incident's kind", opening.kind, expected.kind);

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
