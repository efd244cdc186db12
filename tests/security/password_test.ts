/**
 * Mosquitto's password hashes and password file format, checked against hashes made by Debian's
 * `mosquitto_passwd` 2.0.11.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePasswordFile } from "../../broker/auth/password_file.ts";
import {
  decodeBase64,
  formatPasswordHash,
  hashPassword,
  parsePasswordHash,
  timingSafeEqual,
  verifyPassword,
} from "../../broker/auth/password_hash.ts";

/** Made with `mosquitto_passwd -b` (2.0.11): alice/secret is the default $7$, bob/hunter2 `-H sha512`. */
const ALICE =
  "$7$101$CZgVYkikZVMXVnCr$O9A2K1rI8rp0C1Hfq+kPtl0GzG/oJi0d86HP0vDU6XtQvhE9G6IWKOoG8bv6Kv0ps7MJ3Sizw6Tz1vzEgO+Wpw==";
const BOB =
  "$6$F5KSjhEgtvR3eNoN$cmeQpwJ1ljRN3RBwoZJMGKvwAQKsBink1BV9aFukzBzunBKwCcB0mzBb8aChoHJlT65mblxArXpRIxcEMG0fUQ==";

Deno.test("verifyPassword() accepts mosquitto_passwd's $7$ (PBKDF2-SHA512) vector", async () => {
  const hash = parsePasswordHash(ALICE);
  assert.equal(hash.kind, "sha512-pbkdf2");
  assert.equal(hash.iterations, 101);
  assert.equal(await verifyPassword(hash, "secret"), true);
  assert.equal(await verifyPassword(hash, "secreT"), false);
  assert.equal(await verifyPassword(hash, ""), false);
});

Deno.test("verifyPassword() accepts mosquitto_passwd's $6$ (salted SHA-512) vector", async () => {
  const hash = parsePasswordHash(BOB);
  assert.equal(hash.kind, "sha512");
  assert.equal(hash.iterations, 0);
  assert.equal(await verifyPassword(hash, new TextEncoder().encode("hunter2")), true);
  assert.equal(await verifyPassword(hash, "hunter3"), false);
});

Deno.test("verifyPassword() ignores bytes after a NUL, as Mosquitto's C strings do", async () => {
  const hash = parsePasswordHash(BOB);
  assert.equal(await verifyPassword(hash, new TextEncoder().encode("hunter2\0junk")), true);
});

Deno.test("hashPassword() round-trips through formatPasswordHash() and parsePasswordHash()", async () => {
  for (const kind of ["sha512", "sha512-pbkdf2"] as const) {
    const hash = await hashPassword("pässwörd", { kind, iterations: 1000 });
    const text = formatPasswordHash(hash);
    assert.match(text, kind === "sha512" ? /^\$6\$[^$]{16}\$[^$]{88}$/ : /^\$7\$1000\$[^$]{16}\$/);
    assert.equal(await verifyPassword(parsePasswordHash(text), "pässwörd"), true);
  }
});

Deno.test("hashPassword() with the vector's salt reproduces the vector exactly", async () => {
  const vector = parsePasswordHash(ALICE);
  const again = await hashPassword("secret", { salt: vector.salt, iterations: 101 });
  assert.equal(formatPasswordHash(again), ALICE);
  const bob = parsePasswordHash(BOB);
  assert.equal(
    formatPasswordHash(await hashPassword("hunter2", { kind: "sha512", salt: bob.salt })),
    BOB,
  );
});

Deno.test("parsePasswordHash() rejects what Mosquitto cannot decode", () => {
  const cases: [string, RegExp][] = [
    ["plain-text", /expected \$6\$SALT\$HASH/],
    ["$5$abc$def", /unknown hash type "\$5\$"/],
    ["$6$onlysalt", /expected \$6\$SALT\$HASH/],
    ["$7$0$CZgVYkikZVMXVnCr$" + ALICE.split("$")[4], /invalid iteration count "0"/],
    ["$7$ten$CZgVYkikZVMXVnCr$" + ALICE.split("$")[4], /invalid iteration count "ten"/],
    ["$6$!!!$" + BOB.split("$")[3], /not valid base64/],
    ["$6$F5KSjhEgtvR3eNoN$AAAA", /hash is 3 bytes, expected 64/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parsePasswordHash(text), message, text);
  }
});

Deno.test("timingSafeEqual() compares lengths and every byte", () => {
  assert.equal(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])), false);
  assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])), false);
  assert.equal(timingSafeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});

Deno.test("decodeBase64() refuses unpadded or foreign characters", () => {
  assert.deepEqual(decodeBase64("AQID"), new Uint8Array([1, 2, 3]));
  assert.throws(() => decodeBase64("AQI"), /Cannot decode base64/);
  assert.throws(() => decodeBase64("AQ-D"), /Cannot decode base64/);
});

Deno.test("parsePasswordFile() reads Mosquitto's format and drops entries it cannot use", () => {
  const text = [
    "# made by mosquitto_passwd",
    "",
    `alice:${ALICE}`,
    `  bob : ${BOB}  \r`,
    "carol:plain-text",
    "no colon here",
    "erin:",
    `:${BOB}`,
    `alice:${BOB}`,
  ].join("\n");
  const { users, warnings } = parsePasswordFile(text, "passwd");
  assert.deepEqual([...users.keys()], ["alice", "bob"]);
  // The later alice line wins, with a warning.
  assert.equal(users.get("alice")?.kind, "sha512");
  assert.deepEqual(warnings, [
    'Password file passwd:5: invalid password hash: expected $6$SALT$HASH or $7$ITERATIONS$SALT$HASH for user "carol", ignoring it (plain-text passwords must be hashed with "midge passwd -U")',
    'Password file passwd:7: no password hash for user "erin", ignoring it',
    // strtok skips empty fields: ":hash" is a user named after the hash, with no password.
    `Password file passwd:8: no password hash for user "${BOB}", ignoring it`,
    'Password file passwd:9: user "alice" appears again; this later entry is used',
  ]);
  for (const warning of warnings) assert.ok(!warning.includes(ALICE), "never print a hash");
});
