/**
 * `midge` with no subcommand: runs the broker the way `mosquitto` does, with the same flags, log
 * lines and exit codes.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import { Broker } from "../broker/broker.ts";
import { getBrokerLogger, setupLogging } from "../broker/log.ts";
import { VERSION } from "../broker/version.ts";

/** Flags of `midge` (the broker) as commander parses them. */
export interface ServeFlags {
  /** `-c FILE`: not supported yet. */
  config?: string;
  /** `-p PORT`, repeatable; empty means the default port 1883. */
  port?: number[];
  /** `-v`: log every packet, like Mosquitto's "enable all logging types". */
  verbose?: boolean;
}

/** The port Mosquitto listens on without `-p`. */
export const DEFAULT_PORT = 1883;

/** Mosquitto accepts `-p` up to 10 times. */
const MAX_PORTS = 10;

/**
 * Commander parser for a repeatable `-p PORT`: checks the number and appends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectPort } from "./serve.ts";
 * assert.deepEqual(collectPort("1884", collectPort("1883")), [1883, 1884]);
 * ```
 */
export function collectPort(value: string, previous: number[] = []): number[] {
  const port = Number(value);
  // 0 lets the OS pick a port, which tests use; the log line then shows the real one.
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError(`Invalid port specified (${value}).`);
  }
  if (previous.length >= MAX_PORTS) {
    throw new InvalidArgumentError(`Too many ports specified, at most ${MAX_PORTS}.`);
  }
  return [...previous, port];
}

/** The message of an error as one line, without Deno's "(os error 98)" suffix. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\)/, "").split("\n")[0] ?? "";
}

/**
 * Runs the broker until SIGINT or SIGTERM; resolves with the exit code (0 after a signal, 1 when
 * start-up fails). Start-up errors are one `Error: …` log line, as Mosquitto prints them.
 */
export async function runServe(flags: ServeFlags): Promise<number> {
  await setupLogging({ verbose: flags.verbose });
  const log = getBrokerLogger();

  if (flags.config !== undefined) {
    log.error(`Error: Config files are not supported yet (-c ${flags.config}).`);
    return 1;
  }

  log.info(`midge version ${VERSION} starting`);
  // Mosquitto 2.0 without a config file: the -p listeners (or the default 1883 one) are bound to
  // the loopback interface only. mosquitto(8), option -p: "From version 2.0 onwards, the
  // listeners defined with -p are bound to the loopback interface only, and so can only be
  // connected to from the local machine." Broker.listen() without a hostname does exactly that.
  log.info("Using default config.");
  log.info(
    "Starting in local only mode. Connections will only be possible from clients running on this machine.",
  );
  log.info("Create a configuration file which defines a listener to allow remote access.");

  const broker = new Broker({ log, verbose: flags.verbose });
  const ports = flags.port?.length ? flags.port : [DEFAULT_PORT];
  try {
    for (const port of ports) await broker.listen({ port });
  } catch (error) {
    // e.g. "Error: Address already in use: 127.0.0.1:1883"; the listener names the address.
    log.error(`Error: ${describe(error)}`);
    await broker.close();
    return 1;
  }
  log.info(`midge version ${VERSION} running`);

  await waitForSignal();
  log.info(`midge version ${VERSION} terminating`);
  // A second signal while clients are being disconnected ends the process at once.
  const removeForce = onSignals(() => Deno.exit(1));
  try {
    await broker.close();
  } finally {
    removeForce();
  }
  return 0;
}

/** Signals that stop the broker; Windows has no SIGTERM listener. */
function stopSignals(): Deno.Signal[] {
  return Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
}

/** Calls `handler` on SIGINT or SIGTERM; returns the function that removes it. */
function onSignals(handler: () => void): () => void {
  const signals = stopSignals();
  for (const signal of signals) Deno.addSignalListener(signal, handler);
  return () => {
    for (const signal of signals) Deno.removeSignalListener(signal, handler);
  };
}

/** Resolves on the first SIGINT or SIGTERM. */
function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const remove = onSignals(() => {
      remove();
      resolve();
    });
  });
}
