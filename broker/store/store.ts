/**
 * What the broker persists, behind one interface with a memory and a SQLite implementation that
 * pass one conformance suite.
 *
 * The broker records every change as it happens (synchronously, no promises on the hot path);
 * a store batches them and {@linkcode Store.commit} makes them durable. The broker commits before
 * any packet leaves (see `Connection`'s flush), so whatever a client has been acknowledged —
 * PUBACK, PUBREC, SUBACK — is on disk first: write-through with group commit per tick.
 *
 * @module
 */

import type { ProtocolVersion, QoS, Will } from "../../codec/types.ts";
import type { Message } from "../message.ts";
import type { SessionSubscription } from "../session.ts";

/** The part of a session that outlives the process. */
export interface StoredSession {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds; 0xFFFFFFFF for ever. */
  expiryInterval: number;
  /** `Date.now()` at disconnection (0 if it was connected when stored). */
  disconnectedAt: number;
  /** User name at the last CONNECT, for authorisation of queued deliveries. */
  username: string | undefined;
}

/** A queued or in-flight outgoing message of a session. */
export interface StoredDelivery {
  clientId: string;
  /** Queue position (increasing per session); for in-flight messages, the order sent. */
  seq: number;
  /** Packet id when in flight, 0 while queued. */
  packetId: number;
  /** In flight only: "publish" awaiting PUBACK/PUBREC, "pubrel" awaiting PUBCOMP. */
  state: "queued" | "publish" | "pubrel";
  qos: QoS;
  retain: boolean;
  identifiers: number[];
  message: Message;
}

/** Everything a store holds, as loaded at start-up. */
export interface StoreSnapshot {
  sessions: StoredSession[];
  subscriptions: { clientId: string; subscription: SessionSubscription }[];
  retained: Message[];
  /** Queued and in-flight messages, ordered by client and `seq`. */
  deliveries: StoredDelivery[];
  /** Inbound QoS 2 packet ids awaiting PUBREL, per client. */
  incomingQos2: { clientId: string; packetId: number }[];
  /** Wills waiting for their delay interval. */
  wills: { clientId: string; will: Will; publishAt: number }[];
}

/**
 * A persistence backend. Mutations are recorded synchronously and become durable at the next
 * {@linkcode commit}; implementations must apply them in order.
 */
export interface Store {
  /** True while there are changes recorded since the last {@linkcode commit}. */
  readonly dirty: boolean;
  /** Reads everything back (at start-up). */
  load(): StoreSnapshot;

  putSession(session: StoredSession): void;
  /** Removes a session with its subscriptions, deliveries, QoS 2 ids and will. */
  deleteSession(clientId: string): void;
  putSubscription(clientId: string, subscription: SessionSubscription): void;
  /** `topicFilter` as the client wrote it (with any `$share/group/`). */
  deleteSubscription(clientId: string, topicFilter: string): void;

  /** Stores a retained message (replacing the topic's), or deletes it for an empty payload. */
  putRetained(message: Message): void;
  deleteRetained(topic: string): void;

  /**
   * Adds or replaces (same client and seq) a queued or in-flight delivery. The store may keep
   * `delivery` itself until it is written: callers hand over an object they do not change.
   */
  putDelivery(delivery: StoredDelivery): void;
  deleteDelivery(clientId: string, seq: number): void;

  putIncomingQos2(clientId: string, packetId: number): void;
  deleteIncomingQos2(clientId: string, packetId: number): void;

  putWill(clientId: string, will: Will, publishAt: number): void;
  deleteWill(clientId: string): void;

  /**
   * Writes every recorded change (safe against a process crash on return); a no-op when not
   * dirty. A store whose commits reach stable storage later (an asynchronous fsync) says so
   * through {@linkcode commitCount} and {@linkcode whenDurable}; such a store may also write a
   * commit later, while an fsync is in flight, as long as `whenDurable` for it resolves only
   * once it is written and on stable storage, and a change that must be saved before the next
   * packet leaves (a QoS 2 delivery's packet id or PUBREL state) is written at once.
   */
  commit(): void;
  /** Commits so far (for {@linkcode whenDurable}); absent when commits are durable at once. */
  readonly commitCount?: number;
  /**
   * Resolves once the first `count` commits are on stable storage (power-loss safe); undefined
   * when they already are. Connections hold acknowledgements until then.
   */
  whenDurable?(count: number): Promise<void> | undefined;
  /** Commits and releases the backend. */
  close(): void;
}
