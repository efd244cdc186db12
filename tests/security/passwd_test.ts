/**
 * `midge passwd` against Debian's `mosquitto_passwd` 2.0.11 and `mosquitto`, both directions:
 * files `midge passwd` writes log users into Mosquitto, and files `mosquitto_passwd` writes log
 * users into midge.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type PasswdFlags, runPasswd } from "../../cli/passwd.ts";
import { parsePasswordFile } from "../../broker/auth/password_file.ts";
import { runProcess } from "../_helpers/process.ts";
import { startMosquitto } from "../cli/_mosquitto.ts";
import { bytes, configureBroker, TempDir } from "./_security.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Runs `midge passwd` in-process; returns the exit code and the error lines. */
async function passwd(args: string[], flags: PasswdFlags = {}, answers: string[] = []) {
  const errors: string[] = [];
  const code = await runPasswd(args, flags, {
    readPassword: () => Promise.resolve(answers.shift()),
    error: (line) => errors.push(line),
  });
  return { code, errors };
}

/** Whether Mosquitto with `password_file file` lets `user`/`password` publish. */
async function mosquittoAccepts(file: string, user: string, password: string): Promise<boolean> {
  await using mosquitto = await startMosquitto(["allow_anonymous false", `password_file ${file}`]);
  const result = await runProcess("mosquitto_pub", [
    "-p",
    String(mosquitto.port),
    "-u",
    user,
    "-P",
    password,
    "-t",
    "t",
    "-m",
    "m",
  ]);
  return result.code === 0;
}

/** CONNACK codes midge gives each `[user, password]` with `password_file file`. */
async function midgeCodes(file: string, logins: [string, string][]): Promise<number[]> {
  await using midge = await configureBroker(`listener 1883\npassword_file ${file}\n`);
  const codes: number[] = [];
  for (const [username, password] of logins) {
    const { client, connack } = await midge.connect({
      clientId: `c-${codes.length}`,
      username,
      password: bytes(password),
    });
    codes.push(connack.reasonCode);
    client.close();
  }
  return codes;
}

Deno.test("midge passwd -c/-b/-H/-I writes files that Mosquitto accepts", async () => {
  await using dir = await TempDir.create();
  const file = `${dir.path}/passwd`;
  assert.equal((await passwd([file, "alice", "secret"], { create: true, batch: true })).code, 0);
  assert.equal(
    (await passwd([file, "bob", "hunter2"], { batch: true, hash: "sha512" })).code,
    0,
  );
  assert.equal(
    (await passwd([file, "carol", "s3cret"], { batch: true, iterations: 1000 })).code,
    0,
  );
  const text = Deno.readTextFileSync(file);
  assert.match(text, /^alice:\$7\$101\$[^$]+\$[^$]+\nbob:\$6\$[^$]+\$[^$]+\ncarol:\$7\$1000\$/);
  await using mosquitto = await startMosquitto(["allow_anonymous false", `password_file ${file}`]);
  const login = (user: string, password: string) =>
    runProcess("mosquitto_pub", [
      "-p",
      String(mosquitto.port),
      "-u",
      user,
      "-P",
      password,
      "-t",
      "t",
      "-m",
      "m",
    ]);
  for (const [user, password] of [["alice", "secret"], ["bob", "hunter2"], ["carol", "s3cret"]]) {
    assert.equal((await login(user!, password!)).code, 0, `${user} refused by mosquitto`);
  }
  assert.equal((await login("alice", "hunter2")).code, 5);
});

Deno.test("files from mosquitto_passwd ($6$ and $7$) log users into midge", async () => {
  await using dir = await TempDir.create();
  const file = `${dir.path}/passwd`;
  for (
    const args of [
      ["-c", "-b", file, "alice", "secret"],
      ["-b", "-H", "sha512", file, "bob", "hunter2"],
      ["-b", "-I", "2000", file, "carol", "s3cret"],
    ]
  ) {
    const made = await runProcess("mosquitto_passwd", args);
    assert.equal(made.code, 0, made.stderr.join("\n"));
  }
  assert.deepEqual(
    await midgeCodes(file, [
      ["alice", "secret"],
      ["bob", "hunter2"],
      ["carol", "s3cret"],
      ["alice", "wrong"],
    ]),
    [0, 0, 0, 5],
  );
});

Deno.test("midge passwd updates, deletes and -U hashes a plain-text file", async () => {
  await using dir = await TempDir.create();
  const file = dir.write("passwd", "# house users\nalice:one\nbob:two\n");
  assert.equal((await passwd([file], { update: true })).code, 0);
  const hashed = Deno.readTextFileSync(file);
  assert.match(hashed, /^# house users\nalice:\$7\$101\$.*\nbob:\$7\$101\$.*\n$/);
  // A second -U keeps hashes as they are (mosquitto_passwd would hash the hash).
  assert.equal((await passwd([file], { update: true })).code, 0);
  assert.equal(Deno.readTextFileSync(file), hashed);
  // Change alice (asked twice, as mosquitto_passwd asks), delete bob, add carol.
  assert.equal((await passwd([file, "alice"], {}, ["uno", "uno"])).code, 0);
  assert.equal((await passwd([file, "bob"], { delete: true })).code, 0);
  assert.equal((await passwd([file, "carol", "tres"], { batch: true })).code, 0);
  const users = parsePasswordFile(Deno.readTextFileSync(file), file).users;
  assert.deepEqual([...users.keys()], ["alice", "carol"]);
  assert.equal(await mosquittoAccepts(file, "alice", "uno"), true);
  assert.deepEqual(await midgeCodes(file, [["alice", "uno"], ["carol", "tres"], ["bob", "two"]]), [
    0,
    0,
    5,
  ]);
});

Deno.test("midge passwd refuses what mosquitto_passwd refuses, with its messages", async () => {
  await using dir = await TempDir.create();
  const file = `${dir.path}/passwd`;
  const cases: [string[], PasswdFlags, string[], number, RegExp][] = [
    [
      [file, "a"],
      { create: true, delete: true },
      [],
      1,
      /^Error: -c and -D cannot be used together\.$/,
    ],
    [
      [file, "a:b", "x"],
      { create: true, batch: true },
      [],
      1,
      /must not contain the ':' character/,
    ],
    [
      [file, "a", "x"],
      { batch: true },
      [],
      1,
      /^Error: Unable to open password file .*passwd\. No such file or directory\.$/,
    ],
    [[file, "a"], { create: true }, ["x", "y"], 2, /^Error: Passwords do not match\.$/],
    [
      [file],
      { create: true },
      [],
      1,
      /^Error: -c argument given but password file or username missing\./,
    ],
    [[file, "nobody"], { delete: true }, [], 1, /^Error: Unable to open password file/],
  ];
  for (const [args, flags, answers, code, message] of cases) {
    const result = await passwd(args, flags, answers);
    assert.equal(result.code, code, `${JSON.stringify(flags)} ${args.join(" ")}`);
    assert.match(result.errors[0] ?? "", message);
  }
  dir.write("passwd", "alice:x\n");
  const missing = await passwd([file, "nobody"], { delete: true });
  assert.deepEqual(missing, {
    code: 1,
    errors: ["Warning: User nobody not found in password file."],
  });
});

Deno.test("midge passwd on the command line: flags as mosquitto_passwd, password from stdin", async () => {
  await using dir = await TempDir.create();
  const file = `${dir.path}/passwd`;
  const run = (args: string[], stdin?: string) =>
    runProcess(Deno.execPath(), ["run", "-A", "--quiet", MAIN, "passwd", ...args], {
      timeoutMs: 30_000,
      ...(stdin === undefined ? {} : { stdin }),
    });
  const created = await run(["-c", "-H", "sha512", file, "alice"], "secret\nsecret\n");
  assert.equal(created.code, 0, created.stderr.join("\n"));
  assert.deepEqual(created.stdout, ["Password: ", "Reenter password: "]);
  const batch = await run(["-b", "-I", "500", file, "bob", "hunter2"]);
  assert.equal(batch.code, 0, batch.stderr.join("\n"));
  assert.match(Deno.readTextFileSync(file), /^alice:\$6\$.*\nbob:\$7\$500\$/);
  const bad = await run(["-b", "-H", "md5", file, "x", "y"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr.join("\n"), /Unknown hash type 'md5'/);
  assert.equal(await mosquittoAccepts(file, "alice", "secret"), true);
});
