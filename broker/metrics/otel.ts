/**
 * midge's metrics in OpenTelemetry: with Deno's built-in OpenTelemetry switched on
 * (`OTEL_DENO=true`, exporting OTLP to `OTEL_EXPORTER_OTLP_ENDPOINT`), every registry family
 * becomes an observable instrument of the meter `midge`, read from the same registry as `$SYS`
 * and `/metrics` when Deno exports.
 *
 * Instrument names are the Prometheus names, counters without their `_total` suffix (an OTLP to
 * Prometheus pipeline adds it back); histograms export their `_sum` and `_count`.
 *
 * @module
 */

import {
  type BatchObservableResult,
  type Meter,
  metrics,
  type Observable,
  type ObservableCounter,
  type ObservableGauge,
} from "@opentelemetry/api";
import { VERSION } from "../version.ts";
import type { MetricsRegistry, MetricsSnapshot } from "./registry.ts";

export { openTelemetryEnabled } from "./otel_enabled.ts";

/** A running export; `stop()` detaches it (the broker calls it on close). */
export interface OpenTelemetryExport {
  stop(): void;
}

/** One instrument and how to read its value from a snapshot. */
interface Binding {
  instrument: Observable;
  read(snapshot: MetricsSnapshot, result: BatchObservableResult): void;
}

/**
 * Exposes every family of `registry` as observable instruments of `meter` (by default the global
 * meter `midge`, which Deno's OpenTelemetry exports). Families registered later are picked up at
 * the next collection.
 */
export function exportToOpenTelemetry(
  registry: MetricsRegistry,
  meter: Meter = metrics.getMeter("midge", VERSION),
): OpenTelemetryExport {
  const bound = new Set<string>();
  const callbacks: { callback: (result: BatchObservableResult) => void; of: Observable[] }[] = [];

  const bindNew = () => {
    const bindings: Binding[] = [];
    for (const family of registry.families()) {
      if (bound.has(family.name)) continue;
      bound.add(family.name);
      const name = family.name;
      if (family.type === "histogram") {
        for (const part of ["sum", "count"] as const) {
          const instrument = meter.createObservableCounter(`${name}_${part}`, {
            description: `${family.help} (${part})`,
          });
          bindings.push({
            instrument,
            read(snapshot, result) {
              const entry = snapshot.families.find((f) => f.family.name === name);
              if (!entry || !("histograms" in entry)) return;
              for (const series of entry.histograms) {
                result.observe(instrument, series[part], { ...series.labels });
              }
            },
          });
        }
        continue;
      }
      const options = { description: family.help };
      const instrument: ObservableCounter | ObservableGauge = family.type === "counter"
        ? meter.createObservableCounter(name.replace(/_total$/, ""), options)
        : meter.createObservableGauge(name, options);
      bindings.push({
        instrument,
        read(snapshot, result) {
          for (const sample of snapshot.samples(name)) {
            result.observe(instrument, sample.value, { ...sample.labels });
          }
        },
      });
    }
    if (bindings.length === 0) return;
    const callback = (result: BatchObservableResult) => {
      const snapshot = registry.collect();
      for (const binding of bindings) binding.read(snapshot, result);
      // A family added since (e.g. by a bridge) gets its own instruments for the next export.
      for (const family of registry.families()) {
        if (!bound.has(family.name)) {
          queueMicrotask(bindNew);
          break;
        }
      }
    };
    const of = bindings.map((binding) => binding.instrument);
    meter.addBatchObservableCallback(callback, of);
    callbacks.push({ callback, of });
  };

  bindNew();
  return {
    stop() {
      for (const { callback, of } of callbacks.splice(0)) {
        meter.removeBatchObservableCallback(callback, of);
      }
    },
  };
}
