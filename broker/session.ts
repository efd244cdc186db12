/**
 * Session state that outlives a network connection (section 4.1): subscriptions, QoS 1/2
 * messages in flight and queued, and the QoS 2 packet ids received but not yet released.
 *
 * @module
 */

import type { ProtocolVersion, QoS, Subscription, Will } from "../codec/types.ts";
import { type ClientIdentity, OpenSecurity, type SecurityPolicy } from "./auth/security.ts";
import type { Connection } from "./connection.ts";
import { Fifo } from "./fifo.ts";
import type { Message } from "./message.ts";

/** A message to one client, waiting for a free in-flight slot or for the client to come back. */
export interface QueuedMessage {
  readonly message: Message;
  /** QoS after downgrade to the granted subscription QoS. */
  readonly qos: QoS;
  /** RETAIN flag to send: retain-as-published or retained-on-subscribe. */
  readonly retain: boolean;
  /** Subscription identifiers to send [MQTT-3.3.4-3]. */
  readonly identifiers: readonly number[];
  /** Position in the session's persisted deliveries; set when a store records it. */
  readonly seq?: number;
}

/** An outgoing QoS 1/2 message the client has not completed yet [MQTT-4.4.0-1]. */
export interface InflightMessage extends QueuedMessage {
  readonly packetId: number;
  /** "publish": waiting for PUBACK/PUBREC; "pubrel": PUBREL sent, waiting for PUBCOMP. */
  state: "publish" | "pubrel";
}

/** A subscription as the session remembers it, to restore it and to answer UNSUBSCRIBE. */
export interface SessionSubscription extends Subscription {
  /** Shared subscription group, when the filter was `$share/group/...`. */
  group: string | undefined;
  /** The filter without the `$share/group/` prefix. */
  filter: string;
  /** v5 Subscription Identifier, 0 when none. */
  identifier: number;
}

/** Stands in for a table not yet created, so that reads need no branch of their own. */
const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();
const EMPTY_SET: ReadonlySet<never> = new Set<never>();

/**
 * A Map that allocates its hash table with the first entry. An empty `Map` costs about 200 bytes
 * of heap, and most sessions (idle sensors, publishers) never subscribe or have a message in
 * flight; the wrapper costs one pointer until it is needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LazyMap } from "./session.ts";
 * const map = new LazyMap<string, number>();
 * assert.equal(map.size, 0);
 * map.set("a", 1);
 * assert.deepEqual([...map.entries()], [["a", 1]]);
 * ```
 */
export class LazyMap<K, V> implements Iterable<[K, V]> {
  #map: Map<K, V> | undefined;

  /** Number of entries. */
  get size(): number {
    return this.#map === undefined ? 0 : this.#map.size;
  }

  /** The value for `key`, or undefined. */
  get(key: K): V | undefined {
    return this.#map?.get(key);
  }

  /** Whether `key` has a value. */
  has(key: K): boolean {
    return this.#map !== undefined && this.#map.has(key);
  }

  /** Sets the value for `key`, creating the table on the first call. */
  set(key: K, value: V): this {
    (this.#map ??= new Map()).set(key, value);
    return this;
  }

  /** Removes `key`; true when it was there. */
  delete(key: K): boolean {
    return this.#map !== undefined && this.#map.delete(key);
  }

  /** Removes every entry and frees the table. */
  clear(): void {
    this.#map = undefined;
  }

  /** Keys in insertion order. */
  keys(): MapIterator<K> {
    return (this.#map ?? EMPTY_MAP as ReadonlyMap<K, V>).keys();
  }

  /** Values in insertion order. */
  values(): MapIterator<V> {
    return (this.#map ?? EMPTY_MAP as ReadonlyMap<K, V>).values();
  }

  /** Entries in insertion order. */
  entries(): MapIterator<[K, V]> {
    return (this.#map ?? EMPTY_MAP as ReadonlyMap<K, V>).entries();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}

/**
 * A Set that allocates its hash table with the first value, as {@linkcode LazyMap}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LazySet } from "./session.ts";
 * const set = new LazySet<number>();
 * assert.equal(set.has(1), false);
 * set.add(1);
 * assert.equal(set.size, 1);
 * ```
 */
export class LazySet<T> implements Iterable<T> {
  #set: Set<T> | undefined;

  /** Number of values. */
  get size(): number {
    return this.#set === undefined ? 0 : this.#set.size;
  }

  /** Whether `value` is in the set. */
  has(value: T): boolean {
    return this.#set !== undefined && this.#set.has(value);
  }

  /** Adds `value`, creating the table on the first call. */
  add(value: T): this {
    (this.#set ??= new Set()).add(value);
    return this;
  }

  /** Removes `value`; true when it was there. */
  delete(value: T): boolean {
    return this.#set !== undefined && this.#set.delete(value);
  }

  /** Removes every value and frees the table. */
  clear(): void {
    this.#set = undefined;
  }

  /** Values in insertion order. */
  values(): SetIterator<T> {
    return (this.#set ?? EMPTY_SET as ReadonlySet<T>).values();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }
}

/** Seconds value meaning "never expires" [MQTT-3.1.2-23]. */
export const SESSION_NEVER_EXPIRES = 0xffffffff;

/** One client id's session. */
export class Session {
  readonly clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection; {@linkcode SESSION_NEVER_EXPIRES} for ever. */
  expiryInterval: number;
  /** The connection using this session, if the client is online. */
  connection: Connection | undefined;
  /** Who the client was at its last CONNECT, for read authorisation while it is offline. */
  identity: ClientIdentity;
  /** The security policy of the listener it last connected through. */
  security: SecurityPolicy;
  /** Key of that listener, to pick up its reloaded policy while the client is offline. */
  listenerKey: string | undefined;
  /** Subscriptions by the filter as the client wrote it (with any `$share/group/`). */
  readonly subscriptions = new LazyMap<string, SessionSubscription>();
  /** Outgoing QoS 1/2 messages by packet id, in the order they were sent. */
  readonly inflight = new LazyMap<number, InflightMessage>();
  /** Messages waiting for an in-flight slot or for the client to reconnect. */
  readonly queue: Fifo<QueuedMessage> = new Fifo();
  /** Bytes of payload in `queue`, for `max_queued_bytes`. */
  queuedBytes = 0;
  /** QoS 2 packet ids received and answered with PUBREC, not yet released by PUBREL. */
  readonly incomingQos2 = new LazySet<number>();
  /** Messages dropped because the queue was full, for metrics and the log. */
  droppedMessages = 0;
  /** `Date.now()` when the connection ended; 0 while connected. */
  disconnectedAt = 0;
  /** Will waiting for its delay interval to pass [MQTT-3.1.3-9]. */
  pendingWill: { will: Will; publishAt: number } | undefined;
  /** Next position for persisted deliveries (queue order survives a restart). */
  nextSeq = 1;
  #nextPacketId = 1;

  /** Creates an empty session. */
  constructor(
    clientId: string,
    protocolVersion: ProtocolVersion,
    expiryInterval: number,
    security: SecurityPolicy = new OpenSecurity(true),
  ) {
    this.clientId = clientId;
    this.identity = { clientId, username: undefined, peer: "" };
    this.security = security;
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
  }

  /**
   * A packet id not in flight, counting up from 1 and wrapping after 65535 [MQTT-2.2.1-3];
   * undefined when all 65535 are in use.
   */
  allocatePacketId(): number | undefined {
    if (this.inflight.size >= 65535) return undefined;
    while (true) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  /** `Date.now()` at which the disconnected session ends, or Infinity. */
  expiresAt(): number {
    if (this.expiryInterval === SESSION_NEVER_EXPIRES) return Infinity;
    return this.disconnectedAt + this.expiryInterval * 1000;
  }
}
