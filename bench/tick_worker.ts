/**
 * Pacing for the latency scenario. Timers on the main thread fire every 2–4 ms at best, which
 * would send 10,000 msg/s in bursts of 20–40; this worker sleeps in `Atomics.wait` (sub-ms
 * precision) and bumps a shared tick counter every `intervalUs`, which the main thread awaits
 * with `Atomics.waitAsync`. Stamps are taken on the main thread, so pacing jitter never skews a
 * latency sample.
 *
 * Message: `{ ticks: SharedArrayBuffer, intervalUs: number }`; `ticks` is an Int32Array of two:
 * [0] the tick count, [1] set to 1 by the main thread to stop.
 *
 * @module
 */

/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent<{ ticks: SharedArrayBuffer; intervalUs: number }>) => {
  const ticks = new Int32Array(event.data.ticks);
  const intervalMs = event.data.intervalUs / 1000;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let next = performance.now();
  while (Atomics.load(ticks, 1) === 0) {
    next += intervalMs;
    const wait = next - performance.now();
    if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
    Atomics.add(ticks, 0, 1);
    Atomics.notify(ticks, 0);
  }
  self.close();
};
