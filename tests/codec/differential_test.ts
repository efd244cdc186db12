/**
 * Differential test of the codec against `npm:mqtt-packet` (the codec of MQTT.js and Aedes):
 * thousands of seeded random packets of every type and protocol level go
 * (a) mqtt-packet `generate` → our `Framer` + `decodePacket`, and
 * (b) our `encodePacket` → mqtt-packet `parser`,
 * and must come out as the packet that went in.
 *
 * Shape mapping, ours ⇄ mqtt-packet (9.0.2; see its parser.js and writeToStream.js):
 *
 * | ours                                   | mqtt-packet                                            |
 * |----------------------------------------|--------------------------------------------------------|
 * | `type`                                 | `cmd`                                                  |
 * | `packetId`                             | `messageId`                                            |
 * | CONNECT `protocolName`                 | `protocolId`                                           |
 * | CONNECT `bridge` (level bit 0x80)      | `bridgeMode`                                           |
 * | CONNECT `clean`, `keepalive`, `clientId`, `username`, `password`, `will` | same names; Buffers |
 * | CONNACK `reasonCode` (v5)              | `reasonCode`                                           |
 * | CONNACK `reasonCode` (v3/v4)           | `returnCode`                                           |
 * | SUBSCRIBE `subscriptions[i].topicFilter`, `noLocal`, `retainAsPublished`, `retainHandling` | `topic`, `nl`, `rap`, `rh` (v5 only) |
 * | SUBACK / UNSUBACK `reasonCodes`        | `granted` (UNSUBACK: v5 only)                          |
 * | UNSUBSCRIBE `topicFilters`             | `unsubscriptions`                                      |
 * | `payload`, binary properties: Uint8Array | Buffer                                               |
 * | `properties.subscriptionIdentifiers: number[]` | `subscriptionIdentifier`: number, or number[] when repeated |
 * | byte-valued flags (payloadFormatIndicator, request*Information, *Available): 0/1 | booleans |
 * | `properties.userProperties: [name, value][]` | object name → value, or value[] when repeated    |
 *
 * Where mqtt-packet is lossy or refuses valid input, `adaptForMqttPacket` constrains the packet
 * (each case names the spec clause mqtt-packet departs from) and `groupUserProperties` normalises
 * user property order; everything else must match exactly. Packets are also round-tripped through
 * our codec alone, unconstrained.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import {
  type AuthPacket,
  type ConnackPacket,
  decodePacket,
  encodePacket,
  encodePublish,
  Framer,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type SubackPacket,
  type SubscribePacket,
  type UnsubackPacket,
  type UnsubscribePacket,
  type UserProperty,
  type Will,
} from "../../codec/mod.ts";
import { concat, generatePacket, mutate, packetTypesOf, Random, varint } from "./_generate.ts";

/** Packets per test; every protocol level and packet type gets an equal share. */
const CASES = 3000;
/** Damaged packets given to both parsers. */
const MUTATED_CASES = 20_000;
const SEED = 0x6d696467; // "midg"

/** Loosely typed mqtt-packet object: its typings model booleans and Buffers differently. */
type MqttObject = Record<string, unknown>;

/** The (seed, version, type) of case `i`, so that any single failure is reproducible alone. */
function caseOf(i: number): { rng: Random; version: ProtocolVersion; packet: Packet } {
  const version = ([3, 4, 5] as const)[i % 3] ?? 5;
  const types = packetTypesOf(version);
  const type = types[Math.floor(i / 3) % types.length] ?? "publish";
  const rng = new Random(SEED + i);
  return { rng, version, packet: generatePacket(rng, version, type) };
}

// ---------------------------------------------------------------------------------------------
// Mapping ours → mqtt-packet

/** Properties mqtt-packet types as 'byte' and represents as booleans (constants.js). */
const BOOLEAN_PROPERTIES = new Set<string>([
  "payloadFormatIndicator",
  "requestProblemInformation",
  "requestResponseInformation",
  "retainAvailable",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable",
]);

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}

/** User properties as mqtt-packet's object: one key per name, an array when a name repeats. */
function toMqttUserProperties(pairs: readonly UserProperty[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [seen, value];
  }
  return out;
}

function toMqttProperties(properties: Properties): MqttObject {
  const out: MqttObject = {};
  for (const [name, value] of Object.entries(properties)) {
    if (name === "userProperties") {
      out.userProperties = toMqttUserProperties(value as UserProperty[]);
    } else if (name === "subscriptionIdentifiers") {
      const ids = value as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPERTIES.has(name)) {
      out[name] = value === 1;
    } else if (value instanceof Uint8Array) {
      out[name] = toBuffer(value);
    } else {
      out[name] = value;
    }
  }
  return out;
}

function withProperties(object: MqttObject, properties: Properties | undefined): MqttObject {
  if (properties !== undefined) object.properties = toMqttProperties(properties);
  return object;
}

/** Our packet as the object `mqttPacket.generate` takes. */
function toMqttPacket(packet: Packet, version: ProtocolVersion): MqttObject {
  switch (packet.type) {
    case "connect": {
      const out: MqttObject = {
        cmd: "connect",
        protocolId: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.clean,
        keepalive: packet.keepalive,
        clientId: packet.clientId,
      };
      if (packet.bridge) out.bridgeMode = true;
      if (packet.username !== undefined) out.username = packet.username;
      if (packet.password !== undefined) out.password = toBuffer(packet.password);
      if (packet.will !== undefined) {
        out.will = withProperties({
          topic: packet.will.topic,
          payload: toBuffer(packet.will.payload),
          qos: packet.will.qos,
          retain: packet.will.retain,
        }, packet.will.properties);
      }
      return withProperties(out, packet.properties);
    }
    case "connack":
      return withProperties({
        cmd: "connack",
        sessionPresent: packet.sessionPresent,
        [version === 5 ? "reasonCode" : "returnCode"]: packet.reasonCode,
      }, packet.properties);
    case "publish": {
      const out: MqttObject = {
        cmd: "publish",
        topic: packet.topic,
        payload: toBuffer(packet.payload),
        qos: packet.qos,
        dup: packet.dup,
        retain: packet.retain,
      };
      if (packet.packetId !== undefined) out.messageId = packet.packetId;
      return withProperties(out, packet.properties);
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const out: MqttObject = { cmd: packet.type, messageId: packet.packetId };
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      return withProperties(out, packet.properties);
    }
    case "subscribe":
      return withProperties({
        cmd: "subscribe",
        messageId: packet.packetId,
        subscriptions: packet.subscriptions.map((s) =>
          version === 5
            ? {
              topic: s.topicFilter,
              qos: s.qos,
              nl: s.noLocal,
              rap: s.retainAsPublished,
              rh: s.retainHandling,
            }
            : { topic: s.topicFilter, qos: s.qos }
        ),
      }, packet.properties);
    case "suback":
      return withProperties({
        cmd: "suback",
        messageId: packet.packetId,
        granted: [...packet.reasonCodes],
      }, packet.properties);
    case "unsubscribe":
      return withProperties({
        cmd: "unsubscribe",
        messageId: packet.packetId,
        unsubscriptions: [...packet.topicFilters],
      }, packet.properties);
    case "unsuback": {
      const out: MqttObject = { cmd: "unsuback", messageId: packet.packetId };
      if (version === 5) out.granted = [...packet.reasonCodes];
      return withProperties(out, packet.properties);
    }
    case "pingreq":
    case "pingresp":
      return { cmd: packet.type };
    case "disconnect": {
      const out: MqttObject = { cmd: "disconnect" };
      if (packet.reasonCode !== undefined) out.reasonCode = packet.reasonCode;
      return withProperties(out, packet.properties);
    }
    case "auth":
      return withProperties({ cmd: "auth", reasonCode: packet.reasonCode }, packet.properties);
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping mqtt-packet → ours

function toBytes(value: unknown): Uint8Array {
  assert.ok(value instanceof Uint8Array, `expected a Buffer, got ${typeof value}`);
  // A copy, so that deepStrictEqual compares plain Uint8Arrays (a Buffer has another prototype).
  return new Uint8Array(value);
}

function fromMqttUserProperties(object: Record<string, unknown>): UserProperty[] {
  const out: UserProperty[] = [];
  // Object.keys order is what mqtt-packet writes in (getOwnPropertyNames in writeToStream.js).
  for (const name of Object.keys(object)) {
    const value = object[name];
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, String(v)]);
  }
  return out;
}

function fromMqttProperties(object: MqttObject): Properties {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(object)) {
    if (name === "userProperties") {
      out.userProperties = fromMqttUserProperties(value as Record<string, unknown>);
    } else if (name === "subscriptionIdentifier") {
      out.subscriptionIdentifiers = Array.isArray(value) ? value : [value];
    } else if (BOOLEAN_PROPERTIES.has(name)) {
      out[name] = value === true ? 1 : 0;
    } else if (value instanceof Uint8Array) {
      out[name] = toBytes(value);
    } else {
      out[name] = value;
    }
  }
  return out as Properties;
}

function addProperties<T extends { properties?: Properties }>(target: T, object: MqttObject): T {
  if (object.properties !== undefined) {
    target.properties = fromMqttProperties(object.properties as MqttObject);
  }
  return target;
}

/** A packet emitted by mqtt-packet's parser, in our shape. */
function fromMqttPacket(o: MqttObject, version: ProtocolVersion): Packet {
  const num = (key: string) => o[key] as number;
  switch (o.cmd) {
    case "connect": {
      const out: Packet = {
        type: "connect",
        protocolName: o.protocolId as string,
        protocolVersion: o.protocolVersion as ProtocolVersion,
        clean: o.clean as boolean,
        keepalive: num("keepalive"),
        clientId: o.clientId as string,
      };
      if (o.bridgeMode) out.bridge = true;
      if (o.username !== undefined) out.username = o.username as string;
      if (o.password !== undefined) out.password = toBytes(o.password);
      if (o.will !== undefined) {
        const w = o.will as MqttObject;
        out.will = addProperties<Will>({
          topic: w.topic as string,
          payload: toBytes(w.payload),
          qos: w.qos as 0 | 1 | 2,
          retain: w.retain as boolean,
        }, w);
      }
      return addProperties(out, o);
    }
    case "connack":
      return addProperties<ConnackPacket>({
        type: "connack",
        sessionPresent: o.sessionPresent as boolean,
        reasonCode: version === 5 ? num("reasonCode") : num("returnCode"),
      }, o);
    case "publish": {
      const out: Packet = {
        type: "publish",
        topic: o.topic as string,
        payload: toBytes(o.payload),
        qos: o.qos as 0 | 1 | 2,
        retain: o.retain as boolean,
        dup: o.dup as boolean,
      };
      if (out.qos > 0) out.packetId = num("messageId");
      return addProperties(out, o);
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      const out: Packet = { type: o.cmd, packetId: num("messageId") };
      if (version === 5) out.reasonCode = num("reasonCode");
      return addProperties(out, o);
    }
    case "subscribe":
      return addProperties<SubscribePacket>({
        type: "subscribe",
        packetId: num("messageId"),
        subscriptions: (o.subscriptions as MqttObject[]).map((s) => ({
          topicFilter: s.topic as string,
          qos: s.qos as 0 | 1 | 2,
          noLocal: (s.nl as boolean | undefined) ?? false,
          retainAsPublished: (s.rap as boolean | undefined) ?? false,
          retainHandling: (s.rh as 0 | 1 | 2 | undefined) ?? 0,
        })),
      }, o);
    case "suback":
      return addProperties<SubackPacket>({
        type: "suback",
        packetId: num("messageId"),
        reasonCodes: o.granted as number[],
      }, o);
    case "unsubscribe":
      return addProperties<UnsubscribePacket>({
        type: "unsubscribe",
        packetId: num("messageId"),
        topicFilters: o.unsubscriptions as string[],
      }, o);
    case "unsuback":
      return addProperties<UnsubackPacket>({
        type: "unsuback",
        packetId: num("messageId"),
        reasonCodes: version === 5 ? o.granted as number[] : [],
      }, o);
    case "pingreq":
    case "pingresp":
      return { type: o.cmd };
    case "disconnect": {
      const out: Packet = { type: "disconnect" };
      if (version === 5) out.reasonCode = num("reasonCode");
      return addProperties(out, o);
    }
    case "auth":
      return addProperties<AuthPacket>({ type: "auth", reasonCode: num("reasonCode") }, o);
    default:
      throw new Error(`Cannot map mqtt-packet cmd "${String(o.cmd)}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Where mqtt-packet differs from the spec

/** `properties` with user properties regrouped by name as mqtt-packet's object holds them. */
function groupProperties(properties: Properties | undefined): Properties | undefined {
  if (properties?.userProperties === undefined) return properties;
  return {
    ...properties,
    userProperties: fromMqttUserProperties(toMqttUserProperties(properties.userProperties)),
  };
}

/**
 * `packet` with its user properties in the order mqtt-packet keeps: grouped by name, names in
 * JS property order (integer-like names first). The spec requires the receiver to keep the order
 * and duplicates [MQTT-3.3.2-18] (and 3.1.3.2.8, 3.1.2.11.8 for CONNECT); mqtt-packet's object of
 * name → value|value[] cannot, so both sides are compared in this grouped order.
 */
function groupUserProperties(packet: Packet): Packet {
  const out = { ...packet } as Packet & { properties?: Properties };
  if ("properties" in packet && packet.properties !== undefined) {
    out.properties = groupProperties(packet.properties);
  }
  if (out.type === "connect" && out.will?.properties !== undefined) {
    out.will = { ...out.will, properties: groupProperties(out.will.properties) };
  }
  return out;
}

/** `pairs` with the empty values of repeated names replaced, which mqtt-packet would lose. */
function fixEmptyRepeatedValues(pairs: UserProperty[]): UserProperty[] {
  const counts = new Map<string, number>();
  for (const [name] of pairs) counts.set(name, (counts.get(name) ?? 0) + 1);
  // parser.js `_parseProperties` tests `if (result[name][key])`, so an empty first value of a
  // repeated name is overwritten instead of grouped. Empty values are valid UTF-8 strings
  // (1.5.7), and names may repeat [MQTT-3.3.2-18]; mqtt-packet is wrong here.
  return pairs.map(([n, v]) => [n, v === "" && (counts.get(n) ?? 0) > 1 ? "-" : v]);
}

function adaptProperties(properties: Properties | undefined): Properties | undefined {
  if (properties?.userProperties === undefined) return properties;
  return { ...properties, userProperties: fixEmptyRepeatedValues(properties.userProperties) };
}

/**
 * `packet` constrained to what mqtt-packet can carry. Each change is a valid packet mqtt-packet
 * refuses or mangles; the unconstrained packets are covered by the round-trip test below.
 */
function adaptForMqttPacket(packet: Packet): Packet {
  const out = { ...packet } as Packet & { properties?: Properties };
  if ("properties" in packet) out.properties = adaptProperties(packet.properties);
  if (out.type === "connect") {
    // MQTT 5 allows a password without a user name (3.1.2.9); mqtt-packet's generate refuses
    // ("Username is required to use password").
    if (out.password !== undefined && out.username === undefined) out.username = "";
    // An empty client id with Clean Start 0 is well-formed; the server answers it with a CONNACK
    // refusal [MQTT-3.1.3-8]. mqtt-packet's generate refuses to write it.
    if (out.clientId === "" && !out.clean) out.clean = true;
    if (out.will?.properties !== undefined) {
      out.will = { ...out.will, properties: adaptProperties(out.will.properties) };
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running both codecs

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Our Framer + decodePacket over a whole encoded packet; the frame must use all bytes. */
function decodeAll(bytes: Uint8Array, version: ProtocolVersion): Packet {
  const framer = new Framer({});
  framer.push(bytes);
  const frame = framer.next();
  assert.ok(frame !== undefined, "Framer yielded no frame for a complete packet");
  assert.equal(framer.next(), undefined, "Framer yielded a second frame");
  assert.equal(framer.bufferedBytes, 0, "Framer kept bytes after a complete packet");
  return decodePacket(frame, version);
}

/** mqtt-packet's parser over `bytes`: exactly one packet, no error, nothing left over. */
function mqttParse(bytes: Uint8Array, version: ProtocolVersion): MqttObject {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: MqttObject[] = [];
  const errors: Error[] = [];
  parser.on("packet", (p) => packets.push(p as unknown as MqttObject));
  parser.on("error", (e) => errors.push(e));
  const left = parser.parse(Buffer.from(bytes));
  if (errors[0] !== undefined) throw errors[0];
  assert.equal(packets.length, 1, `mqtt-packet parsed ${packets.length} packets`);
  assert.equal(left, 0, `mqtt-packet left ${left} bytes`);
  return packets[0] ?? {};
}

function mqttGenerate(packet: Packet, version: ProtocolVersion): Uint8Array {
  const object = toMqttPacket(packet, version);
  // mqtt-packet's typings model byte flags and packets differently; the shapes are checked above.
  const buffer = mqttPacket.generate(object as never, { protocolVersion: version });
  return new Uint8Array(buffer);
}

interface Failure {
  index: number;
  version: ProtocolVersion;
  type: string;
  bytes?: string;
  error: string;
}

/** Runs `check` for every case and fails once at the end, listing the first failures. */
function runCases(
  check: (packet: Packet, version: ProtocolVersion, note: (bytes: Uint8Array) => void) => void,
): void {
  const failures: Failure[] = [];
  for (let i = 0; i < CASES; i++) {
    const { version, packet } = caseOf(i);
    let bytes: Uint8Array | undefined;
    try {
      check(packet, version, (b) => (bytes = b));
    } catch (error) {
      failures.push({
        index: i,
        version,
        type: packet.type,
        bytes: bytes === undefined ? undefined : hex(bytes),
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
  if (failures.length > 0) {
    const byKind = new Map<string, number>();
    for (const f of failures) {
      const kind = `v${f.version} ${f.type}`;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    const summary = [...byKind].map(([k, n]) => `${k}: ${n}`).join(", ");
    const first = failures.slice(0, 5).map((f) =>
      `case ${f.index} (v${f.version} ${f.type}) bytes [${f.bytes ?? "-"}]\n    ${f.error}`
    );
    assert.fail(
      `${failures.length} of ${CASES} cases failed (${summary}); first ones:\n  ${
        first.join("\n  ")
      }`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Tests

Deno.test("decodePacket() reads every packet mqtt-packet generates as the packet given to it", () => {
  runCases((generated, version, note) => {
    const packet = adaptForMqttPacket(generated);
    const bytes = mqttGenerate(packet, version);
    note(bytes);
    assert.deepStrictEqual(decodeAll(bytes, version), groupUserProperties(packet));
  });
});

Deno.test("mqtt-packet parses every packet encodePacket() writes as the packet encoded", () => {
  runCases((generated, version, note) => {
    const packet = adaptForMqttPacket(generated);
    const bytes = encodePacket(packet, version);
    note(bytes);
    if (packet.type === "auth" && bytes.length === 2) {
      // AUTH with reason code 0 and no properties may omit both (3.15.2.1); mqtt-packet's
      // `_parseAuth` then reads an undefined reason code and fails "Invalid auth reason code".
      assert.deepStrictEqual(Array.from(bytes), [0xf0, 0x00]);
      return;
    }
    const parsed = fromMqttPacket(mqttParse(bytes, version), version);
    assert.deepStrictEqual(parsed, groupUserProperties(packet));
  });
});

Deno.test("decodePacket() inverts encodePacket() for every random packet, unconstrained", () => {
  runCases((packet, version, note) => {
    const bytes = encodePacket(packet, version);
    note(bytes);
    if (packet.type === "publish") {
      assert.deepStrictEqual(encodePublish(packet, version), bytes, "encodePublish differs");
    }
    // Exact order and duplicates of user properties are kept [MQTT-3.3.2-18].
    assert.deepStrictEqual(decodeAll(bytes, version), packet);
  });
});

Deno.test("decodePacket() keeps user property order and duplicates that mqtt-packet groups", () => {
  const packet: Packet = {
    type: "publish",
    topic: "t",
    payload: new Uint8Array(),
    qos: 0,
    retain: false,
    dup: false,
    properties: { userProperties: [["b", "1"], ["a", "2"], ["b", "3"], ["1", ""]] },
  };
  const bytes = encodePacket(packet, 5);
  // Our codec keeps wire order [MQTT-3.3.2-18] ...
  assert.deepStrictEqual(decodeAll(bytes, 5), packet);
  // ... while mqtt-packet's object groups by name and puts integer-like names first.
  const parsed = mqttParse(bytes, 5);
  const user = (parsed.properties as MqttObject).userProperties as Record<string, unknown>;
  assert.deepStrictEqual(Object.keys(user), ["1", "b", "a"]);
  assert.deepStrictEqual({ ...user }, { "1": "", b: ["1", "3"], a: "2" });
});

/** Whether a repeated user property name has an empty value, which mqtt-packet's parser loses. */
function hasEmptyRepeatedValue(packet: Packet): boolean {
  const lists = [
    "properties" in packet ? packet.properties?.userProperties : undefined,
    packet.type === "connect" ? packet.will?.properties?.userProperties : undefined,
  ];
  return lists.some((pairs) =>
    pairs !== undefined &&
    fixEmptyRepeatedValues(pairs).some(([, v], i) => v !== pairs[i]?.[1])
  );
}

Deno.test("decodePacket() rejects every damaged packet mqtt-packet rejects, else agrees", () => {
  // Bit flips, truncations, insertions and header flag changes of valid packets. mqtt-packet
  // validates less than we do (UTF-8, property placement, packet identifier 0, ...), so our
  // codec may reject more; but what mqtt-packet rejects breaks a spec rule (reserved header flags
  // [MQTT-2.2.2-2], QoS 3 [MQTT-3.3.1-4], CONNECT reserved flag [MQTT-3.1.2-3], subscription
  // option bits [MQTT-3.8.3-5], reason codes outside table 2-6, ...), and what both accept must
  // be the same packet.
  const rng = new Random(SEED ^ 0xdead);
  const failures: string[] = [];
  let bothAccepted = 0;
  for (let i = 0; i < MUTATED_CASES && failures.length < 5; i++) {
    const version = rng.pick([3, 4, 5] as const);
    const packet = generatePacket(rng, version, rng.pick(packetTypesOf(version)), {
      maxPayload: 32,
      largePayloads: false,
    });
    const bytes = encodePacket(packet, version);
    let offset = 1;
    while ((bytes[offset] ?? 0) & 0x80) offset++;
    let header = bytes[0] ?? 0;
    let body = bytes.subarray(offset + 1);
    if (rng.chance(0.1)) header = (header & 0xf0) | rng.int(0, 15);
    else body = mutate(rng, body);
    const whole = concat([[header], varint(body.length), body]);
    let ours: Packet | undefined;
    try {
      ours = decodePacket({ header, body }, version);
    } catch {
      continue; // Stricter than mqtt-packet, or both reject.
    }
    let theirs: MqttObject;
    try {
      theirs = mqttParse(whole, version);
    } catch (error) {
      // AUTH with reason code 0 and no properties may be 0 bytes long (3.15.2.1); mqtt-packet
      // reads an undefined reason code (see above).
      if (ours.type === "auth" && body.length === 0) continue;
      failures.push(`v${version} [${hex(whole)}]: mqtt-packet rejects (${error}), we accept`);
      continue;
    }
    if (hasEmptyRepeatedValue(ours)) continue;
    bothAccepted++;
    try {
      assert.deepStrictEqual(
        groupUserProperties(fromMqttPacket(theirs, version)),
        groupUserProperties(ours),
      );
    } catch (error) {
      failures.push(`v${version} [${hex(whole)}]: parsers disagree: ${error}`);
    }
  }
  assert.deepStrictEqual(failures, []);
  // Most damage is caught, but enough packets survive for the comparison to mean something.
  assert.ok(bothAccepted > 1000, `only ${bothAccepted} damaged packets accepted by both`);
});
