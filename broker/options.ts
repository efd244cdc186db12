/**
 * Broker settings with Mosquitto 2.0's defaults, so that clients see no difference.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";
import { OpenSecurity, type SecurityPolicy } from "./auth/security.ts";
import type { TlsSettings } from "./listeners/tls.ts";
import type { Store } from "./store/store.ts";

/** Settings of a {@linkcode Broker}; every field is optional and defaults as Mosquitto 2.0 does. */
export interface BrokerOptions {
  /** Logger to write Mosquitto-shaped lines to; defaults to LogTape category ["midge"]. */
  log?: Logger;
  /** Persistence backend (`persistence true`); in memory only when absent. */
  store?: Store;
  /** Log every publish, subscribe and packet (Mosquitto `-v` / `log_type all`). */
  verbose?: boolean;
  /** Log connects and disconnects (Mosquitto `connection_messages`, default true). */
  connectionMessages?: boolean;
  /** Queued QoS 1/2 messages per client beyond the in-flight window (`max_queued_messages`, 1000; 0 = no limit). */
  maxQueuedMessages?: number;
  /** Queued bytes per client (`max_queued_bytes`, 0 = no limit). */
  maxQueuedBytes?: number;
  /** Queue QoS 0 messages for offline persistent clients (`queue_qos0_messages`, false). */
  queueQos0Messages?: boolean;
  /** Outgoing QoS 1/2 messages in flight per client (`max_inflight_messages`, 20; 0 = no limit). */
  maxInflightMessages?: number;
  /** Receive Maximum advertised to v5 clients: their unacknowledged QoS 2 PUBLISHes to us (20). */
  receiveMaximum?: number;
  /** Topic Alias Maximum advertised to v5 clients (`max_topic_alias`, 10). */
  topicAliasMaximum?: number;
  /** Largest packet accepted from clients in bytes (`max_packet_size`, 0 = the protocol maximum). */
  maxPacketSize?: number;
  /** Largest PUBLISH payload accepted (`message_size_limit`, 0 = no limit). */
  messageSizeLimit?: number;
  /** Largest keepalive accepted, seconds (`max_keepalive`, 65535). */
  maxKeepalive?: number;
  /** Accept retained messages (`retain_available`, true). */
  retainAvailable?: boolean;
  /** Highest QoS accepted (`max_qos`, 2). */
  maxQos?: 0 | 1 | 2;
  /** Let clients connect with an empty client id (`allow_zero_length_clientid`, true). */
  allowZeroLengthClientId?: boolean;
  /** Prefix of server-assigned client ids (`auto_id_prefix`, "auto-"). */
  autoIdPrefix?: string;
  /** Bytes waiting to be written to one client before QoS 0 messages to it are dropped (1 MiB). */
  maxOutgoingBytes?: number;
  /** Seconds a client may stay over `maxOutgoingBytes` before it is disconnected (30). */
  stuckClientTimeout?: number;
  /** Seconds a new connection has to send CONNECT (20; `connect_timeout`, midge only). */
  connectTimeout?: number;
  /**
   * Resident memory in bytes above which new clients are refused (0x89 Server busy) and incoming
   * PUBLISHes dropped (QoS 1/2 answered 0x97 Quota exceeded) (`memory_limit`, 0 = no limit).
   */
  memoryLimit?: number;
  /** Let clients connect without a user name on listeners opened by `listen()` (true). */
  allowAnonymous?: boolean;
  /**
   * `$SYS/broker/...` update interval in seconds (`sys_interval`; 0 = off). Off by default for an
   * embedded broker; the `midge` command takes mosquitto.conf's default of 10.
   */
  sysInterval?: number;
  /** Allow overlapping subscriptions to deliver one copy each (`allow_duplicate_messages`). */
  allowDuplicateMessages?: boolean;
  /** Upgrade outgoing QoS to the subscription's (`upgrade_outgoing_qos`, false). */
  upgradeOutgoingQos?: boolean;
  /** Disable Nagle's algorithm on client sockets (`set_tcp_nodelay`; midge default true). */
  setTcpNodelay?: boolean;
  /**
   * Seconds a disconnected session lasts at most, whatever its own expiry interval — so also
   * 3.1.1 clean-session-false sessions, which never expire otherwise
   * (`persistent_client_expiration`; 0 = no limit).
   */
  persistentClientExpiration?: number;
}

/**
 * Settings that Mosquitto keeps per listener (or, without `per_listener_settings`, copies to all):
 * each connection reads them from the listener that accepted it, so a reload updates them live.
 */
export interface ListenerSettings {
  /** Clients without a user name may connect (`allow_anonymous`). */
  allowAnonymous: boolean;
  /** `allow_zero_length_clientid`. */
  allowZeroLengthClientId: boolean;
  /** `auto_id_prefix`. */
  autoIdPrefix: string;
  /** Topic Alias Maximum advertised to v5 clients on this listener (`max_topic_alias`). */
  topicAliasMaximum: number;
  /** Clients at once on this listener (`max_connections`, -1 = no limit). */
  maxConnections: number;
  /** Authentication and authorisation for clients of this listener. */
  security: SecurityPolicy;
  /** Serve TLS (MQTT) or wss (WebSockets) with these certificates (`certfile`, `keyfile`, ...). */
  tls?: TlsSettings;
  /** Replace each client's id with its user name (`use_username_as_clientid`, false). */
  useUsernameAsClientId?: boolean;
  /** Only client ids starting with this may connect (`clientid_prefixes`). */
  clientIdPrefix?: string;
  /** WebSocket listeners: answer `GET /metrics` in the Prometheus text format (`metrics`, false). */
  metrics: boolean;
  /** WebSocket listeners: serve the web dashboard at `/` (`dashboard`, false). */
  dashboard: boolean;
}

/** {@linkcode BrokerOptions} with every default filled in. */
export type ResolvedOptions =
  & Required<Omit<BrokerOptions, "log" | "store">>
  & Pick<BrokerOptions, "log">;

/** The listener settings a `listen()` call gets from the broker options. */
export function defaultListenerSettings(options: ResolvedOptions): ListenerSettings {
  return {
    allowAnonymous: options.allowAnonymous,
    allowZeroLengthClientId: options.allowZeroLengthClientId,
    autoIdPrefix: options.autoIdPrefix,
    topicAliasMaximum: options.topicAliasMaximum,
    maxConnections: -1,
    security: new OpenSecurity(options.allowAnonymous),
    metrics: false,
    dashboard: false,
  };
}

/** Fills in Mosquitto 2.0's defaults. */
export function resolveOptions(options: BrokerOptions = {}): ResolvedOptions {
  return {
    log: options.log,
    verbose: options.verbose ?? false,
    connectionMessages: options.connectionMessages ?? true,
    maxQueuedMessages: options.maxQueuedMessages ?? 1000,
    maxQueuedBytes: options.maxQueuedBytes ?? 0,
    queueQos0Messages: options.queueQos0Messages ?? false,
    maxInflightMessages: options.maxInflightMessages ?? 20,
    receiveMaximum: options.receiveMaximum ?? 20,
    topicAliasMaximum: options.topicAliasMaximum ?? 10,
    maxPacketSize: options.maxPacketSize ?? 0,
    messageSizeLimit: options.messageSizeLimit ?? 0,
    maxKeepalive: options.maxKeepalive ?? 65535,
    retainAvailable: options.retainAvailable ?? true,
    maxQos: options.maxQos ?? 2,
    allowZeroLengthClientId: options.allowZeroLengthClientId ?? true,
    autoIdPrefix: options.autoIdPrefix ?? "auto-",
    maxOutgoingBytes: options.maxOutgoingBytes ?? 1024 * 1024,
    stuckClientTimeout: options.stuckClientTimeout ?? 30,
    connectTimeout: options.connectTimeout ?? 20,
    memoryLimit: options.memoryLimit ?? 0,
    allowAnonymous: options.allowAnonymous ?? true,
    sysInterval: options.sysInterval ?? 0,
    allowDuplicateMessages: options.allowDuplicateMessages ?? false,
    upgradeOutgoingQos: options.upgradeOutgoingQos ?? false,
    setTcpNodelay: options.setTcpNodelay ?? true,
    persistentClientExpiration: options.persistentClientExpiration ?? 0,
  };
}
