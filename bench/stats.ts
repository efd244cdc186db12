/**
 * Small statistics for the harness: median and range over rounds, percentiles over samples.
 *
 * @module
 */

/** Median, minimum and maximum of some rounds. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** How many values (rounds) went in. */
  n: number;
}

/**
 * Median (mean of the middle two for an even count), min and max of `values`; NaN for none.
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * summarize([3, 1, 2]); // { median: 2, min: 1, max: 3, n: 3 }
 * ```
 */
export function summarize(values: readonly number[]): Summary {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const middle = n >> 1;
  const median = n % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[n - 1]!, n };
}

/**
 * The `p`-th percentile (0..100) of ascending `sorted` by the nearest-rank method; NaN when empty.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * percentile(Float64Array.of(1, 2, 3, 4), 50); // 2
 * ```
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1]!;
}
