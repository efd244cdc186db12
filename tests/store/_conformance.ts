/**
 * The conformance suite every {@linkcode Store} must pass: what goes in comes back out (every
 * field, expiry times included), deletes remove exactly what they name, deliveries come back in
 * `seq` order, nothing is visible after a crash unless it was committed, and values at the limits
 * of MQTT survive.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Will } from "../../codec/types.ts";
import type { Message } from "../../broker/message.ts";
import type { SessionSubscription } from "../../broker/session.ts";
import type {
  Store,
  StoredDelivery,
  StoredSession,
  StoreSnapshot,
} from "../../broker/store/store.ts";

/** How the suite opens, crashes and reopens one kind of store. */
export interface StoreHarness {
  /** A fresh, empty store on new storage. */
  open(): Store;
  /** Drops `store` as a crash would (nothing uncommitted survives) and opens its storage again. */
  crash(store: Store): Store;
  /** Closes `store` (which commits) and opens its storage again. */
  reopen(store: Store): Store;
  /** Removes the storage of every store opened. */
  cleanup(): void;
}

/** A session with every field set. */
export function session(clientId: string, fields: Partial<StoredSession> = {}): StoredSession {
  return {
    clientId,
    protocolVersion: 5,
    expiryInterval: 3600,
    disconnectedAt: 1_700_000_000_123,
    username: "user",
    ...fields,
  };
}

/** A subscription as `handleSubscribe` records it. */
export function subscription(
  topicFilter: string,
  fields: Partial<SessionSubscription> = {},
): SessionSubscription {
  const shared = /^\$share\/([^/]+)\/(.*)$/.exec(topicFilter);
  return {
    topicFilter,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    group: shared?.[1],
    filter: shared?.[2] ?? topicFilter,
    identifier: 0,
    ...fields,
  };
}

/** A message with every field set (v5 properties included). */
export function message(topic: string, text: string, fields: Partial<Message> = {}): Message {
  return {
    topic,
    payload: new TextEncoder().encode(text),
    qos: 1,
    retain: false,
    properties: undefined,
    expiresAt: 0,
    origin: "publisher",
    ...fields,
  };
}

/** A queued delivery of `message` at `seq`. */
export function delivery(
  clientId: string,
  seq: number,
  msg: Message,
  fields: Partial<StoredDelivery> = {},
): StoredDelivery {
  return {
    clientId,
    seq,
    packetId: 0,
    state: "queued",
    qos: msg.qos,
    retain: false,
    identifiers: [],
    message: msg,
    ...fields,
  };
}

/** Properties that exercise every encoding: binary, user properties in order with duplicates. */
const RICH_PROPERTIES = {
  payloadFormatIndicator: 1,
  contentType: "application/json; charset=utf-8",
  responseTopic: "reply/ünïcode/😀",
  correlationData: new Uint8Array([0, 1, 2, 0xfe, 0xff]),
  userProperties: [["z", "1"], ["a", "2"], ["z", "3"], ["", ""]] as [string, string][],
};

/** A snapshot in a canonical order, so that stores may return unordered parts in any order. */
function canonical(snapshot: StoreSnapshot): StoreSnapshot {
  const by = <T>(key: (item: T) => string) => (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  return {
    sessions: [...snapshot.sessions].sort(by((s) => s.clientId)),
    subscriptions: [...snapshot.subscriptions].sort(
      by((s) => `${s.clientId}\u0000${s.subscription.topicFilter}`),
    ),
    retained: [...snapshot.retained].sort(by((m) => m.topic)),
    deliveries: [...snapshot.deliveries].sort((a, b) =>
      a.clientId === b.clientId ? a.seq - b.seq : a.clientId < b.clientId ? -1 : 1
    ),
    incomingQos2: [...snapshot.incomingQos2].sort((a, b) =>
      a.clientId === b.clientId ? a.packetId - b.packetId : a.clientId < b.clientId ? -1 : 1
    ),
    wills: [...snapshot.wills].sort(by((w) => w.clientId)),
  };
}

function empty(): StoreSnapshot {
  return {
    sessions: [],
    subscriptions: [],
    retained: [],
    deliveries: [],
    incomingQos2: [],
    wills: [],
  };
}

/** Checks that the deliveries of each client come back in increasing `seq` order. */
function assertSeqOrder(snapshot: StoreSnapshot): void {
  const last = new Map<string, number>();
  for (const d of snapshot.deliveries) {
    const previous = last.get(d.clientId);
    assert.ok(
      previous === undefined || previous < d.seq,
      `${d.clientId}: ${d.seq} after ${previous}`,
    );
    last.set(d.clientId, d.seq);
  }
}

/**
 * Registers the suite for one store kind: `Deno.test("<name> ...")` per property. Each test
 * closes what it opens.
 */
export function storeConformance(name: string, harness: () => StoreHarness): void {
  const test = (title: string, body: (h: StoreHarness) => void | Promise<void>) =>
    Deno.test(`${name} ${title}`, async () => {
      const h = harness();
      try {
        await body(h);
      } finally {
        h.cleanup();
      }
    });

  test("load() of a new store is empty", (h) => {
    const store = h.open();
    assert.deepStrictEqual(store.load(), empty());
    assert.equal(store.dirty, false);
    store.close();
  });

  test("keeps sessions with their expiry, disconnection time and user name", (h) => {
    let store = h.open();
    const sessions = [
      session("v5", { expiryInterval: 0xffffffff, disconnectedAt: 0 }),
      session("v311", { protocolVersion: 4, username: undefined }),
      session("v31", { protocolVersion: 3, expiryInterval: 1, username: "" }),
      session("ünïcode 😀 \"quoted\" 'id'", { disconnectedAt: 8_640_000_000_000_000 }),
    ];
    for (const s of sessions) store.putSession(s);
    // A later put replaces the session.
    store.putSession(
      session("v311", { protocolVersion: 4, username: undefined, expiryInterval: 7 }),
    );
    store.commit();
    store = h.reopen(store);
    const expected = [...sessions];
    expected[1] = session("v311", { protocolVersion: 4, username: undefined, expiryInterval: 7 });
    assert.deepStrictEqual(canonical(store.load()), canonical({ ...empty(), sessions: expected }));
    store.close();
  });

  test("deleteSession() removes the session with all it owns, and nothing of others", (h) => {
    let store = h.open();
    const will: Will = { topic: "w", payload: new Uint8Array([1]), qos: 1, retain: false };
    for (const id of ["gone", "kept"]) {
      store.putSession(session(id));
      store.putSubscription(id, subscription("a/#"));
      store.putDelivery(delivery(id, 1, message("a/b", id)));
      store.putIncomingQos2(id, 7);
      store.putWill(id, will, 1000);
    }
    store.putRetained(message("r", "retained", { retain: true }));
    store.deleteSession("gone");
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(canonical(store.load()), {
      sessions: [session("kept")],
      subscriptions: [{ clientId: "kept", subscription: subscription("a/#") }],
      retained: [message("r", "retained", { retain: true })],
      deliveries: [delivery("kept", 1, message("a/b", "kept"))],
      incomingQos2: [{ clientId: "kept", packetId: 7 }],
      wills: [{ clientId: "kept", will, publishAt: 1000 }],
    });
    store.close();
  });

  test("keeps subscriptions with their v5 options, identifiers and share groups", (h) => {
    let store = h.open();
    const subs = [
      subscription("sensors/+/temp", {
        qos: 2,
        noLocal: true,
        retainAsPublished: true,
        retainHandling: 2,
        identifier: 268435455,
      }),
      subscription("$share/group/sensors/#", { qos: 0, identifier: 1 }),
      subscription("#", { retainHandling: 1 }),
      subscription("replaced", { qos: 0 }),
      subscription("removed"),
    ];
    for (const s of subs) store.putSubscription("c", s);
    store.putSubscription("c", subscription("replaced", { qos: 2 }));
    store.deleteSubscription("c", "removed");
    store.deleteSubscription("c", "never-existed");
    store.commit();
    store = h.reopen(store);
    const expected = [subs[0]!, subs[1]!, subs[2]!, subscription("replaced", { qos: 2 })]
      .map((subscription) => ({ clientId: "c", subscription }));
    assert.deepStrictEqual(
      canonical(store.load()),
      canonical({ ...empty(), subscriptions: expected }),
    );
    store.close();
  });

  test("keeps retained messages with properties and expiry; an empty payload deletes", (h) => {
    let store = h.open();
    const rich = message("a/rich", "x", {
      retain: true,
      qos: 2,
      properties: RICH_PROPERTIES,
      expiresAt: 4_102_444_800_000,
      origin: "",
    });
    store.putRetained(rich);
    store.putRetained(message("a/replaced", "old", { retain: true }));
    store.putRetained(message("a/replaced", "new", { retain: true, qos: 0 }));
    store.putRetained(message("a/cleared", "x", { retain: true }));
    store.putRetained(message("a/cleared", "", { retain: true }));
    store.putRetained(message("a/deleted", "x", { retain: true }));
    store.deleteRetained("a/deleted");
    store.deleteRetained("a/never");
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(
      canonical(store.load()),
      canonical({
        ...empty(),
        retained: [rich, message("a/replaced", "new", { retain: true, qos: 0 })],
      }),
    );
    store.close();
  });

  test("returns deliveries ordered by seq per client, whatever the order they were put in", (h) => {
    let store = h.open();
    const seqs = [5, 1, 9, 3, 2, 8, 2 ** 40, 4];
    for (const seq of seqs) store.putDelivery(delivery("b", seq, message("t", `b${seq}`)));
    for (const seq of [3, 1, 2]) store.putDelivery(delivery("a", seq, message("t", `a${seq}`)));
    store.deleteDelivery("b", 8);
    store.deleteDelivery("b", 12345);
    store.commit();
    store = h.reopen(store);
    const snapshot = store.load();
    assertSeqOrder(snapshot);
    assert.deepStrictEqual(
      snapshot.deliveries.filter((d) => d.clientId === "b").map((d) => d.seq),
      [1, 2, 3, 4, 5, 9, 2 ** 40],
    );
    assert.deepStrictEqual(
      snapshot.deliveries.filter((d) => d.clientId === "a").map((d) => [d.seq, d.message.payload]),
      [1, 2, 3].map((seq) => [seq, new TextEncoder().encode(`a${seq}`)]),
    );
    store.close();
  });

  test("a delivery put again with the same seq moves from queued to in flight to PUBREL", (h) => {
    let store = h.open();
    const msg = message("q/2", "exactly once", {
      qos: 2,
      properties: RICH_PROPERTIES,
      expiresAt: 1_900_000_000_000,
    });
    const queued = delivery("c", 10, msg, { retain: true, identifiers: [1, 268435455] });
    store.putDelivery(queued);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(store.load().deliveries, [queued]);
    const inflight = { ...queued, packetId: 65535, state: "publish" as const };
    store.putDelivery(inflight);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(store.load().deliveries, [inflight]);
    const released = { ...inflight, state: "pubrel" as const };
    store.putDelivery(released);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(store.load().deliveries, [released]);
    store.deleteDelivery("c", 10);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(store.load().deliveries, []);
    store.close();
  });

  test("keeps inbound QoS 2 packet ids awaiting PUBREL", (h) => {
    let store = h.open();
    for (const id of [1, 65535, 300, 300]) store.putIncomingQos2("c", id);
    store.putIncomingQos2("d", 300);
    store.deleteIncomingQos2("c", 1);
    store.deleteIncomingQos2("c", 2);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(canonical(store.load()).incomingQos2, [
      { clientId: "c", packetId: 300 },
      { clientId: "c", packetId: 65535 },
      { clientId: "d", packetId: 300 },
    ]);
    store.close();
  });

  test("keeps delayed wills with their properties and time to publish", (h) => {
    let store = h.open();
    const will: Will = {
      topic: "status/c",
      payload: new TextEncoder().encode("offline"),
      qos: 2,
      retain: true,
      properties: { ...RICH_PROPERTIES, willDelayInterval: 30, messageExpiryInterval: 60 },
    };
    store.putWill("c", will, 1_700_000_030_000);
    store.putWill("d", { ...will, properties: undefined }, 1);
    store.putWill("d", { topic: "d", payload: new Uint8Array(0), qos: 0, retain: false }, 2);
    store.putWill("e", will, 3);
    store.deleteWill("e");
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(canonical(store.load()).wills, [
      { clientId: "c", will, publishAt: 1_700_000_030_000 },
      {
        clientId: "d",
        will: { topic: "d", payload: new Uint8Array(0), qos: 0, retain: false },
        publishAt: 2,
      },
    ]);
    store.close();
  });

  test("loses what was not committed when it crashes, keeps what was", (h) => {
    let store = h.open();
    assert.equal(store.dirty, false);
    store.putSession(session("committed"));
    store.putRetained(message("r/1", "kept", { retain: true }));
    assert.equal(store.dirty, true);
    store.commit();
    assert.equal(store.dirty, false);
    store.commit(); // a no-op when clean
    store.putSession(session("uncommitted"));
    store.deleteRetained("r/1");
    store.putDelivery(delivery("committed", 1, message("t", "lost")));
    assert.equal(store.dirty, true);
    store = h.crash(store);
    assert.deepStrictEqual(canonical(store.load()), {
      ...empty(),
      sessions: [session("committed")],
      retained: [message("r/1", "kept", { retain: true })],
    });
    store.close();
  });

  test("commits recorded changes within the tick without a commit() call", async (h) => {
    let store = h.open();
    store.putSession(session("c"));
    assert.equal(store.dirty, true);
    await Promise.resolve(); // the microtask queued at the first change runs before this one
    assert.equal(store.dirty, false);
    store = h.crash(store);
    assert.deepStrictEqual(store.load().sessions, [session("c")]);
    store.close();
  });

  test("applies changes in the order they were recorded", (h) => {
    let store = h.open();
    store.putDelivery(delivery("c", 1, message("t", "first")));
    store.deleteDelivery("c", 1);
    store.putDelivery(delivery("c", 1, message("t", "again")));
    store.putSession(session("c"));
    store.deleteSession("c");
    store.putSession(session("c", { expiryInterval: 9 }));
    store.putIncomingQos2("c", 5);
    store.commit();
    store = h.reopen(store);
    assert.deepStrictEqual(canonical(store.load()), {
      ...empty(),
      sessions: [session("c", { expiryInterval: 9 })],
      incomingQos2: [{ clientId: "c", packetId: 5 }],
    });
    store.close();
  });

  test("close() commits", (h) => {
    let store = h.open();
    store.putSession(session("c"));
    store = h.reopen(store);
    assert.deepStrictEqual(store.load().sessions, [session("c")]);
    store.close();
  });

  test("keeps values at the limits of MQTT", (h) => {
    let store = h.open();
    const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff);
    // A payload that is a view into a larger buffer, as decoded payloads are.
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    const view = backing.subarray(2, 5);
    const longTopic = "t/".repeat(32767).slice(0, 65535);
    const messages = [
      message("bytes", "", { payload: allBytes }),
      message("big", "", { payload: big }),
      message("view", "", { payload: view }),
      message("empty", ""),
      message(longTopic, "long topic"),
      message("😀/ünïcode/\u{10ffff}", "unicode"),
    ];
    messages.forEach((m, i) => store.putDelivery(delivery("limits", i + 1, m)));
    store.putRetained(message("retained/big", "", { payload: big, retain: true }));
    store.putRetained(message(longTopic, "x", { retain: true }));
    store.commit();
    store = h.reopen(store);
    const snapshot = store.load();
    assert.deepStrictEqual(
      snapshot.deliveries.map((d) => d.message),
      messages.map((m) => m.payload === view ? { ...m, payload: new Uint8Array([1, 2, 3]) } : m),
    );
    assert.deepStrictEqual(
      canonical(snapshot).retained,
      canonical({
        ...empty(),
        retained: [
          message("retained/big", "", { payload: big, retain: true }),
          message(longTopic, "x", { retain: true }),
        ],
      }).retained,
    );
    store.close();
  });

  test("keeps 10,000 queued messages of one client in order", (h) => {
    let store = h.open();
    store.putSession(session("many"));
    for (let seq = 1; seq <= 10_000; seq++) {
      store.putDelivery(delivery("many", seq, message("bulk", String(seq))));
    }
    store.commit();
    store = h.reopen(store);
    const decoder = new TextDecoder();
    const deliveries = store.load().deliveries;
    assert.equal(deliveries.length, 10_000);
    deliveries.forEach((d, i) => assert.equal(decoder.decode(d.message.payload), String(i + 1)));
    store.close();
  });
}
