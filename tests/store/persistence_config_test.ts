/**
 * The persistence options of `mosquitto.conf` as midge reads them, and what `midge -c` does with
 * them: the file it opens, the restored-state line, a reload that changes them, a file another
 * broker holds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { brokerOptionsFromConfig, persistencePath } from "../../broker/config/apply.ts";
import { ConfigError } from "../../broker/config/config_error.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { freePort, runProcess } from "../_helpers/process.ts";
import { startMidge } from "./_broker_process.ts";

const FILE = "/etc/mosquitto/mosquitto.conf";
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function parse(text: string) {
  return parseConfig(`listener 1883\n${text}`, { file: FILE });
}

function parseError(text: string): string {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error.message;
  }
  return assert.fail("expected a ConfigError");
}

Deno.test("parseConfig() reads persistence off, in midge.db of the working directory, by default", () => {
  const config = parse("");
  assert.deepStrictEqual(config.persistence, {
    enabled: false,
    file: "midge.db",
    clientExpiration: 0,
  });
  assert.equal(persistencePath(config), "midge.db");
  assert.equal(brokerOptionsFromConfig(config).persistentClientExpiration, 0);
});

Deno.test("parseConfig() reads persistence, its location and file, and the old retained_persistence", () => {
  const config = parse(
    "persistence true\npersistence_location /var/lib/midge/\npersistence_file state.db\n",
  );
  assert.deepStrictEqual(config.persistence, {
    enabled: true,
    location: "/var/lib/midge/",
    file: "state.db",
    clientExpiration: 0,
  });
  assert.deepStrictEqual(config.warnings, []);
  assert.equal(persistencePath(config), "/var/lib/midge/state.db");
  // Mosquitto joins location and file with a "/", so a location without one works too.
  assert.equal(persistencePath(parse("persistence_location /data")), "/data/midge.db");
  assert.equal(parse("retained_persistence true").persistence.enabled, true);
  assert.equal(parse("persistence true\npersistence false").persistence.enabled, false);
});

Deno.test("parseConfig() reads persistent_client_expiration in Mosquitto's duration units", () => {
  const cases: [string, number][] = [
    ["2h", 2 * 3600],
    ["14d", 14 * 86400],
    ["1w", 7 * 86400],
    ["6m", 6 * 30 * 86400], // months, not minutes
    ["1y", 365 * 86400],
  ];
  for (const [text, seconds] of cases) {
    const config = parse(`persistent_client_expiration ${text}`);
    assert.equal(config.persistence.clientExpiration, seconds, text);
    assert.equal(brokerOptionsFromConfig(config).persistentClientExpiration, seconds, text);
  }
});

Deno.test("parseConfig() refuses a persistent_client_expiration that is not a duration", () => {
  for (const text of ["10", "10x", "0d", "d", "1.5d", "-1d", "2 d"]) {
    assert.equal(
      parseError(`persistent_client_expiration ${text}`),
      `Cannot parse option "persistent_client_expiration" at ${FILE}:2: expected a duration such ` +
        `as 2h, 14d, 1w, 6m (months) or 1y, got "${text}"`,
    );
  }
});

Deno.test("parseConfig() accepts autosave_interval and autosave_on_changes as not needed", () => {
  const config = parse("autosave_interval 1800\nautosave_on_changes true\n");
  const why =
    "is not needed: with persistence on, midge saves every change before acknowledging it";
  assert.deepStrictEqual(config.warnings, [
    `Option "autosave_interval" at ${FILE}:2 ${why}`,
    `Option "autosave_on_changes" at ${FILE}:3 ${why}`,
  ]);
  assert.match(parseError("autosave_interval often"), /expected an integer, got "often"/);
});

Deno.test("parseConfig() refuses persistence_file or persistence_location given twice", () => {
  assert.match(
    parseError("persistence_file a.db\npersistence_file b.db"),
    /^Cannot parse option "persistence_file" at .*:3: duplicate value, already set at .*:2/,
  );
  assert.match(
    parseError("persistence_location /a/\npersistence_location /b/"),
    /^Cannot parse option "persistence_location" at .*:3: duplicate value/,
  );
});

Deno.test("parseConfig() accepts Mosquitto 2.1's retain_expiry_interval as not supported yet", () => {
  assert.deepStrictEqual(parse("retain_expiry_interval 60").warnings, [
    `Option "retain_expiry_interval" at ${FILE}:2 is not supported yet`,
  ]);
});

Deno.test("midge -c with persistence warns that a reload changing it needs a restart", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-persist-" });
  try {
    await using broker = await startMidge({ dir });
    assert.ok(broker.log.some((line) => line.endsWith(`Using persistence file ${dir}/midge.db.`)));
    assert.ok(
      broker.log.some((line) => line.endsWith(" Restored 0 sessions, 0 retained, 0 queued.")),
    );
    const conf = `${dir}/midge.conf`;
    Deno.writeTextFileSync(
      conf,
      Deno.readTextFileSync(conf).replace("persistence true", "persistence false"),
    );
    const from = broker.log.length;
    broker.child.kill("SIGHUP");
    await broker.child.waitForLine(
      / Warning: Persistence settings changed; they take effect at the next restart\.$/,
      { stream: "stderr", from },
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("midge -c refuses a persistence file another midge holds, and leaves it alone", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-persist-" });
  try {
    await using _first = await startMidge({ dir });
    // Same persistence location, its own port.
    const conf = `${dir}/second.conf`;
    Deno.writeTextFileSync(
      conf,
      `listener ${freePort()} 127.0.0.1\nallow_anonymous true\npersistence true\n` +
        `persistence_location ${dir}/\n`,
    );
    const second = await runProcess(Deno.execPath(), ["run", "-A", MAIN, "-c", conf]);
    assert.equal(second.code, 1, second.stderr.join("\n"));
    assert.match(
      second.stderr.at(-1) ?? "",
      /Error: Cannot open persistence file .*midge\.db: it is in use by another process/,
    );
    assert.equal([...Deno.readDirSync(dir)].some((e) => e.name.includes(".bad")), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
