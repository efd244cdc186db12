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

import type { ListenerProtocol, LogDest, LogType, SocketDomain } from "./types.ts";

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
  /** Security settings used when `per_listener_settings` is true. */
  security: SecurityDraft;
  /** Names of pending options given for this listener. */
  unsupportedOptions: string[];
  /** `FILE:LINE` of the `listener` line, or "default listener". */
  definedAt: string;
  /** Listener options applied to it, first one first (tells whether the default listener is used). */
  configuredBy: { option: string; where: string }[];
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
  /** `pid_file`. */
  pidFile?: string;
  /** `user`. */
  user?: string;
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
  pending("password_file", "security", "security", string("a file path")),
  pending("acl_file", "security", "security", string("a file path")),
  pending("psk_file", "security", "security", string("a file path")),
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
  pending("clientid_prefixes", "global", "security", string("a prefix")),
  pending("use_username_as_clientid", "listener", "security", BOOLEAN),

  // Pending: TLS, per listener.
  ...["cafile", "capath", "certfile", "keyfile", "crlfile", "dhparamfile"].map((name) =>
    pending(name, "listener", "tls", string("a file path"))
  ),
  ...["ciphers", "ciphers_tls1.3", "psk_hint", "tls_engine", "tls_engine_kpass_sha1"].map((name) =>
    pending(name, "listener", "tls", string("a value"))
  ),
  pending("tls_version", "listener", "tls", enumOf(["tlsv1.3", "tlsv1.2", "tlsv1.1"])),
  pending("tls_keyform", "listener", "tls", enumOf(["pem", "engine"])),
  ...["require_certificate", "use_identity_as_username", "use_subject_as_username"].map((name) =>
    pending(name, "listener", "tls", BOOLEAN)
  ),

  // Pending: other listener options.
  pending("bind_interface", "listener", "listener", string("a network interface")),
  pending("mount_point", "listener", "listener", string("a topic prefix"), { after: "listener" }),
  ...["max_qos", "maximum_qos"].map((name) =>
    pending(name, "listener", "listener", integer({ max: 2 }))
  ),
  pending("http_dir", "listener", "websockets", string("a directory")),
  pending("websockets_log_level", "global", "websockets", integer({ min: -INT_MAX })),
  pending("websockets_headers_size", "global", "websockets", integer({ max: 65535 })),

  // Pending: persistence.
  ...["persistence", "retained_persistence", "autosave_on_changes"].map((name) =>
    pending(name, "global", "persistence", BOOLEAN)
  ),
  pending("persistence_file", "global", "persistence", string("a file name")),
  pending("persistence_location", "global", "persistence", string("a directory")),
  pending("autosave_interval", "global", "persistence", integer({ negative: 0 })),
  pending(
    "persistent_client_expiration",
    "global",
    "persistence",
    words("a duration such as 14d"),
  ),

  // Pending: limits and logging.
  pending("memory_limit", "global", "limits", integer({ max: Number.MAX_SAFE_INTEGER })),
  pending("max_inflight_bytes", "global", "limits", integer({ negative: 0 })),
  pending("log_facility", "global", "logging", integer({ max: 7 })),

  // Pending: bridges. `connection` starts one; the rest need it first, as in Mosquitto.
  pending("connection", "global", "bridge", BRIDGE_NAME, {
    note: (ctx) => {
      ctx.state.connectionAt = ctx.where;
    },
  }),
  ...["address", "addresses"].map((name) =>
    pending(name, "global", "bridge", words("host[:port] addresses"), { after: "connection" })
  ),
  pending("topic", "global", "bridge", words("a topic pattern"), { after: "connection" }),
  pending("restart_timeout", "global", "bridge", words("seconds"), { after: "connection" }),
  pending(
    "bridge_protocol_version",
    "global",
    "bridge",
    enumOf(["mqttv50", "mqttv311", "mqttv31"]),
    { after: "connection" },
  ),
  pending("start_type", "global", "bridge", enumOf(["automatic", "lazy", "once"]), {
    after: "connection",
  }),
  ...[
    "bridge_attempt_unsubscribe",
    "bridge_insecure",
    "bridge_outgoing_retain",
    "bridge_require_ocsp",
    "cleansession",
    "local_cleansession",
    "notifications",
    "notifications_local_only",
    "round_robin",
    "try_private",
  ].map((name) => pending(name, "global", "bridge", BOOLEAN, { after: "connection" })),
  ...["bridge_max_packet_size", "idle_timeout", "keepalive_interval", "threshold"].map((name) =>
    pending(name, "global", "bridge", integer({ negative: 0 }), { after: "connection" })
  ),
  ...[
    "bridge_alpn",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_identity",
    "bridge_keyfile",
    "bridge_psk",
    "bridge_tls_version",
    "clientid",
    "remote_clientid",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "password",
    "remote_password",
    "username",
    "remote_username",
  ].map((name) => pending(name, "global", "bridge", string("a value"), { after: "connection" })),
];

const BY_NAME = new Map(OPTIONS.filter((row) => !row.prefix).map((row) => [row.name, row]));
const BY_PREFIX = OPTIONS.filter((row) => row.prefix);

/** The row for option `name`, or undefined when Mosquitto 2.0 has no such option. */
export function findOption(name: string): OptionRow | undefined {
  return BY_NAME.get(name) ??
    BY_PREFIX.find((row) => name.startsWith(row.name) && name.length > row.name.length);
}
