/**
 * CPU time and memory of a process from Linux `/proc`, for the broker under test and for the load
 * generator itself, so a reader can see which side saturated.
 *
 * @module
 */

/** `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture midge targets. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User + system CPU seconds used so far by process `pid` (all its threads), from fields 14 and 15
 * of `/proc/PID/stat`; `"self"` is this process.
 */
export function readCpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name, field 3 (state) is index 0, so utime (14) is index 11 and stime (15) 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`Cannot parse /proc/${pid}/stat: no utime and stime`);
  }
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** Resident and peak resident memory of a process in KiB, from `/proc/PID/status`. */
export interface MemoryUsage {
  /** VmRSS. */
  rssKiB: number;
  /** VmHWM: the largest RSS so far. */
  peakRssKiB: number;
}

/** Reads VmRSS and VmHWM of process `pid`. */
export function readMemory(pid: number | "self"): MemoryUsage {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (match === null) throw new Error(`Cannot parse /proc/${pid}/status: no ${name}`);
    return Number(match[1]);
  };
  return { rssKiB: field("VmRSS"), peakRssKiB: field("VmHWM") };
}

/**
 * CPU seconds the whole machine has spent busy (all cores: everything but idle and iowait), from
 * the first line of `/proc/stat`.
 */
export function readMachineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0] ?? "";
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  if (ticks.length < 5 || ticks.some((t) => !Number.isFinite(t))) {
    throw new Error(`Cannot parse /proc/stat: "${line}"`);
  }
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const busy = ticks.slice(0, 8).reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return busy / CLOCK_TICKS_PER_SECOND;
}

/** A snapshot of wall time and CPU time of the broker, the generator and the whole machine. */
export interface Sample {
  /** `performance.now()` in ms. */
  timeMs: number;
  brokerCpuSeconds: number;
  generatorCpuSeconds: number;
  machineBusySeconds: number;
}

/** Takes a {@linkcode Sample} for broker process `pid`. */
export function sample(pid: number): Sample {
  return {
    timeMs: performance.now(),
    brokerCpuSeconds: readCpuSeconds(pid),
    generatorCpuSeconds: readCpuSeconds("self"),
    machineBusySeconds: readMachineBusySeconds(),
  };
}

/** CPU use between two samples in percent of one core: broker, generator, everything else. */
export function cpuPercent(
  from: Sample,
  to: Sample,
): { broker: number; generator: number; other: number } {
  const seconds = (to.timeMs - from.timeMs) / 1000;
  const percent = (a: number, b: number) => (100 * (b - a)) / seconds;
  const broker = percent(from.brokerCpuSeconds, to.brokerCpuSeconds);
  const generator = percent(from.generatorCpuSeconds, to.generatorCpuSeconds);
  const machine = percent(from.machineBusySeconds, to.machineBusySeconds);
  // Other processes (and the kernel's softirq work not charged to either side) competing for
  // the cores: high values mean the run was disturbed.
  return { broker, generator, other: Math.max(0, machine - broker - generator) };
}
