/**
 * Codec micro-benchmark: decode and encode of the PUBLISH packets that dominate a broker's hot
 * path. Run with `deno bench bench/codec_bench.ts`; packets/s = 1e9 / (ns per iteration).
 *
 * - a 64-byte QoS 0 PUBLISH at MQTT 3.1.1 (the whole packet, fixed header included, is 64 bytes);
 * - an MQTT 5 QoS 1 PUBLISH with Message Expiry Interval, Content Type, Correlation Data and two
 *   User Properties.
 *
 * @module
 */

import {
  decodePacket,
  encodePacket,
  encodePublish,
  type Frame,
  Framer,
  type PublishPacket,
} from "../codec/mod.ts";

const encoder = new TextEncoder();

/** Topic of 25 bytes: 2 + 2 + 25 + 35 bytes of payload = 64 bytes in all. */
const SMALL: PublishPacket = {
  type: "publish",
  topic: "sensors/room1/temperature",
  payload: encoder.encode('{"t":21.5,"h":40,"ts":1700000000}  '),
  qos: 0,
  retain: false,
  dup: false,
};

const WITH_PROPERTIES: PublishPacket = {
  type: "publish",
  topic: "devices/d-42/responses",
  payload: encoder.encode('{"status":"ok","value":1234}'),
  qos: 1,
  retain: false,
  dup: false,
  packetId: 4711,
  properties: {
    messageExpiryInterval: 3600,
    contentType: "application/json",
    correlationData: encoder.encode("req-0001"),
    userProperties: [["trace-id", "4bf92f3577b34da6"], ["tenant", "acme"]],
  },
};

/** Splits an encoded packet into the frame the Framer would yield. */
function frameOf(bytes: Uint8Array): Frame {
  const framer = new Framer({});
  framer.push(bytes);
  const frame = framer.next();
  if (frame === undefined) throw new Error("Cannot frame benchmark packet");
  return frame;
}

const smallBytes = encodePacket(SMALL, 4);
if (smallBytes.length !== 64) {
  throw new Error(`Benchmark PUBLISH is ${smallBytes.length} bytes, expected 64`);
}
const smallFrame = frameOf(smallBytes);
const propsBytes = encodePacket(WITH_PROPERTIES, 5);
const propsFrame = frameOf(propsBytes);

// Results are kept in a module variable so that no call can be optimised away.
let sink: unknown;

Deno.bench({
  name: "decodePacket 64-byte QoS 0 PUBLISH v4",
  group: "decode",
  baseline: true,
  fn() {
    sink = decodePacket(smallFrame, 4);
  },
});

Deno.bench({
  name: `decodePacket ${propsBytes.length}-byte QoS 1 PUBLISH v5 with properties`,
  group: "decode",
  fn() {
    sink = decodePacket(propsFrame, 5);
  },
});

// One framer for the whole run, as a connection keeps one.
const framer = new Framer({});

Deno.bench({
  name: "Framer.push + next + decodePacket 64-byte QoS 0 PUBLISH v4",
  group: "decode",
  fn() {
    framer.push(smallBytes);
    sink = decodePacket(framer.next()!, 4);
  },
});

Deno.bench({
  name: "encodePublish 64-byte QoS 0 PUBLISH v4",
  group: "encode",
  baseline: true,
  fn() {
    sink = encodePublish(SMALL, 4);
  },
});

Deno.bench({
  name: "encodePacket 64-byte QoS 0 PUBLISH v4",
  group: "encode",
  fn() {
    sink = encodePacket(SMALL, 4);
  },
});

Deno.bench({
  name: `encodePublish ${propsBytes.length}-byte QoS 1 PUBLISH v5 with properties`,
  group: "encode",
  fn() {
    sink = encodePublish(WITH_PROPERTIES, 5);
  },
});

globalThis.addEventListener("unload", () => {
  if (sink === null) console.log(sink);
});
