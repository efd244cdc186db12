/**
 * `midge healthcheck` exit codes: 0 when a message makes the round trip through the broker, 1 with
 * a one-line reason when the broker is absent, refuses, or does not answer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { freePort } from "../_helpers/process.ts";
import { runMidge, startMosquitto } from "./_mosquitto.ts";

Deno.test("midge healthcheck exits 0 against a live Mosquitto", async () => {
  await using broker = await startMosquitto();
  const result = await runMidge(["healthcheck", "-h", "127.0.0.1", "-p", String(broker.port)]);
  assert.equal(result.code, 0, result.stderr.join("\n"));
  assert.match(result.stdout[0]!, /^healthy: message round trip via 127\.0\.0\.1:\d+ in \d+ ms$/);
  assert.deepEqual(result.stderr, []);
  const v5 = await runMidge([
    "healthcheck",
    "-h",
    "127.0.0.1",
    "-p",
    String(broker.port),
    "-V",
    "5",
    "--quiet",
  ]);
  assert.deepEqual([v5.code, v5.stdout, v5.stderr], [0, [], []]);
});

Deno.test("midge healthcheck exits 1 with one line when nothing listens on the port", async () => {
  const port = freePort();
  const result = await runMidge(["healthcheck", "-h", "127.0.0.1", "-p", String(port)]);
  assert.equal(result.code, 1);
  assert.deepEqual(result.stderr, [`unhealthy: 127.0.0.1:${port}: Connection refused`]);
});

Deno.test("midge healthcheck exits 1 when the broker refuses the connection", async () => {
  await using broker = await startMosquitto(["allow_anonymous false"]);
  const result = await runMidge(["healthcheck", "-h", "127.0.0.1", "-p", String(broker.port)]);
  assert.equal(result.code, 1);
  assert.deepEqual(result.stderr, [
    `unhealthy: 127.0.0.1:${broker.port}: connection refused by the broker: Connection Refused: not authorised.`,
  ]);
});

Deno.test("midge healthcheck --timeout exits 1 when the server never answers CONNECT", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const result = await runMidge([
      "healthcheck",
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "--timeout",
      "0.3",
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.length, 1);
    assert.match(
      result.stderr[0]!,
      /^unhealthy: 127\.0\.0\.1:\d+: (No CONNACK within 300 ms|no message round trip within 0\.3 s)$/,
    );
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // Closed by the peer already.
      }
    }
  }
});
