/**
 * `midge` with no subcommand: runs the broker the way `mosquitto` does, with the same flags, log
 * lines and exit codes.
 *
 * @module
 */

import { InvalidArgumentError } from "@commander-js/extra-typings";
import type { Logger } from "@logtape/logtape";
import { Broker } from "../broker/broker.ts";
import { brokerOptionsFromConfig, persistencePath } from "../broker/config/apply.ts";
import { loadConfigFile, parseConfig } from "../broker/config/parse.ts";
import type { BrokerConfig, ListenerConfig } from "../broker/config/types.ts";
import type { RunningListener } from "../broker/listeners/listener.ts";
import { getBrokerLogger, setupLogging } from "../broker/log.ts";
import { SqliteStore } from "../broker/store/sqlite_store.ts";
import { VERSION } from "../broker/version.ts";

/** Flags of `midge` (the broker) as commander parses them. */
export interface ServeFlags {
  /**
   * `-c FILE`, repeatable: config file candidates in order of preference; the first that exists
   * is used (e.g. a pushed secret, then the image's default).
   */
  config?: string[];
  /** `-p PORT`, repeatable; empty means the default port 1883. */
  port?: number[];
  /** `-v`: log every packet, like Mosquitto's "enable all logging types". */
  verbose?: boolean;
  /** `--watch`: reload when the chosen config file changes or a preferred candidate appears. */
  watch?: boolean;
  /** `--watch-interval SECONDS` between checks (default 2). */
  watchInterval?: number;
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

/** Commander parser for `--watch-interval`: a positive number of seconds. */
export function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds <= 0) {
    throw new InvalidArgumentError(`Invalid number of seconds (${value}).`);
  }
  return seconds;
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
  const candidates = flags.config ?? [];
  let loaded: LoadedConfig;
  try {
    loaded = loadCandidates(candidates, flags, flags.watch === true);
  } catch (error) {
    log.info(`midge version ${VERSION} starting`);
    log.error(`Error: ${describe(error)}`);
    return 1;
  }

  const broker = new Broker({
    log,
    ...brokerOptionsFromConfig(loaded.config),
    ...verbose(flags),
  });
  const publishLog = (level: string, line: string) => broker.publishLog(level, line);
  await configureLogging(loaded, flags, publishLog);
  log.info(`midge version ${VERSION} starting`);
  announce(log, loaded);

  // Saved state is loaded before any listener opens, so no client sees a half-restored broker.
  let store: SqliteStore | undefined;
  if (loaded.config.persistence.enabled) {
    try {
      store = restoreState(log, broker, loaded.config);
    } catch (error) {
      // Only a file locked by another broker or a directory that cannot be used ends up here; a
      // damaged file has been moved aside and the broker starts empty.
      log.error(`Error: ${describe(error)}`);
      await broker.close();
      return 1;
    }
  }

  // The loopback listeners of `-p`, as opened: every reload keeps them, since no file names them.
  const portListeners: ListenerConfig[] = [];
  try {
    // `-p` next to `-c` adds loopback listeners, as mosquitto(8) describes for 2.0; without a
    // file they are the local-only listeners. listen() binds 127.0.0.1 and ::1 on one port,
    // even for `-p 0`.
    await broker.applyConfig(
      loaded.file !== undefined ? loaded.config : { ...loaded.config, listeners: [] },
    );
    const ports = flags.port?.length ? flags.port : loaded.file === undefined ? [DEFAULT_PORT] : [];
    for (const port of ports) {
      const sockets = await broker.listen({ port });
      if (flags.port?.length) portListeners.push(...sockets.map((s) => portListener(port, s)));
    }
  } catch (error) {
    // e.g. "Error: Address already in use: 127.0.0.1:1883"; the listener names the address.
    log.error(`Error: ${describe(error)}`);
    await broker.close();
    store?.close();
    return 1;
  }
  const pidFile = loaded.config.pidFile;
  if (pidFile !== undefined) writePidFile(log, pidFile);
  // Listen for stop signals before saying "running", so a signal sent on that line is not missed.
  const stopped = waitForSignal();

  // Reloads run one at a time; a signal during one queues exactly one more.
  let reloading: Promise<void> = Promise.resolve();
  const reload = (reason: "signal" | "watch") => {
    reloading = reloading.then(async () => {
      if (reason === "signal") log.info("Reloading config.");
      let next: LoadedConfig;
      try {
        next = loadCandidates(candidates, flags, true);
      } catch (error) {
        // A broken file keeps the running configuration.
        log.error(`Error: ${describe(error)}`);
        log.error("Error: Reload failed, keeping the running configuration.");
        return;
      }
      if (reason === "watch" && next.signature === loaded.signature) return;
      if (reason === "watch") log.info("Reloading config.");
      try {
        await broker.applyConfig(withPortListeners(next, portListeners));
      } catch (error) {
        log.error(`Error: ${describe(error)}`);
        log.error("Error: Reload failed, keeping the running configuration.");
        loaded = { ...loaded, signature: next.signature };
        return;
      }
      if (flags.verbose) broker.options.verbose = true;
      if (persistenceChanged(loaded.config, next.config)) {
        log.warn("Warning: Persistence settings changed; they take effect at the next restart.");
      }
      loaded = next;
      await configureLogging(loaded, flags, publishLog);
      announce(log, loaded);
    });
  };
  const onHangup = () => reload("signal");
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", onHangup);
  // Only now, with every signal handled, is the broker "running": a SIGHUP or SIGTERM sent on
  // seeing this line is never missed.
  log.info(`midge version ${VERSION} running`);
  let watchTimer: ReturnType<typeof setInterval> | undefined;
  if (flags.watch && candidates.length > 0) {
    let lastSeen = loaded.signature;
    watchTimer = setInterval(() => {
      // Cheap: a few small files read every couple of seconds, and a reload only on change (a
      // broken file is reported once, not at every check).
      const signature = signatureOf(candidates, loaded);
      if (signature === lastSeen) return;
      lastSeen = signature;
      reload("watch");
    }, (flags.watchInterval ?? 2) * 1000);
  }

  await stopped;
  if (watchTimer !== undefined) clearInterval(watchTimer);
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", onHangup);
  log.info(`midge version ${VERSION} terminating`);
  // A second signal while clients are being disconnected ends the process at once.
  const removeForce = onSignals(() => Deno.exit(1));
  try {
    await reloading;
    await broker.close();
    store?.close();
  } finally {
    removeForce();
  }
  if (pidFile !== undefined) {
    try {
      Deno.removeSync(pidFile);
    } catch {
      // Already gone.
    }
  }
  return 0;
}

/**
 * Opens the persistence file `config` names (a damaged one is moved aside, loudly) and loads it
 * into `broker`, logging `Restored 12 sessions, 340 retained, 5,000 queued.`.
 */
function restoreState(log: Logger, broker: Broker, config: BrokerConfig): SqliteStore {
  const path = persistencePath(config);
  const store = SqliteStore.open(path, { log });
  log.info(`Using persistence file ${path}.`);
  broker.store = store;
  const restored = broker.restore();
  const count = (n: number) => n.toLocaleString("en-US");
  log.info(
    `Restored ${count(restored.sessions)} sessions, ${count(restored.retained)} retained, ${
      count(restored.queued)
    } queued.`,
  );
  return store;
}

/** Whether a reload changes where or whether state is saved (applied only at a restart). */
function persistenceChanged(before: BrokerConfig, after: BrokerConfig): boolean {
  const a = before.persistence;
  const b = after.persistence;
  return a.enabled !== b.enabled ||
    (a.enabled && persistencePath(before) !== persistencePath(after));
}

/** A configuration with where it came from. */
interface LoadedConfig {
  config: BrokerConfig;
  /** The file used, or undefined for the embedded default. */
  file: string | undefined;
  /** Contents of every file read plus which candidates exist, to notice changes. */
  signature: string;
}

/**
 * The first existing candidate, parsed; the embedded default when there is none and
 * `allowDefault` (Mosquitto itself refuses a missing `-c` file). `-p` ports replace 1883 in the
 * embedded default.
 */
function loadCandidates(
  candidates: readonly string[],
  flags: ServeFlags,
  allowDefault: boolean,
): LoadedConfig {
  const file = candidates.find(exists);
  if (file === undefined) {
    if (candidates.length > 0 && !allowDefault) {
      throw new Error(`Unable to open config file ${candidates.join(" or ")}.`);
    }
    const config = defaultConfig(flags.port);
    return { config, file: undefined, signature: signatureOf(candidates, undefined) };
  }
  const config = loadConfigFile(file);
  const loaded = { config, file, signature: "" };
  loaded.signature = signatureOf(candidates, loaded);
  return loaded;
}

/** Mosquitto 2.0 without a config file: local-only listeners on 1883 or the `-p` ports. */
function defaultConfig(ports: readonly number[] | undefined): BrokerConfig {
  const config = parseConfig("", { file: "<default>" });
  if (ports && ports.length > 0) {
    const template = config.listeners[0];
    if (template) {
      config.listeners = ports.flatMap((port) =>
        ["127.0.0.1", "::1"].map((bindAddress) => ({ ...template, port, bindAddress }))
      );
    }
  }
  return config;
}

/**
 * The listener a `-p` socket was opened as by `Broker.listen()` (IPv4 with the port asked for,
 * IPv6 with the port IPv4 got), so that a reload finds it unchanged and keeps its clients.
 */
function portListener(requested: number, socket: RunningListener): ListenerConfig {
  return {
    port: socket.family === "ipv4" ? requested : socket.port,
    bindAddress: socket.hostname,
    protocol: "mqtt",
    maxConnections: -1,
    maxTopicAlias: 10,
    unsupportedOptions: [],
    definedAt: "-p",
  };
}

/**
 * What a reload applies: the file's listeners plus those of `-p`. Without a file, the `-p`
 * listeners are the whole local-only default.
 */
function withPortListeners(loaded: LoadedConfig, portListeners: ListenerConfig[]): BrokerConfig {
  if (portListeners.length === 0) return loaded.config;
  const fileListeners = loaded.file === undefined ? [] : loaded.config.listeners;
  return { ...loaded.config, listeners: [...fileListeners, ...portListeners] };
}

/** Which candidates exist and what the files read contain. */
function signatureOf(candidates: readonly string[], loaded: LoadedConfig | undefined): string {
  const parts = candidates.map((path) => `${path}:${exists(path)}`);
  for (const source of loaded?.config.sources ?? []) {
    try {
      parts.push(Deno.readTextFileSync(source));
    } catch {
      parts.push(`${source}: unreadable`);
    }
  }
  return parts.join("\0");
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function verbose(flags: ServeFlags): { verbose?: boolean } {
  return flags.verbose ? { verbose: true } : {};
}

async function configureLogging(
  loaded: LoadedConfig,
  flags: ServeFlags,
  topicSink: (level: string, line: string) => void,
): Promise<void> {
  const log = loaded.config.log;
  // -v means "log everything" whatever the file says, as Mosquitto's -v does.
  const types = flags.verbose ? new Set([...log.types, "debug" as const]) : log.types;
  await setupLogging({ config: { ...log, types }, topicSink });
}

/** The lines Mosquitto prints about the configuration it runs with. */
function announce(log: Logger, loaded: LoadedConfig): void {
  for (const warning of loaded.config.warnings) log.warn(`Warning: ${warning}`);
  if (loaded.file === undefined) {
    // mosquitto(8), option -p: "From version 2.0 onwards, the listeners defined with -p are
    // bound to the loopback interface only, and so can only be connected to from the local
    // machine." The embedded default config is exactly that.
    log.info("Using default config.");
    log.info(
      "Starting in local only mode. Connections will only be possible from clients running on this machine.",
    );
    log.info("Create a configuration file which defines a listener to allow remote access.");
  } else {
    log.info(`Config loaded from ${loaded.file}.`);
  }
}

function writePidFile(log: Logger, path: string): void {
  try {
    Deno.writeTextFileSync(path, `${Deno.pid}\n`);
  } catch (error) {
    log.warn(`Warning: Unable to write pid file ${path}: ${describe(error)}`);
  }
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
