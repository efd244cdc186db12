/**
 * Summarises a V8 `.cpuprofile` (from `deno run --cpu-prof`, e.g. midge started by
 * `deno task bench --midge-flag=--cpu-prof --midge-flag=--cpu-prof-dir=DIR`): the functions with
 * the most self time, and the project functions with the most total time (self + callees).
 *
 * Usage: `deno run -A bench/profile_summary.ts FILE.cpuprofile [--top 25]`.
 *
 * @module
 */

/** A node of the V8 CPU profile call tree. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The V8 `.cpuprofile` JSON document. */
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One line of the summary. */
export interface ProfileEntry {
  name: string;
  /** Share of all samples, 0..100. */
  percent: number;
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\/.*?\/(broker|codec|cli|bench)\//, "$1/").replace(
    /^.*\/node_modules\//,
    "npm:",
  );
  return `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
}

/** Self and total time per function, as a percentage of samples, largest first. */
export function summarizeProfile(
  profile: CpuProfile,
): { self: ProfileEntry[]; total: ProfileEntry[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const counts = new Map<number, number>();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length || 1;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, count] of counts) {
    const node = byId.get(id)!;
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + count);
    // Each sample counts once per distinct function on its stack (recursion is not doubled).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = frameName(byId.get(at)!);
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + count);
    }
  }
  const sorted = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, percent: (100 * n) / total }));
  return { self: sorted(self), total: sorted(inclusive) };
}

if (import.meta.main) {
  const file = Deno.args[0];
  if (file === undefined) {
    console.error("Usage: deno run -A bench/profile_summary.ts FILE.cpuprofile [--top N]");
    Deno.exit(2);
  }
  const topIndex = Deno.args.indexOf("--top");
  const top = topIndex >= 0 ? Number(Deno.args[topIndex + 1]) : 25;
  const profile = JSON.parse(await Deno.readTextFile(file)) as CpuProfile;
  const { self, total } = summarizeProfile(profile);
  console.log(`Self time (top ${top}):`);
  for (const e of self.slice(0, top)) {
    console.log(`${e.percent.toFixed(1).padStart(6)}%  ${e.name}`);
  }
  console.log(`\nTotal time, project functions (top ${top}):`);
  for (const e of total.filter((e) => /(broker|codec)\//.test(e.name)).slice(0, top)) {
    console.log(`${e.percent.toFixed(1).padStart(6)}%  ${e.name}`);
  }
}
