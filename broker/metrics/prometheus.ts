/**
 * The Prometheus text exposition format, version 0.0.4: what `GET /metrics` answers.
 *
 * @module
 */

import type { Labels, MetricsSnapshot } from "./registry.ts";

/** The `Content-Type` of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Renders every family of `snapshot` with `# HELP` and `# TYPE` lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsRegistry } from "./registry.ts";
 * import { renderPrometheus } from "./prometheus.ts";
 * const registry = new MetricsRegistry();
 * registry.gauge({ name: "demo_clients", help: "Clients." }, () => 3);
 * assert.equal(
 *   renderPrometheus(registry.collect()),
 *   "# HELP demo_clients Clients.\n# TYPE demo_clients gauge\ndemo_clients 3\n",
 * );
 * ```
 */
export function renderPrometheus(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  for (const entry of snapshot.families) {
    const { name, help, type } = entry.family;
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    if ("samples" in entry) {
      for (const sample of entry.samples) {
        lines.push(`${name}${labelText(sample.labels)} ${formatValue(sample.value)}`);
      }
      continue;
    }
    for (const series of entry.histograms) {
      series.bounds.forEach((bound, i) => {
        const labels = labelText(series.labels, `le="${formatValue(bound)}"`);
        lines.push(`${name}_bucket${labels} ${formatValue(series.cumulative[i] ?? 0)}`);
      });
      lines.push(`${name}_bucket${labelText(series.labels, 'le="+Inf"')} ${series.count}`);
      lines.push(`${name}_sum${labelText(series.labels)} ${formatValue(series.sum)}`);
      lines.push(`${name}_count${labelText(series.labels)} ${series.count}`);
    }
  }
  return lines.join("\n") + "\n";
}

/** `{a="1",b="x"}`, or nothing without labels; `extra` is appended as is (for `le`). */
function labelText(labels: Labels, extra?: string): string {
  const parts: string[] = [];
  for (const key in labels) parts.push(`${key}="${escapeLabel(labels[key] as string)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** Help text escapes backslash and line feed. */
function escapeHelp(value: string): string {
  return value.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** Go-style float text: `+Inf`, `-Inf`, `NaN`, else the shortest round-trip form. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
