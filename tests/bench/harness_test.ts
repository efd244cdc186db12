/**
 * Keeps the benchmark harness from rotting: its frame counting, statistics and rendering, and one
 * short run of one scenario against midge. No timing assertions: benchmarks are not tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodePacket } from "../../codec/mod.ts";
import { renderChart } from "../../bench/chart.ts";
import { renderTable, type RunRecord, summarizeRuns } from "../../bench/report.ts";
import { percentile, summarize } from "../../bench/stats.ts";
import { FrameScanner, PUBACK, PUBLISH } from "../../bench/wire.ts";

const ROOT = new URL("../../", import.meta.url);

/** A PUBLISH of 200 payload bytes (two-byte Remaining Length), a PUBACK and a PINGRESP. */
function sampleStream(): { bytes: Uint8Array; publishBody: Uint8Array } {
  const publish = encodePacket({
    type: "publish",
    topic: "bench/0",
    payload: new Uint8Array(200).fill(7),
    qos: 0,
    retain: false,
    dup: false,
  }, 4);
  const puback = encodePacket({ type: "puback", packetId: 9 }, 4);
  const pingresp = encodePacket({ type: "pingresp" }, 4);
  const bytes = new Uint8Array([...publish, ...puback, ...publish, ...pingresp]);
  // Fixed header of the PUBLISH: 1 type byte + 2 Remaining Length bytes.
  return { bytes, publishBody: publish.subarray(3) };
}

Deno.test("FrameScanner counts frames split at every byte boundary", () => {
  const { bytes } = sampleStream();
  for (let cut = 0; cut <= bytes.length; cut++) {
    const scanner = new FrameScanner();
    scanner.push(bytes, 0, cut);
    scanner.push(bytes, cut, bytes.length);
    assert.equal(scanner.counts[PUBLISH], 2, `cut at ${cut}`);
    assert.equal(scanner.counts[PUBACK], 1, `cut at ${cut}`);
    assert.equal(scanner.counts[13], 1, `cut at ${cut}`);
  }
});

Deno.test("FrameScanner hands whole bodies to its handler however the input is split", () => {
  const { bytes, publishBody } = sampleStream();
  for (const step of [1, 2, 3, 7, 64, bytes.length]) {
    const bodies: number[][] = [];
    const scanner = new FrameScanner((header, buf, start, end) => {
      if (header >> 4 === PUBLISH) bodies.push([...buf.subarray(start, end)]);
    });
    for (let at = 0; at < bytes.length; at += step) {
      scanner.push(bytes, at, Math.min(bytes.length, at + step));
    }
    assert.deepEqual(bodies, [[...publishBody], [...publishBody]], `step ${step}`);
  }
});

Deno.test("FrameScanner rejects a Remaining Length longer than four bytes", () => {
  const scanner = new FrameScanner();
  assert.throws(
    () => scanner.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 0, 6),
    /Remaining Length too long/,
  );
});

Deno.test("summarize() and percentile() give median, range and nearest-rank percentiles", () => {
  assert.deepEqual(summarize([5, 1, 3]), { median: 3, min: 1, max: 5, n: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.equal(summarize([]).n, 0);
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
});

Deno.test("summarizeRuns() computes ratios vs Mosquitto and judges midge's targets", () => {
  const run = (broker: RunRecord["broker"], round: number, value: number): RunRecord => ({
    scenario: "fanin-qos0",
    broker,
    round,
    position: 0,
    metrics: { msgPerSec: value },
    info: {},
  });
  const runs = [
    run("midge", 0, 300),
    run("midge", 1, 320),
    run("midge", 2, 310),
    run("mosquitto", 0, 200),
    run("mosquitto", 1, 100),
    run("mosquitto", 2, 210),
    run("aedes", 0, 100),
  ];
  const [summary] = summarizeRuns(runs, ["midge", "mosquitto", "aedes"]);
  assert.equal(summary?.brokers.midge?.median, 310);
  assert.equal(summary?.midgeVsMosquitto, 310 / 200);
  assert.equal(summary?.midgeVsAedes, 3.1);
  assert.deepEqual(summary?.targets.map((t) => t.met), [true, true]);
  const table = renderTable(summarizeRuns(runs, ["midge", "mosquitto", "aedes"]), [
    "midge",
    "mosquitto",
    "aedes",
  ]);
  assert.match(
    table,
    /\| fan-in QoS 0 \(8→1\) \| .* \| 310 \(300\.\.320\) \| 200 \(100\.\.210\) \| 100 \|/,
  );
  const svg = renderChart(summarizeRuns(runs, ["midge", "mosquitto"]), ["midge", "mosquitto"], {
    title: "t",
    subtitle: "s",
  });
  assert.match(svg, /^<svg /);
  assert.match(svg, /1\.55× Mosquitto/);
});

Deno.test("bench/run.ts runs one short scenario against midge and writes its results", async () => {
  const out = await Deno.makeTempDir({ prefix: "midge-bench-smoke-" });
  try {
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "bench/run.ts",
        "--scenario",
        "fanin-qos0",
        "--broker",
        "midge",
        "--rounds",
        "1",
        "--duration",
        "0.3",
        "--warmup",
        "0.2",
        "--out",
        out,
      ],
      cwd: ROOT,
      stdin: "null",
      // Bounds a hung run; not a performance assertion.
      signal: AbortSignal.timeout(60_000),
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, stderr);
    const report = JSON.parse(await Deno.readTextFile(`${out}/latest.json`));
    assert.equal(report.runs.length, 1);
    assert.equal(report.runs[0].scenario, "fanin-qos0");
    assert.equal(report.runs[0].error, undefined, report.runs[0].error);
    assert.ok(report.runs[0].metrics.msgPerSec > 0, "some messages were delivered");
    assert.ok(report.runs[0].info.brokerCpuPercent >= 0);
    assert.match(await Deno.readTextFile(`${out}/chart.svg`), /^<svg /);
    assert.match(await Deno.readTextFile(`${out}/latest.md`), /fan-in QoS 0/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
