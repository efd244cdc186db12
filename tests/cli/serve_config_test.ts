/**
 * `midge -c FILE` as a process: listeners from a `mosquitto.conf`, reloads on SIGHUP and with
 * `--watch`, broken files, logging options, `$SYS`, security and connection limits, `pid_file`.
 * Clients are Debian's `mosquitto_pub`/`mosquitto_sub` and a WebSocket client parsed by
 * `npm:mqtt-packet`, so the broker is checked by peers we did not write.
 *
 * Several scenarios share one broker process to keep the file fast; each waits for a log line or
 * a client's answer, never for a fixed time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, waitUntil } from "../_helpers/process.ts";
import {
  accepts,
  makeTempDir,
  mosquittoPub,
  mosquittoSub,
  runServe,
  spawnServe,
  stripTimestamp,
  waitForLog,
  writeConfig,
  WsMqttClient,
} from "./_serve.ts";

const RUNNING = /: midge version \S+ running$/;
const RELOAD_FAILED = "Error: Reload failed, keeping the running configuration.";

/** `count` distinct free loopback ports: all are bound at once, then released. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** The broker's stderr lines from index `from` on, without timestamps. */
function messagesSince(broker: ChildProcess, from: number): string[] {
  return broker.stderr.slice(from).map(stripTimestamp);
}

/**
 * Like {@linkcode messagesSince} without lines about clients coming and going, which a client of
 * an earlier step may log after the mark.
 */
function configMessagesSince(broker: ChildProcess, from: number): string[] {
  return messagesSince(broker, from).filter((line) => !/^(Client|New client) /.test(line));
}

/** Sends SIGHUP and waits for the reload to finish with `expected` (a log line). */
async function reload(broker: ChildProcess, expected: string): Promise<number> {
  const mark = broker.stderr.length;
  broker.kill("SIGHUP");
  await waitForLog(broker, expected, mark);
  return mark;
}

/** Stops the broker with SIGTERM and checks that it exits 0. */
async function stop(broker: ChildProcess): Promise<void> {
  broker.kill("SIGTERM");
  const status = await broker.status();
  assert.equal(status.code, 0, broker.describeOutput());
}

Deno.test("midge -c serves mqtt and websockets listeners; SIGHUP adds and removes listeners while kept clients stay connected", async () => {
  await using dir = await makeTempDir();
  const conf = `${dir.path}/mosquitto.conf`;
  const pidFile = `${dir.path}/midge.pid`;
  const [mqttPort, wsPort, addedPort] = freePorts(3) as [number, number, number];
  await writeConfig(conf, [
    "# two listeners: plain MQTT and MQTT over WebSockets",
    `listener ${mqttPort} 127.0.0.1`,
    `listener ${wsPort} 127.0.0.1`,
    "protocol websockets",
    "allow_anonymous true",
    `pid_file ${pidFile}`,
    "user nobody",
  ]);
  await using broker = spawnServe(["-c", conf]);
  await waitForLog(broker, RUNNING);
  const started = messagesSince(broker, 0);
  assert.ok(started.includes(`Config loaded from ${conf}.`), broker.describeOutput());
  assert.ok(started.includes(`Opening ipv4 listen socket on port ${mqttPort}.`));
  assert.ok(started.includes(`Opening ipv4 listen socket on port ${wsPort} (websockets).`));
  // Deno cannot setuid: `user` is accepted with a warning naming file and line.
  assert.ok(
    started.some((line) =>
      line.startsWith(`Warning: Option "user" at ${conf}:7 is ignored`) &&
      line.includes("cannot drop privileges")
    ),
    broker.describeOutput(),
  );
  assert.equal(await Deno.readTextFile(pidFile), `${broker.pid}\n`);

  // Clients on both listeners reach each other.
  await using sub = await mosquittoSub(mqttPort, ["-t", "reload/#", "-v"]);
  await using ws = await WsMqttClient.connect(wsPort, "ws-client");
  ws.publish("reload/ws", "over websockets");
  await sub.waitForLine("reload/ws over websockets");
  assert.equal((await mosquittoPub(mqttPort, ["-t", "reload/tcp", "-m", "before"])).code, 0);
  await sub.waitForLine("reload/tcp before");

  // Reload: the websockets listener goes, a new mqtt listener comes, the first one stays.
  await writeConfig(conf, [
    `listener ${mqttPort} 127.0.0.1`,
    `listener ${addedPort} 127.0.0.1`,
    "allow_anonymous true",
    `pid_file ${pidFile}`,
  ]);
  let mark = await reload(broker, `Config loaded from ${conf}.`);
  let messages = configMessagesSince(broker, mark);
  assert.equal(messages[0], "Reloading config.");
  assert.ok(
    messages.includes(`Opening ipv4 listen socket on port ${addedPort}.`),
    messages.join("\n"),
  );
  assert.ok(messages.includes(`Closing listener on port ${wsPort}.`), messages.join("\n"));
  assert.ok(
    !messages.some((line) => line.includes(`socket on port ${mqttPort}`)),
    "kept, not reopened",
  );
  // The removed listener's MQTT 5 client is told why: 0x98 Administrative action.
  const disconnect = await ws.next("disconnect");
  assert.equal(disconnect.cmd === "disconnect" && disconnect.reasonCode, 0x98);
  await ws.closed;
  assert.equal(await accepts(wsPort), false);

  // The subscriber on the kept listener never reconnected and still receives, also from a
  // client of the new listener.
  assert.equal((await mosquittoPub(addedPort, ["-t", "reload/tcp", "-m", "after"])).code, 0);
  await sub.waitForLine("reload/tcp after");

  // A broken file: the error names file, line and option; the running config stays.
  await writeConfig(conf, [
    `listener ${mqttPort} 127.0.0.1`,
    "allow_anonymous true",
    "max_inflight_messages ten",
  ]);
  mark = await reload(broker, RELOAD_FAILED);
  assert.deepEqual(configMessagesSince(broker, mark), [
    "Reloading config.",
    `Error: Cannot parse option "max_inflight_messages" at ${conf}:3: expected an integer, got "ten"`,
    RELOAD_FAILED,
  ]);
  assert.equal((await mosquittoPub(addedPort, ["-t", "reload/tcp", "-m", "kept"])).code, 0);
  await sub.waitForLine("reload/tcp kept");

  // A listener that cannot open fails the whole reload: nothing of the new config applies.
  {
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    await writeConfig(conf, [
      `listener ${mqttPort} 127.0.0.1`,
      `listener ${taken.addr.port} 127.0.0.1`,
      "allow_anonymous true",
    ]);
    mark = await reload(broker, RELOAD_FAILED);
    messages = configMessagesSince(broker, mark);
    assert.ok(
      messages.some((line) => /^Error: Address already in use/.test(line)),
      messages.join("\n"),
    );
    assert.ok(!messages.some((line) => line.startsWith("Closing listener")), messages.join("\n"));
  }
  assert.equal((await mosquittoPub(addedPort, ["-t", "reload/tcp", "-m", "still"])).code, 0);
  await sub.waitForLine("reload/tcp still");
  const connects = sub.stdout.filter((line) => line.endsWith("sending CONNECT"));
  assert.equal(connects.length, 1, sub.describeOutput());

  await stop(broker);
  await assert.rejects(Deno.stat(pidFile), Deno.errors.NotFound, "pid_file removed on exit");
});

Deno.test("midge --watch runs the default config until a candidate appears, then follows its changes", async () => {
  await using dir = await makeTempDir();
  // The seed's container: the secret arrives in /var/run/secrets/ some time after start.
  const secrets = `${dir.path}/secrets`;
  await Deno.mkdir(secrets);
  const conf = `${secrets}/mosquitto.conf`;
  const [defaultPort, firstPort, secondPort] = freePorts(3) as [number, number, number];
  await using broker = spawnServe([
    "-c",
    conf,
    "--watch",
    "--watch-interval",
    "0.1",
    "-p",
    String(defaultPort),
  ]);
  await waitForLog(broker, RUNNING);
  assert.ok(messagesSince(broker, 0).includes("Using default config."), broker.describeOutput());
  assert.equal((await mosquittoPub(defaultPort, ["-t", "watch", "-m", "default"])).code, 0);

  // The file appears: its listener opens; the -p listener stays, as next to any file.
  let mark = broker.stderr.length;
  await writeConfig(conf, [`listener ${firstPort} 127.0.0.1`, "allow_anonymous true"]);
  await waitForLog(broker, `Config loaded from ${conf}.`, mark);
  const messages = configMessagesSince(broker, mark);
  const reloading = messages.indexOf("Reloading config.");
  assert.ok(reloading >= 0 && reloading < messages.indexOf(`Config loaded from ${conf}.`));
  assert.equal((await mosquittoPub(firstPort, ["-t", "watch", "-m", "first"])).code, 0);
  assert.equal(await accepts(defaultPort), true);

  // The file changes.
  mark = broker.stderr.length;
  await writeConfig(conf, [`listener ${secondPort} 127.0.0.1`, "allow_anonymous true"]);
  await waitForLog(broker, `Config loaded from ${conf}.`, mark);
  assert.equal((await mosquittoPub(secondPort, ["-t", "watch", "-m", "second"])).code, 0);
  assert.equal(await accepts(firstPort), false);

  // The file breaks: reported, and the last good config keeps running.
  mark = broker.stderr.length;
  await writeConfig(conf, [`listener ${firstPort} 127.0.0.1`, "allow_anonymous perhaps"]);
  await waitForLog(broker, RELOAD_FAILED, mark);
  assert.deepEqual(configMessagesSince(broker, mark).slice(-2), [
    `Error: Cannot parse option "allow_anonymous" at ${conf}:2: expected true or false, got "perhaps"`,
    RELOAD_FAILED,
  ]);
  assert.equal((await mosquittoPub(secondPort, ["-t", "watch", "-m", "kept"])).code, 0);
  assert.equal(await accepts(firstPort), false);

  await stop(broker);
});

Deno.test("midge exits 1 with one error line for a broken or missing config file", async () => {
  await using dir = await makeTempDir();
  const broken = `${dir.path}/broken.conf`;
  await writeConfig(broken, ["listener 1883", "max_inflight_messages ten"]);
  const missing = `${dir.path}/missing.conf`;
  const other = `${dir.path}/other.conf`;
  const [brokenRun, missingRun, candidatesRun] = await Promise.all([
    runServe(["-c", broken]),
    runServe(["-c", missing]),
    runServe(["-c", missing, "-c", other]),
  ]);
  const errors = (run: { stderr: string[] }) =>
    run.stderr.map(stripTimestamp).filter((line) => /error/i.test(line));
  assert.equal(brokenRun.code, 1);
  assert.deepEqual(errors(brokenRun), [
    `Error: Cannot parse option "max_inflight_messages" at ${broken}:2: expected an integer, got "ten"`,
  ]);
  assert.equal(missingRun.code, 1);
  assert.deepEqual(errors(missingRun), [`Error: Unable to open config file ${missing}.`]);
  assert.equal(candidatesRun.code, 1);
  assert.deepEqual(errors(candidatesRun), [
    `Error: Unable to open config file ${missing} or ${other}.`,
  ]);
  for (const run of [brokenRun, missingRun, candidatesRun]) {
    assert.ok(!run.stderr.some((line) => /^\s+at /.test(line)), "no stack trace");
  }
});

Deno.test("midge applies log_dest file and topic, log_timestamp_format, connection_messages and log_type, also on reload", async () => {
  await using dir = await makeTempDir();
  const conf = `${dir.path}/mosquitto.conf`;
  const logFile = `${dir.path}/midge.log`;
  const [port] = freePorts(1) as [number];
  const common = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    `log_dest file ${logFile}`,
    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
  ];
  await writeConfig(conf, [...common, "log_dest topic"]);
  await using broker = spawnServe(["-c", conf]);
  const readLog = () => {
    try {
      return Deno.readTextFileSync(logFile).split("\n").filter((line) => line);
    } catch {
      return [];
    }
  };
  const waitForFileLine = (text: string, from: number) =>
    waitUntil(
      () => readLog().slice(from).some((line) => line.endsWith(`: ${text}`)),
      `"${text}" in ${logFile}`,
    );
  await waitForFileLine("midge version 0.1.0 running", 0);
  // Only the file and the topic were named: stderr stays quiet.
  assert.deepEqual(broker.stderr, []);

  await using logSub = await mosquittoSub(port, ["-t", "$SYS/broker/log/#", "-v"]);
  assert.equal((await mosquittoPub(port, ["-i", "pub-1", "-t", "log", "-m", "x"])).code, 0);
  await logSub.waitForLine(
    /^\$SYS\/broker\/log\/N New client connected from 127\.0\.0\.1:\d+ as pub-1 \(p2, c1, k60\)\.$/,
  );
  let lines = readLog();
  assert.ok(lines.some((line) => / as pub-1 /.test(line)), lines.join("\n"));
  for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: \S/);

  // connection_messages false, applied by a reload.
  let mark = lines.length;
  await writeConfig(conf, [...common, "connection_messages false"]);
  broker.kill("SIGHUP");
  await waitForFileLine(`Config loaded from ${conf}.`, mark);
  // The broker logs "New client connected" before the CONNACK leaves, so once mosquitto_pub
  // has exited the line would be in the file.
  assert.equal((await mosquittoPub(port, ["-i", "pub-2", "-t", "log", "-m", "x"])).code, 0);
  lines = readLog();
  assert.ok(!lines.some((line) => / as pub-2 /.test(line)), lines.join("\n"));

  // log_type error: notices go, errors stay. A second, broken reload queued behind the first
  // shows when the first has applied: its error lines appear while its "Reloading config." does
  // not.
  mark = lines.length;
  await writeConfig(conf, [...common, "log_type error"]);
  broker.kill("SIGHUP");
  await waitForFileLine("Reloading config.", mark);
  await writeConfig(conf, [...common, "log_type loud"]);
  broker.kill("SIGHUP");
  await waitForFileLine(RELOAD_FAILED, mark);
  assert.equal((await mosquittoPub(port, ["-i", "pub-3", "-t", "log", "-m", "x"])).code, 0);
  lines = readLog().slice(mark).map((line) => line.replace(/^\S+: /, ""));
  assert.deepEqual(lines, [
    "Reloading config.",
    `Error: Cannot parse option "log_type" at ${conf}:5: expected error, warning, notice, information, subscribe, unsubscribe, websockets, debug, all or none, got "loud"`,
    RELOAD_FAILED,
  ]);

  await stop(broker);
});

Deno.test("midge -c applies per-listener allow_anonymous, max_connections, sys_interval and -p", async () => {
  await using dir = await makeTempDir();
  const conf = `${dir.path}/mosquitto.conf`;
  const [openPort, closedPort, limitedPort, cliPort] = freePorts(4) as [
    number,
    number,
    number,
    number,
  ];
  await writeConfig(conf, [
    "per_listener_settings true",
    "sys_interval 1",
    `listener ${openPort} 127.0.0.1`,
    "allow_anonymous true",
    `listener ${closedPort} 127.0.0.1`,
    `listener ${limitedPort} 127.0.0.1`,
    "allow_anonymous true",
    "max_connections 1",
  ]);
  // The first candidate does not exist, so the second is used; -p adds a loopback listener.
  await using broker = spawnServe([
    "-c",
    `${dir.path}/absent.conf`,
    "-c",
    conf,
    "-p",
    String(cliPort),
  ]);
  await waitForLog(broker, RUNNING);
  const started = messagesSince(broker, 0);
  assert.ok(started.includes(`Config loaded from ${conf}.`), broker.describeOutput());
  assert.ok(started.includes(`Opening ipv4 listen socket on port ${cliPort}.`));

  // allow_anonymous: true on one listener, the Mosquitto 2.0 default (false) on another.
  const refused = await mosquittoPub(closedPort, ["-i", "anon-refused", "-t", "anon", "-m", "x"]);
  assert.equal(refused.code, 5, refused.stderr.join("\n"));
  assert.equal(refused.stderr[0], "Connection error: Connection Refused: not authorised.");
  assert.equal((await mosquittoPub(openPort, ["-t", "anon", "-m", "x"])).code, 0);

  // max_connections 1: a second client is dropped at accept time.
  await using _holder = await mosquittoSub(limitedPort, ["-t", "limited"]);
  const second = await mosquittoPub(limitedPort, ["-t", "limited", "-m", "x"]);
  assert.notEqual(second.code, 0, second.stderr.join("\n"));
  await waitForLog(
    broker,
    /Client connection from 127\.0\.0\.1:\d+ denied: too many connections\.$/,
  );

  // $SYS: the watcher, the holder and two more clients are connected.
  await using watcher = await mosquittoSub(openPort, ["-t", "$SYS/broker/clients/connected"]);
  await using _idle1 = await mosquittoSub(openPort, ["-t", "idle"]);
  await using idle2 = await mosquittoSub(openPort, ["-t", "idle"]);
  await watcher.waitForLine("4");
  const from = watcher.stdout.length;
  await idle2.close();
  await watcher.waitForLine("3", { from });

  // A reload keeps the -p listener, which is not in the file.
  await reload(broker, `Config loaded from ${conf}.`);
  assert.equal(await accepts(cliPort), true);

  // Checked last, as nothing above depends on it: one line per refused client, as Mosquitto's
  // "Client <unknown> disconnected, not authorised.", so fail2ban-style counting stays right.
  const refusals = messagesSince(broker, 0).filter((line) => line.includes("anon-refused"));
  assert.equal(refusals.length, 1, refusals.join("\n"));
  assert.match(refusals[0]!, /disconnected, not authorised\.$/);

  await stop(broker);
});

Deno.test("midge ignores the -- that `deno task start -- -c FILE` passes on", async () => {
  await using dir = await makeTempDir();
  const missing = `${dir.path}/missing.conf`;
  const run = await runServe(["--", "-c", missing]);
  assert.equal(run.code, 1);
  assert.deepEqual(
    run.stderr.map(stripTimestamp).filter((line) => /error/i.test(line)),
    [`Error: Unable to open config file ${missing}.`],
  );
});
