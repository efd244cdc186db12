/**
 * What the harness reports: the metrics of each scenario with the issue's targets, medians over
 * rounds, ratios against Mosquitto (and Aedes), and a Markdown table.
 *
 * @module
 */

import type { BrokerName } from "./brokers.ts";
import type { ScenarioName } from "./scenarios.ts";
import { summarize, type Summary } from "./stats.ts";

/** A goal for midge on one metric. */
export interface Target {
  /** `mosquitto`/`aedes`: a ratio midge ÷ that broker; `absolute`: midge's own value. */
  against: "mosquitto" | "aedes" | "absolute";
  /** `>=` for throughput, `<=` for costs. */
  op: ">=" | "<=";
  value: number;
}

/** One reported metric. */
export interface MetricInfo {
  scenario: ScenarioName;
  /** Key in a scenario result's `metrics`. */
  key: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  targets: Target[];
}

/** Every metric, in report order, with the targets of the benchmark issue. */
export const METRICS: readonly MetricInfo[] = [
  {
    scenario: "fanin-qos0",
    key: "msgPerSec",
    label: "fan-in QoS 0 (8→1)",
    unit: "msg/s",
    better: "higher",
    targets: [
      { against: "mosquitto", op: ">=", value: 1.5 },
      { against: "aedes", op: ">=", value: 2 },
    ],
  },
  {
    scenario: "fanin-qos1",
    key: "msgPerSec",
    label: "fan-in QoS 1 (8→1, window 64)",
    unit: "PUBACK/s",
    better: "higher",
    targets: [
      { against: "mosquitto", op: ">=", value: 1.2 },
      { against: "aedes", op: ">=", value: 2 },
    ],
  },
  {
    scenario: "fanout",
    key: "deliveriesPerSec",
    label: "fan-out (1→100)",
    unit: "deliveries/s",
    better: "higher",
    targets: [
      { against: "mosquitto", op: ">=", value: 3 },
      { against: "aedes", op: ">=", value: 2 },
    ],
  },
  {
    scenario: "latency",
    key: "p50Us",
    label: "latency p50 @10k msg/s",
    unit: "µs",
    better: "lower",
    targets: [],
  },
  {
    scenario: "latency",
    key: "p99Us",
    label: "latency p99 @10k msg/s",
    unit: "µs",
    better: "lower",
    targets: [{ against: "mosquitto", op: "<=", value: 2 }],
  },
  {
    scenario: "latency",
    key: "maxUs",
    label: "latency max @10k msg/s",
    unit: "µs",
    better: "lower",
    targets: [],
  },
  {
    scenario: "connections",
    key: "cpuUsPerConn",
    label: "CPU per idle connection",
    unit: "µs",
    better: "lower",
    targets: [{ against: "mosquitto", op: "<=", value: 3 }],
  },
  {
    scenario: "connections",
    key: "rssKiBPerConn",
    label: "RSS per idle connection",
    unit: "KiB",
    better: "lower",
    targets: [{ against: "absolute", op: "<=", value: 4 }],
  },
  {
    scenario: "footprint",
    key: "idleRssMB",
    label: "idle RSS after start-up",
    unit: "MB",
    better: "lower",
    targets: [{ against: "absolute", op: "<=", value: 40 }],
  },
  {
    scenario: "footprint",
    key: "startupMs",
    label: "start to first CONNACK",
    unit: "ms",
    better: "lower",
    targets: [],
  },
];

/** One scenario run against one broker in one round. */
export interface RunRecord {
  scenario: ScenarioName;
  broker: BrokerName;
  round: number;
  /** Position of the broker within the round (0 = first). */
  position: number;
  metrics: Record<string, number>;
  info: Record<string, number>;
  /** Set when the run failed; metrics are then empty. */
  error?: string;
}

/** Medians and ratios of one metric. */
export interface MetricSummary {
  metric: MetricInfo;
  /** Per broker that ran: median, min, max over rounds. */
  brokers: Partial<Record<BrokerName, Summary>>;
  /** midge ÷ Mosquitto of the medians, when both ran. */
  midgeVsMosquitto?: number;
  /** midge ÷ Aedes of the medians, when both ran. */
  midgeVsAedes?: number;
  /** Aedes ÷ Mosquitto of the medians, when both ran. */
  aedesVsMosquitto?: number;
  /** Each target with whether midge met it (undefined when it could not be judged). */
  targets: { target: Target; met?: boolean; text: string }[];
}

function ratio(a: Summary | undefined, b: Summary | undefined): number | undefined {
  if (a === undefined || b === undefined || !(b.median > 0) || !Number.isFinite(a.median)) {
    return undefined;
  }
  return a.median / b.median;
}

/** Text of a target, e.g. `≥ 1.5 × Mosquitto` or `≤ 4 KiB`. */
export function describeTarget(target: Target, unit: string): string {
  const op = target.op === ">=" ? "≥" : "≤";
  if (target.against === "absolute") return `${op} ${target.value} ${unit}`;
  const name = target.against === "mosquitto" ? "Mosquitto" : "Aedes";
  return `${op} ${target.value} × ${name}`;
}

/** Summarises every metric over the runs given. */
export function summarizeRuns(
  runs: readonly RunRecord[],
  brokers: readonly BrokerName[],
): MetricSummary[] {
  const out: MetricSummary[] = [];
  for (const metric of METRICS) {
    const byBroker: Partial<Record<BrokerName, Summary>> = {};
    for (const broker of brokers) {
      const values = runs
        .filter((r) => r.scenario === metric.scenario && r.broker === broker && !r.error)
        .map((r) => r.metrics[metric.key])
        .filter((v): v is number => v !== undefined);
      if (values.length > 0) byBroker[broker] = summarize(values);
    }
    if (Object.keys(byBroker).length === 0) continue;
    const midgeVsMosquitto = ratio(byBroker.midge, byBroker.mosquitto);
    const midgeVsAedes = ratio(byBroker.midge, byBroker.aedes);
    const targets = metric.targets.map((target) => {
      const value = target.against === "absolute"
        ? byBroker.midge?.median
        : target.against === "mosquitto"
        ? midgeVsMosquitto
        : midgeVsAedes;
      const met = value === undefined || !Number.isFinite(value)
        ? undefined
        : target.op === ">="
        ? value >= target.value
        : value <= target.value;
      return { target, met, text: describeTarget(target, metric.unit) };
    });
    out.push({
      metric,
      brokers: byBroker,
      midgeVsMosquitto,
      midgeVsAedes,
      aedesVsMosquitto: ratio(byBroker.aedes, byBroker.mosquitto),
      targets,
    });
  }
  return out;
}

/**
 * A number with three significant digits and k/M suffixes for large values.
 *
 * @example
 * ```ts
 * import { formatNumber } from "./report.ts";
 * formatNumber(437_123); // "437k"
 * formatNumber(0.7341); // "0.734"
 * ```
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${trim((value / 1e3).toPrecision(3))}k`;
  if (abs >= 100) return String(Math.round(value));
  return trim(value.toPrecision(3));
}

function trim(text: string): string {
  return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
}

/** A ratio as `1.52×` (`15.2×` from 10 up), `–` when unknown. */
export function formatRatio(value: number | undefined): string {
  return value === undefined ? "–" : `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

function formatSummary(summary: Summary | undefined): string {
  if (summary === undefined) return "–";
  if (summary.n === 1) return formatNumber(summary.median);
  return `${formatNumber(summary.median)} (${formatNumber(summary.min)}..${
    formatNumber(summary.max)
  })`;
}

const DISPLAY: Record<BrokerName, string> = {
  midge: "midge",
  mosquitto: "Mosquitto",
  aedes: "Aedes",
};

/** The Markdown table of medians (min..max), ratios and targets. */
export function renderTable(
  summaries: readonly MetricSummary[],
  brokers: readonly BrokerName[],
): string {
  const header = [
    "metric",
    "unit",
    ...brokers.map((b) => DISPLAY[b]),
    "midge ÷ Mosquitto",
    "midge ÷ Aedes",
    "Aedes ÷ Mosquitto",
    "midge target",
  ];
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i < 2 ? " --- " : " ---: ")).join("|")}|`,
  ];
  for (const s of summaries) {
    const targets = s.targets
      .map((t) => `${t.text} ${t.met === undefined ? "?" : t.met ? "✅" : "❌"}`)
      .join(", ");
    lines.push(
      `| ${
        [
          s.metric.label,
          `${s.metric.unit} (${s.metric.better} is better)`,
          ...brokers.map((b) => formatSummary(s.brokers[b])),
          formatRatio(s.midgeVsMosquitto),
          formatRatio(s.midgeVsAedes),
          formatRatio(s.aedesVsMosquitto),
          targets || "–",
        ].join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}

/**
 * The Markdown table of CPU use (median % of one core) per scenario: the broker, the generator,
 * and everything else on the machine (other processes disturbing the run).
 */
export function renderCpuTable(
  runs: readonly RunRecord[],
  brokers: readonly BrokerName[],
): string {
  const scenarios = [
    ...new Set(runs.filter((r) => "brokerCpuPercent" in r.info).map((r) => r.scenario)),
  ];
  if (scenarios.length === 0) return "";
  const lines = [
    `| scenario | ${
      brokers.map((b) => `${DISPLAY[b]}: broker / generator / other CPU %`).join(" | ")
    } |`,
    `| --- |${brokers.map(() => " ---: ").join("|")}|`,
  ];
  for (const scenario of scenarios) {
    const cells = brokers.map((broker) => {
      const of = runs.filter((r) => r.scenario === scenario && r.broker === broker && !r.error);
      if (of.length === 0) return "–";
      const cpu = summarize(of.map((r) => r.info.brokerCpuPercent ?? NaN)).median;
      const generator = summarize(of.map((r) => r.info.generatorCpuPercent ?? NaN)).median;
      const other = summarize(of.map((r) => r.info.otherCpuPercent ?? NaN)).median;
      return `${Math.round(cpu)} / ${Math.round(generator)} / ${Math.round(other)}`;
    });
    lines.push(`| ${scenario} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
