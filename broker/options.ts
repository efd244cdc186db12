/**
 * Broker settings with Mosquitto 2.0's defaults, so that clients see no difference.
 *
 * @module
 */

import type { Logger } from "@logtape/logtape";

/** Settings of a {@linkcode Broker}; every field is optional and defaults as Mosquitto 2.0 does. */
export interface BrokerOptions {
  /** Logger to write Mosquitto-shaped lines to; defaults to LogTape category ["midge"]. */
  log?: Logger;
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
  /** Seconds a new connection has to send CONNECT (20). */
  connectTimeout?: number;
}

/** {@linkcode BrokerOptions} with every default filled in. */
export type ResolvedOptions = Required<Omit<BrokerOptions, "log">> & Pick<BrokerOptions, "log">;

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
  };
}
