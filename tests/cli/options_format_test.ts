/**
 * Pure parts of the client tools: `-D` parsing, `-V` values, `-F` formatting, `-T` topic matching
 * and `-d` debug wording.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  parsePropertyArgs,
  parseProtocolVersion,
  resolveConnection,
  UsageError,
} from "../../cli/client_options.ts";
import { FormatError, formatMessage } from "../../cli/sub_format.ts";
import type { ReceivedMessage } from "../../client/client.ts";
import { describePacket } from "../../client/debug.ts";
import { connackMessage } from "../../client/errors.ts";
import { topicMatches } from "../../client/topic_match.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function message(overrides: Partial<ReceivedMessage> = {}): ReceivedMessage {
  return {
    topic: "a/b",
    payload: encoder.encode("hi"),
    qos: 1,
    retain: true,
    dup: false,
    packetId: 42,
    ...overrides,
  };
}

Deno.test("parsePropertyArgs() reads repeated -D triples and user-property quadruples", () => {
  const sets = parsePropertyArgs(
    [
      "publish",
      "user-property",
      "a",
      "b",
      "PUBLISH",
      "message-expiry-interval",
      "10",
      "connect",
      "session-expiry-interval",
      "60",
      "publish",
      "correlation-data",
      "xy",
      "will",
      "will-delay-interval",
      "5",
    ],
    ["connect", "publish", "will"],
  );
  assert.deepEqual(sets, {
    publish: {
      userProperties: [["a", "b"]],
      messageExpiryInterval: 10,
      correlationData: encoder.encode("xy"),
    },
    connect: { sessionExpiryInterval: 60 },
    will: { willDelayInterval: 5 },
  });
});

Deno.test("parsePropertyArgs() rejects unknown names, wrong packets, bad values and commands", () => {
  const cases: [string[], string][] = [
    [["publish", "foo", "1"], "Error: Invalid property name given in --property argument."],
    [
      ["connect", "content-type", "x"],
      "Error: content-type property not allowed for connect in --property argument.",
    ],
    [
      ["publish", "subscription-identifier", "1"],
      "Error: subscription-identifier property not allowed for publish in --property argument.",
    ],
    [
      ["publish", "payload-format-indicator", "256"],
      'Error: Invalid value "256" for payload-format-indicator in --property argument: expected an integer 0..255.',
    ],
    [["publish", "user-property", "a"], "Error: Incomplete property given in --property argument."],
    [
      ["subscribe", "user-property", "a", "b"],
      'Error: Invalid command "subscribe" given in --property argument.',
    ],
  ];
  for (const [args, expected] of cases) {
    assert.throws(() => parsePropertyArgs(args, ["connect", "publish"]), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, expected);
      return true;
    });
  }
});

Deno.test("parseProtocolVersion() accepts mosquitto's -V spellings", () => {
  assert.deepEqual(
    ["mqttv31", "31", "mqttv311", "311", "mqttv5", "5", "MQTTV5"].map(parseProtocolVersion),
    [3, 3, 4, 4, 5, 5, 5],
  );
  assert.throws(() => parseProtocolVersion("6"), UsageError);
});

Deno.test("resolveConnection() applies mosquitto defaults; -D implies MQTT 5; -c needs an id", () => {
  const plain = resolveConnection({}, ["connect"]);
  assert.equal(plain.client.hostname, "localhost");
  assert.equal(plain.client.port, 1883);
  assert.equal(plain.client.protocolVersion, 4);
  assert.equal(plain.client.keepalive, 60);
  assert.match(plain.client.clientId!, /^midge-[a-z0-9]{16}$/);

  const v5 = resolveConnection({ property: ["connect", "receive-maximum", "10"] }, ["connect"]);
  assert.equal(v5.client.protocolVersion, 5);
  assert.equal(v5.client.clientId, undefined);
  assert.deepEqual(v5.client.properties, { receiveMaximum: 10 });

  const persistent = resolveConnection(
    { disableCleanSession: true, id: "x", protocolVersion: "5" },
    [
      "connect",
    ],
  );
  assert.equal(persistent.client.clean, false);
  assert.equal(persistent.client.properties?.sessionExpiryInterval, 0xffffffff);

  const url = resolveConnection({ url: "mqtt://bob:pw@example.org:1884/some/topic" }, ["connect"]);
  assert.deepEqual(
    [url.client.hostname, url.client.port, url.client.username, url.client.password, url.urlTopic],
    ["example.org", 1884, "bob", "pw", "some/topic"],
  );
  assert.throws(() => resolveConnection({ disableCleanSession: true }, ["connect"]), UsageError);
  assert.throws(
    () =>
      resolveConnection({ protocolVersion: "311", property: ["connect", "receive-maximum", "1"] }, [
        "connect",
      ]),
    UsageError,
  );
});

Deno.test("formatMessage() renders % fields with flags, width and precision as mosquitto_sub", () => {
  const m = message();
  const render = (format: string, over: Partial<ReceivedMessage> = {}) =>
    decoder.decode(formatMessage(format, { ...m, ...over }, 0));
  assert.equal(render("%t %p %q %r %l %m %x %X %%"), "a/b hi 1 1 2 42 6869 6869 %");
  assert.equal(
    render("[%5t][%-5t][%.1t][%5.1t][%05l][%-05l][%03q][%3r]"),
    "[  a/b][a/b  ][a][    a][00002][2    ][1][1]",
  );
  assert.equal(render("%P|%C|%E|%F|%R|%S|%A|%D"), "|||||||");
  assert.equal(
    render("%P|%C|%E|%F|%R|%S|%A|%D", {
      properties: {
        userProperties: [["k", "v"], ["k", "w"]],
        contentType: "ct",
        messageExpiryInterval: 9,
        payloadFormatIndicator: 1,
        responseTopic: "rt",
        subscriptionIdentifiers: [3],
        topicAlias: 2,
        correlationData: encoder.encode("cd"),
      },
    }),
    "k:v k:w|ct|9|1|rt|3|2|cd",
  );
  assert.equal(render("\\t\\\\\\n@@%U"), "\t\\\n@0.000000000");
  assert.equal(render("%z unknown"), "%z unknown");
});

Deno.test("formatMessage() keeps %p payload bytes raw and builds %j / %J JSON", () => {
  const binary = formatMessage("<%p>", message({ payload: new Uint8Array([0, 0xff]) }), 0);
  assert.deepEqual(binary, new Uint8Array([0x3c, 0x00, 0xff, 0x3e]));
  const json = JSON.parse(decoder.decode(formatMessage("%j", message(), 0)));
  assert.deepEqual(
    { ...json, tst: undefined },
    { tst: undefined, topic: "a/b", qos: 1, retain: 1, payloadlen: 2, mid: 42, payload: "hi" },
  );
  const raw = JSON.parse(
    decoder.decode(formatMessage("%J", message({ payload: encoder.encode('{"t":1}') }), 0)),
  );
  assert.deepEqual(raw.payload, { t: 1 });
  assert.throws(() => formatMessage("%J", message(), 0), FormatError);
});

Deno.test("topicMatches() follows the wildcard rules of section 4.7", () => {
  const cases: [string, string, boolean][] = [
    ["a/b", "a/b", true],
    ["a/+", "a/b", true],
    ["a/+", "a/b/c", false],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["+/+", "/x", true],
    ["#", "$SYS/x", false],
    ["+/x", "$SYS/x", false],
    ["$SYS/#", "$SYS/x", true],
    ["a/b", "a/c", false],
  ];
  for (const [filter, topic, expected] of cases) {
    assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
  }
});

Deno.test("describePacket() words packets as libmosquitto's debug log", () => {
  assert.deepEqual(
    describePacket({
      type: "publish",
      topic: "t",
      payload: new Uint8Array(5),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 3,
    }, "sending"),
    ["sending PUBLISH (d0, q1, r1, m3, 't', ... (5 bytes))"],
  );
  assert.deepEqual(
    describePacket({
      type: "subscribe",
      packetId: 1,
      subscriptions: [
        { topicFilter: "a", qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 2 },
      ],
    }, "sending"),
    ["sending SUBSCRIBE (Mid: 1, Topic: a, QoS: 2, Options: 0x24)"],
  );
  assert.deepEqual(describePacket({ type: "pubrec", packetId: 1 }, "received"), [
    "received PUBREC (Mid: 1)",
  ]);
  assert.deepEqual(
    describePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, "received"),
    [
      "received CONNACK (0)",
    ],
  );
  assert.equal(connackMessage(4, 4), "Connection Refused: bad user name or password.");
  assert.equal(connackMessage(0x9b, 5), "QoS not supported");
});
