/**
 * Seeded random generator of valid MQTT packets in the codec's canonical form (see
 * `codec/types.ts`), for the differential test against `mqtt-packet`, the fuzz test and anything
 * else that wants many well-formed packets.
 *
 * Every packet it returns obeys the rules a conforming decoder may enforce, so that a decoder
 * rejecting one of them is a bug: packet identifiers are non-zero [MQTT-2.2.1-3], DUP is 0 on QoS 0
 * [MQTT-3.3.1-2], topic names carry no wildcards [MQTT-3.3.2-2], strings are well-formed UTF-8
 * without U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2], reason codes are those table 2-6 allows for the
 * packet type, and MQTT 5 properties are only those section 2.2.2.2 allows for the packet type.
 * Its own tables are deliberately independent of `codec/` so that a wrong table there is caught.
 * `mutate`, `varint` and `concat` damage and rebuild encodings for the fuzz tests.
 *
 * @module
 */

import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketTypeName,
  PingreqPacket,
  PingrespPacket,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperty,
  Will,
} from "../../codec/types.ts";

/**
 * Small fast seeded PRNG (sfc32), so that a failing case is reproduced from its seed alone.
 *
 * @example
 * ```ts
 * import { Random } from "./_generate.ts";
 * const rng = new Random(42);
 * rng.int(1, 6); // the same number on every run
 * ```
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds the generator; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.uint32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(0, items.length - 1)];
    if (item === undefined) throw new RangeError("Cannot pick from an empty array");
    return item;
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const r = this.uint32();
      out[i] = r;
      if (i + 1 < length) out[i + 1] = r >>> 8;
      if (i + 2 < length) out[i + 2] = r >>> 16;
      if (i + 3 < length) out[i + 3] = r >>> 24;
    }
    return out;
  }

  /**
   * An integer in [min, max] that is one of the boundary values (the range ends and, for
   * variable byte integers, the lengths where the encoding grows) a third of the time.
   */
  boundaryInt(min: number, max: number): number {
    if (this.chance(1 / 3)) {
      const edges = [min, min + 1, max - 1, max, 127, 128, 255, 256, 16_383, 16_384, 65_535]
        .concat([65_536, 2_097_151, 2_097_152, 268_435_455])
        .filter((n) => n >= min && n <= max);
      return this.pick(edges);
    }
    // Mostly small numbers, sometimes anywhere in the range.
    return this.chance(0.5) ? this.int(min, Math.min(max, min + 300)) : this.int(min, max);
  }
}

/** A Remaining Length as a Variable Byte Integer (1.5.5). */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** The bytes of `parts` one after the other. */
export function concat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** One random mutation of `bytes` (a whole packet or a body). */
export function mutate(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (rng.int(0, 5)) {
    case 0: {
      // Flip one to three bits.
      const flips = rng.int(1, 3);
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = rng.int(0, out.length - 1);
        out[at] = out[at]! ^ (1 << rng.int(0, 7));
      }
      return out;
    }
    case 1: // Truncate.
      return out.subarray(0, rng.int(0, Math.max(0, out.length - 1)));
    case 2: // Extend with random bytes.
      return concat([out, rng.bytes(rng.int(1, 8))]);
    case 3: {
      // Overwrite one byte with a boundary value (lengths, flags, varint continuation).
      if (out.length > 0) out[rng.int(0, out.length - 1)] = rng.pick([0, 1, 0x7f, 0x80, 0xff]);
      return out;
    }
    case 4: {
      // Insert random bytes somewhere.
      const at = rng.int(0, out.length);
      return concat([out.subarray(0, at), rng.bytes(rng.int(1, 4)), out.subarray(at)]);
    }
    default: {
      // Delete a run of bytes somewhere.
      const at = rng.int(0, out.length);
      const n = rng.int(1, 4);
      return concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + n))]);
    }
  }
}

/** The packet types that exist in a protocol version: AUTH is MQTT 5 only (section 3.15). */
export function packetTypesOf(version: ProtocolVersion): readonly PacketTypeName[] {
  return version === 5 ? ALL_TYPES : ALL_TYPES.slice(0, -1);
}

const ALL_TYPES: readonly PacketTypeName[] = [
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];

// Reason codes each packet type may carry (MQTT 5 section 2.4, table 2-6, and the per-packet
// tables in 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
const CONNACK_CODES_V5 = [
  0x00,
  0x80,
  0x81,
  0x82,
  0x83,
  0x84,
  0x85,
  0x86,
  0x87,
  0x88,
  0x89,
  0x8a,
  0x8c,
  0x90,
  0x95,
  0x97,
  0x99,
  0x9a,
  0x9b,
  0x9c,
  0x9d,
  0x9f,
];
const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES = [0x00, 0x92];
const SUBACK_CODES_V5 = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
const UNSUBACK_CODES_V5 = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
const DISCONNECT_CODES = [
  0x00,
  0x04,
  0x80,
  0x81,
  0x82,
  0x83,
  0x87,
  0x89,
  0x8b,
  0x8d,
  0x8e,
  0x8f,
  0x90,
  0x93,
  0x94,
  0x95,
  0x96,
  0x97,
  0x98,
  0x99,
  0x9a,
  0x9b,
  0x9c,
  0x9d,
  0x9e,
  0x9f,
  0xa0,
  0xa1,
  0xa2,
];
const AUTH_CODES = [0x00, 0x18, 0x19];

/**
 * Code point ranges strings are drawn from: ASCII, Latin-1 letters, Greek, Cyrillic, CJK (3-byte
 * UTF-8) and emoji (4-byte UTF-8, a surrogate pair in JS). Control characters and non-characters
 * are left out: a receiver MAY close the connection on them [MQTT-1.5.4-3 note], so a decoder
 * refusing them would not be wrong. U+FEFF is added separately: it MUST NOT be skipped or stripped
 * [MQTT-1.5.4-3], which `TextDecoder` does by default at the start of a string.
 */
const CHAR_RANGES: readonly (readonly [number, number])[] = [
  [0x20, 0x7e],
  [0x20, 0x7e],
  [0x20, 0x7e],
  [0xc0, 0xff],
  [0x391, 0x3a9],
  [0x410, 0x44f],
  [0x4e00, 0x9fff],
  [0x1f600, 0x1f64f],
];

/** Options of {@linkcode generatePacket}. */
export interface GenerateOptions {
  /** Largest random payload in bytes; larger ones (up to 20,000) appear rarely. Default 200. */
  maxPayload?: number;
  /** Whether 1% of the payloads are 16,300..20,000 bytes (3-byte Remaining Length). Default true. */
  largePayloads?: boolean;
}

/**
 * A random, valid, canonical packet of `type` (random type when omitted) for `version`.
 *
 * @example
 * ```ts
 * import { generatePacket, Random } from "./_generate.ts";
 * const packet = generatePacket(new Random(1), 5, "publish");
 * packet.type; // "publish"
 * ```
 */
export function generatePacket(
  rng: Random,
  version: ProtocolVersion,
  type: PacketTypeName = rng.pick(packetTypesOf(version)),
  options: GenerateOptions = {},
): Packet {
  const g = new PacketGenerator(
    rng,
    version,
    options.maxPayload ?? 200,
    options.largePayloads ?? true,
  );
  switch (type) {
    case "connect":
      return g.connect();
    case "connack":
      return g.connack();
    case "publish":
      return g.publish();
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return g.ack(type);
    case "subscribe":
      return g.subscribe();
    case "suback":
      return g.suback();
    case "unsubscribe":
      return g.unsubscribe();
    case "unsuback":
      return g.unsuback();
    case "pingreq":
      return { type: "pingreq" } satisfies PingreqPacket;
    case "pingresp":
      return { type: "pingresp" } satisfies PingrespPacket;
    case "disconnect":
      return g.disconnect();
    case "auth":
      if (version !== 5) throw new RangeError(`Cannot generate AUTH for protocol level ${version}`);
      return g.auth();
  }
}

/**
 * A random well-formed string of `minChars..maxChars` code points, without U+0000 and without the
 * characters in `exclude`.
 */
export function randomString(
  rng: Random,
  minChars: number,
  maxChars: number,
  exclude = "",
): string {
  const count = rng.int(minChars, maxChars);
  let out = "";
  let chars = 0;
  // A leading BOM is the case TextDecoder gets wrong by default [MQTT-1.5.4-3].
  if (count > 0 && rng.chance(0.03)) {
    out += "\ufeff";
    chars++;
  }
  // Most strings stay in one script, some mix them.
  const mixed = rng.chance(0.3);
  let range = rng.pick(CHAR_RANGES);
  while (chars < count) {
    if (mixed) range = rng.pick(CHAR_RANGES);
    const ch = String.fromCodePoint(rng.int(range[0], range[1]));
    if (exclude.includes(ch)) continue;
    out += ch;
    chars++;
  }
  return out;
}

/** A topic name: levels separated by "/", possibly empty ones, no wildcards [MQTT-3.3.2-2]. */
export function randomTopic(rng: Random, minLevels = 1): string {
  const levels: string[] = [];
  const count = rng.int(minLevels, 5);
  for (let i = 0; i < count; i++) levels.push(randomString(rng, 0, 8, "/+#"));
  const topic = levels.join("/");
  // A topic name is at least one character long [MQTT-4.7.3-1].
  return topic === "" ? "/" : topic;
}

/**
 * A valid topic filter: "+" only as a whole level, "#" only as the whole last level
 * [MQTT-4.7.1-1] [MQTT-4.7.1-2], sometimes a shared subscription "$share/{name}/{filter}" in
 * MQTT 5 (section 4.8.2).
 */
export function randomTopicFilter(rng: Random, version: ProtocolVersion): string {
  const levels: string[] = [];
  const count = rng.int(1, 5);
  for (let i = 0; i < count; i++) {
    const roll = rng.float();
    if (roll < 0.15) levels.push("+");
    else if (roll < 0.22 && i === count - 1) levels.push("#");
    else levels.push(randomString(rng, 0, 8, "/+#"));
  }
  let filter = levels.join("/");
  if (filter === "") filter = "#";
  if (version === 5 && rng.chance(0.1)) {
    filter = `$share/${randomString(rng, 1, 6, "/+#")}/${filter}`;
  }
  return filter;
}

class PacketGenerator {
  readonly #rng: Random;
  readonly #version: ProtocolVersion;
  readonly #maxPayload: number;
  readonly #largePayloads: boolean;

  constructor(rng: Random, version: ProtocolVersion, maxPayload: number, largePayloads: boolean) {
    this.#rng = rng;
    this.#version = version;
    this.#maxPayload = maxPayload;
    this.#largePayloads = largePayloads;
  }

  connect(): ConnectPacket {
    const rng = this.#rng;
    const v = this.#version;
    const packet: ConnectPacket = {
      type: "connect",
      protocolName: v === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: v,
      clean: rng.chance(0.5),
      keepalive: rng.boundaryInt(0, 65_535),
      // MQTT 3.1 requires 1 to 23 characters (3.1 section 3.1, "Client Identifier"); 3.1.1 and 5.0
      // allow an empty one [MQTT-3.1.3-6].
      clientId: v === 3 ? randomString(rng, 1, 23) : randomString(rng, 0, 23),
    };
    if (rng.chance(0.5)) packet.username = randomString(rng, 0, 12);
    // Below MQTT 5 a password needs a user name [MQTT-3.1.2-22]; MQTT 5 drops that rule (3.1.2.9).
    if (rng.chance(0.4) && (v === 5 || packet.username !== undefined)) {
      packet.password = rng.bytes(rng.int(0, 16));
    }
    if (rng.chance(0.4)) {
      const will: Will = {
        topic: randomTopic(rng),
        payload: this.#payload(),
        qos: this.#qos(),
        retain: rng.chance(0.5),
      };
      const properties = this.#properties(WILL_PROPERTIES);
      if (properties !== undefined) {
        will.properties = properties;
        if (properties.payloadFormatIndicator === 1) will.payload = this.#utf8Payload();
      }
      packet.will = will;
    }
    this.#addProperties(packet, CONNECT_PROPERTIES);
    return packet;
  }

  connack(): ConnackPacket {
    const rng = this.#rng;
    const v = this.#version;
    const reasonCode = v === 5 ? rng.pick(CONNACK_CODES_V5) : rng.int(0, 5);
    // Session Present is 0 whenever the connection is refused [MQTT-3.2.2-4] [MQTT-3.2.2-6]; MQTT
    // 3.1 has no such flag at all (the byte is reserved there).
    const sessionPresent = v !== 3 && reasonCode === 0 && rng.chance(0.5);
    const packet: ConnackPacket = { type: "connack", sessionPresent, reasonCode };
    this.#addProperties(packet, CONNACK_PROPERTIES);
    return packet;
  }

  publish(): PublishPacket {
    const rng = this.#rng;
    const qos = this.#qos();
    const packet: PublishPacket = {
      type: "publish",
      topic: randomTopic(rng),
      payload: this.#payload(),
      qos,
      retain: rng.chance(0.3),
      // DUP MUST be 0 for QoS 0 [MQTT-3.3.1-2].
      dup: qos > 0 && rng.chance(0.3),
    };
    if (qos > 0) packet.packetId = this.#packetId();
    this.#addProperties(packet, PUBLISH_PROPERTIES);
    const properties = packet.properties;
    if (properties !== undefined) {
      // With a Topic Alias the topic name may be empty (3.3.2.3.4).
      if (properties.topicAlias !== undefined && rng.chance(0.3)) packet.topic = "";
      if (properties.payloadFormatIndicator === 1) packet.payload = this.#utf8Payload();
    }
    return packet;
  }

  ack(type: AckPacket["type"]): AckPacket {
    const packet: AckPacket = { type, packetId: this.#packetId() };
    if (this.#version === 5) {
      const codes = type === "puback" || type === "pubrec" ? PUBACK_CODES : PUBREL_CODES;
      packet.reasonCode = this.#rng.chance(0.5) ? 0 : this.#rng.pick(codes);
      this.#addProperties(packet, ACK_PROPERTIES);
    }
    return packet;
  }

  subscribe(): SubscribePacket {
    const rng = this.#rng;
    const v = this.#version;
    const subscriptions: Subscription[] = [];
    // The payload holds at least one subscription [MQTT-3.8.3-3].
    const count = rng.int(1, 4);
    for (let i = 0; i < count; i++) {
      const topicFilter = randomTopicFilter(rng, v);
      const subscription: Subscription = {
        topicFilter,
        qos: this.#qos(),
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      };
      if (v === 5) {
        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
        subscription.noLocal = !topicFilter.startsWith("$share/") && rng.chance(0.5);
        subscription.retainAsPublished = rng.chance(0.5);
        subscription.retainHandling = rng.pick([0, 1, 2] as const);
      }
      subscriptions.push(subscription);
    }
    const packet: SubscribePacket = {
      type: "subscribe",
      packetId: this.#packetId(),
      subscriptions,
    };
    this.#addProperties(packet, SUBSCRIBE_PROPERTIES);
    return packet;
  }

  suback(): SubackPacket {
    const rng = this.#rng;
    const v = this.#version;
    const reasonCodes: number[] = [];
    const count = rng.int(1, 5);
    for (let i = 0; i < count; i++) {
      // 0x80 (failure) exists from 3.1.1 on [MQTT-3.9.3-2]; MQTT 3.1 grants 0..2 only.
      reasonCodes.push(
        v === 5 ? rng.pick(SUBACK_CODES_V5) : rng.pick(v === 4 ? [0, 1, 2, 0x80] : [0, 1, 2]),
      );
    }
    const packet: SubackPacket = { type: "suback", packetId: this.#packetId(), reasonCodes };
    this.#addProperties(packet, ACK_PROPERTIES);
    return packet;
  }

  unsubscribe(): UnsubscribePacket {
    const rng = this.#rng;
    const topicFilters: string[] = [];
    // At least one topic filter [MQTT-3.10.3-2].
    const count = rng.int(1, 4);
    for (let i = 0; i < count; i++) topicFilters.push(randomTopicFilter(rng, this.#version));
    const packet: UnsubscribePacket = {
      type: "unsubscribe",
      packetId: this.#packetId(),
      topicFilters,
    };
    this.#addProperties(packet, USER_PROPERTY_ONLY);
    return packet;
  }

  unsuback(): UnsubackPacket {
    const rng = this.#rng;
    const reasonCodes: number[] = [];
    // MQTT 5 has one reason code per topic filter (3.11.3); below 5 the packet has no payload.
    if (this.#version === 5) {
      const count = rng.int(1, 5);
      for (let i = 0; i < count; i++) reasonCodes.push(rng.pick(UNSUBACK_CODES_V5));
    }
    const packet: UnsubackPacket = { type: "unsuback", packetId: this.#packetId(), reasonCodes };
    this.#addProperties(packet, ACK_PROPERTIES);
    return packet;
  }

  disconnect(): DisconnectPacket {
    const packet: DisconnectPacket = { type: "disconnect" };
    if (this.#version === 5) {
      packet.reasonCode = this.#rng.chance(0.4) ? 0 : this.#rng.pick(DISCONNECT_CODES);
      this.#addProperties(packet, DISCONNECT_PROPERTIES);
    }
    return packet;
  }

  auth(): AuthPacket {
    const packet: AuthPacket = {
      type: "auth",
      reasonCode: this.#rng.chance(0.3) ? 0 : this.#rng.pick(AUTH_CODES),
    };
    this.#addProperties(packet, AUTH_PROPERTIES);
    return packet;
  }

  #qos(): QoS {
    return this.#rng.pick([0, 1, 2] as const);
  }

  #packetId(): number {
    // Non-zero [MQTT-2.2.1-3].
    return this.#rng.boundaryInt(1, 65_535);
  }

  #payload(): Uint8Array {
    const rng = this.#rng;
    // Sizes around the Remaining Length steps (127/128 and 16383/16384 bytes) show up now and then.
    if (this.#largePayloads && rng.chance(0.01)) return rng.bytes(rng.int(16_300, 20_000));
    if (rng.chance(0.1)) return rng.bytes(rng.int(100, 300));
    return rng.bytes(rng.int(0, this.#maxPayload));
  }

  #utf8Payload(): Uint8Array {
    // Payload Format Indicator 1 promises UTF-8 (3.3.2.3.2), which a receiver may check.
    return new TextEncoder().encode(randomString(this.#rng, 0, 40));
  }

  #addProperties(
    packet: { properties?: Properties },
    allowed: readonly PropertyName[],
  ): void {
    const properties = this.#properties(allowed);
    if (properties !== undefined) packet.properties = properties;
  }

  /** Random properties among `allowed`, or undefined when none were chosen or below MQTT 5. */
  #properties(allowed: readonly PropertyName[]): Properties | undefined {
    if (this.#version !== 5) return undefined;
    const rng = this.#rng;
    // A third of the packets carry none; the rest a random subset.
    if (rng.chance(1 / 3)) return undefined;
    const density = rng.float();
    const p: Properties = {};
    let any = false;
    for (const name of allowed) {
      if (!rng.chance(density)) continue;
      any = true;
      this.#setProperty(p, name, allowed === SUBSCRIBE_PROPERTIES);
    }
    // Authentication Data without an Authentication Method is a Protocol Error (3.1.2.11.10).
    if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
      p.authenticationMethod = randomString(rng, 1, 10);
    }
    return any ? p : undefined;
  }

  #setProperty(p: Properties, name: PropertyName, inSubscribe: boolean): void {
    const rng = this.#rng;
    const u32 = () => rng.boundaryInt(0, 0xffff_ffff);
    const str = () => randomString(rng, 0, 16);
    const bin = () => rng.bytes(rng.int(0, 16));
    const flag = () => rng.int(0, 1);
    switch (name) {
      case "payloadFormatIndicator":
        p.payloadFormatIndicator = flag();
        break;
      case "messageExpiryInterval":
        p.messageExpiryInterval = u32();
        break;
      case "contentType":
        p.contentType = str();
        break;
      case "responseTopic":
        // A topic name, so no wildcards and not empty [MQTT-3.3.2-14].
        p.responseTopic = randomTopic(rng);
        break;
      case "correlationData":
        p.correlationData = bin();
        break;
      case "subscriptionIdentifiers": {
        // 1..268,435,455 (3.3.2.3.8); one in SUBSCRIBE (3.8.2.1.2), several in a PUBLISH that
        // matched several subscriptions [MQTT-3.3.4-3].
        const count = inSubscribe ? 1 : rng.int(1, 3);
        const ids: number[] = [];
        for (let i = 0; i < count; i++) ids.push(rng.boundaryInt(1, 268_435_455));
        p.subscriptionIdentifiers = ids;
        break;
      }
      case "sessionExpiryInterval":
        p.sessionExpiryInterval = u32();
        break;
      case "assignedClientIdentifier":
        p.assignedClientIdentifier = randomString(rng, 1, 23);
        break;
      case "serverKeepAlive":
        p.serverKeepAlive = rng.boundaryInt(0, 65_535);
        break;
      case "authenticationMethod":
        p.authenticationMethod = randomString(rng, 1, 12);
        break;
      case "authenticationData":
        p.authenticationData = bin();
        break;
      case "requestProblemInformation":
        p.requestProblemInformation = flag();
        break;
      case "willDelayInterval":
        p.willDelayInterval = u32();
        break;
      case "requestResponseInformation":
        p.requestResponseInformation = flag();
        break;
      case "responseInformation":
        p.responseInformation = str();
        break;
      case "serverReference":
        p.serverReference = str();
        break;
      case "reasonString":
        p.reasonString = str();
        break;
      case "receiveMaximum":
        // 0 is a Protocol Error (3.1.2.11.3).
        p.receiveMaximum = rng.boundaryInt(1, 65_535);
        break;
      case "topicAliasMaximum":
        p.topicAliasMaximum = rng.boundaryInt(0, 65_535);
        break;
      case "topicAlias":
        // 0 is not a valid Topic Alias [MQTT-3.3.2-8].
        p.topicAlias = rng.boundaryInt(1, 65_535);
        break;
      case "maximumQoS":
        // 0 or 1; any other value is a Protocol Error (3.2.2.3.4).
        p.maximumQoS = flag();
        break;
      case "retainAvailable":
        p.retainAvailable = flag();
        break;
      case "userProperties":
        p.userProperties = this.#userProperties();
        break;
      case "maximumPacketSize":
        // 0 is a Protocol Error (3.1.2.11.4).
        p.maximumPacketSize = rng.boundaryInt(1, 268_435_455);
        break;
      case "wildcardSubscriptionAvailable":
        p.wildcardSubscriptionAvailable = flag();
        break;
      case "subscriptionIdentifiersAvailable":
        p.subscriptionIdentifiersAvailable = flag();
        break;
      case "sharedSubscriptionAvailable":
        p.sharedSubscriptionAvailable = flag();
        break;
    }
  }

  #userProperties(): UserProperty[] {
    const rng = this.#rng;
    const pairs: UserProperty[] = [];
    const count = rng.int(1, 4);
    for (let i = 0; i < count; i++) {
      // Repeated names are allowed and their order is significant [MQTT-3.3.2-18].
      const earlier = pairs.length > 0 && rng.chance(0.3) ? rng.pick(pairs)[0] : undefined;
      pairs.push([earlier ?? randomString(rng, 0, 8), randomString(rng, 0, 12)]);
    }
    return pairs;
  }
}

type PropertyName = keyof Properties;

// Which properties each packet may carry (section 2.2.2.2, table 2-4).
const CONNECT_PROPERTIES: readonly PropertyName[] = [
  "sessionExpiryInterval",
  "receiveMaximum",
  "maximumPacketSize",
  "topicAliasMaximum",
  "requestResponseInformation",
  "requestProblemInformation",
  "userProperties",
  "authenticationMethod",
  "authenticationData",
];
const WILL_PROPERTIES: readonly PropertyName[] = [
  "willDelayInterval",
  "payloadFormatIndicator",
  "messageExpiryInterval",
  "contentType",
  "responseTopic",
  "correlationData",
  "userProperties",
];
const CONNACK_PROPERTIES: readonly PropertyName[] = [
  "sessionExpiryInterval",
  "receiveMaximum",
  "maximumQoS",
  "retainAvailable",
  "maximumPacketSize",
  "assignedClientIdentifier",
  "topicAliasMaximum",
  "reasonString",
  "userProperties",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifiersAvailable",
  "sharedSubscriptionAvailable",
  "serverKeepAlive",
  "responseInformation",
  "serverReference",
  "authenticationMethod",
  "authenticationData",
];
const PUBLISH_PROPERTIES: readonly PropertyName[] = [
  "payloadFormatIndicator",
  "messageExpiryInterval",
  "topicAlias",
  "responseTopic",
  "correlationData",
  "userProperties",
  "subscriptionIdentifiers",
  "contentType",
];
const ACK_PROPERTIES: readonly PropertyName[] = ["reasonString", "userProperties"];
const SUBSCRIBE_PROPERTIES: readonly PropertyName[] = ["subscriptionIdentifiers", "userProperties"];
const USER_PROPERTY_ONLY: readonly PropertyName[] = ["userProperties"];
const DISCONNECT_PROPERTIES: readonly PropertyName[] = [
  "sessionExpiryInterval",
  "reasonString",
  "userProperties",
  "serverReference",
];
const AUTH_PROPERTIES: readonly PropertyName[] = [
  "authenticationMethod",
  "authenticationData",
  "reasonString",
  "userProperties",
];
