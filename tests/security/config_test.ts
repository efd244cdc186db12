/**
 * The security options of `mosquitto.conf`: what they parse into, the combinations refused (and
 * why), the files added to `sources` for `--watch`, and what `listenerSettingsFromConfig` builds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { listenerSettingsFromConfig, loadTlsSupport } from "../../broker/config/apply.ts";
import { parseConfig } from "../../broker/config/parse.ts";
import { FileSecurity } from "../../broker/auth/file_security.ts";
import { OpenSecurity } from "../../broker/auth/security.ts";
import type { BrokerConfig } from "../../broker/config/types.ts";
import { memoryFs } from "../broker/config/_memory_fs.ts";
import { PASSWORD_FILE, TempDir } from "./_security.ts";

const FILE = "/etc/mosquitto/mosquitto.conf";

function parse(text: string): BrokerConfig {
  return parseConfig(text, { file: FILE, ...memoryFs({}) });
}

Deno.test("parseConfig() reads password_file, acl_file, clientid_prefixes, memory_limit, connect_timeout", () => {
  const config = parse(
    [
      "listener 1883",
      "password_file /etc/mosquitto/passwd",
      "acl_file /etc/mosquitto/acl",
      "clientid_prefixes sec-",
      "memory_limit 104857600",
      "connect_timeout 5",
      "use_username_as_clientid true",
    ].join("\n"),
  );
  assert.equal(config.passwordFile, "/etc/mosquitto/passwd");
  assert.equal(config.aclFile, "/etc/mosquitto/acl");
  assert.equal(config.clientidPrefixes, "sec-");
  assert.equal(config.memoryLimit, 104857600);
  assert.equal(config.connectTimeout, 5);
  assert.equal(config.listeners[0]?.useUsernameAsClientId, true);
  // --watch reloads when the password or ACL file changes.
  assert.deepEqual(config.sources, [FILE, "/etc/mosquitto/passwd", "/etc/mosquitto/acl"]);
  assert.deepEqual(config.warnings, []);
});

Deno.test("parseConfig() gives per-listener password and ACL files to their listeners", () => {
  const config = parse(
    [
      "per_listener_settings true",
      "listener 1883",
      "password_file /a/passwd",
      "listener 1884",
      "acl_file /b/acl",
      "allow_anonymous true",
    ].join("\n"),
  );
  assert.equal(config.passwordFile, undefined);
  assert.equal(config.listeners[0]?.security?.passwordFile, "/a/passwd");
  assert.equal(config.listeners[0]?.security?.aclFile, undefined);
  assert.equal(config.listeners[1]?.security?.aclFile, "/b/acl");
  assert.deepEqual(config.sources, [FILE, "/a/passwd", "/b/acl"]);
});

Deno.test("parseConfig() reads a TLS listener", () => {
  const config = parse(
    [
      "listener 8883",
      "certfile /c/server.crt",
      "keyfile /c/server.key",
      "cafile /c/ca.crt",
      "tls_version tlsv1.3",
      "require_certificate true",
      "use_identity_as_username true",
    ].join("\n"),
  );
  assert.deepEqual(config.listeners[0]?.tls, {
    certfile: "/c/server.crt",
    keyfile: "/c/server.key",
    cafile: "/c/ca.crt",
    tlsVersion: "tlsv1.3",
    requireCertificate: true,
    useIdentityAsUsername: true,
    useSubjectAsUsername: false,
  });
  assert.deepEqual(config.listeners[0]?.unsupportedOptions, []);
  assert.deepEqual(config.sources, [FILE, "/c/server.crt", "/c/server.key", "/c/ca.crt"]);
});

/** [name, config lines, error] */
const REFUSED: [string, string[], RegExp][] = [
  [
    "cafile without certfile, which would leave the listener in plain text",
    ["listener 8883", "cafile /c/ca.crt"],
    /Option "cafile" at .*:2 needs "certfile" and "keyfile" on the same listener \(defined at .*:1\): without them the listener would not use TLS/,
  ],
  [
    "certfile without keyfile",
    ["listener 8883", "certfile /c/s.crt"],
    /Option "certfile" at .*:2 needs "keyfile"/,
  ],
  [
    "require_certificate without a CA",
    ["listener 8883", "certfile /c/s.crt", "keyfile /c/s.key", "require_certificate true"],
    /Option "require_certificate" at .*:4 needs "cafile" or "capath" to verify client certificates/,
  ],
  [
    "require_certificate on a WebSocket listener (Deno.serve cannot ask for client certificates)",
    [
      "listener 8884",
      "protocol websockets",
      "certfile /c/s.crt",
      "keyfile /c/s.key",
      "cafile /c/ca.crt",
      "require_certificate true",
    ],
    /Option "require_certificate" at .*:6 is not supported on a WebSocket listener: Deno.serve cannot request client certificates/,
  ],
  [
    "use_subject_as_username on a WebSocket listener",
    [
      "listener 8884",
      "protocol websockets",
      "certfile /c/s.crt",
      "keyfile /c/s.key",
      "use_subject_as_username true",
    ],
    /Option "use_subject_as_username" at .*:5 is not supported on a WebSocket listener/,
  ],
  [
    "tls_version tlsv1.3 on a WebSocket listener",
    [
      "listener 8884",
      "protocol websockets",
      "certfile /c/s.crt",
      "keyfile /c/s.key",
      "tls_version tlsv1.3",
    ],
    /Option "tls_version" at .*:5 is not supported on a WebSocket listener: Deno.serve cannot restrict TLS versions/,
  ],
  [
    "crlfile, which Deno's TLS would ignore",
    ["listener 8883", "crlfile /c/ca.crl"],
    /Option "crlfile" at .*:2 is not supported: Deno's TLS does not check certificate revocation lists/,
  ],
  [
    "psk_hint",
    ["listener 8883", "psk_hint hint"],
    /Option "psk_hint" at .*:2 is not supported: Deno's TLS has no pre-shared keys/,
  ],
  ["psk_file", ["psk_file /c/psk", "listener 8883"], /Option "psk_file" at .*:1 is not supported/],
  [
    "a second certfile",
    ["listener 8883", "certfile /a", "certfile /b"],
    /Cannot parse option "certfile" at .*:3: duplicate value, already set at .*:2/,
  ],
  ["a second password_file", ["password_file /a", "password_file /b"], /duplicate value/],
  [
    "connect_timeout 0",
    ["connect_timeout 0"],
    /Cannot parse option "connect_timeout" at .*:1: expected an integer from 1 to 3600, got "0"/,
  ],
];

for (const [name, lines, error] of REFUSED) {
  Deno.test(`parseConfig() refuses ${name}`, () => {
    assert.throws(() => parse(lines.join("\n")), error);
  });
}

Deno.test("parseConfig() warns about TLS options that cannot do what they say", () => {
  const config = parse(
    [
      "listener 8883",
      "certfile /c/s.crt",
      "keyfile /c/s.key",
      "tls_version tlsv1.1",
      "use_identity_as_username true",
    ].join("\n"),
  );
  assert.deepEqual(config.warnings, [
    `Option "tls_version" at ${FILE}:4 asks for TLS 1.1, which Deno's TLS does not offer: the listener accepts TLS 1.2 and 1.3`,
    `Option "use_identity_as_username" at ${FILE}:5 has no effect without "require_certificate true": no client certificate is asked for, so every client is refused`,
  ]);
});

Deno.test("listenerSettingsFromConfig() builds FileSecurity from the files, shared by all listeners", async () => {
  await using dir = await TempDir.create();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  const config = parseConfig(
    `password_file ${passwd}\nlistener 1883\nlistener 1884\n`,
    { file: "test.conf" },
  );
  const [a, b] = config.listeners.map((l) => listenerSettingsFromConfig(config, l));
  assert.ok(a?.security instanceof FileSecurity);
  assert.equal(a?.security, b?.security);
  assert.equal((a?.security as FileSecurity).userCount, 2);
  const open = parseConfig("listener 1883\nallow_anonymous true\n", { file: "test.conf" });
  assert.ok(listenerSettingsFromConfig(open, open.listeners[0]!).security instanceof OpenSecurity);
});

Deno.test("listenerSettingsFromConfig() refuses unreadable or broken TLS files", async () => {
  await loadTlsSupport();
  await using dir = await TempDir.create();
  const bogus = dir.write(
    "bogus.pem",
    "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
  );
  const missing = parseConfig(
    `listener 8883\ncertfile ${dir.path}/none.crt\nkeyfile ${bogus}\n`,
    { file: "test.conf" },
  );
  assert.throws(
    () => listenerSettingsFromConfig(missing, missing.listeners[0]!),
    /Cannot read certfile ".*none\.crt": No such file or directory/,
  );
  const broken = parseConfig(`listener 8883\ncertfile ${bogus}\nkeyfile ${bogus}\n`, {
    file: "test.conf",
  });
  assert.throws(
    () => listenerSettingsFromConfig(broken, broken.listeners[0]!),
    /Cannot use the TLS files of the listener defined at test\.conf:1/,
  );
});
