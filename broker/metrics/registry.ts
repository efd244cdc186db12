/**
 * A small metrics registry in the Prometheus data model: families of counters, gauges and
 * histograms, each sample named by its labels. It is the one source that `$SYS`, the Prometheus
 * endpoint and OpenTelemetry all read, so no two of them ever count the same thing twice.
 *
 * The hot path never touches the registry: the broker increments plain numeric fields and small
 * arrays (by QoS, by reason) on objects it owns, and each family here holds a `collect` function
 * that reads those fields when someone asks — once per `$SYS` interval or scrape, not once per
 * message. Only {@linkcode Histogram} keeps its own state, because observing a value has to
 * record it.
 *
 * @module
 */

/** The kinds of metric, as in the Prometheus text format's `# TYPE` line. */
export type MetricType = "counter" | "gauge" | "histogram";

/** Label names to values, e.g. `{ qos: "1", listener: "mqtt:1883" }`. */
export type Labels = Readonly<Record<string, string>>;

/** One value of a counter or gauge family. */
export interface Sample {
  readonly labels: Labels;
  readonly value: number;
}

/** One series of a histogram family: cumulative bucket counts, as Prometheus wants them. */
export interface HistogramSample {
  readonly labels: Labels;
  /** Upper bounds of the buckets, ascending, without `+Inf`. */
  readonly bounds: readonly number[];
  /** Observations ≤ each bound (cumulative), same length as `bounds`. */
  readonly cumulative: readonly number[];
  /** Sum of every observed value. */
  readonly sum: number;
  /** Number of observations (the `+Inf` bucket). */
  readonly count: number;
}

/** What a family's `collect` may return: samples, or one bare number for an unlabelled metric. */
export type Collected = number | Iterable<Sample>;

/** A family of metrics sharing a name, a type and a help text. */
export interface MetricFamily {
  /** Metric name, e.g. `midge_messages_received_total`. */
  readonly name: string;
  /** One line saying what is measured, for `# HELP`. */
  readonly help: string;
  readonly type: MetricType;
  /** False hides the family (e.g. store latency without a store). */
  enabled(): boolean;
}

/** A counter or gauge family read through a callback. */
export interface ValueFamily extends MetricFamily {
  readonly type: "counter" | "gauge";
  collect(): Collected;
}

/** A histogram family. */
export interface HistogramFamily extends MetricFamily {
  readonly type: "histogram";
  collect(): readonly HistogramSample[];
}

/** A family's samples at one moment. */
export type CollectedFamily =
  | { readonly family: ValueFamily; readonly samples: readonly Sample[] }
  | { readonly family: HistogramFamily; readonly histograms: readonly HistogramSample[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const NO_LABELS: Labels = Object.freeze({});

/**
 * Counts observations into fixed buckets. `observe()` is cheap enough for a commit path: a
 * short linear scan over a dozen bounds and two additions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Histogram } from "./registry.ts";
 * const latency = new Histogram([0.001, 0.01, 0.1]);
 * latency.observe(0.004);
 * latency.observe(0.2);
 * const [series] = latency.samples();
 * assert.deepEqual(series?.cumulative, [0, 1, 1]);
 * assert.equal(series?.count, 2);
 * ```
 */
export class Histogram {
  /** Upper bounds, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot counts values above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** Creates a histogram with the given ascending upper bounds. */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] as number) > (bounds[i - 1] as number))) {
        throw new RangeError(
          `Cannot create histogram: bounds must ascend, got ${bounds.join(", ")}`,
        );
      }
    }
    this.bounds = [...bounds];
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** Number of observations so far. */
  get count(): number {
    return this.#count;
  }

  /** Sum of the observations so far. */
  get sum(): number {
    return this.#sum;
  }

  /** The one unlabelled series of this histogram. */
  samples(labels: Labels = NO_LABELS): HistogramSample[] {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      running += this.#counts[i] as number;
      cumulative.push(running);
    }
    return [{ labels, bounds: this.bounds, cumulative, sum: this.#sum, count: this.#count }];
  }
}

/** Options shared by the family constructors of {@linkcode MetricsRegistry}. */
export interface FamilyOptions {
  /** Metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** `# HELP` text. */
  help: string;
  /** Hides the family while false; shown by default. */
  enabled?: () => boolean;
}

/**
 * The families of one broker, in the order they were registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsRegistry } from "./registry.ts";
 * const registry = new MetricsRegistry();
 * const sent = [3, 2, 0];
 * registry.counter({ name: "demo_sent_total", help: "Sent." }, () =>
 *   sent.map((value, qos) => ({ labels: { qos: String(qos) }, value })));
 * const snapshot = registry.collect();
 * assert.equal(snapshot.sum("demo_sent_total"), 5);
 * assert.equal(snapshot.value("demo_sent_total", { qos: "1" }), 2);
 * ```
 */
export class MetricsRegistry {
  readonly #families = new Map<string, ValueFamily | HistogramFamily>();
  readonly #beforeCollect: (() => void)[] = [];

  /** Registers a counter family; `collect` returns its current samples or its one value. */
  counter(options: FamilyOptions, collect: () => Collected): ValueFamily {
    return this.#add({ ...this.#base(options), type: "counter", collect });
  }

  /** Registers a gauge family; `collect` returns its current samples or its one value. */
  gauge(options: FamilyOptions, collect: () => Collected): ValueFamily {
    return this.#add({ ...this.#base(options), type: "gauge", collect });
  }

  /** Registers a histogram family reading `collect` (e.g. `() => histogram.samples()`). */
  histogram(options: FamilyOptions, collect: () => readonly HistogramSample[]): HistogramFamily {
    return this.#add({ ...this.#base(options), type: "histogram", collect });
  }

  /**
   * Runs `hook` once at the start of every {@linkcode collect}: where several families share
   * one costly pass (over all sessions, say), the hook makes it once.
   */
  beforeCollect(hook: () => void): void {
    this.#beforeCollect.push(hook);
  }

  /** The family called `name`, if registered. */
  get(name: string): ValueFamily | HistogramFamily | undefined {
    return this.#families.get(name);
  }

  /** Every registered family, enabled or not. */
  families(): IterableIterator<ValueFamily | HistogramFamily> {
    return this.#families.values();
  }

  /** Reads every enabled family now. */
  collect(): MetricsSnapshot {
    for (const hook of this.#beforeCollect) hook();
    const collected: CollectedFamily[] = [];
    for (const family of this.#families.values()) {
      if (!family.enabled()) continue;
      if (family.type === "histogram") {
        collected.push({ family, histograms: family.collect() });
      } else {
        const value = family.collect();
        collected.push({
          family,
          samples: typeof value === "number" ? [{ labels: NO_LABELS, value }] : [...value],
        });
      }
    }
    return new MetricsSnapshot(collected);
  }

  #base(options: FamilyOptions) {
    if (!NAME.test(options.name)) {
      throw new RangeError(`Cannot register metric "${options.name}": not a valid metric name`);
    }
    if (this.#families.has(options.name)) {
      throw new RangeError(`Cannot register metric "${options.name}": already registered`);
    }
    return { name: options.name, help: options.help, enabled: options.enabled ?? (() => true) };
  }

  #add<F extends ValueFamily | HistogramFamily>(family: F): F {
    this.#families.set(family.name, family);
    return family;
  }
}

/** Every family's samples at one moment: what `$SYS`, `/metrics` and OpenTelemetry read. */
export class MetricsSnapshot {
  /** Families in registration order. */
  readonly families: readonly CollectedFamily[];
  readonly #byName: Map<string, CollectedFamily>;

  /** Wraps collected families; made by {@linkcode MetricsRegistry.collect}. */
  constructor(families: readonly CollectedFamily[]) {
    this.families = families;
    this.#byName = new Map(families.map((entry) => [entry.family.name, entry]));
  }

  /** Samples of a counter or gauge family (empty when absent or disabled). */
  samples(name: string): readonly Sample[] {
    const entry = this.#byName.get(name);
    return entry && "samples" in entry ? entry.samples : [];
  }

  /**
   * Sum of a family's samples whose labels pass `where` (all of them by default); 0 for an
   * absent family.
   */
  sum(name: string, where?: (labels: Labels) => boolean): number {
    let total = 0;
    for (const sample of this.samples(name)) {
      if (!where || where(sample.labels)) total += sample.value;
    }
    return total;
  }

  /**
   * The value of the sample with exactly these label values (extra labels on the sample are
   * summed over), or 0.
   */
  value(name: string, labels: Labels = NO_LABELS): number {
    const keys = Object.keys(labels);
    return this.sum(name, (have) => keys.every((key) => have[key] === labels[key]));
  }
}
