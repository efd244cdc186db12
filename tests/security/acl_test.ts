/**
 * ACL files with Mosquitto 2.0's semantics. The expectations were checked against Debian's
 * mosquitto 2.0.11 where it decides the same question (deny rules first, `$` topics, anonymous
 * section, patterns); `mayRead` is midge's own SUBSCRIBE check.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  ACL_READ,
  ACL_WRITE,
  AclChecker,
  coversFilter,
  intersectFilters,
  parseAclFile,
} from "../../broker/auth/acl.ts";
import type { ClientIdentity } from "../../broker/auth/security.ts";

const ACL = `
# Mosquitto's example: clients without a user name may read $SYS and public topics.
topic read $SYS/#
topic read public/#

user alice
topic readwrite house/#
topic deny house/secret/#
topic write logs/alice
topic read #

user bob
topic house/garden/#

# Everyone, by client id and user name.
pattern readwrite clients/%c/#
pattern read users/%u/inbox
pattern deny clients/%c/locked
`;

function id(clientId: string, username?: string): ClientIdentity {
  return { clientId, username, peer: "127.0.0.1:1" };
}

const checker = new AclChecker(parseAclFile(ACL, "acl"));
const R = ACL_READ;
const W = ACL_WRITE;

/** [who, topic, access, allowed] */
const CASES: [ClientIdentity, string, number, boolean][] = [
  // Anonymous section applies to clients without a user name only.
  [id("anon"), "$SYS/broker/uptime", R, true],
  [id("anon"), "$SYS/broker/uptime", W, false],
  [id("anon"), "public/news", R, true],
  [id("anon"), "public/news", W, false],
  [id("anon"), "house/kitchen", R, false],
  [id("carol", "carol"), "public/news", R, false],
  // alice: readwrite house/#, but deny house/secret/# comes first whatever its place.
  [id("a1", "alice"), "house/kitchen/temp", W, true],
  [id("a1", "alice"), "house/kitchen/temp", R, true],
  [id("a1", "alice"), "house/secret/code", R, false],
  [id("a1", "alice"), "house/secret/code", W, false],
  [id("a1", "alice"), "house/secret", W, false],
  // write-only rule: reading logs/alice falls through to "topic read #".
  [id("a1", "alice"), "logs/alice", W, true],
  [id("a1", "alice"), "logs/alice", R, true],
  [id("a1", "alice"), "logs/bob", W, false],
  // "#" does not match $ topics.
  [id("a1", "alice"), "$SYS/broker/uptime", R, false],
  [id("a1", "alice"), "garden", R, true],
  // bob: "topic FILTER" without access is readwrite.
  [id("b1", "bob"), "house/garden/rose", W, true],
  [id("b1", "bob"), "house/garden", R, true],
  [id("b1", "bob"), "house/kitchen", R, false],
  // Patterns, for everyone; %u ones only for clients with a user name.
  [id("kitchen"), "clients/kitchen/temp", W, true],
  [id("kitchen"), "clients/hall/temp", W, false],
  [id("kitchen"), "clients/kitchen/locked", W, false],
  [id("kitchen"), "users//inbox", R, false],
  [id("b1", "bob"), "users/bob/inbox", R, true],
  [id("b1", "bob"), "users/bob/inbox", W, false],
  [id("b1", "bob"), "clients/b1/x", W, true],
  // A user's own allow rule wins over a pattern deny (own rules are checked first).
  [id("locked", "alice"), "clients/locked/locked", R, true],
  // A + or # in the id or name makes patterns refuse everything (it could widen them)...
  [id("evil/+"), "clients/evil/+/x", W, false],
  [id("x", "ev#l"), "users/ev#l/inbox", R, false],
  // ...but not the client's own rules.
  [id("a+", "alice"), "house/kitchen", W, true],
];

for (const [who, topic, access, allowed] of CASES) {
  const verb = access === R ? "read" : "write";
  Deno.test(
    `AclChecker.check() ${allowed ? "lets" : "stops"} ${
      who.username ?? "anonymous"
    }/${who.clientId} ${verb} "${topic}"`,
    () => {
      assert.equal(checker.check(who, topic, access), allowed);
    },
  );
}

/** [who, filter, may subscribe] */
const SUBSCRIBE_CASES: [ClientIdentity, string, boolean][] = [
  [id("anon"), "public/#", true],
  [id("anon"), "#", true],
  [id("anon"), "$SYS/#", true],
  [id("anon"), "house/#", false],
  [id("a1", "alice"), "house/+/temp", true],
  [id("a1", "alice"), "house/secret/#", false],
  [id("a1", "alice"), "house/secret/+", false],
  [id("a1", "alice"), "$SYS/#", false],
  [id("b1", "bob"), "house/#", true],
  [id("b1", "bob"), "house/kitchen/#", false],
  [id("b1", "bob"), "users/bob/+", true],
  [id("b1", "bob"), "users/alice/+", false],
  [id("kitchen"), "clients/kitchen/#", true],
  [id("kitchen"), "clients/kitchen/locked", false],
  [id("kitchen"), "clients/+/temp", true],
];

for (const [who, filter, allowed] of SUBSCRIBE_CASES) {
  Deno.test(
    `AclChecker.mayRead() ${allowed ? "grants" : "refuses"} ${
      who.username ?? "anonymous"
    }/${who.clientId} "${filter}"`,
    () => {
      assert.equal(checker.mayRead(who, filter), allowed);
    },
  );
}

Deno.test("AclChecker with no rules for a user refuses everything", () => {
  const acl = new AclChecker(parseAclFile("user alice\ntopic a\n", "acl"));
  assert.equal(acl.check(id("c", "bob"), "a", R), false);
  assert.equal(acl.check(id("c"), "a", R), false);
  assert.equal(acl.mayRead(id("c", "bob"), "#"), false);
});

Deno.test("AclChecker substitutes %c and %u in one pass", () => {
  const acl = new AclChecker(parseAclFile("pattern readwrite x/%c/%u\n", "acl"));
  assert.equal(acl.check(id("%u", "bob"), "x/%u/bob", W), true);
  assert.equal(acl.check(id("%u", "bob"), "x/bob/bob", W), false);
});

Deno.test("parseAclFile() reads Mosquitto's quirks: topic without access, spaces in topics", () => {
  const acl = parseAclFile("topic read\ntopic write a b/c\nuser  spaced name \ntopic x\n", "acl");
  // "topic read" is a topic named "read" with readwrite access, as in Mosquitto.
  assert.deepEqual(acl.anonymous.map((r) => [r.filter, r.access]), [["read", 3], ["a b/c", 2]]);
  assert.deepEqual([...acl.users.keys()], ["spaced name"]);
});

Deno.test("parseAclFile() refuses lines Mosquitto refuses, naming file and line", () => {
  const cases: [string, RegExp][] = [
    [
      "bogus line",
      /Invalid line in ACL file acl:1: expected "topic", "pattern" or "user", got "bogus"/,
    ],
    ["topic", /Empty topic in ACL file acl:1/],
    ["\nuser", /Missing user name in ACL file acl:2/],
    ["topic foo x", /Invalid topic access type "foo" in ACL file acl:1/],
    ["topic read a/#/b", /Invalid ACL topic "a\/#\/b" in ACL file acl:1/],
  ];
  for (const [text, message] of cases) assert.throws(() => parseAclFile(text, "acl"), message);
});

Deno.test("intersectFilters() and coversFilter() follow MQTT matching", () => {
  const split = (f: string) => f.split("/");
  const meet = (a: string, b: string) => intersectFilters(split(a), split(b))?.join("/");
  assert.equal(meet("a/+/c", "a/b/#"), "a/b/c");
  assert.equal(meet("a/#", "a"), "a");
  assert.equal(meet("#", "a/+"), "a/+");
  assert.equal(meet("+/+", "a"), undefined);
  assert.equal(meet("#", "$SYS/#"), undefined);
  assert.equal(meet("$SYS/#", "$SYS/broker/+"), "$SYS/broker/+");
  const covers = (a: string, b: string) => coversFilter(split(a), split(b));
  assert.equal(covers("a/#", "a"), true);
  assert.equal(covers("a/#", "a/+/c"), true);
  assert.equal(covers("a/+", "a/#"), false);
  assert.equal(covers("+/b", "x/b"), true);
  assert.equal(covers("#", "$SYS/x"), false);
});
