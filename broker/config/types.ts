/**
 * The typed result of reading a `mosquitto.conf`: every option midge understands, with
 * Mosquitto 2.0's defaults filled in, so the broker never has to know the file format.
 *
 * @module
 */

/** What a listener speaks: plain MQTT over TCP, or MQTT over WebSockets (`protocol`). */
export type ListenerProtocol = "mqtt" | "websockets";

/** Restricts a listener to one IP family (`socket_domain`); unset means both. */
export type SocketDomain = "ipv4" | "ipv6";

/**
 * A kind of log message (`log_type`). The keywords `all` and `none` are not kinds of their own:
 * `all` adds every kind and `none` clears the set, as Mosquitto's bit mask does.
 */
export type LogType =
  | "error"
  | "warning"
  | "notice"
  | "information"
  | "subscribe"
  | "unsubscribe"
  | "websockets"
  | "debug";

/** Where log lines go (`log_dest`); `log_dest none` leaves the list empty. */
export type LogDest =
  | { kind: "stdout" }
  | { kind: "stderr" }
  | { kind: "syslog" }
  | { kind: "topic" }
  | { kind: "file"; path: string };

/** Logging settings (`log_dest`, `log_type`, `connection_messages`, `log_timestamp*`). */
export interface LogConfig {
  /** Destinations in the order first named; defaults to stderr. */
  dest: LogDest[];
  /** Kinds of message to log; defaults to error, warning, notice and information. */
  types: Set<LogType>;
  /** Log client connects and disconnects (`connection_messages`, true). */
  connectionMessages: boolean;
  /** Prefix each line with a timestamp (`log_timestamp`, true). */
  timestamp: boolean;
  /** strftime format of that timestamp (`log_timestamp_format`); unset means unix seconds. */
  timestampFormat?: string;
}

/**
 * Authentication settings that `per_listener_settings true` moves from the broker to each
 * listener. Only the options midge implements appear here; `password_file`, `acl_file`,
 * `psk_file` and plugins are accepted with a "not supported yet" warning.
 */
export interface SecurityOptions {
  /** Let clients connect without a username (`allow_anonymous`). */
  allowAnonymous: boolean;
  /** Let clients connect with an empty client id (`allow_zero_length_clientid`, true). */
  allowZeroLengthClientId: boolean;
  /** Prefix of client ids the broker assigns (`auto_id_prefix`, "auto-"). */
  autoIdPrefix: string;
}

/** One network listener (`listener PORT [ADDRESS]`, or the default listener of `port`). */
export interface ListenerConfig {
  /** TCP port, 1 to 65535. */
  port: number;
  /** Address or host name to bind to; unset means every interface. */
  bindAddress?: string;
  /** IP family to listen on; unset means both (`socket_domain`). */
  socketDomain?: SocketDomain;
  /** `protocol`, "mqtt" unless set. */
  protocol: ListenerProtocol;
  /** Most clients connected at once through this listener (`max_connections`, -1 = no limit). */
  maxConnections: number;
  /** Topic aliases an MQTT 5 client may create (`max_topic_alias`, 10); per listener in Mosquitto. */
  maxTopicAlias: number;
  /** This listener's authentication settings; present only when `per_listener_settings` is true. */
  security?: SecurityOptions;
  /**
   * Options given for this listener that midge accepts but does not implement yet (e.g.
   * `certfile`, `mount_point`), so the broker can refuse to open a listener the user expects to
   * be encrypted rather than silently serving it in plain text.
   */
  unsupportedOptions: string[];
  /** Where it came from: `FILE:LINE` of its `listener` line, "default listener" or "local only mode". */
  definedAt: string;
}

/** Everything a `mosquitto.conf` (and the files its `include_dir` names) configures. */
export interface BrokerConfig {
  /** Listeners to open, in the order Mosquitto opens them (the default listener last). */
  listeners: ListenerConfig[];
  /**
   * True when no `listener`, `port` or `bind_address` was given: Mosquitto 2.0's local only
   * mode, listening on 127.0.0.1 and ::1 port 1883 with anonymous clients allowed. `listeners`
   * then holds those two loopback listeners.
   */
  localOnly: boolean;
  /** Authentication settings are per listener (`per_listener_settings`, false). */
  perListenerSettings: boolean;
  /** `allow_anonymous`: false once any listener is configured, true in local only mode. */
  allowAnonymous: boolean;
  /** `allow_zero_length_clientid`, true. */
  allowZeroLengthClientId: boolean;
  /** `auto_id_prefix`, "auto-". */
  autoIdPrefix: string;
  /** Outgoing QoS 1/2 messages in flight per client (`max_inflight_messages`, 20; 0 = no limit). */
  maxInflightMessages: number;
  /** Queued QoS 1/2 messages per client (`max_queued_messages`, 1000; 0 = no limit). */
  maxQueuedMessages: number;
  /** Queued bytes per client (`max_queued_bytes`, 0 = no limit). */
  maxQueuedBytes: number;
  /** Queue QoS 0 messages for offline persistent clients (`queue_qos0_messages`, false). */
  queueQos0Messages: boolean;
  /** Largest PUBLISH payload accepted (`message_size_limit`, 0 = no limit). */
  messageSizeLimit: number;
  /** Largest packet accepted from clients (`max_packet_size`, 0 = no limit). */
  maxPacketSize: number;
  /** Largest keepalive accepted from MQTT 5 clients, seconds (`max_keepalive`, 65535). */
  maxKeepalive: number;
  /** Deliver overlapping subscriptions' matches more than once (`allow_duplicate_messages`, true). */
  allowDuplicateMessages: boolean;
  /** Accept retained messages (`retain_available`, true). */
  retainAvailable: boolean;
  /** Deliver at the subscription's QoS rather than the message's (`upgrade_outgoing_qos`, false). */
  upgradeOutgoingQos: boolean;
  /** Disable Nagle's algorithm on client sockets (`set_tcp_nodelay`, false). */
  setTcpNodelay: boolean;
  /** Seconds between `$SYS` updates (`sys_interval`, 10; 0 = no `$SYS` tree). */
  sysInterval: number;
  /** Logging settings. */
  log: LogConfig;
  /** Where to write the process id (`pid_file`); unset means nowhere. */
  pidFile?: string;
  /** `user` as written; midge cannot drop privileges, so it only produces a warning. */
  user?: string;
  /** Things the user should know that do not stop the broker, each naming its file and line. */
  warnings: string[];
  /** Files read, the main file first, then the `include_dir` files in the order read. */
  sources: string[];
}
