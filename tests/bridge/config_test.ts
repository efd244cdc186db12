import assert from "node:assert/strict";
import { parseConfig } from "../../broker/config/parse.ts";
import type { BridgeConfig, BridgeTopicConfig } from "../../broker/config/types.ts";
import { routeIn, routeOut } from "../../broker/bridge/topics.ts";
import { restartDelay } from "../../broker/bridge/bridge.ts";

const FILE = "/etc/mosquitto/mosquitto.conf";

function parse(text: string, files: Record<string, string> = {}) {
  return parseConfig(text, {
    file: FILE,
    readTextFile: (path) => {
      const content = files[path];
      if (content === undefined) throw new Deno.errors.NotFound(path);
      return content;
    },
    readDir: (path) =>
      Object.keys(files).filter((name) => name.startsWith(`${path}/`)).map((name) => ({
        name: name.slice(path.length + 1),
        isDirectory: false,
      })),
  });
}

function bridges(text: string): BridgeConfig[] {
  return parse(`listener 1883\n${text}`).bridges;
}

function topic(
  pattern: string | undefined,
  direction: BridgeTopicConfig["direction"],
  qos: 0 | 1 | 2,
  localPrefix?: string,
  remotePrefix?: string,
): BridgeTopicConfig {
  return {
    pattern,
    direction,
    qos,
    localPrefix,
    remotePrefix,
    localTopic: (localPrefix ?? "") + (pattern ?? ""),
    remoteTopic: (remotePrefix ?? "") + (pattern ?? ""),
  };
}

Deno.test("parseConfig() reads a connection section with Mosquitto 2.0's bridge defaults", () => {
  const [bridge, ...others] = bridges(
    "connection hub\naddress 10.0.0.1\nremote_clientid pi7\ntopic sensor/#\n",
  );
  assert.deepStrictEqual(others, []);
  assert.deepStrictEqual(
    bridge,
    {
      name: "hub",
      addresses: [{ host: "10.0.0.1", port: 1883 }],
      roundRobin: false,
      topics: [topic("sensor/#", "out", 0)],
      protocolVersion: 4,
      cleanSession: false,
      localCleanSession: false,
      remoteClientId: "pi7",
      localClientId: "local.pi7",
      keepalive: 60,
      restartTimeout: { base: 5, cap: 30 },
      startType: "automatic",
      idleTimeout: 60,
      threshold: 10,
      tryPrivate: true,
      notifications: true,
      notificationTopic: "$SYS/broker/connection/pi7/state",
      notificationsLocalOnly: false,
      attemptUnsubscribe: true,
      outgoingRetain: true,
      maxPacketSize: 0,
      definedAt: `${FILE}:2`,
    } satisfies BridgeConfig,
  );
});

Deno.test("parseConfig() names a bridge HOSTNAME.NAME remotely and local.HOSTNAME.NAME here by default", () => {
  const [bridge] = bridges("connection hub\naddress h\ntopic a\n");
  assert.equal(bridge?.remoteClientId, `${Deno.hostname()}.hub`);
  assert.equal(bridge?.localClientId, `local.${Deno.hostname()}.hub`);
});

Deno.test("parseConfig() reads every bridge option", () => {
  const [bridge] = bridges([
    "connection cloud",
    "addresses a.example:8883 [::1]:1884 10.0.0.2",
    "round_robin true",
    "bridge_protocol_version mqttv50",
    "cleansession true",
    "local_cleansession false",
    "clientid pi",
    "local_clientid pi.here",
    "username u",
    "password p w",
    "local_username bridge",
    "local_password secret",
    "keepalive_interval 30",
    "restart_timeout 2 40",
    "start_type lazy",
    "idle_timeout 120",
    "threshold 50",
    "try_private false",
    "notifications false",
    "notification_topic bridges/pi/state",
    "notifications_local_only true",
    "bridge_attempt_unsubscribe false",
    "bridge_outgoing_retain false",
    "bridge_max_packet_size 10000",
    "bridge_cafile /etc/ca.pem",
    "bridge_certfile /etc/pi.crt",
    "bridge_keyfile /etc/pi.key",
    "bridge_alpn x-amzn-mqtt-ca",
    "bridge_insecure false",
    "bridge_tls_version tlsv1.2",
    "topic # both 2 home/ pi7/",
  ].join("\n"));
  assert.deepStrictEqual(
    bridge,
    {
      name: "cloud",
      addresses: [
        { host: "a.example", port: 8883 },
        { host: "::1", port: 1884 },
        { host: "10.0.0.2", port: 1883 },
      ],
      roundRobin: true,
      topics: [topic("#", "both", 2, "home/", "pi7/")],
      protocolVersion: 5,
      cleanSession: true,
      localCleanSession: false,
      remoteClientId: "pi",
      localClientId: "pi.here",
      remoteUsername: "u",
      remotePassword: "p w",
      localUsername: "bridge",
      localPassword: "secret",
      keepalive: 30,
      restartTimeout: { base: 2, cap: 40 },
      startType: "lazy",
      idleTimeout: 120,
      threshold: 50,
      tryPrivate: false,
      notifications: false,
      notificationTopic: "bridges/pi/state",
      notificationsLocalOnly: true,
      attemptUnsubscribe: false,
      outgoingRetain: false,
      maxPacketSize: 10000,
      tls: {
        cafile: "/etc/ca.pem",
        certfile: "/etc/pi.crt",
        keyfile: "/etc/pi.key",
        alpn: "x-amzn-mqtt-ca",
        insecure: false,
        version: "tlsv1.2",
      },
      definedAt: `${FILE}:2`,
    } satisfies BridgeConfig,
  );
});

Deno.test('parseConfig() reads topic lines as Mosquitto does: # as a pattern, comments after it, "" placeholders', () => {
  const [bridge] = bridges([
    "connection b",
    "address h",
    "topic # # everything out at QoS 0",
    "topic sensor/+ IN 1",
    'topic cmd/# Both 2 "" remote/',
    'topic state/# out 1 local/ ""',
    'topic "" in 1 here/temp there/temperature',
    'topic x/# both 0 "" ""',
  ].join("\n"));
  assert.deepStrictEqual(bridge?.topics, [
    topic("#", "out", 0),
    topic("sensor/+", "in", 1),
    topic("cmd/#", "both", 2, undefined, "remote/"),
    topic("state/#", "out", 1, "local/"),
    topic(undefined, "in", 1, "here/temp", "there/temperature"),
    topic("x/#", "both", 0),
  ]);
});

Deno.test("parseConfig() reads restart_timeout as a constant or base and cap, and clamps low values with a warning", () => {
  const config = parse([
    "connection a\naddress h\ntopic t\nrestart_timeout 20",
    "connection b\naddress h\ntopic t\nrestart_timeout 0",
    "connection c\naddress h\ntopic t\nkeepalive_interval 2\nidle_timeout 0\nthreshold 0",
  ].join("\n"));
  assert.deepStrictEqual(config.bridges.map((b) => b.restartTimeout), [
    { base: 20 },
    { base: 1 },
    { base: 5, cap: 30 },
  ]);
  const c = config.bridges[2];
  assert.deepStrictEqual([c?.keepalive, c?.idleTimeout, c?.threshold], [5, 1, 1]);
  assert.deepStrictEqual(config.warnings, [
    `Option "restart_timeout" at ${FILE}:8 is below 1 second; using 1 second, as Mosquitto does`,
    `Option "keepalive_interval" at ${FILE}:12 is below 5 seconds; using 5, as Mosquitto does`,
    `Option "idle_timeout" at ${FILE}:13 is below 1 second; using 1, as Mosquitto does`,
    `Option "threshold" at ${FILE}:14 is below 1 message; using 1, as Mosquitto does`,
  ]);
});

Deno.test("parseConfig() takes bridge_capath for TLS and warns about bridge_insecure and tlsv1.1", () => {
  const config = parse(
    "connection b\naddress h:8883\ntopic t\nbridge_capath /etc/ssl/certs\nbridge_insecure true\nbridge_tls_version tlsv1.1\n",
  );
  assert.deepStrictEqual(config.bridges[0]?.tls, {
    capath: "/etc/ssl/certs",
    insecure: true,
    version: "tlsv1.1",
  });
  assert.equal(config.warnings.length, 2);
  assert.match(config.warnings[0] ?? "", /insecure mode/);
  assert.match(config.warnings[1] ?? "", /TLS 1\.2 or 1\.3 is used/);
});

Deno.test("parseConfig() reads bridges of include_dir files, each section within its file", () => {
  const config = parse("include_dir /etc/mosquitto/conf.d\n", {
    "/etc/mosquitto/conf.d/a.conf": "connection a\naddress h1\ntopic x\n",
    "/etc/mosquitto/conf.d/b.conf": "connection b\naddress h2\ntopic y in\n",
  });
  assert.deepStrictEqual(config.bridges.map((b) => [b.name, b.definedAt]), [
    ["a", "/etc/mosquitto/conf.d/a.conf:1"],
    ["b", "/etc/mosquitto/conf.d/b.conf:1"],
  ]);
});

const ERRORS: [string, string, string][] = [
  [
    "a bridge option before any connection",
    "topic x",
    `Cannot parse option "topic" at ${FILE}:1: expected a bridge "connection" line before it`,
  ],
  [
    "a duplicate bridge name",
    "connection a\naddress h\ntopic t\nconnection a",
    `Cannot parse option "connection" at ${FILE}:4: duplicate bridge name "a", already used at ${FILE}:1`,
  ],
  [
    "a second address line",
    "connection a\naddress h\naddress g",
    `Cannot parse option "address" at ${FILE}:3: duplicate value, already set at ${FILE}:2`,
  ],
  [
    "an address with a bad port",
    "connection a\naddress h:99999",
    `Cannot parse option "address" at ${FILE}:2: expected a port number from 1 to 65535, got "99999"`,
  ],
  [
    "a bridge without address",
    "connection a\ntopic t",
    `Cannot use bridge "a" defined at ${FILE}:1: no "address" given`,
  ],
  [
    "a bridge without topic",
    "connection a\naddress h",
    `Cannot use bridge "a" defined at ${FILE}:1: no "topic" given`,
  ],
  [
    "an unknown direction",
    "connection a\ntopic t sideways",
    `Cannot parse option "topic" at ${FILE}:2: expected a direction of in, out or both, got "sideways"`,
  ],
  [
    "QoS 3",
    "connection a\ntopic t out 3",
    `Cannot parse option "topic" at ${FILE}:2: expected a QoS of 0, 1 or 2, got "3"`,
  ],
  [
    "a local prefix without a remote one",
    "connection a\ntopic t out 1 local/",
    `Cannot parse option "topic" at ${FILE}:2: expected PATTERN [in|out|both [QOS [LOCAL_PREFIX REMOTE_PREFIX]]], got "t out 1 local/"`,
  ],
  [
    'an empty pattern without both prefixes (Mosquitto\'s "Invalid bridge remapping")',
    'connection a\ntopic "" out 1 local ""',
    `Cannot parse option "topic" at ${FILE}:2: expected both a local and a remote prefix with the pattern ""`,
  ],
  [
    "a prefix with a wildcard",
    "connection a\ntopic t out 1 a/+/ b/",
    `Cannot parse option "topic" at ${FILE}:2: expected a local prefix without wildcards (or ""), got "a/+/"`,
  ],
  [
    "a prefix and pattern that make no filter",
    "connection a\ntopic #/x out 1 a/ b/",
    `Cannot parse option "topic" at ${FILE}:2: the local prefix and pattern make "a/#/x", which is not a topic filter`,
  ],
  [
    "two bridges with one local client id",
    "connection a\naddress h\ntopic t\nlocal_clientid same\nconnection b\naddress h\ntopic t\nlocal_clientid same",
    `Cannot use bridge "b" defined at ${FILE}:5: local_clientid "same" is also the one of bridge "a"; set a different local_clientid for one of them`,
  ],
  [
    "start_type manual",
    "connection a\nstart_type manual",
    `Cannot parse option "start_type" at ${FILE}:2: start_type "manual" is not supported, as in Mosquitto`,
  ],
  [
    "a restart_timeout cap below its base",
    "connection a\nrestart_timeout 10 5",
    `Cannot parse option "restart_timeout" at ${FILE}:2: expected a cap of at least the base 10, got "5"`,
  ],
  [
    "TLS-PSK, which Deno cannot do",
    "connection a\nbridge_psk 0123abcd",
    `Cannot parse option "bridge_psk" at ${FILE}:2: TLS-PSK is not supported (Deno's TLS has no pre-shared keys); use bridge_cafile with bridge_certfile and bridge_keyfile`,
  ],
  [
    "TLS 1.3 only, which Deno cannot enforce",
    "connection a\nbridge_tls_version tlsv1.3",
    `Cannot parse option "bridge_tls_version" at ${FILE}:2: Deno's TLS cannot be limited to TLS 1.3 alone; use tlsv1.2, which takes TLS 1.2 and 1.3`,
  ],
  [
    "OCSP, which Deno cannot check",
    "connection a\nbridge_require_ocsp true",
    `Cannot parse option "bridge_require_ocsp" at ${FILE}:2: OCSP stapling cannot be required: Deno's TLS does not check it`,
  ],
  [
    "a client certificate without a CA (Mosquitto would silently connect in plain text)",
    "connection a\naddress h\ntopic t\nbridge_certfile /c\nbridge_keyfile /k",
    `Cannot use bridge "a" defined at ${FILE}:1: "bridge_certfile" needs "bridge_cafile" or "bridge_capath", which turn TLS on`,
  ],
  [
    "a client certificate without its key",
    "connection a\naddress h\ntopic t\nbridge_cafile /ca\nbridge_certfile /c",
    `Cannot use bridge "a" defined at ${FILE}:1: "bridge_certfile" and "bridge_keyfile" go together: give both or neither`,
  ],
  [
    "a remote password without a user name below MQTT 5",
    "connection a\naddress h\ntopic t\nremote_password p",
    `Cannot use bridge "a" defined at ${FILE}:1: "remote_password" needs "remote_username" below MQTT 5 [MQTT-3.1.2-22]`,
  ],
];

for (const [what, text, message] of ERRORS) {
  Deno.test(`parseConfig() refuses ${what}`, () => {
    assert.throws(() => parse(text), { name: "ConfigError", message });
  });
}

Deno.test("parseConfig() refuses bridge options in a file other than their connection's", () => {
  assert.throws(
    () => parse("connection a\naddress h\ntopic t\ninclude_dir /d\n", { "/d/x.conf": "topic y\n" }),
    {
      message:
        `Cannot parse option "topic" at /d/x.conf:1: expected a bridge "connection" line before it`,
    },
  );
});

Deno.test("routeOut() and routeIn() remap prefixes both ways, first matching line first", () => {
  const lines = [
    topic("sensor/#", "out", 1, "home/", "pi7/"),
    topic("cmd/#", "in", 1, "home/", "pi7/"),
    topic(undefined, "both", 0, "here/temp", "there/temperature"),
    topic("#", "both", 0),
  ];
  assert.deepStrictEqual(routeOut(lines, "home/sensor/kitchen")?.topic, "pi7/sensor/kitchen");
  assert.deepStrictEqual(routeOut(lines, "here/temp")?.topic, "there/temperature");
  assert.deepStrictEqual(routeOut(lines, "other")?.topic, "other");
  assert.equal(routeOut(lines.slice(0, 2), "home/cmd/x"), undefined);
  assert.equal(routeIn(lines, "pi7/cmd/heating"), "home/cmd/heating");
  assert.equal(routeIn(lines, "there/temperature"), "here/temp");
  assert.equal(routeIn(lines.slice(0, 2), "unrelated/topic"), "unrelated/topic");
});

Deno.test("parseConfig() reads every sample of deploy/bridge/ into a bridge", () => {
  const dir = new URL("../../deploy/bridge/", import.meta.url).pathname;
  const samples = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".conf"));
  assert.ok(samples.length >= 3);
  for (const { name } of samples) {
    const config = parseConfig(Deno.readTextFileSync(dir + name), { file: name });
    assert.equal(config.bridges.length, 1, name);
    assert.deepStrictEqual(config.warnings, [], name);
  }
});

Deno.test("restartDelay() is the constant, or jittered backoff between the base and 3 × the last delay, capped", () => {
  assert.equal(restartDelay({ base: 20 }, 20, () => 0.5), 20);
  const timeout = { base: 5, cap: 30 };
  assert.equal(restartDelay(timeout, 5, () => 0), 5);
  assert.equal(restartDelay(timeout, 5, () => 0.999), 14);
  assert.equal(restartDelay(timeout, 14, () => 0.999), 30);
  // From any delay it can fall back as low as the base.
  assert.equal(restartDelay(timeout, 30, () => 0), 5);
  let delay = timeout.base;
  for (let i = 0; i < 100; i++) {
    delay = restartDelay(timeout, delay);
    assert.ok(delay >= 5 && delay <= 30 && Number.isInteger(delay), String(delay));
  }
});
