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

/**
 * Persistence settings. Mosquitto's `autosave_interval` and `autosave_on_changes` have no field:
 * midge saves every change before acknowledging it, so there is nothing to autosave.
 */
export interface PersistenceConfig {
  /** Keep sessions, queued and retained messages in a file (`persistence`, false). */
  enabled: boolean;
  /** Directory of the file (`persistence_location`); unset means the working directory. */
  location?: string;
  /** File name (`persistence_file`); midge's default is `midge.db`, not `mosquitto.db`. */
  file: string;
  /**
   * Seconds a disconnected session may last at most, whatever its own expiry
   * (`persistent_client_expiration`, given as `14d` and the like; 0 = no limit).
   */
  clientExpiration: number;
}

/** The file name used when `persistence_file` is not given. */
export const DEFAULT_PERSISTENCE_FILE = "midge.db";

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
 * listener. Only the options midge implements appear here; plugins are accepted with a "not
 * supported yet" warning, and `psk_file` is refused (Deno's TLS has no pre-shared keys).
 */
export interface SecurityOptions {
  /** Let clients connect without a username (`allow_anonymous`). */
  allowAnonymous: boolean;
  /** Let clients connect with an empty client id (`allow_zero_length_clientid`, true). */
  allowZeroLengthClientId: boolean;
  /** Prefix of client ids the broker assigns (`auto_id_prefix`, "auto-"). */
  autoIdPrefix: string;
  /** Mosquitto password file to check user names and passwords against (`password_file`). */
  passwordFile?: string;
  /** Mosquitto ACL file deciding who may read and write which topics (`acl_file`). */
  aclFile?: string;
}

/** TLS versions `tls_version` names; Mosquitto's value is the lowest version accepted. */
export type TlsVersion = "tlsv1.3" | "tlsv1.2" | "tlsv1.1";

/** TLS of a listener: present when `certfile` and `keyfile` are given. */
export interface ListenerTlsConfig {
  /** PEM certificate chain (`certfile`). */
  certfile: string;
  /** PEM private key (`keyfile`). */
  keyfile: string;
  /** PEM file of CA certificates that client certificates must chain to (`cafile`). */
  cafile?: string;
  /** Directory of PEM CA certificates (`capath`). */
  capath?: string;
  /** Lowest TLS version accepted (`tls_version`); unset means TLS 1.2 and 1.3. */
  tlsVersion?: TlsVersion;
  /** Clients must present a certificate signed by a CA of `cafile`/`capath` (`require_certificate`). */
  requireCertificate: boolean;
  /** The certificate's common name is the client's user name (`use_identity_as_username`). */
  useIdentityAsUsername: boolean;
  /** The certificate's subject is the client's user name (`use_subject_as_username`). */
  useSubjectAsUsername: boolean;
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
  /** TLS (MQTT) or wss (WebSockets); unset for plain text. */
  tls?: ListenerTlsConfig;
  /** The client's user name replaces its client id (`use_username_as_clientid`); unset = false. */
  useUsernameAsClientId?: boolean;
  /** midge's `metrics true`: `GET /metrics` (Prometheus) on this `protocol websockets` listener. */
  metrics?: boolean;
  /** midge's `dashboard true`: the web dashboard at `/` of this `protocol websockets` listener. */
  dashboard?: boolean;
  /**
   * Options given for this listener that midge accepts but does not implement yet (e.g.
   * `mount_point`, `ciphers`). TLS options that cannot be honoured are refused by the parser
   * instead, so that no listener serves less than its file asks for.
   */
  unsupportedOptions: string[];
  /** Where it came from: `FILE:LINE` of its `listener` line, "default listener" or "local only mode". */
  definedAt: string;
}

/** Which way a bridge `topic` carries messages. */
export type BridgeDirection = "in" | "out" | "both";

/**
 * One bridge `topic PATTERN [DIRECTION [QOS [LOCAL_PREFIX REMOTE_PREFIX]]]` line, with the topic
 * filters it subscribes to on each side (prefix + pattern, as Mosquitto's bridge_topic.c builds
 * them).
 */
export interface BridgeTopicConfig {
  /** The pattern; undefined for `""` (a single topic remapped, both prefixes given). */
  pattern: string | undefined;
  direction: BridgeDirection;
  /** Publish/subscribe QoS on both sides (default 0). */
  qos: 0 | 1 | 2;
  /** Prefix on the local broker; undefined for none (`""`). */
  localPrefix: string | undefined;
  /** Prefix on the remote broker; undefined for none (`""`). */
  remotePrefix: string | undefined;
  /** `localPrefix + pattern`: what the bridge subscribes to locally (`out`, `both`). */
  localTopic: string;
  /** `remotePrefix + pattern`: what the bridge subscribes to remotely (`in`, `both`). */
  remoteTopic: string;
}

/** One remote broker address of a bridge (`address host[:port]`). */
export interface BridgeAddress {
  host: string;
  /** Default 1883. */
  port: number;
}

/** TLS to the remote broker: on when `bridge_cafile` or `bridge_capath` is given. */
export interface BridgeTlsConfig {
  /** `bridge_cafile`: PEM CA certificates that signed the remote's certificate. */
  cafile?: string;
  /** `bridge_capath`: a directory of PEM CA certificates (`*.crt`, `*.pem`). */
  capath?: string;
  /** `bridge_certfile`: PEM client certificate, with `keyfile`. */
  certfile?: string;
  /** `bridge_keyfile`: PEM private key of `certfile`. */
  keyfile?: string;
  /** `bridge_alpn`: application protocol to negotiate. */
  alpn?: string;
  /** `bridge_tls_version` as written (the lowest version accepted), default "tlsv1.2". */
  version: string;
  /** `bridge_insecure`: do not check the certificate's host name (the chain still is). */
  insecure?: boolean;
}

/** A bridge: a `connection NAME` section. Defaults are Mosquitto 2.0's. */
export interface BridgeConfig {
  /** `connection NAME`. */
  name: string;
  /** `address` / `addresses`, in order: the first is the main one. */
  addresses: BridgeAddress[];
  /** `round_robin` (false: fall back to the first address whenever it is back). */
  roundRobin: boolean;
  /** `topic` lines, in order. */
  topics: BridgeTopicConfig[];
  /** `bridge_protocol_version`: 3 (mqttv31), 4 (mqttv311, default) or 5 (mqttv50). */
  protocolVersion: 3 | 4 | 5;
  /** `cleansession` toward the remote broker (default false). */
  cleanSession: boolean;
  /** `local_cleansession` (default: `cleansession`). */
  localCleanSession: boolean;
  /** `remote_clientid` / `clientid`, default `HOSTNAME.NAME`. */
  remoteClientId: string;
  /** `local_clientid`, default `local.REMOTE_CLIENTID`. */
  localClientId: string;
  /** `remote_username` / `username`. */
  remoteUsername?: string;
  /** `remote_password` / `password`. */
  remotePassword?: string;
  /** `local_username`: the identity local ACLs check what the bridge publishes and reads against. */
  localUsername?: string;
  /** `local_password`. */
  localPassword?: string;
  /** `keepalive_interval` in seconds (default 60, at least 5). */
  keepalive: number;
  /**
   * `restart_timeout`: seconds before reconnecting. With `cap`, a jittered exponential backoff
   * from `base` up to `cap` ("decorrelated jitter"); without, the constant `base`. Default 5 / 30.
   */
  restartTimeout: { base: number; cap?: number };
  /** `start_type` (default automatic). */
  startType: "automatic" | "lazy" | "once";
  /** `idle_timeout`: seconds without traffic before a lazy bridge stops (default 60). */
  idleTimeout: number;
  /** `threshold`: queued messages that start a lazy bridge (default 10). */
  threshold: number;
  /** `try_private` (default true): announce the bridge to MQTT 3.x remotes. */
  tryPrivate: boolean;
  /** `notifications` (default true). */
  notifications: boolean;
  /** `notification_topic`; default `$SYS/broker/connection/REMOTE_CLIENTID/state`. */
  notificationTopic: string;
  /** `notifications_local_only` (default false). */
  notificationsLocalOnly: boolean;
  /** `bridge_attempt_unsubscribe` (default true). */
  attemptUnsubscribe: boolean;
  /** `bridge_outgoing_retain` (default true). */
  outgoingRetain: boolean;
  /** `bridge_max_packet_size`: largest packet sent to the remote, 0 = no limit of our own. */
  maxPacketSize: number;
  /** TLS settings, when the remote is reached over TLS. */
  tls?: BridgeTlsConfig;
  /** `FILE:LINE` of the `connection` line. */
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
  /** Persistence settings. */
  persistence: PersistenceConfig;
  /** Where to write the process id (`pid_file`); unset means nowhere. */
  pidFile?: string;
  /** `user` as written; midge cannot drop privileges, so it only produces a warning. */
  user?: string;
  /** `password_file` when `per_listener_settings` is false. */
  passwordFile?: string;
  /** `acl_file` when `per_listener_settings` is false. */
  aclFile?: string;
  /** Only clients whose id starts with this may connect (`clientid_prefixes`). */
  clientidPrefixes?: string;
  /** Memory in bytes above which clients and messages are refused (`memory_limit`); unset = 0. */
  memoryLimit?: number;
  /** Seconds a new connection has to send CONNECT (midge's `connect_timeout`); unset = 20. */
  connectTimeout?: number;
  /** Bridges (`connection` sections), in the order defined. */
  bridges: BridgeConfig[];
  /** Things the user should know that do not stop the broker, each naming its file and line. */
  warnings: string[];
  /** Files read, the main file first, then the `include_dir` files in the order read. */
  sources: string[];
}
