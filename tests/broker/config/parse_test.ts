import assert from "node:assert/strict";
import {
  compareConfigFileNames,
  listenerSecurity,
  loadConfigFile,
  parseConfig,
} from "../../../broker/config/parse.ts";
import { findOption, OPTIONS } from "../../../broker/config/options_table.ts";
import type { BrokerConfig, ListenerConfig } from "../../../broker/config/types.ts";
import { memoryFs } from "./_memory_fs.ts";

const FILE = "/etc/mosquitto/mosquitto.conf";

/** Mosquitto 2.0's defaults once a listener is configured (not local only mode). */
function configured(overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  return {
    listeners: [],
    localOnly: false,
    perListenerSettings: false,
    allowAnonymous: false,
    allowZeroLengthClientId: true,
    autoIdPrefix: "auto-",
    maxInflightMessages: 20,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 0,
    queueQos0Messages: false,
    messageSizeLimit: 0,
    maxPacketSize: 0,
    maxKeepalive: 65535,
    allowDuplicateMessages: true,
    retainAvailable: true,
    upgradeOutgoingQos: false,
    setTcpNodelay: false,
    sysInterval: 10,
    log: {
      dest: [{ kind: "stderr" }],
      types: new Set(["error", "warning", "notice", "information"]),
      connectionMessages: true,
      timestamp: true,
    },
    persistence: { enabled: false, file: "midge.db", clientExpiration: 0 },
    bridges: [],
    warnings: [],
    sources: [FILE],
    ...overrides,
  };
}

/** A listener with Mosquitto's per-listener defaults. */
function listener(port: number, definedAt: string, fields: Partial<ListenerConfig> = {}) {
  return {
    port,
    protocol: "mqtt",
    maxConnections: -1,
    maxTopicAlias: 10,
    unsupportedOptions: [],
    definedAt,
    ...fields,
  } satisfies ListenerConfig;
}

/** Mosquitto 2.0's local only mode: 127.0.0.1 and ::1 on 1883, anonymous clients allowed. */
const LOCAL_ONLY_LISTENERS: ListenerConfig[] = [
  listener(1883, "local only mode", { bindAddress: "127.0.0.1", socketDomain: "ipv4" }),
  listener(1883, "local only mode", { bindAddress: "::1", socketDomain: "ipv6" }),
];

function localOnly(overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  return configured({
    listeners: LOCAL_ONLY_LISTENERS,
    localOnly: true,
    allowAnonymous: true,
    ...overrides,
  });
}

function parse(text: string): BrokerConfig {
  return parseConfig(text, { file: FILE, ...memoryFs({}) });
}

/** TLS, authentication and bridge options: accepted, each with a warning (and persistence). */
const LATER_WORK = [
  "persistence true",
  "persistence_location /var/lib/mosquitto/",
  "autosave_interval 1800",
  "listener 8883",
  "max_qos 1",
  "plugin /usr/lib/mosquitto_dynamic_security.so",
  "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json",
  "websockets_log_level 0",
  "retry_interval 20",
];

/** Realistic configurations and what Mosquitto 2.0 makes of them. */
const CASES: { name: string; text: string; expected: BrokerConfig }[] = [
  {
    name: "an empty file as local only mode with every default",
    text: "",
    expected: localOnly(),
  },
  {
    // Mosquitto's sample mosquitto.conf shows the defaults; uncommenting them changes nothing.
    name: "the documented defaults, uncommented, as the defaults",
    text: [
      "# Config file for mosquitto",
      "#",
      "# See mosquitto.conf(5) for more information.",
      "",
      "# =================================================================",
      "# General configuration",
      "# =================================================================",
      "per_listener_settings false",
      "allow_anonymous true",
      "allow_zero_length_clientid true",
      "auto_id_prefix auto-",
      "max_inflight_messages 20",
      "max_keepalive 65535",
      "max_queued_bytes 0",
      "max_queued_messages 1000",
      "message_size_limit 0",
      "queue_qos0_messages false",
      "retain_available true",
      "set_tcp_nodelay false",
      "sys_interval 10",
      "upgrade_outgoing_qos false",
      "",
      "# Listener options before any listener apply to the default listener.",
      "max_connections -1",
      "protocol mqtt",
      "max_topic_alias 10",
      "",
      "# Logging",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "log_type notice",
      "log_type information",
      "connection_messages true",
      "log_timestamp true",
      "",
    ].join("\n"),
    expected: localOnly(),
  },
  {
    name: "the seed tutorial's listener 1883 with anonymous access",
    text: "listener 1883\nallow_anonymous true\n",
    expected: configured({ listeners: [listener(1883, `${FILE}:1`)], allowAnonymous: true }),
  },
  {
    name: "a lone listener as refusing anonymous clients, Mosquitto 2.0's default",
    text: "listener 1883\n",
    expected: configured({ listeners: [listener(1883, `${FILE}:1`)] }),
  },
  {
    name: "several listeners, each configured by the options below it",
    text: [
      "listener 1883 0.0.0.0",
      "max_connections 100",
      "",
      "listener 9001",
      "protocol websockets",
      "socket_domain ipv4",
      "",
      "listener 1884 ::1",
      "socket_domain ipv6",
      "max_topic_alias 0",
      "allow_anonymous true",
    ].join("\n"),
    expected: configured({
      listeners: [
        listener(1883, `${FILE}:1`, { bindAddress: "0.0.0.0", maxConnections: 100 }),
        listener(9001, `${FILE}:4`, { protocol: "websockets", socketDomain: "ipv4" }),
        listener(1884, `${FILE}:8`, {
          bindAddress: "::1",
          socketDomain: "ipv6",
          maxTopicAlias: 0,
        }),
      ],
      allowAnonymous: true,
    }),
  },
  {
    name: "deprecated port and bind_address as the default listener",
    text: "port 1884\nbind_address 127.0.0.1\nmax_connections 10\n",
    expected: configured({
      listeners: [
        listener(1884, "default listener", { bindAddress: "127.0.0.1", maxConnections: 10 }),
      ],
      warnings: [
        `Option "port" at ${FILE}:1 is deprecated: use "listener 1884" instead`,
        `Option "bind_address" at ${FILE}:2 is deprecated: use "listener PORT ADDRESS" instead`,
      ],
    }),
  },
  {
    name: "bind_address alone as the default listener on port 1883",
    text: "bind_address localhost\n",
    expected: configured({
      listeners: [listener(1883, "default listener", { bindAddress: "localhost" })],
      warnings: [
        `Option "bind_address" at ${FILE}:1 is deprecated: use "listener PORT ADDRESS" instead`,
      ],
    }),
  },
  {
    // Mosquitto appends the default listener after the explicit ones; `port` sets it wherever
    // it appears, even below another listener.
    name: "port next to listener as two listeners, the default one last",
    text: "listener 8883\nport 1883\nmax_connections 5\n",
    expected: configured({
      listeners: [
        listener(8883, `${FILE}:1`, { maxConnections: 5 }),
        listener(1883, "default listener"),
      ],
      warnings: [`Option "port" at ${FILE}:2 is deprecated: use "listener 1883" instead`],
    }),
  },
  {
    name: "port given twice as the last port",
    text: "port 1884\nport 1885\n",
    expected: configured({
      listeners: [listener(1885, "default listener")],
      warnings: [
        `Option "port" at ${FILE}:1 is deprecated: use "listener 1884" instead`,
        `Option "port" at ${FILE}:2 replaces the port set at ${FILE}:1; only the last "port" is used`,
        `Option "port" at ${FILE}:2 is deprecated: use "listener 1885" instead`,
      ],
    }),
  },
  {
    name: "a listener option before the first listener as an extra default listener",
    text: "protocol websockets\nlistener 8080\n",
    expected: configured({
      listeners: [
        listener(8080, `${FILE}:2`),
        listener(1883, "default listener", { protocol: "websockets" }),
      ],
      warnings: [
        `Option "protocol" at ${FILE}:1 comes before any "listener" line, so it configures the default listener on port 1883, which Mosquitto then also opens; move it below the "listener" line it is meant for`,
      ],
    }),
  },
  {
    name: "per_listener_settings as security options per listener",
    text: [
      "per_listener_settings true",
      "",
      "listener 1883 127.0.0.1",
      "allow_anonymous true",
      "auto_id_prefix local-",
      "",
      "listener 8883",
      "allow_zero_length_clientid false",
    ].join("\n"),
    expected: configured({
      perListenerSettings: true,
      listeners: [
        listener(1883, `${FILE}:3`, {
          bindAddress: "127.0.0.1",
          security: {
            allowAnonymous: true,
            allowZeroLengthClientId: true,
            autoIdPrefix: "local-",
          },
        }),
        listener(8883, `${FILE}:7`, {
          security: {
            allowAnonymous: false,
            allowZeroLengthClientId: false,
            autoIdPrefix: "auto-",
          },
        }),
      ],
    }),
  },
  {
    name: "per_listener_settings false after security options as allowed",
    text: "allow_anonymous true\nper_listener_settings false\nlistener 1883\n",
    expected: configured({ listeners: [listener(1883, `${FILE}:3`)], allowAnonymous: true }),
  },
  {
    name: "per_listener_settings true given again as false as staying true",
    text: "per_listener_settings true\nper_listener_settings false\nlistener 1883\n",
    expected: configured({
      perListenerSettings: true,
      listeners: [
        listener(1883, `${FILE}:3`, {
          security: { allowAnonymous: false, allowZeroLengthClientId: true, autoIdPrefix: "auto-" },
        }),
      ],
      warnings: [
        `Option "per_listener_settings" at ${FILE}:2 is ignored: per_listener_settings was set to true at ${FILE}:1`,
      ],
    }),
  },
  {
    name: "a per-listener security option before any listener as applying to none",
    text: "per_listener_settings true\nallow_anonymous true\nlistener 1883\n",
    expected: configured({
      perListenerSettings: true,
      listeners: [
        listener(1883, `${FILE}:3`, {
          security: { allowAnonymous: false, allowZeroLengthClientId: true, autoIdPrefix: "auto-" },
        }),
      ],
      warnings: [
        `Option "allow_anonymous" at ${FILE}:2 comes before any "listener" line while per_listener_settings is true, so it applies to no listener; move it below the "listener" line it is meant for`,
      ],
    }),
  },
  {
    name: "per_listener_settings in local only mode as anonymous loopback listeners",
    text: "per_listener_settings true\nauto_id_prefix me-\n",
    expected: localOnly({
      perListenerSettings: true,
      listeners: LOCAL_ONLY_LISTENERS.map((l) => ({
        ...l,
        security: { allowAnonymous: true, allowZeroLengthClientId: true, autoIdPrefix: "me-" },
      })),
    }),
  },
  {
    name: "socket_domain without listeners as one loopback listener",
    text: "socket_domain ipv4\nmax_connections 3\n",
    expected: localOnly({
      listeners: [
        listener(1883, "local only mode", {
          bindAddress: "127.0.0.1",
          socketDomain: "ipv4",
          maxConnections: 3,
        }),
      ],
    }),
  },
  {
    name: "allow_anonymous false in local only mode as ignored, with a warning",
    text: "allow_anonymous false\n",
    expected: localOnly({
      warnings: [
        `Option "allow_anonymous" at ${FILE}:1 has no effect: with no "listener" configured, midge runs in local only mode as Mosquitto 2.0 does, accepting anonymous clients from this machine only`,
      ],
    }),
  },
  {
    name: "logging options, repeated log_dest and log_type adding up",
    text: [
      "log_dest stdout",
      "log_dest file /var/log/mosquitto/my log.txt",
      "log_dest topic",
      "log_dest stdout",
      "log_type subscribe",
      "log_type unsubscribe",
      "connection_messages false",
      "log_timestamp false",
      "log_timestamp_format %Y-%m-%dT%H:%M:%S %z",
      "listener 1883",
    ].join("\n"),
    expected: configured({
      listeners: [listener(1883, `${FILE}:10`)],
      log: {
        dest: [
          { kind: "stdout" },
          { kind: "file", path: "/var/log/mosquitto/my log.txt" },
          { kind: "topic" },
        ],
        types: new Set(["subscribe", "unsubscribe"]),
        connectionMessages: false,
        timestamp: false,
        timestampFormat: "%Y-%m-%dT%H:%M:%S %z",
      },
    }),
  },
  {
    name: "log_dest none and log_type none as clearing what came before",
    text: "log_dest stdout\nlog_dest none\nlog_type all\nlog_type none\nlog_type debug\n",
    expected: localOnly({
      log: {
        dest: [],
        types: new Set(["debug"]),
        connectionMessages: true,
        timestamp: true,
      },
    }),
  },
  {
    name: "log_type all as every kind",
    text: "log_type all\nlog_dest syslog\nlog_dest dlt\n",
    expected: localOnly({
      log: {
        dest: [{ kind: "syslog" }],
        types: new Set([
          "error",
          "warning",
          "notice",
          "information",
          "subscribe",
          "unsubscribe",
          "websockets",
          "debug",
        ]),
        connectionMessages: true,
        timestamp: true,
      },
      warnings: [
        `Option "log_dest" at ${FILE}:3 uses destination "dlt", which is not supported yet`,
      ],
    }),
  },
  {
    name: "CRLF endings, trailing blanks, tabs, blank lines and trailing comments",
    text: "\uFEFF# comment\r\n\r\n   \r\n\tlistener\t1883  # the main one\r\n" +
      "  max_connections 7 \t\r\nallow_anonymous true # yes\r\n#sys_interval 99\r\n" +
      "pid_file /run/mosquitto/mosquitto.pid  \r\n",
    expected: configured({
      listeners: [listener(1883, `${FILE}:4`, { maxConnections: 7 })],
      allowAnonymous: true,
      pidFile: "/run/mosquitto/mosquitto.pid",
    }),
  },
  {
    name: "repeated numeric and boolean options as the last value",
    text: "max_inflight_messages 10\nmax_inflight_messages 30\nretain_available false\n" +
      "retain_available true\nqueue_qos0_messages 1\nset_tcp_nodelay 1\nupgrade_outgoing_qos 0\n",
    expected: localOnly({ maxInflightMessages: 30, queueQos0Messages: true, setTcpNodelay: true }),
  },
  {
    // Mosquitto reads any negative as "no limit" for these rather than refusing it.
    name: "negative limits as Mosquitto's no limit",
    text: "max_queued_messages -1\nmax_queued_bytes -5\nmax_inflight_messages -1\n" +
      "listener 1883\nmax_connections -5\n",
    expected: configured({
      listeners: [listener(1883, `${FILE}:4`)],
      maxQueuedMessages: 0,
      maxQueuedBytes: 0,
      maxInflightMessages: 0,
    }),
  },
  {
    name: "every implemented limit at a non-default value",
    text: [
      "listener 1883",
      "max_queued_messages 5000",
      "max_queued_bytes 1048576",
      "message_size_limit 268435455",
      "max_packet_size 20",
      "max_keepalive 10",
      "sys_interval 0",
      "allow_zero_length_clientid false",
      "auto_id_prefix midge-",
      "allow_duplicate_messages false",
    ].join("\n"),
    expected: configured({
      listeners: [listener(1883, `${FILE}:1`)],
      maxQueuedMessages: 5000,
      maxQueuedBytes: 1048576,
      messageSizeLimit: 268435455,
      maxPacketSize: 20,
      maxKeepalive: 10,
      sysInterval: 0,
      allowZeroLengthClientId: false,
      autoIdPrefix: "midge-",
      allowDuplicateMessages: false,
      warnings: [
        `Option "allow_duplicate_messages" at ${FILE}:10 is deprecated and will be removed; duplicates are allowed by default`,
      ],
    }),
  },
  {
    name: "user and pid_file, user with a warning that Deno cannot drop privileges",
    text: "user mosquitto\npid_file /run/mosquitto.pid\nlistener 1883\n",
    expected: configured({
      listeners: [listener(1883, `${FILE}:3`)],
      user: "mosquitto",
      pidFile: "/run/mosquitto.pid",
      warnings: [
        `Option "user" at ${FILE}:1 is ignored: midge cannot drop privileges to user "mosquitto" (Deno has no setuid), so it keeps running as the user that started it`,
      ],
    }),
  },
  {
    name: "options of later work as accepted with warnings",
    text: LATER_WORK.join("\n"),
    expected: configured({
      listeners: [
        listener(8883, `${FILE}:4`, {
          unsupportedOptions: ["max_qos"],
        }),
      ],
      persistence: {
        enabled: true,
        location: "/var/lib/mosquitto/",
        file: "midge.db",
        clientExpiration: 0,
      },
      warnings: LATER_WORK.flatMap((line, index) => {
        const name = line.split(" ")[0];
        const where = `${FILE}:${index + 1}`;
        if (name === "listener" || name?.startsWith("persistence")) return [];
        if (name === "autosave_interval") {
          return [
            `Option "${name}" at ${where} is not needed: with persistence on, midge saves every change before acknowledging it`,
          ];
        }
        if (name === "retry_interval") {
          return [
            `Option "${name}" at ${where} is no longer available in Mosquitto 2.0 and is ignored`,
          ];
        }
        return [`Option "${name}" at ${where} is not supported yet`];
      }),
    }),
  },
];

for (const { name, text, expected } of CASES) {
  Deno.test(`parseConfig() reads ${name}`, () => {
    assert.deepStrictEqual(parse(text), expected);
  });
}

Deno.test("parseConfig() gives per-listener auth_plugin to that listener's unsupportedOptions", () => {
  const config = parse("per_listener_settings true\nlistener 1883\nauth_plugin /usr/lib/x.so\n");
  assert.deepStrictEqual(config.listeners[0]?.unsupportedOptions, ["auth_plugin"]);
});

Deno.test("listenerSecurity() returns the listener's settings, else the broker's", () => {
  const global = parse("listener 1883\nallow_anonymous true\nauto_id_prefix g-\n");
  const only = global.listeners[0];
  assert.ok(only);
  assert.deepStrictEqual(listenerSecurity(global, only), {
    allowAnonymous: true,
    allowZeroLengthClientId: true,
    autoIdPrefix: "g-",
  });
  const perListener = parse(
    "per_listener_settings true\nlistener 1883\nallow_anonymous true\nlistener 1884\n",
  );
  assert.deepStrictEqual(
    perListener.listeners.map((l) => listenerSecurity(perListener, l).allowAnonymous),
    [true, false],
  );
});

/** The files of a Debian-style installation with a conf.d folder. */
const INSTALLATION: Record<string, string> = {
  [FILE]: [
    "pid_file /run/mosquitto/mosquitto.pid",
    "listener 1883",
    "allow_anonymous true",
    "include_dir /etc/mosquitto/conf.d",
    "max_connections 50",
  ].join("\n"),
  "/etc/mosquitto/conf.d/b.conf": "sys_interval 30\n",
  "/etc/mosquitto/conf.d/A.conf": "sys_interval 10\nlistener 9001\nprotocol websockets\n",
  "/etc/mosquitto/conf.d/a.conf": "sys_interval 20\n",
  "/etc/mosquitto/conf.d/00-limits.conf": "max_queued_messages 200\n",
  "/etc/mosquitto/conf.d/README": "not a config file\n",
  "/etc/mosquitto/conf.d/old.conf.bak": "garbage\n",
};

Deno.test("loadConfigFile() reads include_dir files in Mosquitto's order, in place", () => {
  const config = loadConfigFile(FILE, memoryFs(INSTALLATION));
  assert.deepStrictEqual(config.sources, [
    FILE,
    "/etc/mosquitto/conf.d/00-limits.conf",
    "/etc/mosquitto/conf.d/A.conf",
    "/etc/mosquitto/conf.d/a.conf",
    "/etc/mosquitto/conf.d/b.conf",
  ]);
  // b.conf comes last, so its sys_interval wins.
  assert.equal(config.sysInterval, 30);
  assert.equal(config.maxQueuedMessages, 200);
  // Each file starts on the default listener, and the main file's "listener 1883" is current
  // again after the include, so max_connections below include_dir configures it.
  assert.deepStrictEqual(config.listeners, [
    listener(1883, `${FILE}:2`, { maxConnections: 50 }),
    listener(9001, "/etc/mosquitto/conf.d/A.conf:2", { protocol: "websockets" }),
  ]);
  assert.equal(config.pidFile, "/run/mosquitto/mosquitto.pid");
  assert.deepStrictEqual(config.warnings, []);
});

Deno.test("loadConfigFile() reads several include_dir lines in the order written", () => {
  const config = loadConfigFile(
    "/m.conf",
    memoryFs({
      "/m.conf": "include_dir /two.d\ninclude_dir /one.d/\nlistener 1883\n",
      "/one.d/B.conf": "",
      "/one.d/C.conf": "",
      "/two.d/A.conf": "",
      "/two.d/D.conf": "",
      "/empty.d/": "",
    }),
  );
  assert.deepStrictEqual(config.sources, [
    "/m.conf",
    "/two.d/A.conf",
    "/two.d/D.conf",
    "/one.d/B.conf",
    "/one.d/C.conf",
  ]);
});

Deno.test("loadConfigFile() ignores include_dir inside an included file, with a warning", () => {
  const config = loadConfigFile(
    "/m.conf",
    memoryFs({
      "/m.conf": "include_dir /d\n",
      "/d/x.conf": "include_dir /d\nlistener 1883\n",
    }),
  );
  assert.deepStrictEqual(config.sources, ["/m.conf", "/d/x.conf"]);
  assert.deepStrictEqual(config.warnings, [
    'Option "include_dir" at /d/x.conf:1 is ignored: include_dir only works in the main configuration file',
  ]);
});

Deno.test("loadConfigFile() accepts an empty include_dir folder", () => {
  const config = loadConfigFile(
    "/m.conf",
    memoryFs({ "/m.conf": "include_dir /etc/mosquitto/conf.d\n", "/etc/mosquitto/conf.d/": "" }),
  );
  assert.deepStrictEqual(config.sources, ["/m.conf"]);
  assert.equal(config.localOnly, true);
});

Deno.test("loadConfigFile() reads real files with Deno's readers by default", () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge_config_test_" });
  try {
    Deno.mkdirSync(`${dir}/conf.d`);
    Deno.mkdirSync(`${dir}/conf.d/skipped.d`);
    Deno.writeTextFileSync(`${dir}/conf.d/b.conf`, "listener 1884\n");
    Deno.writeTextFileSync(`${dir}/conf.d/a.conf`, "listener 1883\n");
    Deno.writeTextFileSync(`${dir}/mosquitto.conf`, `include_dir ${dir}/conf.d\n`);
    const config = loadConfigFile(`${dir}/mosquitto.conf`);
    assert.deepStrictEqual(config.listeners.map((l) => l.port), [1883, 1884]);
    assert.deepStrictEqual(config.sources, [
      `${dir}/mosquitto.conf`,
      `${dir}/conf.d/a.conf`,
      `${dir}/conf.d/b.conf`,
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("compareConfigFileNames() orders as Mosquitto 2.0.11 loads include_dir files", () => {
  // Order observed from mosquitto 2.0.11 -v with these files in one include_dir.
  const names = ["b.conf", "_x.conf", "A.conf", "Z.conf", "01.conf", "a.conf", "B.conf"];
  names.push(".hidden.conf", "00.conf");
  assert.deepStrictEqual(names.sort(compareConfigFileNames), [
    ".hidden.conf",
    "00.conf",
    "01.conf",
    "A.conf",
    "a.conf",
    "B.conf",
    "b.conf",
    "Z.conf",
    "_x.conf",
  ]);
});

Deno.test("OPTIONS has one row per option name", () => {
  const names = OPTIONS.map((row) => row.name);
  assert.deepStrictEqual(names.filter((name, i) => names.indexOf(name) !== i), []);
});

Deno.test("findOption() knows every option of mosquitto.conf(5) for Mosquitto 2.0", () => {
  // Every option the 2.0.11 man page documents, plus aliases its conf.c accepts.
  const documented = [
    "acl_file allow_anonymous allow_duplicate_messages allow_zero_length_clientid auth_opt_x",
    "auth_plugin auth_plugin_deny_special_chars auto_id_prefix autosave_interval",
    "autosave_on_changes check_retain_source clientid_prefixes connection_messages include_dir",
    "log_dest log_facility log_timestamp log_timestamp_format log_type max_inflight_bytes",
    "max_inflight_messages max_keepalive max_packet_size max_queued_bytes max_queued_messages",
    "memory_limit message_size_limit password_file per_listener_settings persistence",
    "persistence_file persistence_location persistent_client_expiration pid_file psk_file",
    "queue_qos0_messages retain_available set_tcp_nodelay sys_interval upgrade_outgoing_qos user",
    "bind_address bind_interface http_dir listener max_connections max_qos max_topic_alias",
    "mount_point port protocol socket_domain use_username_as_clientid websockets_log_level",
    "websockets_headers_size cafile capath certfile ciphers ciphers_tls1.3 crlfile dhparamfile",
    "keyfile require_certificate tls_engine tls_engine_kpass_sha1 tls_keyform tls_version",
    "use_identity_as_username use_subject_as_username psk_hint address addresses",
    "bridge_attempt_unsubscribe bridge_bind_address bridge_max_packet_size",
    "bridge_outgoing_retain bridge_protocol_version cleansession local_cleansession connection",
    "keepalive_interval idle_timeout local_clientid local_password local_username notifications",
    "notifications_local_only notification_topic remote_clientid remote_password",
    "remote_username restart_timeout round_robin start_type threshold topic try_private",
    "bridge_alpn bridge_cafile bridge_capath bridge_certfile bridge_identity bridge_insecure",
    "bridge_keyfile bridge_psk bridge_require_ocsp bridge_tls_version",
    "plugin plugin_opt_x maximum_qos retained_persistence clientid password username",
  ].join(" ").split(" ");
  assert.deepStrictEqual(documented.filter((name) => findOption(name) === undefined), []);
  // Options Mosquitto 2.0.11 itself rejects stay unknown.
  const later = ["global_plugin", "websockets_origin", "accept_protocol_versions", "auth_opt_"];
  assert.deepStrictEqual(later.filter((name) => findOption(name) !== undefined), []);
});
