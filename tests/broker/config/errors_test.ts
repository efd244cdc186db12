import assert from "node:assert/strict";
import { ConfigError } from "../../../broker/config/config_error.ts";
import { type ConfigReaders, loadConfigFile, parseConfig } from "../../../broker/config/parse.ts";
import { memoryFs } from "./_memory_fs.ts";

const FILE = "/etc/mosquitto/mosquitto.conf";

/** The ConfigError that parsing `text` throws. */
function parseError(text: string, readers: ConfigReaders = memoryFs({})): ConfigError {
  try {
    parseConfig(text, { file: FILE, ...readers });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return error;
  }
  return assert.fail("expected a ConfigError");
}

/** Eleven comment lines, so the option under test sits on line 12. */
const HEADER = "# mosquitto.conf\n#\n".repeat(5) + "listener 1883\n";

/**
 * Every way a line can be refused: the test name, the file text, and the exact message, whose
 * line number is the last line of the text.
 */
const CASES: [name: string, text: string, message: string][] = [
  // Unknown options, as in Mosquitto.
  ["an unknown option", "listener 1883\nfoo bar\n", `Unknown option "foo" at ${FILE}:2`],
  [
    "an option of a later Mosquitto version",
    "global_plugin /x.so",
    `Unknown option "global_plugin" at ${FILE}:1`,
  ],
  [
    "a comment that does not start the line",
    "listener 1883\n  # indented comment\n",
    `Unknown option "#" at ${FILE}:2: a comment must start at the beginning of the line`,
  ],
  // Integers.
  [
    "a word where an integer belongs",
    HEADER + "max_inflight_messages ten\n",
    `Cannot parse option "max_inflight_messages" at ${FILE}:12: expected an integer, got "ten"`,
  ],
  [
    "a fraction where an integer belongs",
    "max_queued_messages 1.5",
    `Cannot parse option "max_queued_messages" at ${FILE}:1: expected an integer, got "1.5"`,
  ],
  [
    "a negative number where none is valid",
    "sys_interval -3",
    `Cannot parse option "sys_interval" at ${FILE}:1: expected an integer from 0 to 65535, got "-3"`,
  ],
  [
    "a missing integer",
    "max_inflight_messages",
    `Cannot parse option "max_inflight_messages" at ${FILE}:1: expected an integer, got nothing`,
  ],
  [
    "an integer with an extra argument",
    "max_inflight_messages 10 20",
    `Cannot parse option "max_inflight_messages" at ${FILE}:1: expected an integer, got "10 20"`,
  ],
  [
    "max_inflight_messages over 65535",
    "max_inflight_messages 65536",
    `Cannot parse option "max_inflight_messages" at ${FILE}:1: expected an integer from 0 to 65535, got "65536"`,
  ],
  [
    "max_keepalive under Mosquitto's 10 seconds",
    "max_keepalive 5",
    `Cannot parse option "max_keepalive" at ${FILE}:1: expected an integer from 10 to 65535, got "5"`,
  ],
  [
    "max_packet_size 0, which Mosquitto refuses",
    "max_packet_size 0",
    `Cannot parse option "max_packet_size" at ${FILE}:1: expected an integer from 20 to 2147483647, got "0"`,
  ],
  [
    "message_size_limit over the MQTT maximum",
    "message_size_limit 268435456",
    `Cannot parse option "message_size_limit" at ${FILE}:1: expected an integer from 0 to 268435455, got "268435456"`,
  ],
  [
    "max_topic_alias over 65535",
    "listener 1883\nmax_topic_alias 65536",
    `Cannot parse option "max_topic_alias" at ${FILE}:2: expected an integer from 0 to 65535, got "65536"`,
  ],
  // Booleans.
  [
    "a boolean that is neither true nor false",
    "allow_anonymous yes",
    `Cannot parse option "allow_anonymous" at ${FILE}:1: expected true or false, got "yes"`,
  ],
  [
    "a missing boolean",
    "listener 1883\nallow_anonymous",
    `Cannot parse option "allow_anonymous" at ${FILE}:2: expected true or false, got nothing`,
  ],
  [
    "a boolean with an extra argument",
    "retain_available true false",
    `Cannot parse option "retain_available" at ${FILE}:1: expected true or false, got "true false"`,
  ],
  // Enumerations.
  [
    "an invalid protocol",
    "listener 1883\nprotocol mqttt",
    `Cannot parse option "protocol" at ${FILE}:2: expected mqtt or websockets, got "mqttt"`,
  ],
  [
    "a missing protocol",
    "listener 1883\nprotocol",
    `Cannot parse option "protocol" at ${FILE}:2: expected mqtt or websockets, got nothing`,
  ],
  [
    "an invalid socket_domain",
    "listener 1883\nsocket_domain ipv5",
    `Cannot parse option "socket_domain" at ${FILE}:2: expected ipv4 or ipv6, got "ipv5"`,
  ],
  // Listeners and ports.
  [
    "a listener port over 65535",
    "listener 70000",
    `Cannot parse option "listener" at ${FILE}:1: expected a port number from 1 to 65535, got "70000"`,
  ],
  [
    "listener port 0 without a path",
    "listener 0",
    `Cannot parse option "listener" at ${FILE}:1: expected a port number from 1 to 65535, got "0"`,
  ],
  [
    "a Unix socket listener",
    "listener 0 /run/mosquitto.sock",
    `Cannot parse option "listener" at ${FILE}:1: expected a port number from 1 to 65535, got "0": Unix socket listeners are not supported yet`,
  ],
  [
    "a listener port that is not a number",
    "listener mqtt",
    `Cannot parse option "listener" at ${FILE}:1: expected a port number from 1 to 65535, got "mqtt"`,
  ],
  [
    "a listener without a port",
    "listener",
    `Cannot parse option "listener" at ${FILE}:1: expected a port and an optional bind address, got nothing`,
  ],
  [
    "a listener with an extra argument",
    "listener 1883 ::1 extra",
    `Cannot parse option "listener" at ${FILE}:1: expected a port and an optional bind address, got "1883 ::1 extra"`,
  ],
  [
    "a deprecated port out of range",
    "port 0",
    `Cannot parse option "port" at ${FILE}:1: expected a port number from 1 to 65535, got "0"`,
  ],
  [
    "a missing bind_address",
    "bind_address",
    `Cannot parse option "bind_address" at ${FILE}:1: expected an address or host name, got nothing`,
  ],
  // Strings, which Mosquitto refuses to set twice.
  [
    "a pid_file of blanks",
    "pid_file    ",
    `Cannot parse option "pid_file" at ${FILE}:1: expected a file path, got nothing`,
  ],
  [
    "pid_file given twice",
    "pid_file /run/a.pid\npid_file /run/b.pid",
    `Cannot parse option "pid_file" at ${FILE}:2: duplicate value, already set at ${FILE}:1`,
  ],
  [
    "user given twice",
    "user mosquitto\nuser root",
    `Cannot parse option "user" at ${FILE}:2: duplicate value, already set at ${FILE}:1`,
  ],
  [
    "auto_id_prefix given twice",
    "auto_id_prefix a-\nauto_id_prefix b-",
    `Cannot parse option "auto_id_prefix" at ${FILE}:2: duplicate value, already set at ${FILE}:1`,
  ],
  [
    "log_timestamp_format given twice",
    "log_timestamp_format %H\nlog_timestamp_format %M",
    `Cannot parse option "log_timestamp_format" at ${FILE}:2: duplicate value, already set at ${FILE}:1`,
  ],
  [
    "bind_address given twice",
    "bind_address 127.0.0.1\nbind_address ::1",
    `Cannot parse option "bind_address" at ${FILE}:2: duplicate value, already set at ${FILE}:1`,
  ],
  // Logging.
  [
    "an invalid log_dest",
    "log_dest console",
    `Cannot parse option "log_dest" at ${FILE}:1: expected stdout, stderr, syslog, topic, dlt, none or file followed by a path, got "console"`,
  ],
  [
    "a missing log_dest",
    "log_dest",
    `Cannot parse option "log_dest" at ${FILE}:1: expected stdout, stderr, syslog, topic, dlt, none or file followed by a path, got nothing`,
  ],
  [
    "two log destinations on one line",
    "log_dest stdout stderr",
    `Cannot parse option "log_dest" at ${FILE}:1: expected stdout, stderr, syslog, topic, dlt, none or file followed by a path, got "stdout stderr"`,
  ],
  [
    "log_dest file without a path",
    "log_dest file  ",
    `Cannot parse option "log_dest" at ${FILE}:1: expected a file path after "file", got nothing`,
  ],
  [
    "a second log_dest file",
    "log_dest file /var/log/a.log\nlog_dest none\nlog_dest file /var/log/b.log",
    `Cannot parse option "log_dest" at ${FILE}:3: expected one "log_dest file", got a second one (the first is at ${FILE}:1)`,
  ],
  [
    "an invalid log_type",
    "log_type verbose",
    `Cannot parse option "log_type" at ${FILE}:1: expected error, warning, notice, information, subscribe, unsubscribe, websockets, debug, all or none, got "verbose"`,
  ],
  // per_listener_settings must come first.
  [
    "per_listener_settings true after a security option",
    "listener 1883\nallow_anonymous true\nper_listener_settings true",
    `Cannot parse option "per_listener_settings" at ${FILE}:3: expected it before every security option, but "allow_anonymous" comes first at ${FILE}:2`,
  ],
  [
    "per_listener_settings true after a pending security option",
    "password_file /etc/mosquitto/passwd\nper_listener_settings true",
    `Cannot parse option "per_listener_settings" at ${FILE}:2: expected it before every security option, but "password_file" comes first at ${FILE}:1`,
  ],
  // Options of later work are still checked.
  [
    "a pending boolean option with an invalid value",
    "persistence maybe",
    `Cannot parse option "persistence" at ${FILE}:1: expected true or false, got "maybe"`,
  ],
  [
    "a pending option with a missing value",
    "listener 8883\ncertfile",
    `Cannot parse option "certfile" at ${FILE}:2: expected a file path, got nothing`,
  ],
  [
    "an invalid tls_version",
    "listener 8883\ntls_version tlsv1.0",
    `Cannot parse option "tls_version" at ${FILE}:2: expected tlsv1.3, tlsv1.2 or tlsv1.1, got "tlsv1.0"`,
  ],
  [
    "a bridge option without a connection",
    "address 192.168.1.2",
    `Cannot parse option "address" at ${FILE}:1: expected a bridge "connection" line before it`,
  ],
  [
    "a plugin option without a plugin",
    "plugin_opt_config_file /x.json",
    `Cannot parse option "plugin_opt_config_file" at ${FILE}:1: expected a "plugin" or "auth_plugin" line before it`,
  ],
  [
    "mount_point without a listener",
    "mount_point tenant/",
    `Cannot parse option "mount_point" at ${FILE}:1: expected a "listener" line before it`,
  ],
  // include_dir.
  [
    "include_dir of a missing folder",
    "include_dir /etc/mosquitto/conf.d",
    `Cannot parse option "include_dir" at ${FILE}:1: cannot read directory "/etc/mosquitto/conf.d": No such file or directory: /etc/mosquitto/conf.d`,
  ],
  [
    "include_dir without a folder",
    "include_dir",
    `Cannot parse option "include_dir" at ${FILE}:1: expected a directory, got nothing`,
  ],
];

for (const [name, text, message] of CASES) {
  Deno.test(`parseConfig() rejects ${name}`, () => {
    const error = parseError(text);
    assert.equal(error.message, message);
    assert.equal(error.file, FILE);
    assert.equal(error.line, text.replace(/\n$/, "").split("\n").length);
  });
}

Deno.test("ConfigError names the file, line and option it is about", () => {
  const error = parseError(HEADER + "max_inflight_messages ten\n");
  assert.equal(error.name, "ConfigError");
  assert.equal(error.file, FILE);
  assert.equal(error.line, 12);
  assert.equal(error.option, "max_inflight_messages");
  assert.ok(error instanceof Error);
});

Deno.test("parseConfig() rejects an error inside an included file, naming that file", () => {
  const error = parseError(
    "listener 1883\ninclude_dir /etc/mosquitto/conf.d\n",
    memoryFs({
      "/etc/mosquitto/conf.d/a.conf": "sys_interval 5\n",
      "/etc/mosquitto/conf.d/b.conf": "\n# limits\nmax_queued_messages lots\n",
    }),
  );
  assert.equal(
    error.message,
    'Cannot parse option "max_queued_messages" at /etc/mosquitto/conf.d/b.conf:3: expected an integer, got "lots"',
  );
  assert.equal(error.file, "/etc/mosquitto/conf.d/b.conf");
  assert.equal(error.line, 3);
});

Deno.test("parseConfig() rejects an include_dir entry that is a directory", () => {
  const error = parseError(
    "include_dir /etc/mosquitto/conf.d\n",
    memoryFs({ "/etc/mosquitto/conf.d/sub.conf/x": "" }),
  );
  assert.equal(
    error.message,
    `Cannot parse option "include_dir" at ${FILE}:1: "/etc/mosquitto/conf.d/sub.conf" is a directory, not a config file`,
  );
});

Deno.test("parseConfig() rejects an include_dir file that cannot be read", () => {
  const readers = memoryFs({ "/etc/mosquitto/conf.d/a.conf": "" });
  const error = parseError("include_dir /etc/mosquitto/conf.d\n", {
    readDir: readers.readDir,
    readTextFile: (path) => {
      throw new Deno.errors.PermissionDenied(`Permission denied: ${path}`);
    },
  });
  assert.equal(
    error.message,
    `Cannot parse option "include_dir" at ${FILE}:1: cannot read "/etc/mosquitto/conf.d/a.conf": Permission denied: /etc/mosquitto/conf.d/a.conf`,
  );
});

Deno.test("parseConfig() rejects a duplicate value across include_dir files", () => {
  const error = parseError(
    "pid_file /run/a.pid\ninclude_dir /d\n",
    memoryFs({ "/d/x.conf": "pid_file /run/b.pid\n" }),
  );
  assert.equal(
    error.message,
    `Cannot parse option "pid_file" at /d/x.conf:1: duplicate value, already set at ${FILE}:1`,
  );
});

Deno.test("loadConfigFile() rejects a missing file", () => {
  assert.throws(
    () => loadConfigFile("/nowhere/mosquitto.conf", memoryFs({})),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        'Cannot read config file "/nowhere/mosquitto.conf": No such file or directory: /nowhere/mosquitto.conf',
      );
      assert.equal(error.file, "/nowhere/mosquitto.conf");
      assert.equal(error.line, undefined);
      assert.ok(error.cause instanceof Deno.errors.NotFound);
      return true;
    },
  );
});
