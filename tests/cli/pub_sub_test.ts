/**
 * `midge pub` and `midge sub` against Debian's Mosquitto 2.0 broker, interoperating with
 * `mosquitto_pub` and `mosquitto_sub`: what one tool sends the other must print.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runProcess, spawnProcess } from "../_helpers/process.ts";
import { messageLines, runMidge, spawnMidge, startMosquitto, subscribed } from "./_mosquitto.ts";

const HOST = ["-h", "127.0.0.1"];

Deno.test("midge pub -l -q 1 sends one message per stdin line to mosquitto_sub", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  await using sub = spawnProcess(
    "mosquitto_sub",
    [...HOST, "-p", port, "-t", "lines/#", "-q", "1", "-C", "4", "-v", "-d"],
    { lineBuffered: true },
  );
  await subscribed(sub);
  const pub = await runMidge(
    ["pub", ...HOST, "-p", port, "-t", "lines/a", "-q", "1", "-l"],
    "first\n\nthird line\nno newline at the end",
  );
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  assert.equal((await sub.status()).code, 0);
  // An empty line is a zero-length message, which mosquitto_sub -v prints as "(null)".
  assert.deepEqual(messageLines(sub.stdout), [
    "lines/a first",
    "lines/a (null)",
    "lines/a third line",
    "lines/a no newline at the end",
  ]);
  assert.equal(sub.stdout.filter((l) => l.includes("sending PUBACK")).length, 4);
});

Deno.test("midge pub -q 2 -d completes PUBREC/PUBREL/PUBCOMP and mosquitto_sub gets QoS 2", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  await using sub = spawnProcess(
    "mosquitto_sub",
    [...HOST, "-p", port, "-t", "q2", "-q", "2", "-C", "1", "-F", "%q %r %t %p", "-d"],
    { lineBuffered: true },
  );
  await subscribed(sub);
  const pub = await runMidge([
    "pub",
    ...HOST,
    "-p",
    port,
    "-t",
    "q2",
    "-m",
    "exactly once",
    "-q",
    "2",
    "-d",
  ]);
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  assert.match(pub.stdout[0]!, /^Client midge-\w+ sending CONNECT$/);
  assert.deepEqual(pub.stdout.slice(2).map((line) => line.replace(/^Client \S+ /, "")), [
    "sending PUBLISH (d0, q2, r0, m1, 'q2', ... (12 bytes))",
    "received PUBREC (Mid: 1)",
    "sending PUBREL (m1)",
    "received PUBCOMP (Mid: 1, RC:0)",
    "sending DISCONNECT",
  ]);
  assert.equal((await sub.status()).code, 0);
  assert.deepEqual(messageLines(sub.stdout), ["2 0 q2 exactly once"]);
});

Deno.test("midge sub -C 3 -q 2 prints what mosquitto_pub sends at QoS 1 and 2, then exits 0", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  await using sub = spawnMidge(
    ["sub", ...HOST, "-p", port, "-t", "in/+", "-q", "2", "-C", "3", "-d"],
  );
  await subscribed(sub);
  for (const [topic, payload, qos] of [["in/a", "one", "1"], ["in/b", "two", "2"]]) {
    const pub = await runProcess("mosquitto_pub", [
      ...HOST,
      "-p",
      port,
      "-t",
      topic!,
      "-m",
      payload!,
      "-q",
      qos!,
    ]);
    assert.equal(pub.code, 0, pub.stderr.join("\n"));
  }
  const pub = await runProcess("mosquitto_pub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "in/c",
    "-l",
    "-q",
    "2",
  ], {
    stdin: "three\nfour\n",
  });
  assert.equal(pub.code, 0);
  assert.equal((await sub.status()).code, 0, sub.describeOutput());
  assert.deepEqual(messageLines(sub.stdout), ["one", "two", "three"]);
  const debug = sub.stdout.map((line) => line.replace(/^Client \S+ /, ""));
  assert.ok(debug.includes("sending PUBACK (m1, rc0)"), sub.describeOutput());
  assert.ok(debug.includes("sending PUBREC (m2, rc0)"), sub.describeOutput());
  assert.ok(debug.includes("sending PUBCOMP (m2)"), sub.describeOutput());
  assert.equal(debug.at(-1), "sending DISCONNECT");
});

Deno.test("midge sub -v, -N and -T print and filter like mosquitto_sub", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  const subArgs = [...HOST, "-p", port, "-t", "v/#", "-T", "v/skip/#", "-C", "2", "-v"];
  await using midge = spawnMidge(["sub", ...subArgs, "-d"]);
  await using mosquitto = spawnProcess("mosquitto_sub", [...subArgs, "-d"], { lineBuffered: true });
  await subscribed(midge);
  await subscribed(mosquitto);
  const pub = await runProcess("mosquitto_pub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "v/skip/x",
    "-m",
    "hidden",
  ]);
  assert.equal(pub.code, 0);
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "v/1", "-m", "with space"]);
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "v/2", "-n"]);
  assert.equal((await midge.status()).code, 0, midge.describeOutput());
  assert.equal((await mosquitto.status()).code, 0);
  assert.deepEqual(messageLines(midge.stdout), ["v/1 with space", "v/2 (null)"]);
  assert.deepEqual(messageLines(midge.stdout), messageLines(mosquitto.stdout));

  // -N: no newline between payloads.
  await using plain = spawnMidge(["sub", ...HOST, "-p", port, "-t", "n", "-C", "2", "-N", "-d"]);
  await subscribed(plain);
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "n", "-m", "ab"]);
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "n", "-m", "cd"]);
  assert.equal((await plain.status()).code, 0);
  // Each payload runs straight into the next debug line: no newline after it.
  const output = plain.stdout.join("\n");
  assert.match(output, /\nabClient \S+ received PUBLISH .*'n'.*\ncdClient \S+ sending DISCONNECT$/);
});

Deno.test("midge sub -R skips retained messages and --retained-only stops at the first live one", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  for (const n of [1, 2]) {
    const pub = await runProcess("mosquitto_pub", [
      ...HOST,
      "-p",
      port,
      "-t",
      `r/${n}`,
      "-m",
      `kept ${n}`,
      "-r",
      "-q",
      "1",
    ]);
    assert.equal(pub.code, 0);
  }
  await using fresh = spawnMidge([
    "sub",
    ...HOST,
    "-p",
    port,
    "-t",
    "r/#",
    "-R",
    "-C",
    "1",
    "-v",
    "-d",
  ]);
  await using retainedOnly = spawnMidge([
    "sub",
    ...HOST,
    "-p",
    port,
    "-t",
    "r/#",
    "--retained-only",
    "-F",
    "%r %t %p",
    "-d",
  ]);
  await subscribed(fresh);
  await retainedOnly.waitForLine("1 r/2 kept 2");
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "r/3", "-m", "live"]);
  assert.equal((await fresh.status()).code, 0, fresh.describeOutput());
  assert.equal((await retainedOnly.status()).code, 0, retainedOnly.describeOutput());
  assert.deepEqual(messageLines(fresh.stdout), ["r/3 live"]);
  assert.deepEqual(messageLines(retainedOnly.stdout), ["1 r/1 kept 1", "1 r/2 kept 2"]);
});

Deno.test("midge sub --remove-retained clears the retained messages it receives, except -T ones", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  for (const topic of ["rr/a", "rr/b", "rr/keep"]) {
    await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", topic, "-m", topic, "-r"]);
  }
  await using remover = spawnMidge(
    [
      "sub",
      ...HOST,
      "-p",
      port,
      "-t",
      "rr/#",
      "-T",
      "rr/keep",
      "--remove-retained",
      "--retained-only",
      "-v",
      "-d",
    ],
  );
  await remover.waitForLine("rr/b rr/b");
  // The first live message ends --retained-only; the clearing publishes complete first.
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "rr/live", "-m", "x"]);
  assert.equal((await remover.status()).code, 0, remover.describeOutput());
  assert.deepEqual(messageLines(remover.stdout), ["rr/a rr/a", "rr/b rr/b"]);
  assert.ok(
    remover.stdout.some((line) =>
      /sending PUBLISH \(d0, q1, r1, m\d+, 'rr\/a', \.\.\. \(0 bytes\)\)$/.test(line)
    ),
    remover.describeOutput(),
  );
  const left = await runProcess("mosquitto_sub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "rr/#",
    "--retained-only",
    "-C",
    "1",
    "-v",
  ]);
  assert.deepEqual(left.stdout, ["rr/keep rr/keep"]);
});

Deno.test("midge pub -r -n retains and clears a message; --repeat publishes N times", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  assert.equal(
    (await runMidge(["pub", ...HOST, "-p", port, "-t", "ret", "-m", "last known", "-r", "-q", "1"]))
      .code,
    0,
  );
  const got = await runProcess("mosquitto_sub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "ret",
    "-C",
    "1",
    "-F",
    "%r %p",
  ]);
  assert.deepEqual(got.stdout, ["1 last known"]);

  await using sub = spawnProcess("mosquitto_sub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "rep",
    "-C",
    "3",
    "-d",
  ], { lineBuffered: true });
  await subscribed(sub);
  const repeat = await runMidge([
    "pub",
    ...HOST,
    "-p",
    port,
    "-t",
    "rep",
    "-m",
    "again",
    "--repeat",
    "3",
    "--repeat-delay",
    "0.01",
  ]);
  assert.equal(repeat.code, 0);
  assert.equal((await sub.status()).code, 0);
  assert.deepEqual(messageLines(sub.stdout), ["again", "again", "again"]);

  assert.equal((await runMidge(["pub", ...HOST, "-p", port, "-t", "ret", "-n", "-r"])).code, 0);
  await using probe = spawnProcess("mosquitto_sub", [
    ...HOST,
    "-p",
    port,
    "-t",
    "ret",
    "-t",
    "marker",
    "-C",
    "1",
    "-v",
    "-d",
  ], { lineBuffered: true });
  await subscribed(probe);
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "marker", "-m", "m"]);
  assert.equal((await probe.status()).code, 0);
  // Had the retained message survived, it would have come before the marker.
  assert.deepEqual(messageLines(probe.stdout), ["marker m"]);
});

Deno.test("midge pub -f sends a file and -s sends stdin as one message", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  const file = await Deno.makeTempFile({ prefix: "midge_cli_pub_" });
  try {
    await Deno.writeFile(file, new Uint8Array([0x00, 0xff, 0x0a, 0x41]));
    await using sub = spawnProcess("mosquitto_sub", [
      ...HOST,
      "-p",
      port,
      "-t",
      "file",
      "-C",
      "2",
      "-F",
      "%l %x",
      "-d",
    ], { lineBuffered: true });
    await subscribed(sub);
    assert.equal((await runMidge(["pub", ...HOST, "-p", port, "-t", "file", "-f", file])).code, 0);
    assert.equal(
      (await runMidge(["pub", ...HOST, "-p", port, "-t", "file", "-s"], "two\nlines\n")).code,
      0,
    );
    assert.equal((await sub.status()).code, 0);
    assert.deepEqual(messageLines(sub.stdout), ["4 00ff0a41", "10 74776f0a6c696e65730a"]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("midge pub -V 5 -D properties reach mosquitto_sub -V 5 -F", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  await using sub = spawnProcess(
    "mosquitto_sub",
    [...HOST, "-p", port, "-V", "5", "-t", "p5", "-C", "1", "-F", "%P|%C|%F|%R|%D|%E|%p", "-d"],
    { lineBuffered: true },
  );
  await subscribed(sub);
  const pub = await runMidge([
    "pub",
    ...HOST,
    "-p",
    port,
    "-t",
    "p5",
    "-m",
    "props",
    "-q",
    "1",
    "-D",
    "publish",
    "user-property",
    "a",
    "b",
    "-D",
    "publish",
    "user-property",
    "a",
    "again",
    "-D",
    "publish",
    "content-type",
    "text/plain",
    "-D",
    "publish",
    "payload-format-indicator",
    "1",
    "-D",
    "publish",
    "response-topic",
    "reply/here",
    "-D",
    "publish",
    "correlation-data",
    "corr-1",
    "-D",
    "publish",
    "message-expiry-interval",
    "3600",
    "-D",
    "connect",
    "user-property",
    "who",
    "test",
    "-D",
    "disconnect",
    "session-expiry-interval",
    "0",
  ]);
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  assert.equal((await sub.status()).code, 0);
  const [line] = messageLines(sub.stdout);
  // The broker sends the remaining expiry, which may have ticked down by a second.
  assert.match(line!, /^a:b a:again\|text\/plain\|1\|reply\/here\|corr-1\|(3600|3599)\|props$/);
});

Deno.test("midge sub -V 5 -F prints mosquitto_pub -D properties and %j JSON", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  const format = "%t|%p|%q|%r|%l|%m|%x|%X|%P|%C|%F|%R|%D|%E|%%|%5l|%-4t|%03q|%05m";
  await using sub = spawnMidge([
    "sub",
    ...HOST,
    "-p",
    port,
    "-V",
    "5",
    "-t",
    "f/#",
    "-q",
    "1",
    "-C",
    "2",
    "-F",
    format,
    "-d",
  ]);
  await using json = spawnMidge([
    "sub",
    ...HOST,
    "-p",
    port,
    "-V",
    "mqttv5",
    "-t",
    "f/#",
    "-C",
    "1",
    "-F",
    "%j",
    "-d",
  ]);
  await subscribed(sub);
  await subscribed(json);
  const pub = await runProcess("mosquitto_pub", [
    ...HOST,
    "-p",
    port,
    "-V",
    "5",
    "-t",
    "f/1",
    "-m",
    "hé",
    "-q",
    "1",
    "-D",
    "publish",
    "user-property",
    "k",
    "v",
    "-D",
    "publish",
    "content-type",
    "text/plain",
    "-D",
    "publish",
    "payload-format-indicator",
    "1",
    "-D",
    "publish",
    "response-topic",
    "r/t",
    "-D",
    "publish",
    "correlation-data",
    "cd",
    "-D",
    "publish",
    "message-expiry-interval",
    "3600",
  ]);
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "f/2", "-m", "plain"]);
  assert.equal((await sub.status()).code, 0, sub.describeOutput());
  assert.equal((await json.status()).code, 0, json.describeOutput());
  const [first, second] = messageLines(sub.stdout);
  assert.match(
    first!,
    /^f\/1\|hé\|1\|0\|3\|1\|68c3a9\|68C3A9\|k:v\|text\/plain\|1\|r\/t\|cd\|(3600|3599)\|%\| {4}3\|f\/1 \|1\|00001$/,
  );
  assert.match(
    second!,
    /^f\/2\|plain\|0\|0\|5\|0\|706c61696e\|706C61696E\|\|\|\|\|\|\|%\| {4}5\|f\/2 \|0\|00000$/,
  );
  const parsed = JSON.parse(messageLines(json.stdout)[0]!);
  assert.equal(parsed.topic, "f/1");
  assert.equal(parsed.payload, "hé");
  assert.equal(parsed.payloadlen, 3);
  assert.deepEqual(parsed.properties["user-properties"], { k: "v" });
  assert.equal(parsed.properties["content-type"], "text/plain");
  assert.match(parsed.tst, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}$/);
});

Deno.test("midge sub -c -x keeps a v5 session: messages sent while away arrive on return", async () => {
  await using broker = await startMosquitto();
  const port = String(broker.port);
  const session = [
    ...HOST,
    "-p",
    port,
    "-V",
    "5",
    "-i",
    "midge-cli-session",
    "-c",
    "-x",
    "60",
    "-q",
    "1",
    "-t",
    "away",
  ];
  const first = await runMidge([
    "sub",
    ...session,
    "-E",
    "-D",
    "connect",
    "user-property",
    "a",
    "b",
  ]);
  assert.equal(first.code, 0, first.stderr.join("\n"));
  await runProcess("mosquitto_pub", [...HOST, "-p", port, "-t", "away", "-m", "queued", "-q", "1"]);
  const back = await runMidge(["sub", ...session, "-C", "1", "-W", "10"]);
  assert.equal(back.code, 0, back.stderr.join("\n"));
  assert.deepEqual(back.stdout, ["queued"]);
});

Deno.test("midge sub -W exits 27 with 'Timed out' like mosquitto_sub", async () => {
  await using broker = await startMosquitto();
  const result = await runMidge([
    "sub",
    ...HOST,
    "-p",
    String(broker.port),
    "-t",
    "quiet",
    "-W",
    "1",
  ]);
  assert.equal(result.code, 27);
  assert.deepEqual(result.stderr, ["Timed out"]);
});

Deno.test("midge pub and sub exit like mosquitto's tools when the broker refuses or is absent", async () => {
  await using closed = await startMosquitto();
  const port = String(closed.port);
  await closed.close();
  const absent = await runMidge(["pub", ...HOST, "-p", port, "-t", "a", "-m", "b"]);
  assert.deepEqual([absent.code, absent.stderr], [1, ["Error: Connection refused"]]);
  const absentSub = await runMidge(["sub", ...HOST, "-p", port, "-t", "a"]);
  assert.deepEqual([absentSub.code, absentSub.stderr], [1, ["Error: Connection refused"]]);

  await using strict = await startMosquitto(["allow_anonymous false"]);
  const strictPort = String(strict.port);
  const v3 = await runMidge(["pub", ...HOST, "-p", strictPort, "-t", "a", "-m", "b"]);
  assert.deepEqual([v3.code, v3.stderr], [5, [
    "Connection error: Connection Refused: not authorised.",
  ]]);
  const v5 = await runMidge(["sub", ...HOST, "-p", strictPort, "-t", "a", "-V", "5"]);
  assert.deepEqual([v5.code, v5.stderr], [135, ["Connection error: Not authorized"]]);
  const mosquitto = await runProcess("mosquitto_sub", [
    ...HOST,
    "-p",
    strictPort,
    "-t",
    "a",
    "-V",
    "5",
  ]);
  assert.deepEqual([mosquitto.code, mosquitto.stderr], [v5.code, v5.stderr]);
});

Deno.test("midge pub and sub reject bad command lines with mosquitto's messages and exit 1", async () => {
  const cases: [string[], string][] = [
    [["pub", "-t", "a"], "Error: Both topic and message must be supplied."],
    [["pub", "-t", "a", "-m", "x", "-n"], "Error: Only one type of message can be sent at once."],
    [
      ["pub", "-t", "a/#", "-m", "x"],
      "Error: Invalid publish topic 'a/#', does it contain '+' or '#'?",
    ],
    [["pub", "-t", "a", "-m", "x", "-q", "3"], "Error: Invalid QoS given: 3"],
    [["pub", "-t", "a", "-m", "x", "-V", "7"], "Error: Invalid protocol version argument given."],
    [
      ["pub", "-t", "a", "-m", "x", "-D", "publish", "foo", "1"],
      "Error: Invalid property name given in --property argument.",
    ],
    [
      ["pub", "-t", "a", "-m", "x", "-D", "connect", "content-type", "1"],
      "Error: content-type property not allowed for connect in --property argument.",
    ],
    [
      ["sub", "-t", "a/#/b"],
      "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?",
    ],
    [["sub"], "Error: You must specify a topic to subscribe to."],
    [
      ["sub", "-t", "a", "-c"],
      "Error: You must provide a client id if you are using the -c option.",
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runMidge(args);
    assert.equal(result.code, 1, `${args.join(" ")}: ${result.stderr.join("\n")}`);
    assert.equal(result.stderr[0], message, args.join(" "));
  }
});
