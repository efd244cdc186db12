/**
 * Exact-byte fixtures for every packet type at every protocol level where it exists, with a
 * comment per field, checked both ways: encode(packet) equals the bytes and decode(bytes) equals
 * the packet. Spec clause ids in comments refer to MQTT 5.0 unless marked 3.1.1.
 */

import { deepStrictEqual } from "node:assert/strict";
import {
  decodePacket,
  encodePacket,
  encodePublish,
  type Frame,
  Framer,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  setPublishDup,
  setPublishPacketId,
} from "../../codec/mod.ts";

interface Fixture {
  name: string;
  version: ProtocolVersion;
  packet: Packet;
  bytes: number[];
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Cuts `bytes` with the Framer, which must yield exactly one frame and keep nothing. */
function frameOf(bytes: Uint8Array | number[]): Frame {
  const framer = new Framer();
  framer.push(Uint8Array.from(bytes));
  const frame = framer.next();
  if (frame === undefined) throw new Error("Framer returned no frame");
  deepStrictEqual(framer.next(), undefined);
  deepStrictEqual(framer.bufferedBytes, 0);
  return frame;
}

function hex(bytes: Uint8Array | number[]): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

const FIXTURES: Fixture[] = [
  // ---------------------------------------------------------------- CONNECT (3.1)
  {
    name: "CONNECT 3.1 minimal",
    version: 3,
    packet: {
      type: "connect",
      protocolName: "MQIsdp",
      protocolVersion: 3,
      clean: true,
      keepalive: 30,
      clientId: "a",
    },
    // deno-fmt-ignore
    bytes: [
      0x10, // CONNECT, reserved flags 0000 [MQTT-2.1.3-1]
      0x0f, // remaining length 15
      0x00, 0x06, // protocol name length 6
      0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, // "MQIsdp" (MQTT 3.1)
      0x03, // protocol level 3
      0x02, // connect flags: clean session
      0x00, 0x1e, // keep alive 30 s
      0x00, 0x01, // client id length 1
      0x61, // "a"
    ],
  },
  {
    name: "CONNECT 3.1.1 with will, user name and password",
    version: 4,
    packet: {
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 4,
      clean: false,
      keepalive: 60,
      clientId: "cid",
      username: "user",
      password: utf8("pw"),
      will: { topic: "w/t", payload: utf8("bye"), qos: 1, retain: true },
    },
    // deno-fmt-ignore
    bytes: [
      0x10, // CONNECT
      0x23, // remaining length 35
      0x00, 0x04, // protocol name length 4
      0x4d, 0x51, 0x54, 0x54, // "MQTT" [MQTT-3.1.2-1]
      0x04, // protocol level 4 (3.1.1)
      0xec, // flags: user name 0x80, password 0x40, will retain 0x20, will QoS 1 0x08, will 0x04
      0x00, 0x3c, // keep alive 60 s
      0x00, 0x03, // client id length 3
      0x63, 0x69, 0x64, // "cid"
      0x00, 0x03, // will topic length 3
      0x77, 0x2f, 0x74, // "w/t"
      0x00, 0x03, // will payload length 3
      0x62, 0x79, 0x65, // "bye"
      0x00, 0x04, // user name length 4
      0x75, 0x73, 0x65, 0x72, // "user"
      0x00, 0x02, // password length 2
      0x70, 0x77, // "pw"
    ],
  },
  {
    name: "CONNECT 5.0 minimal with empty client id",
    version: 5,
    packet: {
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: "",
    },
    // deno-fmt-ignore
    bytes: [
      0x10, // CONNECT
      0x0d, // remaining length 13
      0x00, 0x04, // protocol name length 4
      0x4d, 0x51, 0x54, 0x54, // "MQTT"
      0x05, // protocol level 5
      0x02, // flags: clean start
      0x00, 0x00, // keep alive 0: off
      0x00, // property length 0
      0x00, 0x00, // client id length 0: server assigns one [MQTT-3.1.3-6]
    ],
  },
  {
    name: "CONNECT 5.0 with every CONNECT property, will properties, password without user name",
    version: 5,
    packet: {
      type: "connect",
      protocolName: "MQTT",
      protocolVersion: 5,
      clean: true,
      keepalive: 10,
      clientId: "c5",
      password: utf8("p"),
      will: {
        topic: "w",
        payload: utf8("x"),
        qos: 2,
        retain: false,
        properties: {
          payloadFormatIndicator: 1,
          messageExpiryInterval: 60,
          contentType: "t",
          responseTopic: "r",
          correlationData: new Uint8Array([9]),
          willDelayInterval: 10,
          userProperties: [["a", "b"]],
        },
      },
      properties: {
        sessionExpiryInterval: 3600,
        authenticationMethod: "m",
        authenticationData: new Uint8Array([1, 2]),
        requestProblemInformation: 0,
        requestResponseInformation: 1,
        receiveMaximum: 20,
        topicAliasMaximum: 10,
        userProperties: [["k", "v"]],
        maximumPacketSize: 1024,
      },
    },
    // deno-fmt-ignore
    bytes: [
      0x10, // CONNECT
      0x5c, // remaining length 92
      0x00, 0x04, // protocol name length 4
      0x4d, 0x51, 0x54, 0x54, // "MQTT"
      0x05, // protocol level 5
      0x56, // flags: password 0x40 (no user name: allowed in 5.0, 3.1.2.9), will QoS 2, will, clean
      0x00, 0x0a, // keep alive 10 s
      0x24, // property length 36
      0x11, 0x00, 0x00, 0x0e, 0x10, // session expiry interval 3600
      0x15, 0x00, 0x01, 0x6d, // authentication method "m"
      0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
      0x17, 0x00, // request problem information 0
      0x19, 0x01, // request response information 1
      0x21, 0x00, 0x14, // receive maximum 20
      0x22, 0x00, 0x0a, // topic alias maximum 10
      0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76, // user property "k" = "v"
      0x27, 0x00, 0x00, 0x04, 0x00, // maximum packet size 1024
      0x00, 0x02, // client id length 2
      0x63, 0x35, // "c5"
      0x1f, // will property length 31
      0x01, 0x01, // payload format indicator 1: UTF-8
      0x02, 0x00, 0x00, 0x00, 0x3c, // message expiry interval 60
      0x03, 0x00, 0x01, 0x74, // content type "t"
      0x08, 0x00, 0x01, 0x72, // response topic "r"
      0x09, 0x00, 0x01, 0x09, // correlation data 09
      0x18, 0x00, 0x00, 0x00, 0x0a, // will delay interval 10
      0x26, 0x00, 0x01, 0x61, 0x00, 0x01, 0x62, // user property "a" = "b"
      0x00, 0x01, // will topic length 1
      0x77, // "w"
      0x00, 0x01, // will payload length 1
      0x78, // "x"
      0x00, 0x01, // password length 1
      0x70, // "p"
    ],
  },
  // ---------------------------------------------------------------- CONNACK
  {
    name: "CONNACK 3.1 identifier rejected",
    version: 3,
    packet: { type: "connack", sessionPresent: false, reasonCode: 2 },
    // deno-fmt-ignore
    bytes: [
      0x20, // CONNACK
      0x02, // remaining length 2
      0x00, // acknowledge flags (reserved in 3.1)
      0x02, // return code 2: identifier rejected
    ],
  },
  {
    name: "CONNACK 3.1.1 session present",
    version: 4,
    packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
    // deno-fmt-ignore
    bytes: [
      0x20, // CONNACK
      0x02, // remaining length 2
      0x01, // session present [MQTT-3.2.2-2]
      0x00, // return code 0: accepted
    ],
  },
  {
    name: "CONNACK 5.0 success without properties",
    version: 5,
    packet: { type: "connack", sessionPresent: false, reasonCode: 0 },
    // deno-fmt-ignore
    bytes: [
      0x20, // CONNACK
      0x03, // remaining length 3
      0x00, // acknowledge flags
      0x00, // reason code 0: success
      0x00, // property length 0 (not optional in CONNACK)
    ],
  },
  {
    name: "CONNACK 5.0 with every CONNACK capability property",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 0,
        assignedClientIdentifier: "id",
        serverKeepAlive: 30,
        responseInformation: "ri",
        receiveMaximum: 100,
        topicAliasMaximum: 5,
        maximumQoS: 1,
        retainAvailable: 0,
        maximumPacketSize: 65536,
        wildcardSubscriptionAvailable: 1,
        subscriptionIdentifiersAvailable: 1,
        sharedSubscriptionAvailable: 1,
      },
    },
    // deno-fmt-ignore
    bytes: [
      0x20, // CONNACK
      0x2a, // remaining length 42
      0x00, // acknowledge flags
      0x00, // reason code 0
      0x27, // property length 39
      0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
      0x12, 0x00, 0x02, 0x69, 0x64, // assigned client identifier "id"
      0x13, 0x00, 0x1e, // server keep alive 30
      0x1a, 0x00, 0x02, 0x72, 0x69, // response information "ri"
      0x21, 0x00, 0x64, // receive maximum 100
      0x22, 0x00, 0x05, // topic alias maximum 5
      0x24, 0x01, // maximum QoS 1
      0x25, 0x00, // retain available 0
      0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
      0x28, 0x01, // wildcard subscription available
      0x29, 0x01, // subscription identifiers available
      0x2a, 0x01, // shared subscription available
    ],
  },
  {
    name: "CONNACK 5.0 use another server with server reference and reason string",
    version: 5,
    packet: {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0x9c,
      properties: { serverReference: "s2", reasonString: "no" },
    },
    // deno-fmt-ignore
    bytes: [
      0x20, // CONNACK
      0x0d, // remaining length 13
      0x00, // acknowledge flags: session present 0 with an error [MQTT-3.2.2-6]
      0x9c, // reason code 0x9C: use another server
      0x0a, // property length 10
      0x1c, 0x00, 0x02, 0x73, 0x32, // server reference "s2"
      0x1f, 0x00, 0x02, 0x6e, 0x6f, // reason string "no"
    ],
  },
  // ---------------------------------------------------------------- PUBLISH
  {
    name: "PUBLISH 3.1 QoS 0",
    version: 3,
    packet: {
      type: "publish",
      topic: "a/b",
      payload: utf8("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    // deno-fmt-ignore
    bytes: [
      0x30, // PUBLISH, DUP 0, QoS 0, RETAIN 0
      0x07, // remaining length 7
      0x00, 0x03, // topic length 3
      0x61, 0x2f, 0x62, // "a/b"
      0x68, 0x69, // payload "hi" (no packet identifier at QoS 0 [MQTT-2.2.1-2])
    ],
  },
  {
    name: "PUBLISH 3.1.1 QoS 1 DUP RETAIN empty payload",
    version: 4,
    packet: {
      type: "publish",
      topic: "t",
      payload: new Uint8Array(0),
      qos: 1,
      retain: true,
      dup: true,
      packetId: 0x0102,
    },
    // deno-fmt-ignore
    bytes: [
      0x3b, // PUBLISH, DUP 1 (0x08), QoS 1 (0x02), RETAIN 1 (0x01)
      0x05, // remaining length 5
      0x00, 0x01, // topic length 1
      0x74, // "t"
      0x01, 0x02, // packet identifier 258
    ],
  },
  {
    name: "PUBLISH 3.1.1 QoS 2",
    version: 4,
    packet: {
      type: "publish",
      topic: "x/y",
      payload: new Uint8Array([0x00, 0xff]),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 10,
    },
    // deno-fmt-ignore
    bytes: [
      0x34, // PUBLISH, QoS 2 (0x04)
      0x09, // remaining length 9
      0x00, 0x03, // topic length 3
      0x78, 0x2f, 0x79, // "x/y"
      0x00, 0x0a, // packet identifier 10
      0x00, 0xff, // payload 00 ff
    ],
  },
  {
    name: "PUBLISH 3.1.1 with a two-byte remaining length",
    version: 4,
    packet: {
      type: "publish",
      topic: "t",
      payload: new Uint8Array(200).fill(0x55),
      qos: 0,
      retain: false,
      dup: false,
    },
    // deno-fmt-ignore
    bytes: [
      0x30, // PUBLISH QoS 0
      0xcb, // remaining length 203 = 0x4b + 1 * 128: low 7 bits 0x4b with continuation 0x80
      0x01, // remaining length, second byte: 1 * 128
      0x00, 0x01, // topic length 1
      0x74, // "t"
      ...new Array<number>(200).fill(0x55), // payload: 200 bytes 0x55
    ],
  },
  {
    name: "PUBLISH 5.0 QoS 0 without properties",
    version: 5,
    packet: {
      type: "publish",
      topic: "t",
      payload: utf8("hi"),
      qos: 0,
      retain: false,
      dup: false,
    },
    // deno-fmt-ignore
    bytes: [
      0x30, // PUBLISH QoS 0
      0x06, // remaining length 6
      0x00, 0x01, // topic length 1
      0x74, // "t"
      0x00, // property length 0
      0x68, 0x69, // payload "hi"
    ],
  },
  {
    name: "PUBLISH 5.0 QoS 1 with every PUBLISH property and a non-ASCII topic",
    version: 5,
    packet: {
      type: "publish",
      topic: "s/€",
      payload: utf8("{}"),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 120,
        contentType: "txt",
        responseTopic: "re",
        correlationData: new Uint8Array([0xca, 0xfe]),
        subscriptionIdentifiers: [5, 200],
        topicAlias: 2,
        userProperties: [["k", "1"], ["k", "2"]],
      },
    },
    // deno-fmt-ignore
    bytes: [
      0x32, // PUBLISH QoS 1
      0x39, // remaining length 57
      0x00, 0x05, // topic length 5
      0x73, 0x2f, 0xe2, 0x82, 0xac, // "s/€" (U+20AC is e2 82 ac)
      0x00, 0x01, // packet identifier 1
      0x2d, // property length 45
      0x01, 0x01, // payload format indicator 1
      0x02, 0x00, 0x00, 0x00, 0x78, // message expiry interval 120
      0x03, 0x00, 0x03, 0x74, 0x78, 0x74, // content type "txt"
      0x08, 0x00, 0x02, 0x72, 0x65, // response topic "re"
      0x09, 0x00, 0x02, 0xca, 0xfe, // correlation data ca fe
      0x0b, 0x05, // subscription identifier 5
      0x0b, 0xc8, 0x01, // subscription identifier 200 (varint c8 01), repeated [MQTT-3.3.4-3]
      0x23, 0x00, 0x02, // topic alias 2
      0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x31, // user property "k" = "1"
      0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x32, // user property "k" = "2", order kept [MQTT-3.3.2-18]
      0x7b, 0x7d, // payload "{}"
    ],
  },
  {
    name: "PUBLISH 5.0 empty topic with a topic alias",
    version: 5,
    packet: {
      type: "publish",
      topic: "",
      payload: utf8("ok"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 7 },
    },
    // deno-fmt-ignore
    bytes: [
      0x30, // PUBLISH QoS 0
      0x08, // remaining length 8
      0x00, 0x00, // topic length 0: use the topic mapped to the alias (3.3.2.3.4)
      0x03, // property length 3
      0x23, 0x00, 0x07, // topic alias 7
      0x6f, 0x6b, // payload "ok"
    ],
  },
  // ---------------------------------------------------------------- PUBACK .. PUBCOMP
  ...(["puback", "pubrec", "pubrel", "pubcomp"] as const).flatMap((type): Fixture[] => {
    // PUBREL alone has reserved flags 0010 [MQTT-3.6.1-1].
    const header = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 }[type];
    const failure = { puback: 0x10, pubrec: 0x80, pubrel: 0x92, pubcomp: 0x92 }[type];
    return [
      {
        name: `${type.toUpperCase()} 3.1`,
        version: 3,
        packet: { type, packetId: 1 },
        // deno-fmt-ignore
        bytes: [
          header, // packet type and flags
          0x02, // remaining length 2
          0x00, 0x01, // packet identifier 1
        ],
      },
      {
        name: `${type.toUpperCase()} 3.1.1`,
        version: 4,
        packet: { type, packetId: 0x1234 },
        // deno-fmt-ignore
        bytes: [
          header, // packet type and flags
          0x02, // remaining length 2
          0x12, 0x34, // packet identifier 0x1234
        ],
      },
      {
        name: `${type.toUpperCase()} 5.0 success: shortest form`,
        version: 5,
        packet: { type, packetId: 7, reasonCode: 0 },
        // deno-fmt-ignore
        bytes: [
          header, // packet type and flags
          0x02, // remaining length 2: reason code 0 and no properties left off (3.4.2.1)
          0x00, 0x07, // packet identifier 7
        ],
      },
      {
        name: `${type.toUpperCase()} 5.0 reason code without properties`,
        version: 5,
        packet: { type, packetId: 7, reasonCode: failure },
        // deno-fmt-ignore
        bytes: [
          header, // packet type and flags
          0x03, // remaining length 3: property length left off (3.4.2.2.1)
          0x00, 0x07, // packet identifier 7
          failure, // reason code
        ],
      },
      {
        name: `${type.toUpperCase()} 5.0 with reason string and user property`,
        version: 5,
        packet: {
          type,
          packetId: 7,
          reasonCode: failure,
          properties: { reasonString: "q", userProperties: [["a", "b"]] },
        },
        // deno-fmt-ignore
        bytes: [
          header, // packet type and flags
          0x0f, // remaining length 15
          0x00, 0x07, // packet identifier 7
          failure, // reason code
          0x0b, // property length 11
          0x1f, 0x00, 0x01, 0x71, // reason string "q"
          0x26, 0x00, 0x01, 0x61, 0x00, 0x01, 0x62, // user property "a" = "b"
        ],
      },
    ];
  }),
  // ---------------------------------------------------------------- SUBSCRIBE
  {
    name: "SUBSCRIBE 3.1",
    version: 3,
    packet: {
      type: "subscribe",
      packetId: 1,
      subscriptions: [
        { topicFilter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    // deno-fmt-ignore
    bytes: [
      0x82, // SUBSCRIBE, reserved flags 0010 [MQTT-3.8.1-1]
      0x06, // remaining length 6
      0x00, 0x01, // packet identifier 1
      0x00, 0x01, // topic filter length 1
      0x61, // "a"
      0x00, // requested QoS 0
    ],
  },
  {
    name: "SUBSCRIBE 3.1.1 with two filters",
    version: 4,
    packet: {
      type: "subscribe",
      packetId: 2,
      subscriptions: [
        {
          topicFilter: "a/+",
          qos: 1,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0,
        },
        { topicFilter: "#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    // deno-fmt-ignore
    bytes: [
      0x82, // SUBSCRIBE
      0x0c, // remaining length 12
      0x00, 0x02, // packet identifier 2
      0x00, 0x03, // topic filter length 3
      0x61, 0x2f, 0x2b, // "a/+"
      0x01, // requested QoS 1
      0x00, 0x01, // topic filter length 1
      0x23, // "#"
      0x02, // requested QoS 2
    ],
  },
  {
    name: "SUBSCRIBE 5.0 with subscription identifier and options",
    version: 5,
    packet: {
      type: "subscribe",
      packetId: 3,
      properties: { subscriptionIdentifiers: [268_435_455], userProperties: [["k", "v"]] },
      subscriptions: [
        {
          topicFilter: "$share/g/t",
          qos: 1,
          noLocal: false,
          retainAsPublished: true,
          retainHandling: 2,
        },
        { topicFilter: "x", qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1 },
      ],
    },
    // deno-fmt-ignore
    bytes: [
      0x82, // SUBSCRIBE
      0x20, // remaining length 32
      0x00, 0x03, // packet identifier 3
      0x0c, // property length 12
      0x0b, 0xff, 0xff, 0xff, 0x7f, // subscription identifier 268,435,455 (largest varint)
      0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76, // user property "k" = "v"
      0x00, 0x0a, // topic filter length 10
      0x24, 0x73, 0x68, 0x61, 0x72, 0x65, 0x2f, 0x67, 0x2f, 0x74, // "$share/g/t"
      0x29, // options: retain handling 2 (0x20), retain as published (0x08), QoS 1
      0x00, 0x01, // topic filter length 1
      0x78, // "x"
      0x16, // options: retain handling 1 (0x10), no local (0x04), QoS 2
    ],
  },
  // ---------------------------------------------------------------- SUBACK
  {
    name: "SUBACK 3.1",
    version: 3,
    packet: { type: "suback", packetId: 1, reasonCodes: [0] },
    // deno-fmt-ignore
    bytes: [
      0x90, // SUBACK
      0x03, // remaining length 3
      0x00, 0x01, // packet identifier 1
      0x00, // granted QoS 0
    ],
  },
  {
    name: "SUBACK 3.1.1 with a failure",
    version: 4,
    packet: { type: "suback", packetId: 2, reasonCodes: [1, 2, 0x80] },
    // deno-fmt-ignore
    bytes: [
      0x90, // SUBACK
      0x05, // remaining length 5
      0x00, 0x02, // packet identifier 2
      0x01, // granted QoS 1
      0x02, // granted QoS 2
      0x80, // failure [MQTT-3.9.3-2] (3.1.1)
    ],
  },
  {
    name: "SUBACK 5.0 with every SUBACK reason code",
    version: 5,
    packet: {
      type: "suback",
      packetId: 3,
      reasonCodes: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
      properties: { reasonString: "r" },
    },
    // deno-fmt-ignore
    bytes: [
      0x90, // SUBACK
      0x13, // remaining length 19
      0x00, 0x03, // packet identifier 3
      0x04, // property length 4
      0x1f, 0x00, 0x01, 0x72, // reason string "r"
      0x00, // granted QoS 0
      0x01, // granted QoS 1
      0x02, // granted QoS 2
      0x80, // unspecified error
      0x83, // implementation specific error
      0x87, // not authorized
      0x8f, // topic filter invalid
      0x91, // packet identifier in use
      0x97, // quota exceeded
      0x9e, // shared subscriptions not supported
      0xa1, // subscription identifiers not supported
      0xa2, // wildcard subscriptions not supported
    ],
  },
  // ---------------------------------------------------------------- UNSUBSCRIBE
  {
    name: "UNSUBSCRIBE 3.1",
    version: 3,
    packet: { type: "unsubscribe", packetId: 1, topicFilters: ["a"] },
    // deno-fmt-ignore
    bytes: [
      0xa2, // UNSUBSCRIBE, reserved flags 0010 [MQTT-3.10.1-1]
      0x05, // remaining length 5
      0x00, 0x01, // packet identifier 1
      0x00, 0x01, // topic filter length 1
      0x61, // "a"
    ],
  },
  {
    name: "UNSUBSCRIBE 3.1.1 with two filters",
    version: 4,
    packet: { type: "unsubscribe", packetId: 2, topicFilters: ["a/b", "#"] },
    // deno-fmt-ignore
    bytes: [
      0xa2, // UNSUBSCRIBE
      0x0a, // remaining length 10
      0x00, 0x02, // packet identifier 2
      0x00, 0x03, // topic filter length 3
      0x61, 0x2f, 0x62, // "a/b"
      0x00, 0x01, // topic filter length 1
      0x23, // "#"
    ],
  },
  {
    name: "UNSUBSCRIBE 5.0 with a user property",
    version: 5,
    packet: {
      type: "unsubscribe",
      packetId: 3,
      topicFilters: ["a"],
      properties: { userProperties: [["k", "v"]] },
    },
    // deno-fmt-ignore
    bytes: [
      0xa2, // UNSUBSCRIBE
      0x0d, // remaining length 13
      0x00, 0x03, // packet identifier 3
      0x07, // property length 7
      0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76, // user property "k" = "v"
      0x00, 0x01, // topic filter length 1
      0x61, // "a"
    ],
  },
  // ---------------------------------------------------------------- UNSUBACK
  {
    name: "UNSUBACK 3.1",
    version: 3,
    packet: { type: "unsuback", packetId: 1, reasonCodes: [] },
    // deno-fmt-ignore
    bytes: [
      0xb0, // UNSUBACK
      0x02, // remaining length 2: no payload before 5.0
      0x00, 0x01, // packet identifier 1
    ],
  },
  {
    name: "UNSUBACK 3.1.1",
    version: 4,
    packet: { type: "unsuback", packetId: 2, reasonCodes: [] },
    // deno-fmt-ignore
    bytes: [
      0xb0, // UNSUBACK
      0x02, // remaining length 2
      0x00, 0x02, // packet identifier 2
    ],
  },
  {
    name: "UNSUBACK 5.0 without properties",
    version: 5,
    packet: { type: "unsuback", packetId: 3, reasonCodes: [0x11] },
    // deno-fmt-ignore
    bytes: [
      0xb0, // UNSUBACK
      0x04, // remaining length 4
      0x00, 0x03, // packet identifier 3
      0x00, // property length 0
      0x11, // no subscription existed
    ],
  },
  {
    name: "UNSUBACK 5.0 with every UNSUBACK reason code",
    version: 5,
    packet: {
      type: "unsuback",
      packetId: 4,
      reasonCodes: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
      properties: { reasonString: "n" },
    },
    // deno-fmt-ignore
    bytes: [
      0xb0, // UNSUBACK
      0x0e, // remaining length 14
      0x00, 0x04, // packet identifier 4
      0x04, // property length 4
      0x1f, 0x00, 0x01, 0x6e, // reason string "n"
      0x00, // success
      0x11, // no subscription existed
      0x80, // unspecified error
      0x83, // implementation specific error
      0x87, // not authorized
      0x8f, // topic filter invalid
      0x91, // packet identifier in use
    ],
  },
  // ---------------------------------------------------------------- PINGREQ, PINGRESP
  ...([3, 4, 5] as const).flatMap((version): Fixture[] => [
    {
      name: `PINGREQ level ${version}`,
      version,
      packet: { type: "pingreq" },
      // deno-fmt-ignore
      bytes: [
        0xc0, // PINGREQ
        0x00, // remaining length 0
      ],
    },
    {
      name: `PINGRESP level ${version}`,
      version,
      packet: { type: "pingresp" },
      // deno-fmt-ignore
      bytes: [
        0xd0, // PINGRESP
        0x00, // remaining length 0
      ],
    },
  ]),
  // ---------------------------------------------------------------- DISCONNECT
  {
    name: "DISCONNECT 3.1",
    version: 3,
    packet: { type: "disconnect" },
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x00, // remaining length 0
    ],
  },
  {
    name: "DISCONNECT 3.1.1",
    version: 4,
    packet: { type: "disconnect" },
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x00, // remaining length 0
    ],
  },
  {
    name: "DISCONNECT 5.0 normal: shortest form",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0 },
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x00, // remaining length 0: reason code 0 left off (3.14.2.1)
    ],
  },
  {
    name: "DISCONNECT 5.0 with will message, no properties",
    version: 5,
    packet: { type: "disconnect", reasonCode: 0x04 },
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x01, // remaining length 1: property length left off (3.14.2.2.1)
      0x04, // disconnect with will message
    ],
  },
  {
    name: "DISCONNECT 5.0 with properties",
    version: 5,
    packet: {
      type: "disconnect",
      reasonCode: 0x8b,
      properties: { sessionExpiryInterval: 0, serverReference: "b", reasonString: "bye" },
    },
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x11, // remaining length 17
      0x8b, // server shutting down
      0x0f, // property length 15
      0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
      0x1c, 0x00, 0x01, 0x62, // server reference "b"
      0x1f, 0x00, 0x03, 0x62, 0x79, 0x65, // reason string "bye"
    ],
  },
  // ---------------------------------------------------------------- AUTH (5.0 only)
  {
    name: "AUTH 5.0 success: shortest form",
    version: 5,
    packet: { type: "auth", reasonCode: 0 },
    // deno-fmt-ignore
    bytes: [
      0xf0, // AUTH
      0x00, // remaining length 0: reason code 0 and no properties left off (3.15.2.1)
    ],
  },
  {
    name: "AUTH 5.0 continue authentication without properties",
    version: 5,
    packet: { type: "auth", reasonCode: 0x18 },
    // deno-fmt-ignore
    bytes: [
      0xf0, // AUTH
      0x02, // remaining length 2
      0x18, // continue authentication
      0x00, // property length 0
    ],
  },
  {
    name: "AUTH 5.0 re-authenticate with properties",
    version: 5,
    packet: {
      type: "auth",
      reasonCode: 0x19,
      properties: {
        authenticationMethod: "m",
        authenticationData: new Uint8Array([0xab]),
        reasonString: "r",
      },
    },
    // deno-fmt-ignore
    bytes: [
      0xf0, // AUTH
      0x0e, // remaining length 14
      0x19, // re-authenticate
      0x0c, // property length 12
      0x15, 0x00, 0x01, 0x6d, // authentication method "m"
      0x16, 0x00, 0x01, 0xab, // authentication data ab
      0x1f, 0x00, 0x01, 0x72, // reason string "r"
    ],
  },
];

for (const { name, version, packet, bytes } of FIXTURES) {
  Deno.test(`encodePacket() writes the exact bytes of ${name}`, () => {
    deepStrictEqual(hex(encodePacket(packet, version)), hex(bytes));
  });
  Deno.test(`decodePacket() reads ${name}`, () => {
    deepStrictEqual(decodePacket(frameOf(bytes), version), packet);
  });
  Deno.test(`encodePacket(decodePacket()) reproduces the bytes of ${name}`, () => {
    deepStrictEqual(hex(encodePacket(decodePacket(frameOf(bytes), version), version)), hex(bytes));
  });
}

Deno.test("fixtures cover every packet type at every protocol level where it exists", () => {
  const seen = new Set(FIXTURES.map((f) => `${f.packet.type}/${f.version}`));
  const types = [
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
  ];
  const missing = types.flatMap((t) => [3, 4, 5].map((v) => `${t}/${v}`)).filter((k) =>
    !seen.has(k)
  );
  if (!seen.has("auth/5")) missing.push("auth/5");
  deepStrictEqual(missing, []);
});

Deno.test("encodePublish() writes the same bytes as encodePacket() for every PUBLISH fixture", () => {
  for (const { packet, version, bytes } of FIXTURES) {
    if (packet.type !== "publish") continue;
    deepStrictEqual(hex(encodePublish(packet, version)), hex(bytes));
  }
});

Deno.test("decodePacket() returns the PUBLISH payload as a view of the frame, not a copy", () => {
  const frame = frameOf([0x30, 0x04, 0x00, 0x01, 0x74, 0x41]);
  const packet = decodePacket(frame, 4) as PublishPacket;
  deepStrictEqual(packet.payload.buffer, frame.body.buffer);
  deepStrictEqual(packet.payload.byteOffset, frame.body.byteOffset + 3);
});

// Shorter and alternative forms a receiver must accept though the encoder never writes them.
const ACCEPTED_FORMS: {
  name: string;
  version: ProtocolVersion;
  bytes: number[];
  packet: Packet;
}[] = [
  {
    name: "PUBACK 5.0 with reason code 0 and property length 0 written out",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0x40, // PUBACK
      0x04, // remaining length 4
      0x00, 0x01, // packet identifier 1
      0x00, // reason code 0
      0x00, // property length 0
    ],
    packet: { type: "puback", packetId: 1, reasonCode: 0 },
  },
  {
    name: "PUBREC 5.0 with reason code 0 written out and no property length",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0x50, // PUBREC
      0x03, // remaining length 3
      0x00, 0x01, // packet identifier 1
      0x00, // reason code 0
    ],
    packet: { type: "pubrec", packetId: 1, reasonCode: 0 },
  },
  {
    name: "DISCONNECT 5.0 with reason code 0 written out",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x01, // remaining length 1
      0x00, // normal disconnection
    ],
    packet: { type: "disconnect", reasonCode: 0 },
  },
  {
    name: "DISCONNECT 5.0 with reason code 0 and property length 0 written out",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0xe0, // DISCONNECT
      0x02, // remaining length 2
      0x00, // normal disconnection
      0x00, // property length 0
    ],
    packet: { type: "disconnect", reasonCode: 0 },
  },
  {
    name: "AUTH 5.0 with a reason code and no property length",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0xf0, // AUTH
      0x01, // remaining length 1
      0x18, // continue authentication
    ],
    packet: { type: "auth", reasonCode: 0x18 },
  },
  {
    name: "PUBLISH 5.0 with properties in another order than the encoder's",
    version: 5,
    // deno-fmt-ignore
    bytes: [
      0x30, // PUBLISH QoS 0
      0x10, // remaining length 16
      0x00, 0x01, // topic length 1
      0x74, // "t"
      0x0b, // property length 11
      0x26, 0x00, 0x01, 0x61, 0x00, 0x01, 0x62, // user property "a" = "b"
      0x03, 0x00, 0x01, 0x63, // content type "c"
      0x41, // payload "A"
    ],
    packet: {
      type: "publish",
      topic: "t",
      payload: utf8("A"),
      qos: 0,
      retain: false,
      dup: false,
      properties: { contentType: "c", userProperties: [["a", "b"]] },
    },
  },
  {
    name: "PINGREQ with a non-minimal remaining length (accepted like Mosquitto)",
    version: 4,
    // deno-fmt-ignore
    bytes: [
      0xc0, // PINGREQ
      0x80, // remaining length 0 with a continuation bit
      0x00, // remaining length, second byte: still 0
    ],
    packet: { type: "pingreq" },
  },
];

for (const { name, version, bytes, packet } of ACCEPTED_FORMS) {
  Deno.test(`decodePacket() accepts ${name}`, () => {
    deepStrictEqual(decodePacket(frameOf(bytes), version), packet);
  });
}

Deno.test("setPublishPacketId() patches the packet identifier in place", () => {
  const bytes = encodePublish({
    type: "publish",
    topic: "s/€",
    payload: utf8("x"),
    qos: 2,
    retain: false,
    dup: false,
    packetId: 1,
    properties: { messageExpiryInterval: 5 },
  }, 5);
  setPublishPacketId(bytes, 0xbeef);
  // deno-fmt-ignore
  const expected = [
    0x34, // PUBLISH QoS 2
    0x10, // remaining length 16
    0x00, 0x05, // topic length 5
    0x73, 0x2f, 0xe2, 0x82, 0xac, // "s/€"
    0xbe, 0xef, // packet identifier 0xBEEF, patched
    0x05, // property length 5
    0x02, 0x00, 0x00, 0x00, 0x05, // message expiry interval 5
    0x78, // payload "x"
  ];
  deepStrictEqual(hex(bytes), hex(expected));
});

Deno.test("setPublishPacketId() finds the identifier behind a two-byte remaining length", () => {
  const packet: PublishPacket = {
    type: "publish",
    topic: "t",
    payload: new Uint8Array(300),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 1,
  };
  const bytes = encodePublish(packet, 4);
  setPublishPacketId(bytes, 513);
  deepStrictEqual(decodePacket(frameOf(bytes), 4), { ...packet, packetId: 513 });
});

Deno.test("setPublishDup() sets and clears the DUP flag in place [MQTT-3.3.1-1]", () => {
  const bytes = encodePublish({
    type: "publish",
    topic: "t",
    payload: new Uint8Array(0),
    qos: 1,
    retain: true,
    dup: false,
    packetId: 9,
  }, 4);
  setPublishDup(bytes, true);
  // deno-fmt-ignore
  const expected = [
    0x3b, // PUBLISH, DUP 1, QoS 1, RETAIN 1
    0x05, // remaining length 5
    0x00, 0x01, // topic length 1
    0x74, // "t"
    0x00, 0x09, // packet identifier 9
  ];
  deepStrictEqual(hex(bytes), hex(expected));
  setPublishDup(bytes, false);
  deepStrictEqual(bytes[0], 0x33);
});

Deno.test("encodePacket() drops properties and v5 reason codes below MQTT 5", () => {
  deepStrictEqual(
    hex(encodePacket({ type: "puback", packetId: 1, reasonCode: 0x10 }, 4)),
    hex([0x40, 0x02, 0x00, 0x01]),
  );
  deepStrictEqual(
    hex(encodePacket({
      type: "publish",
      topic: "t",
      payload: new Uint8Array(0),
      qos: 0,
      retain: false,
      dup: false,
      properties: { contentType: "c" },
    }, 4)),
    hex([0x30, 0x03, 0x00, 0x01, 0x74]),
  );
  deepStrictEqual(
    hex(encodePacket({ type: "disconnect", reasonCode: 0x8e }, 4)),
    hex([0xe0, 0x00]),
  );
});

Deno.test("encodePacket() maps v5 failure codes to 3.1.1 codes in SUBACK and CONNACK", () => {
  deepStrictEqual(
    hex(encodePacket({ type: "suback", packetId: 1, reasonCodes: [1, 0x87, 0x8f] }, 4)),
    hex([0x90, 0x05, 0x00, 0x01, 0x01, 0x80, 0x80]),
  );
  deepStrictEqual(
    hex(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0x86 }, 4)),
    hex([0x20, 0x02, 0x00, 0x04]), // bad user name or password
  );
  deepStrictEqual(
    hex(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0x87 }, 3)),
    hex([0x20, 0x02, 0x00, 0x05]), // not authorized
  );
});
