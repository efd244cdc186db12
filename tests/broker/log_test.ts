import assert from "node:assert/strict";
import { getLogger, type LogRecord } from "@logtape/logtape";
import {
  formatMosquitto,
  formatPlain,
  getBrokerLogger,
  getWriterSink,
  setupLogging,
} from "../../broker/log.ts";

function record(overrides: Partial<LogRecord> = {}): LogRecord {
  return {
    category: ["midge"],
    level: "info",
    message: ["Opening ipv4 listen socket on port 1883."],
    rawMessage: "Opening ipv4 listen socket on port 1883.",
    timestamp: 1600219959999,
    properties: {},
    ...overrides,
  };
}

/** A writer that keeps every line, standing in for stderr. */
function captureWriter() {
  const decoder = new TextDecoder();
  let text = "";
  return {
    writeSync(bytes: Uint8Array): number {
      text += decoder.decode(bytes);
      return bytes.length;
    },
    get lines(): string[] {
      return text.split("\n").filter((line) => line !== "");
    },
  };
}

Deno.test("formatMosquitto() prints unix seconds, a colon and the message, like Mosquitto", () => {
  assert.equal(formatMosquitto(record()), "1600219959: Opening ipv4 listen socket on port 1883.\n");
});

Deno.test("formatMosquitto() shows neither level nor category", () => {
  const line = formatMosquitto(record({ level: "error", category: ["midge", "broker"] }));
  assert.equal(line, "1600219959: Opening ipv4 listen socket on port 1883.\n");
});

Deno.test("formatPlain() omits the timestamp", () => {
  assert.equal(formatPlain(record()), "Opening ipv4 listen socket on port 1883.\n");
});

Deno.test("getWriterSink() writes partial writes to completion", () => {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  // A writer that takes at most 5 bytes per call, as a pipe under pressure may.
  const sink = getWriterSink({
    writeSync(bytes) {
      chunks.push(decoder.decode(bytes.subarray(0, 5)));
      return Math.min(5, bytes.length);
    },
  });
  sink(record());
  assert.equal(chunks.join(""), "1600219959: Opening ipv4 listen socket on port 1883.\n");
});

Deno.test("getBrokerLogger() prints braces in client ids literally", async () => {
  const writer = captureWriter();
  await setupLogging({ writer });
  try {
    const log = getBrokerLogger("test");
    log.info("New client connected from 127.0.0.1:50312 as {sensor1} (p2, c1, k60).");
    log.info("Client {{id}} and {} and { disconnected.");
    log.info`tagged ${"a{b}"} done`;
    assert.equal(writer.lines.length, 3);
    assert.match(
      writer.lines[0]!,
      /^\d+: New client connected from 127\.0\.0\.1:50312 as \{sensor1\} \(p2, c1, k60\)\.$/,
    );
    assert.match(writer.lines[1]!, /^\d+: Client \{\{id\}\} and \{\} and \{ disconnected\.$/);
    assert.match(writer.lines[2]!, /^\d+: tagged a\{b\} done$/);
  } finally {
    await setupLogging({ destination: "none" });
  }
});

Deno.test("setupLogging() shows info and up unless verbose, debug too when verbose", async () => {
  const quiet = captureWriter();
  await setupLogging({ writer: quiet, timestamp: false });
  try {
    const log = getBrokerLogger();
    log.debug("Received PUBLISH from sensor1 (d0, q0, r0, m0, 'a/b', ... (1 bytes))");
    log.info("midge version 0.1.0 running");
    log.warn("Warning: Unable to open ipv6 listen socket on port 1883.");
    log.error("Error: Address already in use");
    assert.deepEqual(quiet.lines, [
      "midge version 0.1.0 running",
      "Warning: Unable to open ipv6 listen socket on port 1883.",
      "Error: Address already in use",
    ]);

    // Reconfiguring replaces the previous set-up rather than adding to it.
    const verbose = captureWriter();
    await setupLogging({ writer: verbose, timestamp: false, verbose: true });
    log.debug("Sending PUBACK to sensor1 (m1, rc0)");
    assert.deepEqual(verbose.lines, ["Sending PUBACK to sensor1 (m1, rc0)"]);
    assert.equal(quiet.lines.length, 3);
  } finally {
    await setupLogging({ destination: "none" });
  }
});

Deno.test("setupLogging() prints only the midge categories", async () => {
  const writer = captureWriter();
  await setupLogging({ writer });
  try {
    // Other libraries' categories do not reach the Mosquitto-shaped output.
    getLogger(["other"]).error("not ours");
    assert.deepEqual(writer.lines, []);
  } finally {
    await setupLogging({ destination: "none" });
  }
});
