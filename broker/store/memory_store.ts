/**
 * A {@linkcode Store} that keeps everything in maps: for embedding midge where no disk is wanted,
 * and for tests, which can "restart" a broker on the same data to check what survives.
 *
 * Changes are recorded and applied only at {@linkcode MemoryStore.commit}, so
 * {@linkcode MemoryStore.load} (and a store reopened on the same {@linkcode MemoryStoreData})
 * sees exactly what a durable store would have on disk after a crash. Like the SQLite store, it
 * commits by itself in a microtask queued at the first change, so nothing stays uncommitted past
 * the tick it was recorded in.
 *
 * @module
 */

import type { Will } from "../../codec/types.ts";
import type { Message } from "../message.ts";
import type { SessionSubscription } from "../session.ts";
import type { Store, StoredDelivery, StoredSession, StoreSnapshot } from "./store.ts";

/** The committed state of a {@linkcode MemoryStore}, shareable with a store opened later. */
export interface MemoryStoreData {
  sessions: Map<string, StoredSession>;
  /** Client id → topic filter as written → subscription. */
  subscriptions: Map<string, Map<string, SessionSubscription>>;
  /** Topic → message. */
  retained: Map<string, Message>;
  /** Client id → seq → delivery. */
  deliveries: Map<string, Map<number, StoredDelivery>>;
  incomingQos2: Map<string, Set<number>>;
  wills: Map<string, { will: Will; publishAt: number }>;
}

/** An empty {@linkcode MemoryStoreData}. */
export function emptyMemoryStoreData(): MemoryStoreData {
  return {
    sessions: new Map(),
    subscriptions: new Map(),
    retained: new Map(),
    deliveries: new Map(),
    incomingQos2: new Map(),
    wills: new Map(),
  };
}

/**
 * A store in memory. Pass the `data` of a previous store to simulate a restart: what it had
 * committed is there, what it had not is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory_store.ts";
 *
 * const store = new MemoryStore();
 * store.putSession({
 *   clientId: "sensor-1",
 *   protocolVersion: 4,
 *   expiryInterval: 0xffffffff,
 *   disconnectedAt: 0,
 *   username: undefined,
 * });
 * assert.equal(new MemoryStore(store.data).load().sessions.length, 0); // not committed yet
 * store.commit();
 * assert.equal(new MemoryStore(store.data).load().sessions.length, 1);
 * ```
 */
export class MemoryStore implements Store {
  /** What has been committed. */
  readonly data: MemoryStoreData;
  #pending: (() => void)[] = [];
  #closed = false;

  /** Opens a store on `data` (committed state of an earlier store), or an empty one. */
  constructor(data: MemoryStoreData = emptyMemoryStoreData()) {
    this.data = data;
  }

  /** True while there are recorded changes not yet committed. */
  get dirty(): boolean {
    return this.#pending.length > 0;
  }

  /** The committed state, copied so that the caller's changes do not reach the store. */
  load(): StoreSnapshot {
    const data = this.data;
    const snapshot: StoreSnapshot = {
      sessions: [...data.sessions.values()].map((session) => ({ ...session })),
      subscriptions: [],
      retained: [...data.retained.values()],
      deliveries: [],
      incomingQos2: [],
      wills: [],
    };
    for (const [clientId, subscriptions] of data.subscriptions) {
      for (const subscription of subscriptions.values()) {
        snapshot.subscriptions.push({ clientId, subscription: { ...subscription } });
      }
    }
    // "Ordered by client and seq", as the SQLite store's ORDER BY gives them.
    for (const clientId of [...data.deliveries.keys()].sort(compareText)) {
      const rows = [...data.deliveries.get(clientId)!.values()].sort((a, b) => a.seq - b.seq);
      for (const delivery of rows) snapshot.deliveries.push(copyDelivery(delivery));
    }
    for (const [clientId, ids] of data.incomingQos2) {
      for (const packetId of ids) snapshot.incomingQos2.push({ clientId, packetId });
    }
    for (const [clientId, { will, publishAt }] of data.wills) {
      snapshot.wills.push({ clientId, will: { ...will }, publishAt });
    }
    return snapshot;
  }

  putSession(session: StoredSession): void {
    const copy = { ...session };
    this.#record(() => this.data.sessions.set(copy.clientId, copy));
  }

  deleteSession(clientId: string): void {
    this.#record(() => {
      const data = this.data;
      data.sessions.delete(clientId);
      data.subscriptions.delete(clientId);
      data.deliveries.delete(clientId);
      data.incomingQos2.delete(clientId);
      data.wills.delete(clientId);
    });
  }

  putSubscription(clientId: string, subscription: SessionSubscription): void {
    const copy = { ...subscription };
    this.#record(() => {
      const subscriptions = this.data.subscriptions;
      let forClient = subscriptions.get(clientId);
      if (!forClient) subscriptions.set(clientId, forClient = new Map());
      forClient.set(copy.topicFilter, copy);
    });
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.#record(() => {
      const forClient = this.data.subscriptions.get(clientId);
      forClient?.delete(topicFilter);
      if (forClient?.size === 0) this.data.subscriptions.delete(clientId);
    });
  }

  putRetained(message: Message): void {
    // Messages are immutable once routed, so the object itself can be kept.
    this.#record(() => {
      if (message.payload.length === 0) this.data.retained.delete(message.topic);
      else this.data.retained.set(message.topic, message);
    });
  }

  deleteRetained(topic: string): void {
    this.#record(() => this.data.retained.delete(topic));
  }

  putDelivery(delivery: StoredDelivery): void {
    const copy = copyDelivery(delivery);
    this.#record(() => {
      const deliveries = this.data.deliveries;
      let forClient = deliveries.get(copy.clientId);
      if (!forClient) deliveries.set(copy.clientId, forClient = new Map());
      forClient.set(copy.seq, copy);
    });
  }

  deleteDelivery(clientId: string, seq: number): void {
    this.#record(() => {
      const forClient = this.data.deliveries.get(clientId);
      forClient?.delete(seq);
      if (forClient?.size === 0) this.data.deliveries.delete(clientId);
    });
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.#record(() => {
      const ids = this.data.incomingQos2;
      let forClient = ids.get(clientId);
      if (!forClient) ids.set(clientId, forClient = new Set());
      forClient.add(packetId);
    });
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.#record(() => {
      const forClient = this.data.incomingQos2.get(clientId);
      forClient?.delete(packetId);
      if (forClient?.size === 0) this.data.incomingQos2.delete(clientId);
    });
  }

  putWill(clientId: string, will: Will, publishAt: number): void {
    const copy = { ...will };
    this.#record(() => this.data.wills.set(clientId, { will: copy, publishAt }));
  }

  deleteWill(clientId: string): void {
    this.#record(() => this.data.wills.delete(clientId));
  }

  #record(change: () => void): void {
    if (this.#closed) return;
    if (this.#pending.length === 0) queueMicrotask(this.#autoCommit);
    this.#pending.push(change);
  }

  #autoCommit = (): void => {
    if (!this.#closed) this.commit();
  };

  /** Forgets what is not committed and stops recording: what a crash leaves (tests). */
  discard(): void {
    this.#pending = [];
    this.#closed = true;
  }

  /** Applies the recorded changes, in order. */
  commit(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    for (const apply of pending) apply();
  }

  /** Commits; the data stays available to a store opened on it. */
  close(): void {
    this.commit();
    this.#closed = true;
  }
}

function copyDelivery(delivery: StoredDelivery): StoredDelivery {
  return { ...delivery, identifiers: [...delivery.identifiers] };
}

/** Byte-wise order of the UTF-8 encodings, which is SQLite's default text order. */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const encoder = new TextEncoder();
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}
