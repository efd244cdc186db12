/**
 * `midge -c` re-reads password and ACL files on SIGHUP and, with `--watch`, when they change; a
 * broken file keeps the rules in force.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { freePort } from "../_helpers/process.ts";
import { connectPacket, RawClient } from "../_helpers/raw_mqtt.ts";
import { spawnServe, waitForLog } from "../cli/_serve.ts";
import { PASSWORD_FILE, TempDir } from "./_security.ts";

/** CONNACK return code for a 3.1.1 CONNECT with these credentials. */
async function login(port: number, username: string, password: string): Promise<number> {
  await using client = await RawClient.open(port, 4);
  await client.send(connectPacket("", 4, { username, password: Buffer.from(password) }));
  return (await client.readPacket() as { returnCode?: number }).returnCode ?? -1;
}

/** Replaces a file at once (rename), so that a watch check never reads half of it. */
function replace(path: string, text: string): void {
  Deno.writeTextFileSync(`${path}.tmp`, text);
  Deno.renameSync(`${path}.tmp`, path);
}

Deno.test("midge --watch reloads a changed password file; SIGHUP with a broken one keeps the old", async () => {
  await using dir = await TempDir.create();
  const [alice, bob] = PASSWORD_FILE.split("\n");
  const passwd = dir.write("passwd", `${alice}\n`);
  const port = freePort();
  const conf = dir.write("midge.conf", `listener ${port} 127.0.0.1\npassword_file ${passwd}\n`);
  await using midge = spawnServe(["-c", conf, "--watch", "--watch-interval", "0.2"]);
  await waitForLog(midge, /midge version .* running/);
  assert.equal(await login(port, "alice", "secret"), 0);
  assert.equal(await login(port, "bob", "hunter2"), 5);

  replace(passwd, `${alice}\n${bob}\n`);
  let from = midge.stderr.length;
  await waitForLog(midge, /Config loaded from/, from);
  assert.equal(await login(port, "bob", "hunter2"), 0);

  // Gone now: the reload fails with the file named, and bob still gets in.
  Deno.removeSync(passwd);
  from = midge.stderr.length;
  midge.kill("SIGHUP");
  await waitForLog(midge, /Reload failed, keeping the running configuration/, from);
  assert.ok(
    midge.stderr.slice(from).some((line) => /Cannot read password file ".*passwd"/.test(line)),
    midge.describeOutput(),
  );
  assert.equal(await login(port, "bob", "hunter2"), 0);
});
