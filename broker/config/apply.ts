/**
 * Turns a parsed `mosquitto.conf` into what the broker runs with: broker options and per-listener
 * settings. Kept apart from parsing so the parser stays pure and the broker knows no file format.
 *
 * @module
 */

import { OpenSecurity } from "../auth/security.ts";
import type { BrokerOptions, ListenerSettings } from "../options.ts";
import { listenerSecurity } from "./parse.ts";
import type { BrokerConfig, ListenerConfig } from "./types.ts";

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
    setTcpNodelay: config.setTcpNodelay,
  };
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
    security: new OpenSecurity(security.allowAnonymous),
  };
}
