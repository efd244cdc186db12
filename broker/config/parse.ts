/**
 * Reads a Mosquitto 2.0 `mosquitto.conf` into a {@linkcode BrokerConfig}: the file format of
 * mosquitto.conf(5), the options of `options_table.ts`, and the rules that decide which
 * listeners exist (local only mode, the deprecated default listener, `per_listener_settings`).
 * It only parses and checks; it opens no sockets. Files are read through injectable functions so
 * tests can use in-memory files.
 *
 * @module
 */

import { ConfigError } from "./config_error.ts";
import {
  checkListenerTls,
  DEFAULT_LOG_TYPES,
  findOption,
  finishBridges,
  type ListenerDraft,
  listenerTlsConfig,
  type OptionContext,
  type ParseState,
  type SecurityDraft,
} from "./options_table.ts";
import {
  type BrokerConfig,
  DEFAULT_PERSISTENCE_FILE,
  type ListenerConfig,
  type SecurityOptions,
  type SocketDomain,
} from "./types.ts";

/** What {@linkcode ConfigReaders.readDir} returns per entry; `Deno.DirEntry` fits. */
export interface ConfigDirEntry {
  /** File name without the directory. */
  name: string;
  /** Whether the entry is a directory (Mosquitto refuses `include_dir` entries that are). */
  isDirectory: boolean;
}

/** How files are read; defaults to Deno's synchronous file system calls. */
export interface ConfigReaders {
  /** Reads a whole text file (default `Deno.readTextFileSync`). */
  readTextFile?: (path: string) => string;
  /** Lists a directory (default `Deno.readDirSync`). */
  readDir?: (path: string) => Iterable<ConfigDirEntry>;
}

/** Options of {@linkcode parseConfig}. */
export interface ParseConfigOptions extends ConfigReaders {
  /** Name of the file the text came from, used in messages and in `sources`. */
  file: string;
}

type Readers = Required<ConfigReaders>;

/**
 * Parses the text of a `mosquitto.conf`, reading the files its `include_dir` names. Throws a
 * {@linkcode ConfigError} naming file, line and option on anything Mosquitto would refuse, and
 * on unknown options; options midge does not implement yet are accepted with a warning.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./parse.ts";
 *
 * const config = parseConfig("listener 1883\nallow_anonymous true\n", { file: "mosquitto.conf" });
 * assert.equal(config.localOnly, false);
 * assert.equal(config.listeners[0]?.port, 1883);
 * assert.equal(config.allowAnonymous, true);
 * ```
 */
export function parseConfig(text: string, options: ParseConfigOptions): BrokerConfig {
  const readers: Readers = {
    readTextFile: options.readTextFile ?? Deno.readTextFileSync,
    readDir: options.readDir ?? Deno.readDirSync,
  };
  const state = createState();
  state.sources.push(options.file);
  parseText(state, readers, text, options.file, 0);
  return finish(state);
}

/**
 * Reads and parses a `mosquitto.conf` (Mosquitto's `-c FILE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfigFile } from "./parse.ts";
 *
 * const files: Record<string, string> = { "/etc/mosquitto/mosquitto.conf": "port 1884\n" };
 * const config = loadConfigFile("/etc/mosquitto/mosquitto.conf", {
 *   readTextFile: (path) => files[path] ?? "",
 * });
 * assert.equal(config.listeners[0]?.port, 1884);
 * ```
 */
export function loadConfigFile(path: string, options: ConfigReaders = {}): BrokerConfig {
  const readTextFile = options.readTextFile ?? Deno.readTextFileSync;
  let text: string;
  try {
    text = readTextFile(path);
  } catch (error) {
    throw new ConfigError(`Cannot read config file "${path}": ${describeError(error)}`, {
      file: path,
      cause: error,
    });
  }
  return parseConfig(text, { ...options, file: path });
}

/**
 * The security settings that apply to clients of `listener`: its own with
 * `per_listener_settings true`, else the broker's.
 */
export function listenerSecurity(config: BrokerConfig, listener: ListenerConfig): SecurityOptions {
  if (listener.security !== undefined) return listener.security;
  const security: SecurityOptions = {
    allowAnonymous: config.allowAnonymous,
    allowZeroLengthClientId: config.allowZeroLengthClientId,
    autoIdPrefix: config.autoIdPrefix,
  };
  if (config.passwordFile !== undefined) security.passwordFile = config.passwordFile;
  if (config.aclFile !== undefined) security.aclFile = config.aclFile;
  return security;
}

/**
 * Orders `include_dir` files as Mosquitto 2.0 does: by name compared in upper case, upper case
 * first on a tie, so `00.conf 01.conf A.conf a.conf B.conf b.conf Z.conf _x.conf`.
 */
export function compareConfigFileNames(a: string, b: string): number {
  const upperA = upperAscii(a);
  const upperB = upperAscii(b);
  if (upperA !== upperB) return upperA < upperB ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function upperAscii(text: string): string {
  return text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function newSecurity(): SecurityDraft {
  return { allowZeroLengthClientId: true };
}

function newListener(definedAt: string, port?: number, bindAddress?: string): ListenerDraft {
  const listener: ListenerDraft = {
    protocol: "mqtt",
    maxConnections: -1,
    maxTopicAlias: 10,
    security: newSecurity(),
    unsupportedOptions: [],
    definedAt,
    configuredBy: [],
  };
  if (port !== undefined) listener.port = port;
  if (bindAddress !== undefined) listener.bindAddress = bindAddress;
  return listener;
}

function createState(): ParseState {
  const defaultListener = newListener("default listener");
  return {
    global: {
      perListenerSettings: false,
      security: newSecurity(),
      maxInflightMessages: 20,
      maxQueuedMessages: 1000,
      maxQueuedBytes: 0,
      queueQos0Messages: false,
      messageSizeLimit: 0,
      maxPacketSize: 0,
      maxKeepalive: 65535,
      allowDuplicateMessages: true,
      retainAvailable: true,
      upgradeOutgoingQos: false,
      setTcpNodelay: false,
      sysInterval: 10,
      log: { connectionMessages: true, timestamp: true },
      persistence: { enabled: false, file: DEFAULT_PERSISTENCE_FILE, clientExpiration: 0 },
    },
    defaultListener,
    listeners: [],
    current: defaultListener,
    warnings: [],
    sources: [],
    claims: new WeakMap(),
  };
}

/** Reads one file. Each file starts on the default listener, as in Mosquitto's `conf.c`. */
function parseText(
  state: ParseState,
  readers: Readers,
  text: string,
  file: string,
  level: number,
): void {
  const outer = state.current;
  state.current = state.defaultListener;
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let index = 0; index < lines.length; index++) {
    parseLine(state, readers, lines[index] ?? "", file, index + 1, level);
  }
  state.current = outer;
}

function parseLine(
  state: ParseState,
  readers: Readers,
  raw: string,
  file: string,
  line: number,
  level: number,
): void {
  // mosquitto.conf(5): a comment is a line whose very first character is `#`.
  if (raw.startsWith("#")) return;
  const text = raw.trim();
  if (text === "") return;
  const name = text.split(/[ \t]/, 1)[0] ?? text;
  const rest = text.slice(name.length).trim();
  const where = `${file}:${line}`;
  if (name.startsWith("#")) {
    throw new ConfigError(
      `Unknown option "${name}" at ${where}: a comment must start at the beginning of the line`,
      { file, line, option: name },
    );
  }
  const row = findOption(name);
  if (row === undefined) {
    throw new ConfigError(`Unknown option "${name}" at ${where}`, { file, line, option: name });
  }
  const words = rest === "" ? [] : rest.split(/[ \t]+/);
  // A word starting with `#` ends the value: Mosquitto ignores what follows a value it has read
  // (and skips `# ...` after `listener PORT` on purpose), so trailing comments work there.
  const comment = words.findIndex((word) => word.startsWith("#"));
  const args = comment === -1 ? words : words.slice(0, comment);
  row.handle(createContext(state, readers, name, file, line, level), { args, rest });
}

function createContext(
  state: ParseState,
  readers: Readers,
  name: string,
  file: string,
  line: number,
  level: number,
): OptionContext {
  const where = `${file}:${line}`;
  const context: OptionContext = {
    name,
    where,
    state,
    get listener() {
      return state.current;
    },
    get security() {
      return state.global.perListenerSettings ? state.current.security : state.global.security;
    },
    warn(text) {
      state.warnings.push(`Option "${name}" at ${where} ${text}`);
    },
    fail(detail): never {
      throw new ConfigError(`Cannot parse option "${name}" at ${where}: ${detail}`, {
        file,
        line,
        option: name,
      });
    },
    once(target, key) {
      let claims = state.claims.get(target);
      if (claims === undefined) {
        claims = new Map();
        state.claims.set(target, claims);
      }
      const previous = claims.get(key);
      if (previous !== undefined) context.fail(`duplicate value, already set at ${previous}`);
      claims.set(key, where);
    },
    addListener(port, bindAddress) {
      const listener = newListener(where, port, bindAddress);
      state.listeners.push(listener);
      state.current = listener;
      state.listenerAt ??= where;
    },
    includeDir(path) {
      // Mosquitto only follows include_dir in the main file, which also keeps includes finite.
      if (level > 0) {
        context.warn("is ignored: include_dir only works in the main configuration file");
        return;
      }
      let entries: ConfigDirEntry[];
      try {
        entries = [...readers.readDir(path)];
      } catch (error) {
        context.fail(`cannot read directory "${path}": ${describeError(error)}`);
      }
      const included = entries
        .filter((entry) => entry.name.endsWith(".conf"))
        .sort((a, b) => compareConfigFileNames(a.name, b.name));
      for (const entry of included) {
        const filePath = path.endsWith("/") ? path + entry.name : `${path}/${entry.name}`;
        if (entry.isDirectory) context.fail(`"${filePath}" is a directory, not a config file`);
        let text: string;
        try {
          text = readers.readTextFile(filePath);
        } catch (error) {
          context.fail(`cannot read "${filePath}": ${describeError(error)}`);
        }
        state.sources.push(filePath);
        parseText(state, readers, text, filePath, level + 1);
      }
    },
  };
  return context;
}

/** Fills in what depends on the whole configuration: listeners, anonymous access, logging. */
function finish(state: ParseState): BrokerConfig {
  const global = state.global;
  const warnings = state.warnings;
  const perListener = global.perListenerSettings;
  // Mosquitto 2.0 leaves local only mode only for `listener`, `port` or `bind_address`.
  const localOnly = state.listenerAt === undefined && state.portAt === undefined &&
    state.bindAddressAt === undefined;
  const listeners: ListenerConfig[] = [];
  const defaultListener = state.defaultListener;

  if (localOnly) {
    // Mosquitto opens 127.0.0.1 and ::1 port 1883; options given before any listener (there is
    // none) apply to both, and socket_domain picks one of them.
    const loopbacks: [string, SocketDomain][] = [["127.0.0.1", "ipv4"], ["::1", "ipv6"]];
    for (const [address, domain] of loopbacks) {
      if (defaultListener.socketDomain !== undefined && defaultListener.socketDomain !== domain) {
        continue;
      }
      listeners.push(
        toListener(defaultListener, perListener, true, {
          port: 1883,
          bindAddress: address,
          socketDomain: domain,
          definedAt: "local only mode",
        }),
      );
    }
    for (const security of [global.security, defaultListener.security]) {
      if (security.allowAnonymous === false) {
        warnings.push(
          `Option "allow_anonymous" at ${security.allowAnonymousAt} has no effect: with no "listener" configured, midge runs in local only mode as Mosquitto 2.0 does, accepting anonymous clients from this machine only`,
        );
      }
    }
  } else {
    for (const listener of state.listeners) {
      listeners.push(toListener(listener, perListener, false, {}));
    }
    const first = defaultListener.configuredBy[0];
    if (state.portAt !== undefined || state.bindAddressAt !== undefined || first !== undefined) {
      if (state.portAt === undefined && state.bindAddressAt === undefined && first !== undefined) {
        warnings.push(
          `Option "${first.option}" at ${first.where} comes before any "listener" line, so it configures the default listener on port 1883, which Mosquitto then also opens; move it below the "listener" line it is meant for`,
        );
      }
      listeners.push(
        toListener(defaultListener, perListener, false, { port: defaultListener.port ?? 1883 }),
      );
    } else if (perListener && state.defaultSecurityAt !== undefined) {
      const { option, where } = state.defaultSecurityAt;
      warnings.push(
        `Option "${option}" at ${where} comes before any "listener" line while per_listener_settings is true, so it applies to no listener; move it below the "listener" line it is meant for`,
      );
    }
  }

  const log = global.log;
  const config: BrokerConfig = {
    listeners,
    localOnly,
    perListenerSettings: perListener,
    allowAnonymous: localOnly ? true : global.security.allowAnonymous ?? false,
    allowZeroLengthClientId: global.security.allowZeroLengthClientId,
    autoIdPrefix: global.security.autoIdPrefix ?? "auto-",
    maxInflightMessages: global.maxInflightMessages,
    maxQueuedMessages: global.maxQueuedMessages,
    maxQueuedBytes: global.maxQueuedBytes,
    queueQos0Messages: global.queueQos0Messages,
    messageSizeLimit: global.messageSizeLimit,
    maxPacketSize: global.maxPacketSize,
    maxKeepalive: global.maxKeepalive,
    allowDuplicateMessages: global.allowDuplicateMessages,
    retainAvailable: global.retainAvailable,
    upgradeOutgoingQos: global.upgradeOutgoingQos,
    setTcpNodelay: global.setTcpNodelay,
    sysInterval: global.sysInterval,
    log: {
      dest: log.dest ?? [{ kind: "stderr" }],
      types: log.types ?? new Set(DEFAULT_LOG_TYPES),
      connectionMessages: log.connectionMessages,
      timestamp: log.timestamp,
    },
    persistence: { ...global.persistence },
    bridges: finishBridges(state),
    warnings,
    sources: state.sources,
  };
  if (log.timestampFormat !== undefined) config.log.timestampFormat = log.timestampFormat;
  if (global.pidFile !== undefined) config.pidFile = global.pidFile;
  if (global.user !== undefined) config.user = global.user;
  finishSecurity(state, config);
  return config;
}

/** Values that replace a draft's when it becomes a listener. */
interface ListenerOverrides {
  port?: number;
  bindAddress?: string;
  socketDomain?: SocketDomain;
  definedAt?: string;
}

function toListener(
  draft: ListenerDraft,
  perListener: boolean,
  localOnly: boolean,
  overrides: ListenerOverrides,
): ListenerConfig {
  for (const [option, at] of [["metrics", draft.metricsAt], ["dashboard", draft.dashboardAt]]) {
    if (at !== undefined && draft.protocol !== "websockets") {
      // HTTP is served by WebSocket listeners only, as Mosquitto's http_dir.
      throw new ConfigError(
        `Cannot use option "${option}" at ${at}: it needs "protocol websockets" on its listener (${draft.definedAt}), which speaks ${draft.protocol}`,
        { option },
      );
    }
  }
  const listener: ListenerConfig = {
    port: overrides.port ?? draft.port ?? 1883,
    protocol: draft.protocol,
    maxConnections: draft.maxConnections,
    maxTopicAlias: draft.maxTopicAlias,
    unsupportedOptions: [...draft.unsupportedOptions],
    definedAt: overrides.definedAt ?? draft.definedAt,
  };
  const bindAddress = overrides.bindAddress ?? draft.bindAddress;
  if (bindAddress !== undefined) listener.bindAddress = bindAddress;
  const socketDomain = overrides.socketDomain ?? draft.socketDomain;
  if (socketDomain !== undefined) listener.socketDomain = socketDomain;
  if (perListener) listener.security = toSecurity(draft.security, localOnly);
  if (draft.metricsAt !== undefined) listener.metrics = true;
  if (draft.dashboardAt !== undefined) listener.dashboard = true;
  const tls = listenerTlsConfig(draft);
  if (tls !== undefined) listener.tls = tls;
  if (draft.useUsernameAsClientId) listener.useUsernameAsClientId = true;
  return listener;
}

function toSecurity(draft: SecurityDraft, localOnly: boolean): SecurityOptions {
  return {
    // Local only mode always accepts anonymous clients (Mosquitto's listeners__add_local).
    allowAnonymous: localOnly ? true : draft.allowAnonymous ?? false,
    allowZeroLengthClientId: draft.allowZeroLengthClientId,
    autoIdPrefix: draft.autoIdPrefix ?? "auto-",
    ...(draft.passwordFile !== undefined ? { passwordFile: draft.passwordFile } : {}),
    ...(draft.aclFile !== undefined ? { aclFile: draft.aclFile } : {}),
  };
}

/**
 * Security settings that depend on the whole file: TLS option combinations, the files the
 * broker reads besides the config (added to `sources`, so `--watch` notices when they change),
 * and the broker-wide values of `password_file`, `acl_file`, `clientid_prefixes`,
 * `memory_limit` and `connect_timeout`.
 */
function finishSecurity(state: ParseState, config: BrokerConfig): void {
  const global = state.global;
  for (const draft of [state.defaultListener, ...state.listeners]) {
    config.warnings.push(...checkListenerTls(draft));
  }
  if (!global.perListenerSettings) {
    if (global.security.passwordFile !== undefined) {
      config.passwordFile = global.security.passwordFile;
    }
    if (global.security.aclFile !== undefined) config.aclFile = global.security.aclFile;
  }
  if (global.clientidPrefixes !== undefined) config.clientidPrefixes = global.clientidPrefixes;
  if (global.memoryLimit !== undefined) config.memoryLimit = global.memoryLimit;
  if (global.connectTimeout !== undefined) config.connectTimeout = global.connectTimeout;
  const files = [config.passwordFile, config.aclFile];
  for (const listener of config.listeners) {
    files.push(listener.security?.passwordFile, listener.security?.aclFile);
    files.push(listener.tls?.certfile, listener.tls?.keyfile, listener.tls?.cafile);
  }
  for (const file of files) {
    if (file !== undefined && !config.sources.includes(file)) config.sources.push(file);
  }
}
