/**
 * Small helpers shared by the in-memory protocol-behaviour tests of `tests/broker/`: a broker per
 * test, SUBSCRIBE and PUBLISH shorthands, and a look at the broker's side of a
 * {@linkcode MemoryClient}.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import type { Connection } from "../../broker/connection.ts";
import type { BrokerOptions } from "../../broker/options.ts";
import type {
  Packet,
  Properties,
  PublishPacket,
  QoS,
  SubackPacket,
  Subscription,
} from "../../codec/types.ts";
import type { MemoryClient } from "../_helpers/memory_client.ts";

/** UTF-8 encoder for payloads. */
export const te: TextEncoder = new TextEncoder();
/** UTF-8 decoder for payloads. */
export const td: TextDecoder = new TextDecoder();

/** Both protocol levels most behaviours are checked at. */
export const VERSIONS = [4, 5] as const;

/** Runs `fn` with a fresh broker that is always closed afterwards. */
export async function withBroker(
  fn: (broker: Broker) => Promise<void>,
  options: BrokerOptions = {},
): Promise<void> {
  const broker = new Broker({ connectionMessages: false, ...options });
  try {
    await fn(broker);
  } finally {
    await broker.close();
  }
}

/** Subscription options for {@linkcode subscribe}. */
export type SubOptions = Partial<Omit<Subscription, "topicFilter">> & { topicFilter: string };

let nextPacketId = 1;

/** Sends SUBSCRIBE (QoS 0 unless given) and returns the SUBACK. */
export async function subscribe(
  client: MemoryClient,
  filters: string | (string | SubOptions)[],
  qos: QoS = 0,
  properties?: Properties,
): Promise<SubackPacket> {
  const list = Array.isArray(filters) ? filters : [filters];
  const packetId = nextPacketId++ % 65535 + 1;
  client.send({
    type: "subscribe",
    packetId,
    subscriptions: list.map((f) => ({
      qos,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      ...(typeof f === "string" ? { topicFilter: f } : f),
    })),
    ...(properties ? { properties } : {}),
  });
  const suback = await client.next("suback");
  assert.equal(suback.packetId, packetId);
  return suback;
}

/** Fields of {@linkcode publish} besides topic and payload. */
export interface PubOptions {
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  packetId?: number;
  properties?: Properties;
}

/** A PUBLISH packet with defaults (QoS 0, packet id 1 for QoS > 0). */
export function publishPacket(
  topic: string,
  payload: string | Uint8Array,
  options: PubOptions = {},
): PublishPacket {
  const qos = options.qos ?? 0;
  const packet: PublishPacket = {
    type: "publish",
    topic,
    payload: typeof payload === "string" ? te.encode(payload) : payload,
    qos,
    retain: options.retain ?? false,
    dup: options.dup ?? false,
  };
  if (qos > 0) packet.packetId = options.packetId ?? 1;
  if (options.properties) packet.properties = options.properties;
  return packet;
}

/** Sends a PUBLISH; for QoS 1/2 waits for the PUBACK/PUBREC (and completes QoS 2). */
export async function publish(
  client: MemoryClient,
  topic: string,
  payload: string | Uint8Array,
  options: PubOptions = {},
): Promise<void> {
  const packet = publishPacket(topic, payload, options);
  client.send(packet);
  if (packet.qos === 1) {
    assert.equal((await client.next("puback")).packetId, packet.packetId);
  } else if (packet.qos === 2) {
    assert.equal((await client.next("pubrec")).packetId, packet.packetId);
    client.send({
      type: "pubrel",
      packetId: packet.packetId as number,
      ...(client.version === 5 ? { reasonCode: 0 } : {}),
    });
    assert.equal((await client.next("pubcomp")).packetId, packet.packetId);
  }
}

/** Acknowledges a QoS 1 PUBLISH received by `client`. */
export function puback(client: MemoryClient, packetId: number): void {
  client.send({ type: "puback", packetId, ...(client.version === 5 ? { reasonCode: 0 } : {}) });
}

/** The next PUBLISH, with its payload decoded for assertions. */
export async function nextMessage(
  client: MemoryClient,
  timeoutMs?: number,
): Promise<PublishPacket & { text: string }> {
  const packet = await client.next("publish", timeoutMs);
  return { ...packet, text: td.decode(packet.payload) };
}

/** Lets the broker run briefly and asserts `client` received nothing. */
export async function expectNothing(client: MemoryClient, ms = 50, why?: string): Promise<void> {
  const got: Packet[] = await client.settle(ms);
  assert.deepEqual(got.map((p) => p.type), [], why ?? "expected no packets");
}

/** The broker's {@linkcode Connection} serving `client`. */
export function connectionOf(broker: Broker, client: MemoryClient): Connection {
  for (const connection of broker.connections) {
    if (connection.transport === client) return connection;
  }
  throw new Error("Cannot find the connection of this client");
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it holds; `timeoutMs` is a hang guard. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}
