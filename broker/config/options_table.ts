/**
 * Every `mosquitto.conf` option Mosquitto 2.0 knows, one row each: its name, what it configures
 * (the broker, the current listener, or the security settings that `per_listener_settings`
 * moves onto listeners), the kind of value it takes and what it does with it. Adding an option
 * is adding a row; options the broker does not implement yet are rows made with
 * {@linkcode pending}, which validate the value and leave a "not supported yet" warning, so
 * implementing one later means giving its row a handler.
 *
 * Semantics follow mosquitto.conf(5) and Mosquitto 2.0.11's `conf.c`.
 *
 * @module
 */

import { isValidTopicFilter, isValidTopicName } from "../../codec/topic.ts";
import { ConfigError } from "./config_error.ts";
import type {
  BridgeAddress,
  BridgeConfig,
  BridgeTlsConfig,
  BridgeTopicConfig,
  ListenerProtocol,
  ListenerTlsConfig,
  LogDest,
  LogType,
  PersistenceConfig,
  SocketDomain,
  TlsVersion,
} from "./types.ts";

/** What an option configures. */
export type OptionScope =
  /** The broker as a whole. */
  | "global"
  /** The listener being configured: the last `listener` line of the same file, else the default listener. */
  | "listener"
  /** The broker, or the current listener when `per_listener_settings` is true. */
  | "security";

/** The piece of later work that will implement an option accepted with a warning today. */
export type PendingArea =
  | "security"
  | "tls"
  | "persistence"
  | "bridge"
  | "websockets"
  | "listener"
  | "logging"
  | "limits";

/** Security settings being collected, for the broker or for one listener. */
export interface SecurityDraft {
  /** `allow_anonymous`; unset until given, because its default depends on the listeners. */
  allowAnonymous?: boolean;
  /** Where `allow_anonymous` was last given. */
  allowAnonymousAt?: string;
  /** `allow_zero_length_clientid`. */
  allowZeroLengthClientId: boolean;
  /** `auto_id_prefix`; unset means "auto-". */
  autoIdPrefix?: string;
  /** `password_file`. */
  passwordFile?: string;
  /** `acl_file`. */
  aclFile?: string;
}

/** TLS options of a listener being collected; checked as a whole by {@linkcode checkListenerTls}. */
export interface TlsDraft {
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  capath?: string;
  tlsVersion?: TlsVersion;
  requireCertificate?: boolean;
  useIdentityAsUsername?: boolean;
  useSubjectAsUsername?: boolean;
  /** `FILE:LINE` of each TLS option given, by name, in the order given. */
  at: Record<string, string>;
}

/** A listener being collected. */
export interface ListenerDraft {
  /** Unset only on the default listener before `port`, meaning 1883. */
  port?: number;
  /** `listener PORT ADDRESS` or `bind_address`. */
  bindAddress?: string;
  /** `socket_domain`. */
  socketDomain?: SocketDomain;
  /** `protocol`. */
  protocol: ListenerProtocol;
  /** `max_connections`. */
  maxConnections: number;
  /** `max_topic_alias`. */
  maxTopicAlias: number;
  /** `metrics` (midge): where it was set true, else unset. */
  metricsAt?: string;
  /** `dashboard` (midge): where it was set true, else unset. */
  dashboardAt?: string;
  /** Security settings used when `per_listener_settings` is true. */
  security: SecurityDraft;
  /** Names of pending options given for this listener. */
  unsupportedOptions: string[];
  /** `FILE:LINE` of the `listener` line, or "default listener". */
  definedAt: string;
  /** Listener options applied to it, first one first (tells whether the default listener is used). */
  configuredBy: { option: string; where: string }[];
  /** `certfile`, `keyfile`, `cafile`, ...; unset until one is given. */
  tls?: TlsDraft;
  /** `use_username_as_clientid`. */
  useUsernameAsClientId?: boolean;
}

/** Logging settings being collected. */
export interface LogDraft {
  /** Unset until the first `log_dest`, which replaces the default of stderr. */
  dest?: LogDest[];
  /** Where `log_dest file` was given: Mosquitto allows one log file. */
  fileAt?: string;
  /** Unset until the first `log_type`, which replaces the default kinds. */
  types?: Set<LogType>;
  /** `connection_messages`. */
  connectionMessages: boolean;
  /** `log_timestamp`. */
  timestamp: boolean;
  /** `log_timestamp_format`. */
  timestampFormat?: string;
}

/** Broker-wide settings being collected, with Mosquitto 2.0's defaults. */
export interface GlobalDraft {
  /** `per_listener_settings`. */
  perListenerSettings: boolean;
  /** Security settings used when `per_listener_settings` is false. */
  security: SecurityDraft;
  /** `max_inflight_messages`. */
  maxInflightMessages: number;
  /** `max_queued_messages`. */
  maxQueuedMessages: number;
  /** `max_queued_bytes`. */
  maxQueuedBytes: number;
  /** `queue_qos0_messages`. */
  queueQos0Messages: boolean;
  /** `message_size_limit`. */
  messageSizeLimit: number;
  /** `max_packet_size`. */
  maxPacketSize: number;
  /** `max_keepalive`. */
  maxKeepalive: number;
  /** `allow_duplicate_messages`. */
  allowDuplicateMessages: boolean;
  /** `retain_available`. */
  retainAvailable: boolean;
  /** `upgrade_outgoing_qos`. */
  upgradeOutgoingQos: boolean;
  /** `set_tcp_nodelay`. */
  setTcpNodelay: boolean;
  /** `sys_interval`. */
  sysInterval: number;
  /** Logging options. */
  log: LogDraft;
  /** `persistence`, `persistence_location`, `persistence_file`, `persistent_client_expiration`. */
  persistence: PersistenceConfig;
  /** `pid_file`. */
  pidFile?: string;
  /** `user`. */
  user?: string;
  /** `clientid_prefixes`. */
  clientidPrefixes?: string;
  /** `memory_limit`. */
  memoryLimit?: number;
  /** midge's `connect_timeout`. */
  connectTimeout?: number;
}

/** Everything collected so far while reading the main file and its includes. */
export interface ParseState {
  /** Broker-wide settings. */
  global: GlobalDraft;
  /** The listener `port` and `bind_address` configure, and options before any `listener` line. */
  defaultListener: ListenerDraft;
  /** Listeners from `listener` lines, in order. */
  listeners: ListenerDraft[];
  /** The listener listener options apply to now. */
  current: ListenerDraft;
  /** Warnings so far. */
  warnings: string[];
  /** Files read so far. */
  sources: string[];
  /** Where the first `listener` line is. */
  listenerAt?: string;
  /** Where the last `port` line is. */
  portAt?: string;
  /** Where `bind_address` is. */
  bindAddressAt?: string;
  /** Where `per_listener_settings true` was first given. */
  perListenerAt?: string;
  /** The first security option, which `per_listener_settings true` must precede. */
  securityAt?: { option: string; where: string };
  /** The first security option that went to the default listener with `per_listener_settings`. */
  defaultSecurityAt?: { option: string; where: string };
  /** Where the last bridge `connection` line is. */
  connectionAt?: string;
  /** Bridges (`connection` sections) so far. */
  bridges?: BridgeDraft[];
  /** Where the last `plugin` or `auth_plugin` line is. */
  pluginAt?: string;
  /** Where each set-once value of a target was set, for "duplicate value" errors. */
  claims: WeakMap<object, Map<string, string>>;
}

/** What a handler sees of the line it handles and of the parse. */
export interface OptionContext {
  /** The option as written. */
  readonly name: string;
  /** `FILE:LINE` of the option. */
  readonly where: string;
  /** Everything collected so far. */
  readonly state: ParseState;
  /** The listener listener options apply to (the default listener before any `listener` line). */
  readonly listener: ListenerDraft;
  /** Where security options go: the current listener with `per_listener_settings`, else the broker. */
  readonly security: SecurityDraft;
  /** Records `Option "NAME" at FILE:LINE <text>`. */
  warn(text: string): void;
  /** Throws `Cannot parse option "NAME" at FILE:LINE: <detail>`. */
  fail(detail: string): never;
  /** Fails with "duplicate value" if `key` of `target` was already set (Mosquitto's string options). */
  once(target: object, key: string): void;
  /** Starts a listener on `port` (and `bindAddress`) that later listener options configure. */
  addListener(port: number, bindAddress?: string): void;
  /** Reads the `*.conf` files of `path` in Mosquitto's order, as if written here. */
  includeDir(path: string): void;
}

/** The value part of a line: the words after the option name, and the same text unsplit. */
export interface OptionValue {
  /** Words after the option name, up to a word starting with `#` (a trailing comment). */
  args: string[];
  /** Everything after the option name, trimmed; what string options take, spaces and all. */
  rest: string;
}

/** Turns the value part of a line into a typed value, or fails saying what was expected. */
export interface ValueKind<T> {
  /** Kind name, for documentation: "boolean", "integer", "string", "enum", ... */
  readonly name: string;
  /** Parses `value`, calling `ctx.fail` when it does not fit. */
  parse(ctx: OptionContext, value: OptionValue): T;
}

/** One row of {@linkcode OPTIONS}. */
export interface OptionRow {
  /** Option name, or a prefix when `prefix` is true (`auth_opt_*`). */
  readonly name: string;
  /** Whether `name` is a prefix. */
  readonly prefix?: boolean;
  /** What the option configures. */
  readonly scope: OptionScope;
  /** The kind of value it takes. */
  readonly kind: string;
  /** Set on options accepted with a "not supported yet" warning: the work that will implement them. */
  readonly pending?: PendingArea;
  /** Handles one occurrence. */
  handle(ctx: OptionContext, value: OptionValue): void;
}

/** Largest value of Mosquitto's `int` options (parsed with `atoi`). */
const INT_MAX = 2147483647;

/** Largest PUBLISH payload MQTT can carry: the largest Remaining Length. */
const MAX_PAYLOAD = 268435455;

/** `got "..."` or `got nothing`, for messages of the form "expected X, got Y". */
function got(text: string): string {
  return text === "" ? "nothing" : `"${text}"`;
}

/** "a, b or c". */
function alternatives(values: readonly string[]): string {
  return values.length < 2
    ? values.join("")
    : `${values.slice(0, -1).join(", ")} or ${values[values.length - 1]}`;
}

/** The single word of `value`, or a failure saying `expected`. */
function single(ctx: OptionContext, value: OptionValue, expected: string): string {
  const [word] = value.args;
  if (word === undefined || value.args.length > 1) {
    ctx.fail(`expected ${expected}, got ${got(value.args.join(" "))}`);
  }
  return word;
}

/** `true` or `false`; Mosquitto also takes `1` and `0`. */
export const BOOLEAN: ValueKind<boolean> = {
  name: "boolean",
  parse(ctx, value) {
    const word = single(ctx, value, "true or false");
    if (word === "true" || word === "1") return true;
    if (word === "false" || word === "0") return false;
    return ctx.fail(`expected true or false, got "${word}"`);
  },
};

/** Bounds of an {@linkcode integer}. */
export interface IntegerBounds {
  /** Smallest value accepted (0 unless given). */
  min?: number;
  /** Largest value accepted (2147483647 unless given). */
  max?: number;
  /**
   * What a negative value means, for options where Mosquitto takes any negative number as
   * "no limit" (e.g. `max_connections -5` is -1) instead of rejecting it.
   */
  negative?: number;
}

/**
 * A whole number in decimal digits. Mosquitto reads these with `atoi`, so "ten" would silently
 * be 0 and "1.5" would be 1; midge refuses both, which only rejects files that were wrong.
 */
export function integer(bounds: IntegerBounds = {}): ValueKind<number> {
  const min = bounds.min ?? 0;
  const max = bounds.max ?? INT_MAX;
  return {
    name: "integer",
    parse(ctx, value) {
      const word = single(ctx, value, "an integer");
      if (!/^-?[0-9]+$/.test(word)) ctx.fail(`expected an integer, got "${word}"`);
      const number = Number(word);
      if (number < 0 && bounds.negative !== undefined) return bounds.negative;
      if (number < min || number > max) {
        ctx.fail(`expected an integer from ${min} to ${max}, got "${word}"`);
      }
      return number;
    },
  };
}

/** A TCP port, 1 to 65535. */
export const PORT: ValueKind<number> = {
  name: "port",
  parse(ctx, value) {
    return parsePort(ctx, single(ctx, value, "a port number from 1 to 65535"));
  },
};

/** Reads a TCP port number. */
function parsePort(ctx: OptionContext, word: string): number {
  const number = /^[0-9]+$/.test(word) ? Number(word) : NaN;
  if (!(number >= 1 && number <= 65535)) {
    ctx.fail(`expected a port number from 1 to 65535, got "${word}"`);
  }
  return number;
}

/**
 * The rest of the line, spaces included (a path, a strftime format). As in Mosquitto, a `#`
 * here is part of the value, not a comment.
 */
export function string(expected = "a value"): ValueKind<string> {
  return {
    name: "string",
    parse(ctx, value) {
      if (value.rest === "") ctx.fail(`expected ${expected}, got nothing`);
      return value.rest;
    },
  };
}

/** One of a fixed set of words. */
export function enumOf<T extends string>(values: readonly T[]): ValueKind<T> {
  const expected = alternatives(values);
  return {
    name: "enum",
    parse(ctx, value) {
      const word = single(ctx, value, expected);
      if (!(values as readonly string[]).includes(word)) {
        ctx.fail(`expected ${expected}, got "${word}"`);
      }
      return word as T;
    },
  };
}

/** At least one word, not otherwise checked (bridge `topic`, `address`, ...). */
export function words(expected: string): ValueKind<string[]> {
  return {
    name: "words",
    parse(ctx, value) {
      if (value.args.length === 0) ctx.fail(`expected ${expected}, got nothing`);
      return value.args;
    },
  };
}

/** Seconds per unit of a Mosquitto duration: hours, days, weeks, months of 30 days, years. */
const DURATION_UNITS: Readonly<Record<string, number>> = {
  h: 3600,
  d: 86400,
  w: 86400 * 7,
  m: 86400 * 30,
  y: 86400 * 365,
};

/**
 * A duration as `persistent_client_expiration` takes it, in seconds: a positive whole number and
 * one unit letter, `2h`, `14d`, `1w`, `6m` (months, not minutes) or `1y`.
 */
export const DURATION: ValueKind<number> = {
  name: "duration",
  parse(ctx, value) {
    const expected = "a duration such as 2h, 14d, 1w, 6m (months) or 1y";
    const word = single(ctx, value, expected);
    const match = /^([0-9]+)([hdwmy])$/.exec(word);
    const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2]!]! : 0;
    if (!(seconds > 0 && seconds <= Number.MAX_SAFE_INTEGER)) {
      ctx.fail(`expected ${expected}, got "${word}"`);
    }
    return seconds;
  },
};

/** Why `autosave_interval` and `autosave_on_changes` need no value in midge. */
const AUTOSAVE_NOT_NEEDED =
  "is not needed: with persistence on, midge saves every change before acknowledging it";

/** A broker-wide option. */
export function globalOption<T>(
  name: string,
  kind: ValueKind<T>,
  apply: (ctx: OptionContext, value: T) => void,
): OptionRow {
  return {
    name,
    scope: "global",
    kind: kind.name,
    handle: (ctx, v) => apply(ctx, kind.parse(ctx, v)),
  };
}

/** An option of the current listener (the default listener before any `listener` line). */
export function listenerOption<T>(
  name: string,
  kind: ValueKind<T>,
  apply: (ctx: OptionContext, listener: ListenerDraft, value: T) => void,
): OptionRow {
  return {
    name,
    scope: "listener",
    kind: kind.name,
    handle(ctx, v) {
      const value = kind.parse(ctx, v);
      const listener = ctx.listener;
      apply(ctx, listener, value);
      listener.configuredBy.push({ option: ctx.name, where: ctx.where });
    },
  };
}

/** Notes that a security option was given, for `per_listener_settings` ordering and warnings. */
function noteSecurity(ctx: OptionContext): void {
  const state = ctx.state;
  state.securityAt ??= { option: ctx.name, where: ctx.where };
  if (state.global.perListenerSettings && ctx.listener === state.defaultListener) {
    state.defaultSecurityAt ??= { option: ctx.name, where: ctx.where };
  }
}

/** An authentication option: per listener when `per_listener_settings` is true, else global. */
export function securityOption<T>(
  name: string,
  kind: ValueKind<T>,
  apply: (ctx: OptionContext, security: SecurityDraft, value: T) => void,
): OptionRow {
  return {
    name,
    scope: "security",
    kind: kind.name,
    handle(ctx, v) {
      const value = kind.parse(ctx, v);
      noteSecurity(ctx);
      apply(ctx, ctx.security, value);
    },
  };
}

/** Options for {@linkcode pending}. */
export interface PendingOptions {
  /** Prefix row (`auth_opt_*`). */
  prefix?: boolean;
  /** Line that must come first, as Mosquitto requires ("Invalid bridge configuration"). */
  after?: "connection" | "plugin" | "listener";
  /** Extra bookkeeping. */
  note?: (ctx: OptionContext) => void;
}

/**
 * An option accepted and checked but not implemented yet: leaves
 * `Option "NAME" at FILE:LINE is not supported yet` in the warnings and, for listener and
 * per-listener security options, its name in the listener's `unsupportedOptions`.
 */
export function pending<T>(
  name: string,
  scope: OptionScope,
  area: PendingArea,
  kind: ValueKind<T>,
  options: PendingOptions = {},
): OptionRow {
  return {
    name,
    prefix: options.prefix,
    scope,
    kind: kind.name,
    pending: area,
    handle(ctx, v) {
      const state = ctx.state;
      if (options.after === "connection" && state.connectionAt === undefined) {
        ctx.fail('expected a bridge "connection" line before it');
      }
      if (options.after === "plugin" && state.pluginAt === undefined) {
        ctx.fail('expected a "plugin" or "auth_plugin" line before it');
      }
      if (options.after === "listener" && state.listeners.length === 0) {
        ctx.fail('expected a "listener" line before it');
      }
      kind.parse(ctx, v);
      if (scope === "security") noteSecurity(ctx);
      if (scope === "listener" || (scope === "security" && state.global.perListenerSettings)) {
        const listener = ctx.listener;
        if (!listener.unsupportedOptions.includes(ctx.name)) {
          listener.unsupportedOptions.push(ctx.name);
        }
        if (scope === "listener") {
          listener.configuredBy.push({ option: ctx.name, where: ctx.where });
        }
      }
      options.note?.(ctx);
      ctx.warn("is not supported yet");
    },
  };
}

/** A TLS option of the current listener; string options may not be repeated (Mosquitto's rule). */
function tlsOption<T>(
  name: string,
  kind: ValueKind<T>,
  apply: (tls: TlsDraft, value: T) => void,
): OptionRow {
  return listenerOption(name, kind, (ctx, listener, value) => {
    const tls = listener.tls ??= { at: {} };
    if (typeof value === "string") ctx.once(tls, name);
    tls.at[name] = ctx.where;
    apply(tls, value);
  });
}

/** An option midge refuses, because honouring it only in part would weaken security. */
function unsupported<T>(
  name: string,
  scope: OptionScope,
  kind: ValueKind<T>,
  reason: string,
): OptionRow {
  return {
    name,
    scope,
    kind: kind.name,
    handle(ctx, v) {
      kind.parse(ctx, v);
      throw new ConfigError(`Option "${name}" at ${ctx.where} is not supported: ${reason}`, {
        option: name,
      });
    },
  };
}

/**
 * Checks a listener's TLS options together, as Mosquitto does when it opens the listener, and
 * refuses what Deno cannot do rather than serve less than the file asks for. Returns warnings.
 */
export function checkListenerTls(listener: ListenerDraft): string[] {
  const tls = listener.tls;
  if (tls === undefined) return [];
  const warnings: string[] = [];
  const at = (name: string) => `Option "${name}" at ${tls.at[name]}`;
  const fail = (name: string, detail: string): never => {
    throw new ConfigError(`${at(name)} ${detail}`, { option: name });
  };
  const first = Object.keys(tls.at)[0] as string;
  if (tls.certfile === undefined && tls.keyfile === undefined) {
    fail(
      first,
      `needs "certfile" and "keyfile" on the same listener (defined at ${listener.definedAt}): without them the listener would not use TLS`,
    );
  }
  if (tls.certfile === undefined) fail("keyfile", 'needs "certfile" on the same listener');
  if (tls.keyfile === undefined) fail("certfile", 'needs "keyfile" on the same listener');
  if (tls.requireCertificate && tls.cafile === undefined && tls.capath === undefined) {
    fail("require_certificate", 'needs "cafile" or "capath" to verify client certificates');
  }
  if (listener.protocol === "websockets") {
    const reason =
      "on a WebSocket listener: Deno.serve cannot request client certificates; use a TLS listener with 'protocol mqtt' for client certificates";
    for (
      const name of ["require_certificate", "use_identity_as_username", "use_subject_as_username"]
    ) {
      const value = name === "require_certificate"
        ? tls.requireCertificate
        : name === "use_identity_as_username"
        ? tls.useIdentityAsUsername
        : tls.useSubjectAsUsername;
      if (value) fail(name, `is not supported ${reason}`);
    }
    if (tls.tlsVersion === "tlsv1.3") {
      fail(
        "tls_version",
        "is not supported on a WebSocket listener: Deno.serve cannot restrict TLS versions (it accepts TLS 1.2 and 1.3)",
      );
    }
  }
  if (tls.tlsVersion === "tlsv1.1") {
    warnings.push(
      `${
        at("tls_version")
      } asks for TLS 1.1, which Deno's TLS does not offer: the listener accepts TLS 1.2 and 1.3`,
    );
  }
  for (const name of ["use_identity_as_username", "use_subject_as_username"]) {
    const value = name === "use_identity_as_username"
      ? tls.useIdentityAsUsername
      : tls.useSubjectAsUsername;
    if (value && !tls.requireCertificate) {
      warnings.push(
        `${
          at(name)
        } has no effect without "require_certificate true": no client certificate is asked for, so every client is refused`,
      );
    }
  }
  return warnings;
}

/** The TLS settings of a listener whose options {@linkcode checkListenerTls} accepted. */
export function listenerTlsConfig(listener: ListenerDraft): ListenerTlsConfig | undefined {
  const tls = listener.tls;
  if (tls?.certfile === undefined || tls.keyfile === undefined) return undefined;
  const config: ListenerTlsConfig = {
    certfile: tls.certfile,
    keyfile: tls.keyfile,
    requireCertificate: tls.requireCertificate ?? false,
    useIdentityAsUsername: tls.useIdentityAsUsername ?? false,
    useSubjectAsUsername: tls.useSubjectAsUsername ?? false,
  };
  if (tls.cafile !== undefined) config.cafile = tls.cafile;
  if (tls.capath !== undefined) config.capath = tls.capath;
  if (tls.tlsVersion !== undefined) config.tlsVersion = tls.tlsVersion;
  return config;
}

/** Every concrete `log_type`, which `log_type all` turns on. */
export const LOG_TYPES: readonly LogType[] = [
  "error",
  "warning",
  "notice",
  "information",
  "subscribe",
  "unsubscribe",
  "websockets",
  "debug",
];

/** Mosquitto's default `log_type`s. */
export const DEFAULT_LOG_TYPES: readonly LogType[] = ["error", "warning", "notice", "information"];

const LOG_DEST_EXPECTED = "stdout, stderr, syslog, topic, dlt, none or file followed by a path";
const LOG_TYPE_EXPECTED = alternatives([...LOG_TYPES, "all", "none"]);

/** `log_dest`: may be repeated; each adds a destination, `none` clears them. */
const LOG_DEST: OptionRow = {
  name: "log_dest",
  scope: "global",
  kind: "log_dest",
  handle(ctx: OptionContext, value: OptionValue) {
    const log = ctx.state.global.log;
    const [first, ...others] = value.args;
    if (first === undefined) ctx.fail(`expected ${LOG_DEST_EXPECTED}, got nothing`);
    const dest = log.dest ??= [];
    if (first === "file") {
      // The path is the rest of the line, so it may hold spaces, as in Mosquitto.
      const path = value.rest.slice("file".length).trim();
      if (path === "") ctx.fail('expected a file path after "file", got nothing');
      if (log.fileAt !== undefined) {
        ctx.fail(`expected one "log_dest file", got a second one (the first is at ${log.fileAt})`);
      }
      log.fileAt = ctx.where;
      dest.push({ kind: "file", path });
      return;
    }
    if (others.length > 0) ctx.fail(`expected ${LOG_DEST_EXPECTED}, got "${value.args.join(" ")}"`);
    switch (first) {
      case "none":
        dest.length = 0;
        return;
      case "stdout":
      case "stderr":
      case "syslog":
      case "topic":
        if (!dest.some((d) => d.kind === first)) dest.push({ kind: first });
        return;
      case "dlt":
        ctx.warn('uses destination "dlt", which is not supported yet');
        return;
      default:
        ctx.fail(`expected ${LOG_DEST_EXPECTED}, got "${first}"`);
    }
  },
};

/** `log_type`: may be repeated; each adds a kind, `all` adds them all, `none` clears them. */
const LOG_TYPE: OptionRow = {
  name: "log_type",
  scope: "global",
  kind: "log_type",
  handle(ctx: OptionContext, value: OptionValue) {
    const word = single(ctx, value, LOG_TYPE_EXPECTED);
    const log = ctx.state.global.log;
    const types = log.types ??= new Set();
    if (word === "none") types.clear();
    else if (word === "all") { for (const type of LOG_TYPES) types.add(type); }
    else if ((LOG_TYPES as readonly string[]).includes(word)) types.add(word as LogType);
    else ctx.fail(`expected ${LOG_TYPE_EXPECTED}, got "${word}"`);
  },
};

/** `listener PORT [ADDRESS]`: starts a listener that the listener options below it configure. */
const LISTENER: OptionRow = {
  name: "listener",
  scope: "listener",
  kind: "listener",
  handle(ctx: OptionContext, value: OptionValue) {
    const [port, address, ...extra] = value.args;
    if (port === undefined || extra.length > 0) {
      ctx.fail(`expected a port and an optional bind address, got ${got(value.args.join(" "))}`);
    }
    if (port === "0" && address !== undefined) {
      // Mosquitto's `listener 0 PATH` opens a Unix socket.
      ctx.fail(
        'expected a port number from 1 to 65535, got "0": Unix socket listeners are not supported yet',
      );
    }
    ctx.addListener(parsePort(ctx, port), address);
  },
};

/** `port`: deprecated; sets the default listener's port, whatever listener is current. */
const PORT_OPTION: OptionRow = {
  name: "port",
  scope: "global",
  kind: "port",
  handle(ctx: OptionContext, value: OptionValue) {
    const state = ctx.state;
    const port = PORT.parse(ctx, value);
    if (state.portAt !== undefined) {
      ctx.warn(`replaces the port set at ${state.portAt}; only the last "port" is used`);
    }
    ctx.warn(`is deprecated: use "listener ${port}" instead`);
    state.defaultListener.port = port;
    state.portAt = ctx.where;
  },
};

/** `bind_address`: deprecated; sets the default listener's address. */
const BIND_ADDRESS: OptionRow = {
  name: "bind_address",
  scope: "global",
  kind: "string",
  handle(ctx: OptionContext, value: OptionValue) {
    const state = ctx.state;
    const address = string("an address or host name").parse(ctx, value);
    ctx.once(state.defaultListener, "bind_address");
    ctx.warn('is deprecated: use "listener PORT ADDRESS" instead');
    state.defaultListener.bindAddress = address;
    state.bindAddressAt = ctx.where;
  },
};

/** `per_listener_settings`: must precede every security option; once true it stays true. */
const PER_LISTENER_SETTINGS: OptionRow = {
  name: "per_listener_settings",
  scope: "global",
  kind: "boolean",
  handle(ctx: OptionContext, value: OptionValue) {
    const state = ctx.state;
    const enabled = BOOLEAN.parse(ctx, value);
    if (state.global.perListenerSettings) {
      if (!enabled) {
        ctx.warn(`is ignored: per_listener_settings was set to true at ${state.perListenerAt}`);
      }
      return;
    }
    if (enabled && state.securityAt !== undefined) {
      const first = state.securityAt;
      ctx.fail(
        `expected it before every security option, but "${first.option}" comes first at ${first.where}`,
      );
    }
    if (enabled) {
      state.global.perListenerSettings = true;
      state.perListenerAt = ctx.where;
    }
  },
};

/** `include_dir DIR`: reads `DIR/*.conf` in place (main file only, as in Mosquitto). */
const INCLUDE_DIR: OptionRow = {
  name: "include_dir",
  scope: "global",
  kind: "string",
  handle(ctx: OptionContext, value: OptionValue) {
    ctx.includeDir(string("a directory").parse(ctx, value));
  },
};

/** A bridge name: one word. */
const BRIDGE_NAME: ValueKind<string> = {
  name: "string",
  parse: (ctx, value) => single(ctx, value, "a bridge name"),
};

/** A bridge being collected: its `connection` line and the options below it. */
export interface BridgeDraft {
  name: string;
  /** `FILE:LINE` of the `connection` line. */
  definedAt: string;
  /** The file of the `connection` line: as in Mosquitto, its options must follow in that file. */
  file: string;
  /** Options given so far (defaults are filled in by {@linkcode finishBridges}). */
  values: Partial<Omit<BridgeConfig, "name" | "definedAt" | "topics" | "tls">>;
  topics: BridgeTopicConfig[];
  tls: Partial<BridgeTlsConfig>;
}

/** The bridge that bridge options configure: the last `connection` of the same file. */
function currentBridge(ctx: OptionContext): BridgeDraft {
  const bridge = ctx.state.bridges?.at(-1);
  const file = ctx.where.slice(0, ctx.where.lastIndexOf(":"));
  if (bridge === undefined || bridge.file !== file) {
    ctx.fail('expected a bridge "connection" line before it');
  }
  return bridge;
}

/** An option of the current bridge (Mosquitto's `REQUIRE_BRIDGE`). */
function bridgeOption<T>(
  name: string,
  kind: ValueKind<T>,
  apply: (ctx: OptionContext, bridge: BridgeDraft, value: T) => void,
): OptionRow {
  return {
    name,
    scope: "global",
    kind: kind.name,
    handle(ctx, v) {
      const bridge = currentBridge(ctx);
      apply(ctx, bridge, kind.parse(ctx, v));
    },
  };
}

/** A string option of the current bridge, given once (Mosquitto: "Duplicate ... value"). */
function bridgeString(
  names: readonly string[],
  expected: string,
  apply: (bridge: BridgeDraft, value: string) => void,
): OptionRow[] {
  return names.map((name) =>
    bridgeOption(name, string(expected), (ctx, bridge, value) => {
      ctx.once(bridge, names[names.length - 1] as string);
      apply(bridge, value);
    })
  );
}

/** Reads `host[:port]`; an IPv6 address needs its port (`::1:1884` or `[::1]:1884`). */
function parseBridgeAddress(ctx: OptionContext, word: string): BridgeAddress {
  const colon = word.lastIndexOf(":");
  let host = colon === -1 ? word : word.slice(0, colon);
  const port = colon === -1 ? 1883 : parsePort(ctx, word.slice(colon + 1));
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "") ctx.fail(`expected host[:port], got "${word}"`);
  return { host, port };
}

/** A topic prefix: `""` is none; otherwise a topic name without wildcards. */
function parsePrefix(ctx: OptionContext, word: string, side: string): string | undefined {
  if (word === '""') return undefined;
  if (!isValidTopicName(word)) {
    ctx.fail(`expected a ${side} prefix without wildcards (or ""), got "${word}"`);
  }
  return word;
}

/**
 * `topic PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]`. The pattern is read even when
 * it is `#` (a comment starts only at a later word), as Mosquitto reads it.
 */
const BRIDGE_TOPIC: OptionRow = {
  name: "topic",
  scope: "global",
  kind: "bridge topic",
  handle(ctx: OptionContext, value: OptionValue) {
    const bridge = currentBridge(ctx);
    const all = value.rest === "" ? [] : value.rest.split(/[ \t]+/);
    const [pattern, ...rest] = all;
    const comment = rest.findIndex((word) => word.startsWith("#"));
    const [direction = "out", qosWord = "0", local, remote, ...extra] = comment === -1
      ? rest
      : rest.slice(0, comment);
    if (pattern === undefined) ctx.fail("expected a topic pattern, got nothing");
    if (extra.length > 0 || (local !== undefined && remote === undefined)) {
      ctx.fail(
        `expected PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]], got "${value.rest}"`,
      );
    }
    const lower = direction.toLowerCase();
    if (lower !== "in" && lower !== "out" && lower !== "both") {
      ctx.fail(`expected a direction of in, out or both, got "${direction}"`);
    }
    if (!/^[0-2]$/.test(qosWord)) ctx.fail(`expected a QoS of 0, 1 or 2, got "${qosWord}"`);
    const localPrefix = local === undefined ? undefined : parsePrefix(ctx, local, "local");
    const remotePrefix = remote === undefined ? undefined : parsePrefix(ctx, remote, "remote");
    const topic = pattern === '""' ? undefined : pattern;
    if (topic === undefined && (localPrefix === undefined || remotePrefix === undefined)) {
      // Mosquitto's "Invalid bridge remapping": an empty pattern remaps one topic to another.
      ctx.fail('expected both a local and a remote prefix with the pattern ""');
    }
    const localTopic = (localPrefix ?? "") + (topic ?? "");
    const remoteTopic = (remotePrefix ?? "") + (topic ?? "");
    for (const [side, filter] of [["local", localTopic], ["remote", remoteTopic]]) {
      if (!isValidTopicFilter(filter as string)) {
        ctx.fail(`the ${side} prefix and pattern make "${filter}", which is not a topic filter`);
      }
    }
    bridge.topics.push({
      pattern: topic,
      direction: lower,
      qos: Number(qosWord) as 0 | 1 | 2,
      localPrefix,
      remotePrefix,
      localTopic,
      remoteTopic,
    });
  },
};

/** `restart_timeout BASE [CAP]`: a constant delay, or jittered backoff from BASE up to CAP. */
const BRIDGE_RESTART_TIMEOUT = bridgeOption(
  "restart_timeout",
  words("seconds, or a base and a cap in seconds"),
  (ctx, bridge, args) => {
    const [baseWord, capWord, ...extra] = args;
    const seconds = (word: string) => {
      if (!/^-?[0-9]+$/.test(word)) ctx.fail(`expected a number of seconds, got "${word}"`);
      return Number(word);
    };
    if (extra.length > 0) ctx.fail(`expected at most a base and a cap, got "${args.join(" ")}"`);
    let base = seconds(baseWord as string);
    if (base < 1) {
      ctx.warn("is below 1 second; using 1 second, as Mosquitto does");
      base = 1;
    }
    if (capWord === undefined) {
      bridge.values.restartTimeout = { base };
      return;
    }
    const cap = seconds(capWord);
    if (cap < base) ctx.fail(`expected a cap of at least the base ${base}, got "${capWord}"`);
    bridge.values.restartTimeout = { base, cap };
  },
);

/** An integer with Mosquitto's lower clamp ("too low, using N"). */
function atLeast(
  name: string,
  min: number,
  max: number,
  unit: string,
  apply: (bridge: BridgeDraft, value: number) => void,
): OptionRow {
  return bridgeOption(name, integer({ min: -INT_MAX, max }), (ctx, bridge, value) => {
    if (value < min) {
      ctx.warn(`is below ${min} ${unit}; using ${min}, as Mosquitto does`);
      value = min;
    }
    apply(bridge, value);
  });
}

/** An option midge cannot honour: refusing it is better than connecting with less than asked. */
function bridgeRefused(name: string, kind: ValueKind<unknown>, why: string): OptionRow {
  return bridgeOption(name, kind, (ctx) => ctx.fail(why));
}

/** Bridge options: `connection NAME` starts a bridge; the others need one first. */
const BRIDGE_OPTIONS: readonly OptionRow[] = [
  {
    name: "connection",
    scope: "global",
    kind: "string",
    handle(ctx: OptionContext, value: OptionValue) {
      const name = BRIDGE_NAME.parse(ctx, value);
      const bridges = ctx.state.bridges ??= [];
      const same = bridges.find((bridge) => bridge.name === name);
      if (same !== undefined) {
        ctx.fail(`duplicate bridge name "${name}", already used at ${same.definedAt}`);
      }
      const file = ctx.where.slice(0, ctx.where.lastIndexOf(":"));
      bridges.push({ name, definedAt: ctx.where, file, values: {}, topics: [], tls: {} });
      ctx.state.connectionAt = ctx.where;
    },
  },
  ...["address", "addresses"].map((name) =>
    bridgeOption(name, words("host[:port] addresses"), (ctx, bridge, args) => {
      ctx.once(bridge, "address");
      bridge.values.addresses = args.map((word) => parseBridgeAddress(ctx, word));
    })
  ),
  BRIDGE_TOPIC,
  BRIDGE_RESTART_TIMEOUT,
  bridgeOption(
    "bridge_protocol_version",
    enumOf(["mqttv50", "mqttv311", "mqttv31"]),
    (_, bridge, value) => {
      bridge.values.protocolVersion = value === "mqttv50" ? 5 : value === "mqttv311" ? 4 : 3;
    },
  ),
  bridgeOption("start_type", words("automatic, lazy or once"), (ctx, bridge, args) => {
    const [type] = args;
    if (type === "manual") ctx.fail('start_type "manual" is not supported, as in Mosquitto');
    if (args.length !== 1 || (type !== "automatic" && type !== "lazy" && type !== "once")) {
      ctx.fail(`expected automatic, lazy or once, got "${args.join(" ")}"`);
    }
    bridge.values.startType = type as BridgeConfig["startType"];
  }),
  bridgeOption("cleansession", BOOLEAN, (_, bridge, value) => {
    bridge.values.cleanSession = value;
  }),
  bridgeOption("local_cleansession", BOOLEAN, (_, bridge, value) => {
    bridge.values.localCleanSession = value;
  }),
  bridgeOption("notifications", BOOLEAN, (_, bridge, value) => {
    bridge.values.notifications = value;
  }),
  bridgeOption("notifications_local_only", BOOLEAN, (_, bridge, value) => {
    bridge.values.notificationsLocalOnly = value;
  }),
  bridgeOption("round_robin", BOOLEAN, (_, bridge, value) => {
    bridge.values.roundRobin = value;
  }),
  bridgeOption("try_private", BOOLEAN, (_, bridge, value) => {
    bridge.values.tryPrivate = value;
  }),
  bridgeOption("bridge_attempt_unsubscribe", BOOLEAN, (_, bridge, value) => {
    bridge.values.attemptUnsubscribe = value;
  }),
  bridgeOption("bridge_outgoing_retain", BOOLEAN, (_, bridge, value) => {
    bridge.values.outgoingRetain = value;
  }),
  bridgeOption("bridge_insecure", BOOLEAN, (ctx, bridge, value) => {
    // As Mosquitto: the chain is still verified, only the host name check is off.
    if (value) {
      ctx.warn(
        `puts bridge "${bridge.name}" in insecure mode: the remote certificate's host name is not checked`,
      );
    }
    bridge.tls.insecure = value;
  }),
  bridgeOption("bridge_require_ocsp", BOOLEAN, (ctx, _bridge, value) => {
    if (value) ctx.fail("OCSP stapling cannot be required: Deno's TLS does not check it");
  }),
  atLeast("keepalive_interval", 5, 65535, "seconds", (bridge, value) => {
    bridge.values.keepalive = value;
  }),
  atLeast("idle_timeout", 1, INT_MAX, "second", (bridge, value) => {
    bridge.values.idleTimeout = value;
  }),
  atLeast("threshold", 1, INT_MAX, "message", (bridge, value) => {
    bridge.values.threshold = value;
  }),
  bridgeOption("bridge_max_packet_size", integer({ negative: 0 }), (_, bridge, value) => {
    bridge.values.maxPacketSize = value;
  }),
  ...bridgeString(["clientid", "remote_clientid"], "a client id", (bridge, value) => {
    bridge.values.remoteClientId = value;
  }),
  ...bridgeString(["local_clientid"], "a client id", (bridge, value) => {
    bridge.values.localClientId = value;
  }),
  ...bridgeString(["username", "remote_username"], "a user name", (bridge, value) => {
    bridge.values.remoteUsername = value;
  }),
  ...bridgeString(["password", "remote_password"], "a password", (bridge, value) => {
    bridge.values.remotePassword = value;
  }),
  ...bridgeString(["local_username"], "a user name", (bridge, value) => {
    bridge.values.localUsername = value;
  }),
  ...bridgeString(["local_password"], "a password", (bridge, value) => {
    bridge.values.localPassword = value;
  }),
  ...bridgeString(["notification_topic"], "a topic", (bridge, value) => {
    bridge.values.notificationTopic = value;
  }),
  ...bridgeString(["bridge_cafile"], "a file path", (bridge, value) => {
    bridge.tls.cafile = value;
  }),
  ...bridgeString(["bridge_capath"], "a directory", (bridge, value) => {
    bridge.tls.capath = value;
  }),
  ...bridgeString(["bridge_certfile"], "a file path", (bridge, value) => {
    bridge.tls.certfile = value;
  }),
  ...bridgeString(["bridge_keyfile"], "a file path", (bridge, value) => {
    bridge.tls.keyfile = value;
  }),
  ...bridgeString(["bridge_alpn"], "a protocol name", (bridge, value) => {
    bridge.tls.alpn = value;
  }),
  bridgeOption(
    "bridge_tls_version",
    enumOf(["tlsv1.3", "tlsv1.2", "tlsv1.1"]),
    (ctx, bridge, value) => {
      ctx.once(bridge, "bridge_tls_version");
      if (value === "tlsv1.3") {
        ctx.fail(
          "Deno's TLS cannot be limited to TLS 1.3 alone; use tlsv1.2, which takes TLS 1.2 and 1.3",
        );
      }
      if (value === "tlsv1.1") {
        ctx.warn("asks for TLS 1.1, which Deno does not speak: TLS 1.2 or 1.3 is used");
      }
      bridge.tls.version = value;
    },
  ),
  ...["bridge_identity", "bridge_psk"].map((name) =>
    bridgeRefused(
      name,
      string("a value"),
      "TLS-PSK is not supported (Deno's TLS has no pre-shared keys); use bridge_cafile with bridge_certfile and bridge_keyfile",
    )
  ),
  bridgeRefused(
    "bridge_bind_address",
    string("an address"),
    "the local address of the bridge's connection cannot be chosen (Deno cannot bind an outgoing connection)",
  ),
];

/** This machine's name, for Mosquitto's default remote client id `HOSTNAME.NAME`. */
function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/**
 * Turns the bridges collected into {@linkcode BridgeConfig}s with Mosquitto 2.0's defaults, and
 * checks what needs the whole section: an address and a topic each, unique local client ids, TLS
 * settings that belong together.
 */
export function finishBridges(state: ParseState): BridgeConfig[] {
  const configs: BridgeConfig[] = [];
  for (const draft of state.bridges ?? []) {
    const where = draft.definedAt;
    const colon = where.lastIndexOf(":");
    const fail: (detail: string) => never = (detail) => {
      throw new ConfigError(`Cannot use bridge "${draft.name}" defined at ${where}: ${detail}`, {
        file: where.slice(0, colon),
        line: Number(where.slice(colon + 1)),
        option: "connection",
      });
    };
    const v = draft.values;
    if (v.addresses === undefined) fail('no "address" given');
    if (draft.topics.length === 0) fail('no "topic" given');
    const protocolVersion = v.protocolVersion ?? 4;
    if (v.remotePassword !== undefined && v.remoteUsername === undefined && protocolVersion !== 5) {
      fail('"remote_password" needs "remote_username" below MQTT 5 [MQTT-3.1.2-22]');
    }
    const cleanSession = v.cleanSession ?? false;
    const remoteClientId = v.remoteClientId ?? `${hostname()}.${draft.name}`;
    const notificationTopic = v.notificationTopic ??
      `$SYS/broker/connection/${remoteClientId}/state`;
    if (!isValidTopicName(notificationTopic)) {
      fail(`notification topic "${notificationTopic}" is not a valid topic name`);
    }
    const config: BridgeConfig = {
      name: draft.name,
      addresses: v.addresses,
      roundRobin: v.roundRobin ?? false,
      topics: draft.topics,
      protocolVersion,
      cleanSession,
      localCleanSession: v.localCleanSession ?? cleanSession,
      remoteClientId,
      localClientId: v.localClientId ?? `local.${remoteClientId}`,
      keepalive: v.keepalive ?? 60,
      restartTimeout: v.restartTimeout ?? { base: 5, cap: 30 },
      startType: v.startType ?? "automatic",
      idleTimeout: v.idleTimeout ?? 60,
      threshold: v.threshold ?? 10,
      tryPrivate: v.tryPrivate ?? true,
      notifications: v.notifications ?? true,
      notificationTopic,
      notificationsLocalOnly: v.notificationsLocalOnly ?? false,
      attemptUnsubscribe: v.attemptUnsubscribe ?? true,
      outgoingRetain: v.outgoingRetain ?? true,
      maxPacketSize: v.maxPacketSize ?? 0,
      definedAt: where,
    };
    for (
      const key of ["remoteUsername", "remotePassword", "localUsername", "localPassword"] as const
    ) {
      const value = v[key];
      if (value !== undefined) config[key] = value;
    }
    const tls = draft.tls;
    if (tls.cafile !== undefined || tls.capath !== undefined) {
      if ((tls.certfile === undefined) !== (tls.keyfile === undefined)) {
        fail('"bridge_certfile" and "bridge_keyfile" go together: give both or neither');
      }
      config.tls = { ...tls, version: tls.version ?? "tlsv1.2" };
    } else {
      const given = (["certfile", "keyfile", "alpn", "version", "insecure"] as const).filter((
        key,
      ) => tls[key] !== undefined && tls[key] !== false);
      if (given.length > 0) {
        // Mosquitto would quietly connect without TLS here; a plain connection is not what the
        // file asks for.
        fail(
          `"bridge_${
            given[0] === "version" ? "tls_version" : given[0]
          }" needs "bridge_cafile" or "bridge_capath", which turn TLS on`,
        );
      }
    }
    const twin = configs.find((other) => other.localClientId === config.localClientId);
    if (twin !== undefined) {
      fail(
        `local_clientid "${config.localClientId}" is also the one of bridge "${twin.name}"; set a different local_clientid for one of them`,
      );
    }
    configs.push(config);
  }
  return configs;
}

/** Options midge implements, then options accepted with a warning, by area. */
export const OPTIONS: readonly OptionRow[] = [
  // Listeners.
  LISTENER,
  PORT_OPTION,
  BIND_ADDRESS,
  listenerOption("max_connections", integer({ negative: -1 }), (_, l, v) => {
    l.maxConnections = v;
  }),
  listenerOption("protocol", enumOf<ListenerProtocol>(["mqtt", "websockets"]), (_, l, v) => {
    l.protocol = v;
  }),
  listenerOption("socket_domain", enumOf<SocketDomain>(["ipv4", "ipv6"]), (_, l, v) => {
    l.socketDomain = v;
  }),
  listenerOption("max_topic_alias", integer({ max: 65535 }), (_, l, v) => {
    l.maxTopicAlias = v;
  }),
  // midge's own: HTTP on a `protocol websockets` listener (checked once the listener is complete).
  listenerOption("metrics", BOOLEAN, (ctx, l, v) => {
    if (v) l.metricsAt = ctx.where;
    else delete l.metricsAt;
  }),
  listenerOption("dashboard", BOOLEAN, (ctx, l, v) => {
    if (v) l.dashboardAt = ctx.where;
    else delete l.dashboardAt;
  }),

  // Security that midge implements.
  PER_LISTENER_SETTINGS,
  securityOption("allow_anonymous", BOOLEAN, (ctx, s, v) => {
    s.allowAnonymous = v;
    s.allowAnonymousAt = ctx.where;
  }),
  securityOption("allow_zero_length_clientid", BOOLEAN, (_, s, v) => {
    s.allowZeroLengthClientId = v;
  }),
  securityOption("auto_id_prefix", string("a prefix"), (ctx, s, v) => {
    ctx.once(s, "auto_id_prefix");
    s.autoIdPrefix = v;
  }),

  // Limits and behaviour.
  globalOption("max_inflight_messages", integer({ max: 65535, negative: 0 }), (ctx, v) => {
    ctx.state.global.maxInflightMessages = v;
  }),
  globalOption("max_queued_messages", integer({ negative: 0 }), (ctx, v) => {
    ctx.state.global.maxQueuedMessages = v;
  }),
  globalOption("max_queued_bytes", integer({ negative: 0 }), (ctx, v) => {
    ctx.state.global.maxQueuedBytes = v;
  }),
  globalOption("queue_qos0_messages", BOOLEAN, (ctx, v) => {
    ctx.state.global.queueQos0Messages = v;
  }),
  globalOption("message_size_limit", integer({ max: MAX_PAYLOAD }), (ctx, v) => {
    ctx.state.global.messageSizeLimit = v;
  }),
  // Mosquitto refuses less than 20 bytes, 0 included: leave the option out for "no limit".
  globalOption("max_packet_size", integer({ min: 20 }), (ctx, v) => {
    ctx.state.global.maxPacketSize = v;
  }),
  // Mosquitto 2.0 refuses keepalives under 10 seconds.
  globalOption("max_keepalive", integer({ min: 10, max: 65535 }), (ctx, v) => {
    ctx.state.global.maxKeepalive = v;
  }),
  globalOption("allow_duplicate_messages", BOOLEAN, (ctx, v) => {
    ctx.warn("is deprecated and will be removed; duplicates are allowed by default");
    ctx.state.global.allowDuplicateMessages = v;
  }),
  globalOption("retain_available", BOOLEAN, (ctx, v) => {
    ctx.state.global.retainAvailable = v;
  }),
  globalOption("upgrade_outgoing_qos", BOOLEAN, (ctx, v) => {
    ctx.state.global.upgradeOutgoingQos = v;
  }),
  globalOption("set_tcp_nodelay", BOOLEAN, (ctx, v) => {
    ctx.state.global.setTcpNodelay = v;
  }),
  globalOption("sys_interval", integer({ max: 65535 }), (ctx, v) => {
    ctx.state.global.sysInterval = v;
  }),

  // Logging.
  LOG_DEST,
  LOG_TYPE,
  globalOption("connection_messages", BOOLEAN, (ctx, v) => {
    ctx.state.global.log.connectionMessages = v;
  }),
  globalOption("log_timestamp", BOOLEAN, (ctx, v) => {
    ctx.state.global.log.timestamp = v;
  }),
  globalOption("log_timestamp_format", string("a strftime format"), (ctx, v) => {
    ctx.once(ctx.state.global.log, "log_timestamp_format");
    ctx.state.global.log.timestampFormat = v;
  }),

  // Process.
  INCLUDE_DIR,
  globalOption("pid_file", string("a file path"), (ctx, v) => {
    ctx.once(ctx.state.global, "pid_file");
    ctx.state.global.pidFile = v;
  }),
  globalOption("user", string("a user name"), (ctx, v) => {
    ctx.once(ctx.state.global, "user");
    ctx.state.global.user = v;
    ctx.warn(
      `is ignored: midge cannot drop privileges to user "${v}" (Deno has no setuid), so it keeps running as the user that started it`,
    );
  }),
  {
    name: "retry_interval",
    scope: "global",
    // Mosquitto ignores it without reading its value.
    kind: "ignored",
    handle(ctx) {
      ctx.warn("is no longer available in Mosquitto 2.0 and is ignored");
    },
  },

  // Pending: authentication and access control.
  securityOption("password_file", string("a file path"), (ctx, s, v) => {
    ctx.once(s, "password_file");
    s.passwordFile = v;
  }),
  securityOption("acl_file", string("a file path"), (ctx, s, v) => {
    ctx.once(s, "acl_file");
    s.aclFile = v;
  }),
  unsupported(
    "psk_file",
    "security",
    string("a file path"),
    "Deno's TLS has no pre-shared keys (TLS-PSK)",
  ),
  ...["auth_plugin", "plugin"].map((name) =>
    pending(name, "security", "security", string("a file path"), {
      note: (ctx) => {
        ctx.state.pluginAt = ctx.where;
      },
    })
  ),
  pending("auth_opt_", "global", "security", string("a value"), { prefix: true, after: "plugin" }),
  pending("plugin_opt_", "global", "security", string("a value"), {
    prefix: true,
    after: "plugin",
  }),
  pending("auth_plugin_deny_special_chars", "global", "security", BOOLEAN, { after: "plugin" }),
  pending("check_retain_source", "global", "security", BOOLEAN),
  globalOption("clientid_prefixes", string("a prefix"), (ctx, v) => {
    ctx.once(ctx.state.global, "clientid_prefixes");
    ctx.state.global.clientidPrefixes = v;
  }),
  listenerOption("use_username_as_clientid", BOOLEAN, (_, l, v) => {
    l.useUsernameAsClientId = v;
  }),

  // TLS, per listener (checked as a whole once the file is read: checkListenerTls).
  tlsOption("certfile", string("a file path"), (t, v) => t.certfile = v),
  tlsOption("keyfile", string("a file path"), (t, v) => t.keyfile = v),
  tlsOption("cafile", string("a file path"), (t, v) => t.cafile = v),
  tlsOption("capath", string("a directory"), (t, v) => t.capath = v),
  tlsOption("tls_version", enumOf<TlsVersion>(["tlsv1.3", "tlsv1.2", "tlsv1.1"]), (t, v) => {
    t.tlsVersion = v;
  }),
  tlsOption("require_certificate", BOOLEAN, (t, v) => t.requireCertificate = v),
  tlsOption("use_identity_as_username", BOOLEAN, (t, v) => t.useIdentityAsUsername = v),
  tlsOption("use_subject_as_username", BOOLEAN, (t, v) => t.useSubjectAsUsername = v),
  // Accepting these would serve something weaker than the file asks for; refuse instead.
  unsupported(
    "crlfile",
    "listener",
    string("a file path"),
    "Deno's TLS does not check certificate revocation lists, so revoked client certificates would be accepted",
  ),
  unsupported(
    "psk_hint",
    "listener",
    string("a value"),
    "Deno's TLS has no pre-shared keys (TLS-PSK)",
  ),
  // rustls offers only strong AEAD cipher suites and no finite-field Diffie-Hellman: these
  // cannot weaken anything, so they are accepted with a warning.
  ...["dhparamfile"].map((name) => pending(name, "listener", "tls", string("a file path"))),
  ...["ciphers", "ciphers_tls1.3", "tls_engine", "tls_engine_kpass_sha1"].map((name) =>
    pending(name, "listener", "tls", string("a value"))
  ),
  pending("tls_keyform", "listener", "tls", enumOf(["pem", "engine"])),

  // Pending: other listener options.
  pending("bind_interface", "listener", "listener", string("a network interface")),
  pending("mount_point", "listener", "listener", string("a topic prefix"), { after: "listener" }),
  ...["max_qos", "maximum_qos"].map((name) =>
    pending(name, "listener", "listener", integer({ max: 2 }))
  ),
  pending("http_dir", "listener", "websockets", string("a directory")),
  pending("websockets_log_level", "global", "websockets", integer({ min: -INT_MAX })),
  pending("websockets_headers_size", "global", "websockets", integer({ max: 65535 })),

  // Persistence. `retained_persistence` is Mosquitto's old name for `persistence`.
  ...["persistence", "retained_persistence"].map((name) =>
    globalOption(name, BOOLEAN, (ctx, v) => {
      ctx.state.global.persistence.enabled = v;
    })
  ),
  globalOption("persistence_file", string("a file name"), (ctx, v) => {
    ctx.once(ctx.state.global.persistence, "persistence_file");
    ctx.state.global.persistence.file = v;
  }),
  globalOption("persistence_location", string("a directory"), (ctx, v) => {
    ctx.once(ctx.state.global.persistence, "persistence_location");
    ctx.state.global.persistence.location = v;
  }),
  // Mosquitto saves a snapshot every autosave_interval seconds (or changes); midge commits every
  // change before acknowledging it, batched per event-loop tick, so there is nothing to tune.
  globalOption("autosave_interval", integer({ negative: 0 }), (ctx) => {
    ctx.warn(AUTOSAVE_NOT_NEEDED);
  }),
  globalOption("autosave_on_changes", BOOLEAN, (ctx) => {
    ctx.warn(AUTOSAVE_NOT_NEEDED);
  }),
  globalOption("persistent_client_expiration", DURATION, (ctx, v) => {
    ctx.state.global.persistence.clientExpiration = v;
  }),
  // Mosquitto 2.0.21+/2.1: how often to sweep expired retained messages from memory.
  pending("retain_expiry_interval", "global", "persistence", integer()),

  // Pending: limits and logging.
  globalOption("memory_limit", integer({ max: Number.MAX_SAFE_INTEGER }), (ctx, v) => {
    ctx.state.global.memoryLimit = v;
  }),
  // midge's own: Mosquitto has no such option (it waits for CONNECT as long as the keep alive
  // of a client that never said one would be, i.e. forever on an idle socket).
  globalOption("connect_timeout", integer({ min: 1, max: 3600 }), (ctx, v) => {
    ctx.state.global.connectTimeout = v;
  }),
  pending("max_inflight_bytes", "global", "limits", integer({ negative: 0 })),
  pending("log_facility", "global", "logging", integer({ max: 7 })),

  // Bridges: `connection` starts one; the rest need it first, as in Mosquitto.
  ...BRIDGE_OPTIONS,
];

const BY_NAME = new Map(OPTIONS.filter((row) => !row.prefix).map((row) => [row.name, row]));
const BY_PREFIX = OPTIONS.filter((row) => row.prefix);

/** The row for option `name`, or undefined when Mosquitto 2.0 has no such option. */
export function findOption(name: string): OptionRow | undefined {
  return BY_NAME.get(name) ??
    BY_PREFIX.find((row) => name.startsWith(row.name) && name.length > row.name.length);
}
