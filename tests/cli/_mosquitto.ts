/**
 * Helpers for the client tool tests: a real Mosquitto broker on a free loopback port, and
 * spawning `midge pub|sub|healthcheck` through `tests/cli/_run.ts`.
 *
 * @module
 */

import {
  type ChildProcess,
  delay,
  freePort,
  runProcess,
  type RunResult,
  type SpawnOptions,
  spawnProcess,
  withTimeout,
} from "../_helpers/process.ts";

const RUN = new URL("./_run.ts", import.meta.url).pathname;

/** A running Mosquitto; dispose it to kill it and remove its config. */
export interface Mosquitto extends AsyncDisposable {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts Debian's `mosquitto` with a temporary config: one listener on 127.0.0.1 and a free port,
 * anonymous clients allowed unless `extraConfig` says otherwise.
 */
export async function startMosquitto(extraConfig: string[] = []): Promise<Mosquitto> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "midge_cli_mosquitto_" });
  const configPath = `${dir}/mosquitto.conf`;
  await Deno.writeTextFile(
    configPath,
    [
      `listener ${port} 127.0.0.1`,
      // The tests run as root; Mosquitto would otherwise switch to the missing "mosquitto" user.
      "user root",
      "persistence false",
      "log_dest stderr",
      "log_type error",
      ...(extraConfig.some((line) => line.startsWith("allow_anonymous"))
        ? []
        : ["allow_anonymous true"]),
      ...extraConfig,
    ].join("\n") + "\n",
  );
  const child = spawnProcess("mosquitto", ["-c", configPath]);
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      await child.close();
      await Deno.remove(dir, { recursive: true });
    })();
  try {
    await withTimeout(waitForPort(port, child), 10_000, `mosquitto listening on ${port}`);
  } catch (error) {
    await close();
    throw new Error(`${(error as Error).message}\n${child.describeOutput()}`);
  }
  return { port, close, [Symbol.asyncDispose]: close };
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exited) throw new Error("mosquitto exited");
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await delay(20);
    }
  }
}

/** Arguments to run `midge <args>` through `tests/cli/_run.ts`. */
export function midgeArgs(args: readonly string[]): string[] {
  return ["run", "-A", "--quiet", RUN, ...args];
}

/** Spawns `midge <args>`; dispose the result to kill it. */
export function spawnMidge(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawnProcess(Deno.execPath(), midgeArgs(args), options);
}

/** Runs `midge <args>` to completion, feeding `stdin` if given. */
export function runMidge(args: readonly string[], stdin?: string): Promise<RunResult> {
  return runProcess(
    Deno.execPath(),
    midgeArgs(args),
    stdin === undefined ? {} : { stdin },
  );
}

/** Waits until a `midge sub -d` or `mosquitto_sub -d` process printed its SUBACK line. */
export function subscribed(sub: ChildProcess): Promise<string> {
  return sub.waitForLine(/^Subscribed \(mid: \d+\)/);
}

/** The lines of `-d` output that are messages, not protocol debug lines. */
export function messageLines(lines: readonly string[]): string[] {
  return lines.filter((line) => !line.startsWith("Client ") && !line.startsWith("Subscribed ("));
}
