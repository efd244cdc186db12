/**
 * A real `midge` process with persistence on, for the crash tests: `deno run -A main.ts -c CONF`
 * on a free loopback port with its state in a given directory, killed with SIGKILL when a test
 * wants a crash.
 *
 * @module
 */

import { type ChildProcess, freePort, spawnProcess } from "../_helpers/process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@linkcode startMidge}. */
export interface MidgeProcessOptions {
  /** Directory of the persistence file (and of the config file written for the process). */
  dir: string;
  /** Extra mosquitto.conf lines. */
  extra?: string[];
  /** `persistence true` (the default here) or false. */
  persistence?: boolean;
}

/** A running broker process. */
export interface MidgeProcess extends AsyncDisposable {
  readonly child: ChildProcess;
  readonly port: number;
  /** stderr lines so far (midge logs there by default, as Mosquitto does). */
  readonly log: readonly string[];
  /** Sends SIGKILL and waits for the process to be gone. */
  kill(): Promise<void>;
}

/**
 * Starts midge with `persistence true` (unless told otherwise) in `dir` and resolves once it logs "running" (or rejects
 * with its output if it exits first).
 */
export async function startMidge(options: MidgeProcessOptions): Promise<MidgeProcess> {
  const port = freePort();
  const conf = `${options.dir}/midge.conf`;
  Deno.writeTextFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      `persistence ${options.persistence ?? true}`,
      `persistence_location ${options.dir}/`,
      // Queue everything for the offline subscriber: 20,000 messages is the point of the test.
      "max_queued_messages 0",
      "connection_messages false",
      ...(options.extra ?? []),
      "",
    ].join("\n"),
  );
  const child = spawnProcess(Deno.execPath(), ["run", "-A", MAIN, "-c", conf]);
  try {
    await child.waitForLine(/midge version .* running$/, { stream: "stderr", timeoutMs: 30_000 });
  } catch (error) {
    await child.close();
    throw error;
  }
  return {
    child,
    port,
    get log() {
      return child.stderr;
    },
    async kill() {
      child.kill("SIGKILL");
      await child.status();
    },
    [Symbol.asyncDispose]: () => child.close(),
  };
}
