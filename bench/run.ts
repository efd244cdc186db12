/**
 * `deno task bench`: midge side by side with Mosquitto and Aedes on this machine.
 *
 * Every scenario runs against a freshly started broker process, brokers interleaved per round
 * (A B C, then C B A, …), for a fixed duration after a warm-up. Results: a Markdown table of
 * medians (min..max) and ratios vs Mosquitto on stdout and in `bench/results/latest.md`, raw
 * results in `bench/results/latest.json`, and the chart `bench/results/chart.svg`.
 *
 * Usage: `deno run -A bench/run.ts [--scenario fanin-qos0,latency] [--broker midge]
 * [--rounds 3] [--duration 3] [--warmup 1] [--connections 5000] [--out DIR]`.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { fileURLToPath } from "node:url";
import {
  BROKER_NAMES,
  type BrokerAvailability,
  type BrokerName,
  checkBroker,
  type RunningBroker,
  startBroker,
} from "./brokers.ts";
import { renderChart } from "./chart.ts";
import { renderCpuTable, renderTable, type RunRecord, summarizeRuns } from "./report.ts";
import {
  DEFAULT_SETTINGS,
  runFanIn,
  runFanOut,
  runIdle,
  runLatency,
  SCENARIO_NAMES,
  type ScenarioName,
  type ScenarioResult,
  type ScenarioSettings,
} from "./scenarios.ts";

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  scenarios: ScenarioName[];
  brokers: BrokerName[];
  rounds: number;
  settings: ScenarioSettings;
  /** Folder for latest.json, latest.md and chart.svg. */
  outDir: string;
  /** Extra `deno run` flags for the midge process, e.g. `--cpu-prof`. */
  midgeFlags: string[];
  /** Extra `mosquitto.conf` lines for midge only, e.g. `set_tcp_nodelay true`. */
  midgeConfig: string[];
}

/** The JSON document written to `latest.json`. */
export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: Record<string, string | number>;
  options: Omit<BenchOptions, "outDir">;
  brokers: BrokerAvailability[];
  runs: RunRecord[];
  summary: ReturnType<typeof summarizeRuns>;
}

const DEFAULT_OUT = fileURLToPath(new URL("./results/", import.meta.url));

function list<T extends string>(names: readonly T[], what: string) {
  return (value: string): T[] => {
    const picked = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    for (const name of picked) {
      if (!names.includes(name as T)) {
        throw new InvalidArgumentError(
          `Unknown ${what} "${name}"; expected one of ${names.join(", ")}.`,
        );
      }
    }
    return picked as T[];
  };
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError(`Expected a positive number, got "${value}".`);
  }
  return n;
}

/** Describes this machine for the report: cores, CPU model, memory, kernel, load. */
async function describeMachine(): Promise<Record<string, string | number>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? NaN);
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryGiB: Math.round(memKiB / 1024 / 1024),
    kernel: Deno.osRelease(),
    os: Deno.build.os,
    arch: Deno.build.arch,
    deno: Deno.version.deno,
    loadAverageAtStart: Deno.loadavg()[0]!,
  };
}

/** Runs one scenario (or the combined connections + footprint run) against one broker. */
async function runScenario(
  scenario: ScenarioName | "idle",
  broker: RunningBroker,
  settings: ScenarioSettings,
  idleWithConnections: boolean,
): Promise<ScenarioResult> {
  switch (scenario) {
    case "fanin-qos0":
      return await runFanIn(broker, settings, 0);
    case "fanin-qos1":
      return await runFanIn(broker, settings, 1);
    case "fanout":
      return await runFanOut(broker, settings);
    case "latency":
      return await runLatency(broker, settings);
    case "connections":
    case "footprint":
    case "idle":
      return await runIdle(broker, settings, idleWithConnections);
  }
}

/** Metric keys that belong to the footprint scenario when connections and footprint share a run. */
const FOOTPRINT_KEYS = ["idleRssMB", "startupMs"];

function describeResult(result: ScenarioResult): string {
  const parts = Object.entries(result.metrics).map(([k, v]) =>
    `${k}=${v.toFixed(v >= 100 ? 0 : 2)}`
  );
  const cpu = result.info.brokerCpuPercent;
  if (cpu !== undefined) {
    parts.push(
      `cpu broker/gen/other=${Math.round(cpu)}%/${
        Math.round(result.info.generatorCpuPercent ?? 0)
      }%/${Math.round(result.info.otherCpuPercent ?? 0)}%`,
    );
  }
  if (result.info.lost) parts.push(`lost=${result.info.lost}`);
  return parts.join(" ");
}

/** Runs the whole benchmark and writes the results; returns the report. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const machine = await describeMachine();
  if (Number(machine.loadAverageAtStart) > 0.5) {
    console.error(
      `Note: load average is ${machine.loadAverageAtStart}; other work on this machine skews results.`,
    );
  }

  const availability: BrokerAvailability[] = [];
  for (const name of options.brokers) {
    const check = await checkBroker(name);
    availability.push(check);
    if (!check.available) console.error(`Skipping ${name}: ${check.reason}`);
    else console.error(`${name} ${check.version}`);
  }
  const brokers = availability.filter((b) => b.available).map((b) => b.name);

  // connections and footprint both need a fresh broker: one run measures both.
  const cells: (ScenarioName | "idle")[] = [];
  for (const scenario of options.scenarios) {
    if (scenario === "connections" || scenario === "footprint") {
      if (!cells.includes("idle")) cells.push("idle");
    } else cells.push(scenario);
  }
  const withConnections = options.scenarios.includes("connections");
  const withFootprint = options.scenarios.includes("footprint");

  // One untimed start of each broker first, so module caches and page cache are warm for all.
  for (const name of brokers) {
    try {
      await (await startBroker(name, options)).stop();
    } catch (error) {
      console.error(error instanceof Error ? error.message : String(error));
    }
  }

  // Ctrl-C must not leave a broker process behind.
  let current: RunningBroker | undefined;
  const interrupt = () => {
    console.error("Interrupted; stopping the broker under test.");
    (current?.stop() ?? Promise.resolve()).finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", interrupt);

  const runs: RunRecord[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? brokers : [...brokers].reverse();
    for (const cell of cells) {
      for (const [position, name] of order.entries()) {
        const label = `round ${round + 1}/${options.rounds} ${cell} ${name}`;
        let broker: RunningBroker | undefined;
        let result: ScenarioResult | undefined;
        let error: string | undefined;
        try {
          broker = await startBroker(name, options);
          current = broker;
          result = await runScenario(cell, broker, options.settings, withConnections);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        } finally {
          current = undefined;
          await broker?.stop();
        }
        console.error(`${label}: ${result ? describeResult(result) : `FAILED ${error}`}`);
        const record = (scenario: ScenarioName, metrics: Record<string, number>) =>
          runs.push({
            scenario,
            broker: name,
            round,
            position,
            metrics,
            info: result?.info ?? {},
            ...(error === undefined ? {} : { error }),
          });
        if (cell !== "idle") {
          record(cell, result?.metrics ?? {});
          continue;
        }
        const metrics = result?.metrics ?? {};
        const pick = (footprint: boolean) =>
          Object.fromEntries(
            Object.entries(metrics).filter(([k]) => FOOTPRINT_KEYS.includes(k) === footprint),
          );
        if (withConnections) record("connections", pick(false));
        if (withFootprint) record("footprint", pick(true));
      }
    }
  }

  Deno.removeSignalListener("SIGINT", interrupt);

  const summary = summarizeRuns(runs, brokers);
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: Deno.loadavg()[0]! },
    options: {
      scenarios: options.scenarios,
      brokers: options.brokers,
      rounds: options.rounds,
      settings: options.settings,
      midgeFlags: options.midgeFlags,
      midgeConfig: options.midgeConfig,
    },
    brokers: availability,
    runs,
    summary,
  };

  const table = renderTable(summary, brokers);
  const cpuTable = renderCpuTable(runs, brokers);
  const versions = availability
    .filter((b) => b.available)
    .map((b) => `${b.name} ${b.version}`)
    .join(", ");
  const describe =
    `${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, Linux ${machine.kernel}`;
  const markdown = [
    `Run of ${startedAt}: ${options.rounds} rounds × ${options.settings.durationMs / 1000} s ` +
    `(after ${
      options.settings.warmupMs / 1000
    } s warm-up), brokers interleaved; ${describe}; ${versions}.`,
    "",
    table,
    "",
    cpuTable === ""
      ? ""
      : `CPU use during the measured window (median % of one core; "other" is the rest of the machine, other processes and kernel work):\n\n${cpuTable}\n`,
  ].join("\n");
  console.log(`\n${markdown}`);

  await Deno.mkdir(options.outDir, { recursive: true });
  const out = options.outDir.endsWith("/") ? options.outDir : `${options.outDir}/`;
  await Deno.writeTextFile(`${out}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  await Deno.writeTextFile(`${out}latest.md`, markdown);
  await Deno.writeTextFile(
    `${out}chart.svg`,
    renderChart(summary, brokers, {
      title: "midge vs Mosquitto vs Aedes",
      subtitle: `${describe}; ${options.rounds} rounds × ${options.settings.durationMs / 1000} s; ${
        startedAt.slice(0, 10)
      }`,
    }),
  );
  // Formatted as `deno fmt` would, so that `deno fmt --check` passes on committed results.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", `${out}latest.json`, `${out}latest.md`, `${out}chart.svg`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  const minutes = (Date.parse(report.finishedAt) - Date.parse(startedAt)) / 60_000;
  console.error(
    `Wrote ${out}latest.json, ${out}latest.md and ${out}chart.svg (${minutes.toFixed(1)} min)`,
  );
  return report;
}

/** The command line of `deno task bench`. */
export function createBenchProgram() {
  return new Command("bench")
    .description("Benchmark midge side by side with Mosquitto and Aedes.")
    .option(
      "-s, --scenario <names>",
      `comma-separated scenarios (${SCENARIO_NAMES.join(", ")})`,
      list(SCENARIO_NAMES, "scenario"),
    )
    .option(
      "-b, --broker <names>",
      `comma-separated brokers (${BROKER_NAMES.join(", ")})`,
      list(BROKER_NAMES, "broker"),
    )
    .option("-r, --rounds <n>", "rounds, brokers interleaved A B C, C B A, …", positive, 3)
    .option("-d, --duration <seconds>", "measured window per scenario and round", positive, 3)
    .option("-w, --warmup <seconds>", "warm-up before each window", positive, 1)
    .option("--connections <n>", "idle clients in the connections scenario", positive, 5000)
    .option("--rate <n>", "messages per second in the latency scenario", positive, 10_000)
    .option("-o, --out <dir>", "folder for latest.json, latest.md and chart.svg", DEFAULT_OUT)
    .option(
      "--midge-flag <flag>",
      "extra `deno run` flag for midge, repeatable (e.g. --midge-flag=--cpu-prof)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      "--midge-config <line>",
      'extra mosquitto.conf line for midge only, repeatable (e.g. "set_tcp_nodelay true")',
      (value: string, previous: string[] = []) => [...previous, value],
    );
}

if (import.meta.main) {
  const flags = createBenchProgram().parse(Deno.args, { from: "user" }).opts();
  await runBench({
    scenarios: flags.scenario ?? [...SCENARIO_NAMES],
    brokers: flags.broker ?? [...BROKER_NAMES],
    rounds: Math.round(flags.rounds),
    settings: {
      ...DEFAULT_SETTINGS,
      durationMs: flags.duration * 1000,
      warmupMs: flags.warmup * 1000,
      connections: Math.round(flags.connections),
      latencyRate: flags.rate,
    },
    outDir: flags.out ?? DEFAULT_OUT,
    midgeFlags: flags.midgeFlag ?? [],
    midgeConfig: flags.midgeConfig ?? [],
  });
}
