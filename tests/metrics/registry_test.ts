import assert from "node:assert/strict";
import { Histogram, MetricsRegistry } from "../../broker/metrics/registry.ts";
import { renderPrometheus } from "../../broker/metrics/prometheus.ts";

Deno.test("MetricsRegistry.collect() reads each family's current values", () => {
  const registry = new MetricsRegistry();
  const counts = [0, 0, 0];
  registry.counter(
    { name: "t_sent_total", help: "Sent." },
    () => counts.map((value, qos) => ({ labels: { qos: String(qos) }, value })),
  );
  counts[1]! += 5;
  counts[2]!++;
  const first = registry.collect();
  assert.equal(first.value("t_sent_total", { qos: "1" }), 5);
  assert.equal(first.sum("t_sent_total"), 6);
  counts[0]!++;
  // A snapshot is a moment: later increments show in the next one only.
  assert.equal(first.sum("t_sent_total"), 6);
  assert.equal(registry.collect().sum("t_sent_total"), 7);
});

Deno.test("MetricsRegistry refuses duplicate and invalid metric names", () => {
  const registry = new MetricsRegistry();
  registry.gauge({ name: "t_up", help: "Up." }, () => 1);
  assert.throws(
    () => registry.gauge({ name: "t_up", help: "Again." }, () => 1),
    /Cannot register metric "t_up": already registered/,
  );
  assert.throws(
    () => registry.gauge({ name: "t-up", help: "Dash." }, () => 1),
    /Cannot register metric "t-up": not a valid metric name/,
  );
});

Deno.test("MetricsRegistry runs beforeCollect hooks once per collection and hides disabled families", () => {
  const registry = new MetricsRegistry();
  let passes = 0;
  let enabled = false;
  registry.beforeCollect(() => passes++);
  registry.gauge({ name: "t_a", help: "A." }, () => passes);
  registry.gauge({ name: "t_b", help: "B.", enabled: () => enabled }, () => 2);
  const snapshot = registry.collect();
  assert.equal(passes, 1);
  assert.equal(snapshot.value("t_a"), 1);
  assert.deepEqual(snapshot.samples("t_b"), []);
  enabled = true;
  assert.equal(registry.collect().value("t_b"), 2);
});

Deno.test("Histogram counts observations into cumulative buckets", () => {
  const histogram = new Histogram([0.1, 1, 10]);
  for (const value of [0.05, 0.1, 0.5, 5, 50]) histogram.observe(value);
  const [series] = histogram.samples();
  // 0.1 falls in the 0.1 bucket: bounds are inclusive upper limits (le).
  assert.deepEqual(series?.cumulative, [2, 3, 4]);
  assert.equal(series?.count, 5);
  assert.equal(series?.sum, 55.65);
  assert.throws(() => new Histogram([1, 1]), /bounds must ascend/);
});

Deno.test("renderPrometheus() writes HELP, TYPE, escaped labels and histogram series", () => {
  const registry = new MetricsRegistry();
  registry.counter({ name: "t_events_total", help: "Events with a \\ and\nnewline." }, () => [
    { labels: { reason: 'say "hi"\\\n' }, value: 3 },
  ]);
  const histogram = new Histogram([0.5, 1]);
  histogram.observe(0.25);
  histogram.observe(2);
  registry.histogram({ name: "t_latency_seconds", help: "Latency." }, () => histogram.samples());
  registry.gauge({ name: "t_odd", help: "Odd values." }, () => [
    { labels: { v: "nan" }, value: NaN },
    { labels: { v: "inf" }, value: Infinity },
  ]);
  assert.equal(
    renderPrometheus(registry.collect()),
    [
      "# HELP t_events_total Events with a \\\\ and\\nnewline.",
      "# TYPE t_events_total counter",
      't_events_total{reason="say \\"hi\\"\\\\\\n"} 3',
      "# HELP t_latency_seconds Latency.",
      "# TYPE t_latency_seconds histogram",
      't_latency_seconds_bucket{le="0.5"} 1',
      't_latency_seconds_bucket{le="1"} 1',
      't_latency_seconds_bucket{le="+Inf"} 2',
      "t_latency_seconds_sum 2.25",
      "t_latency_seconds_count 2",
      "# HELP t_odd Odd values.",
      "# TYPE t_odd gauge",
      't_odd{v="nan"} NaN',
      't_odd{v="inf"} +Inf',
      "",
    ].join("\n"),
  );
});
