/**
 * Turns a parsed `mosquitto.conf` into what the broker runs with: broker options and per-listener
 * settings. Kept apart from parsing so the parser stays pure and the broker knows no file format.
 *
 * @module
 */

import { loadFileSecurity } from "../auth/file_security.ts";
import { OpenSecurity, type SecurityPolicy } from "../auth/security.ts";
import type { TlsSettings } from "../listeners/tls.ts";
import { getBrokerLogger } from "../log.ts";
import type { BrokerOptions, ListenerSettings } from "../options.ts";
import { listenerSecurity } from "./parse.ts";
import type { BrokerConfig, ListenerConfig, ListenerTlsConfig, SecurityOptions } from "./types.ts";

/** The TLS file checker, loaded by {@linkcode loadTlsSupport}. */
let checkTlsSettings: ((settings: TlsSettings) => void) | undefined;

/**
 * Loads TLS support (`node:tls` and `node:crypto`, about 4 MiB of memory) for configurations that
 * have TLS listeners; a broker without any never pays for it. `Broker.applyConfig()` calls it.
 */
export async function loadTlsSupport(): Promise<void> {
  checkTlsSettings ??= (await import("../listeners/tls.ts")).checkTlsSettings;
}

/** True when some listener of `config` uses TLS. */
export function usesTls(config: BrokerConfig): boolean {
  return config.listeners.some((listener) => listener.tls !== undefined);
}

/** Broker-wide options from a configuration (Mosquitto's `-1` = no limit becomes 0 here). */
export function brokerOptionsFromConfig(config: BrokerConfig): BrokerOptions {
  const types = config.log.types;
  return {
    verbose: types.has("debug") || types.has("subscribe") || types.has("unsubscribe"),
    connectionMessages: config.log.connectionMessages,
    maxQueuedMessages: Math.max(0, config.maxQueuedMessages),
    maxQueuedBytes: Math.max(0, config.maxQueuedBytes),
    queueQos0Messages: config.queueQos0Messages,
    maxInflightMessages: Math.max(0, config.maxInflightMessages),
    maxPacketSize: config.maxPacketSize,
    messageSizeLimit: config.messageSizeLimit,
    maxKeepalive: config.maxKeepalive,
    retainAvailable: config.retainAvailable,
    allowZeroLengthClientId: config.allowZeroLengthClientId,
    autoIdPrefix: config.autoIdPrefix,
    allowAnonymous: config.allowAnonymous,
    sysInterval: config.sysInterval,
    allowDuplicateMessages: config.allowDuplicateMessages,
    upgradeOutgoingQos: config.upgradeOutgoingQos,
    // Always on, whatever `set_tcp_nodelay` says: midge coalesces its writes itself (one write per
    // connection per tick), and Nagle's algorithm on top of that stalls on delayed ACKs (~40 ms),
    // which measured as a 30x worse p99 latency. `set_tcp_nodelay false` is accepted and ignored.
    setTcpNodelay: true,
    ...(config.memoryLimit !== undefined ? { memoryLimit: config.memoryLimit } : {}),
    ...(config.connectTimeout !== undefined ? { connectTimeout: config.connectTimeout } : {}),
    persistentClientExpiration: config.persistence.clientExpiration,
  };
}

/**
 * The persistence file a configuration names: `persistence_location` joined with
 * `persistence_file` (Mosquitto joins them with a `/`), or the file alone, relative to the
 * working directory, without a location.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./parse.ts";
 * import { persistencePath } from "./apply.ts";
 *
 * const config = parseConfig("persistence true\npersistence_location /var/lib/midge/\n", {
 *   file: "midge.conf",
 * });
 * assert.equal(persistencePath(config), "/var/lib/midge/midge.db");
 * ```
 */
export function persistencePath(config: BrokerConfig): string {
  const { location, file } = config.persistence;
  if (location === undefined || location === "") return file;
  return location.endsWith("/") ? location + file : `${location}/${file}`;
}

/** The settings the clients of one configured listener get. */
export function listenerSettingsFromConfig(
  config: BrokerConfig,
  listener: ListenerConfig,
): ListenerSettings {
  const security = listenerSecurity(config, listener);
  return {
    allowAnonymous: security.allowAnonymous,
    allowZeroLengthClientId: security.allowZeroLengthClientId,
    autoIdPrefix: security.autoIdPrefix,
    topicAliasMaximum: listener.maxTopicAlias,
    maxConnections: listener.maxConnections,
    metrics: listener.metrics ?? false,
    dashboard: listener.dashboard ?? false,
    security: securityPolicy(config, listener, security),
    ...(listener.tls !== undefined ? { tls: loadTls(listener.tls, listener.definedAt) } : {}),
    ...(listener.useUsernameAsClientId ? { useUsernameAsClientId: true } : {}),
    ...(config.clientidPrefixes !== undefined ? { clientIdPrefix: config.clientidPrefixes } : {}),
  };
}

/**
 * Policies already loaded for a configuration: without `per_listener_settings` every listener
 * shares one (keyed by the config), else each has its own (keyed by the listener).
 */
const loadedPolicies = new WeakMap<object, SecurityPolicy>();

/**
 * The security policy of a listener: `password_file` and `acl_file` read now (so a reload re-reads
 * them), or open access per `allow_anonymous`. Throws when a file cannot be read or the ACL file
 * is invalid, which makes a reload keep the running configuration.
 */
function securityPolicy(
  config: BrokerConfig,
  listener: ListenerConfig,
  security: SecurityOptions,
): SecurityPolicy {
  const key = listener.security === undefined ? config : listener;
  const loaded = loadedPolicies.get(key);
  if (loaded !== undefined) return loaded;
  let policy: SecurityPolicy;
  if (security.passwordFile === undefined && security.aclFile === undefined) {
    policy = new OpenSecurity(security.allowAnonymous);
  } else {
    const result = loadFileSecurity({
      allowAnonymous: security.allowAnonymous,
      passwordFile: security.passwordFile,
      aclFile: security.aclFile,
    });
    // Logged here, not added to config.warnings: the files are read after those are printed.
    for (const warning of result.warnings) getBrokerLogger().warn(`Warning: ${warning}`);
    policy = result.security;
  }
  loadedPolicies.set(key, policy);
  return policy;
}

/**
 * Reads a listener's certificate, key and CA files and checks that they load. Throws an Error
 * naming the file or listener at fault.
 */
export function loadTls(tls: ListenerTlsConfig, definedAt: string): TlsSettings {
  const read = (path: string, what: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (error) {
      throw new Error(`Cannot read ${what} "${path}": ${describe(error)}`, { cause: error });
    }
  };
  const ca: string[] = [];
  if (tls.cafile !== undefined) ca.push(read(tls.cafile, "cafile"));
  if (tls.capath !== undefined) {
    let names: string[];
    try {
      names = [...Deno.readDirSync(tls.capath)].filter((e) => !e.isDirectory).map((e) => e.name);
    } catch (error) {
      throw new Error(`Cannot read capath "${tls.capath}": ${describe(error)}`, { cause: error });
    }
    for (const name of names.sort()) {
      const text = read(`${tls.capath.replace(/\/$/, "")}/${name}`, "CA certificate");
      if (text.includes("-----BEGIN CERTIFICATE-----")) ca.push(text);
    }
  }
  const settings: TlsSettings = {
    cert: read(tls.certfile, "certfile"),
    key: read(tls.keyfile, "keyfile"),
    ca,
    requireCertificate: tls.requireCertificate,
    minVersion: tls.tlsVersion === "tlsv1.3" ? "TLSv1.3" : "TLSv1.2",
    useIdentityAsUsername: tls.useIdentityAsUsername,
    useSubjectAsUsername: tls.useSubjectAsUsername,
  };
  if (checkTlsSettings === undefined) {
    throw new Error("Cannot check TLS files: call loadTlsSupport() before building TLS settings");
  }
  try {
    checkTlsSettings(settings);
  } catch (error) {
    throw new Error(
      `Cannot use the TLS files of the listener defined at ${definedAt} (certfile "${tls.certfile}", keyfile "${tls.keyfile}"): ${
        describe(error)
      }`,
      { cause: error },
    );
  }
  return settings;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/ \(os error \d+\).*$/s, "");
}
