/**
 * `midge pub`, `midge sub` and `midge healthcheck` against the midge broker itself, in-process on
 * a free loopback port.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import { messageLines, runMidge, spawnMidge, subscribed } from "./_mosquitto.ts";

async function startMidge(): Promise<{ port: number } & AsyncDisposable> {
  const broker = new Broker();
  try {
    const [listener] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
    if (listener === undefined) throw new Error("Cannot start midge: listen() returned nothing");
    return { port: listener.port, [Symbol.asyncDispose]: () => broker.close() };
  } catch (error) {
    await broker.close();
    throw error;
  }
}

const HOST = ["-h", "127.0.0.1"];

Deno.test("midge pub/sub through the midge broker: QoS 0/1/2 lines, retained, -F", async () => {
  await using broker = await startMidge();
  const port = String(broker.port);
  await using sub = spawnMidge(
    ["sub", ...HOST, "-p", port, "-t", "m/#", "-q", "2", "-C", "4", "-F", "%q %r %t %p", "-d"],
  );
  await subscribed(sub);
  for (const qos of ["0", "1", "2"]) {
    const pub = await runMidge([
      "pub",
      ...HOST,
      "-p",
      port,
      "-t",
      `m/q${qos}`,
      "-m",
      "hi",
      "-q",
      qos,
    ]);
    assert.equal(pub.code, 0, pub.stderr.join("\n"));
  }
  const lines = await runMidge(
    ["pub", ...HOST, "-p", port, "-t", "m/l", "-q", "2", "-l"],
    "l1\nl2\n",
  );
  assert.equal(lines.code, 0, lines.stderr.join("\n"));
  assert.equal((await sub.status()).code, 0, sub.describeOutput());
  assert.deepEqual(messageLines(sub.stdout), [
    "0 0 m/q0 hi",
    "1 0 m/q1 hi",
    "2 0 m/q2 hi",
    "2 0 m/l l1",
  ]);

  const retain = await runMidge([
    "pub",
    ...HOST,
    "-p",
    port,
    "-t",
    "m/kept",
    "-m",
    "v",
    "-r",
    "-q",
    "1",
  ]);
  assert.equal(retain.code, 0, retain.stderr.join("\n"));
  const late = await runMidge([
    "sub",
    ...HOST,
    "-p",
    port,
    "-t",
    "m/kept",
    "-C",
    "1",
    "-v",
    "-W",
    "10",
  ]);
  assert.deepEqual([late.code, late.stdout], [0, ["m/kept v"]], late.stderr.join("\n"));
});

Deno.test("midge pub -V 5 -D properties through the midge broker reach midge sub -F", async () => {
  await using broker = await startMidge();
  const port = String(broker.port);
  await using sub = spawnMidge(
    [
      "sub",
      ...HOST,
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "p",
      "-q",
      "1",
      "-C",
      "1",
      "-F",
      "%P|%C|%R|%D|%p",
      "-d",
    ],
  );
  await subscribed(sub);
  const pub = await runMidge([
    "pub",
    ...HOST,
    "-p",
    port,
    "-t",
    "p",
    "-m",
    "body",
    "-q",
    "1",
    "-D",
    "publish",
    "user-property",
    "a",
    "b",
    "-D",
    "publish",
    "content-type",
    "text/plain",
    "-D",
    "publish",
    "response-topic",
    "back",
    "-D",
    "publish",
    "correlation-data",
    "c1",
  ]);
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  assert.equal((await sub.status()).code, 0, sub.describeOutput());
  assert.deepEqual(messageLines(sub.stdout), ["a:b|text/plain|back|c1|body"]);
});

Deno.test("midge healthcheck exits 0 against the midge broker", async () => {
  await using broker = await startMidge();
  const result = await runMidge(["healthcheck", ...HOST, "-p", String(broker.port)]);
  assert.equal(result.code, 0, result.stderr.join("\n"));
});

Deno.test("midge sub --remove-retained and -c sessions work against the midge broker", async () => {
  await using broker = await startMidge();
  const port = String(broker.port);
  for (const topic of ["k/a", "k/b"]) {
    const pub = await runMidge(["pub", ...HOST, "-p", port, "-t", topic, "-m", topic, "-r"]);
    assert.equal(pub.code, 0, pub.stderr.join("\n"));
  }
  await using remover = spawnMidge(
    ["sub", ...HOST, "-p", port, "-t", "k/#", "--remove-retained", "--retained-only", "-v", "-d"],
  );
  await remover.waitForLine("k/b k/b");
  await runMidge(["pub", ...HOST, "-p", port, "-t", "k/live", "-m", "x"]);
  assert.equal((await remover.status()).code, 0, remover.describeOutput());
  assert.deepEqual(messageLines(remover.stdout), ["k/a k/a", "k/b k/b"]);
  // Had a retained message survived, it would come before the marker.
  await using probe = spawnMidge(
    ["sub", ...HOST, "-p", port, "-t", "k/#", "-t", "marker", "-C", "1", "-v", "-d"],
  );
  await subscribed(probe);
  await runMidge(["pub", ...HOST, "-p", port, "-t", "marker", "-m", "m"]);
  assert.equal((await probe.status()).code, 0, probe.describeOutput());
  assert.deepEqual(messageLines(probe.stdout), ["marker m"]);

  const session = [...HOST, "-p", port, "-i", "midge-cli-s", "-c", "-q", "1", "-t", "away"];
  assert.equal((await runMidge(["sub", ...session, "-E"])).code, 0);
  await runMidge(["pub", ...HOST, "-p", port, "-t", "away", "-m", "queued", "-q", "1"]);
  const back = await runMidge(["sub", ...session, "-C", "1", "-W", "10"]);
  assert.deepEqual([back.code, back.stdout], [0, ["queued"]], back.stderr.join("\n"));
});
