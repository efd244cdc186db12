/**
 * TLS and wss listeners with certificates made by `openssl` at test time, and Debian's
 * `mosquitto_sub`/`mosquitto_pub` and Paho as clients: server authentication, client
 * certificates (`require_certificate`, `use_identity_as_username`, `use_subject_as_username`,
 * compared with Mosquitto's own user names), and certificates renewed by a reload.
 *
 * @module
 */

import assert from "node:assert/strict";
import tls from "node:tls";
import { parseConfig } from "../../broker/config/parse.ts";
import { PYTHON } from "../_helpers/paho.ts";
import { freePort, runProcess, spawnProcess, waitUntil } from "../_helpers/process.ts";
import { type Certificates, configureBroker, makeCertificates, TempDir } from "./_security.ts";

const certDir = Deno.makeTempDirSync({ prefix: "midge_tls_" });
globalThis.addEventListener("unload", () => Deno.removeSync(certDir, { recursive: true }));
let made: Promise<Certificates> | undefined;
/** Certificates shared by every test of this file, made on first use. */
const certs = () => made ??= makeCertificates(certDir);

/** Command line words (test paths and values hold no spaces). */
const argv = (text: string) => text.split(" ");

/** A midge broker from config text with one TLS listener on a free port. */
async function tlsBroker(lines: string[], protocol: "mqtt" | "websockets" = "mqtt") {
  const c = await certs();
  const port = freePort();
  const text = [
    `listener ${port} 127.0.0.1`,
    `protocol ${protocol}`,
    `certfile ${c.serverCert}`,
    `keyfile ${c.serverKey}`,
    "allow_anonymous true",
    ...lines,
  ].join("\n") + "\n";
  const midge = await configureBroker(text, { bind: true });
  return { midge, port, text, c };
}

/** `mosquitto_sub` waiting for one message on `topic`, then `mosquitto_pub` sending it. */
async function mosquittoRoundTrip(port: number, clientArgs: string[], topic: string) {
  await using sub = spawnProcess("mosquitto_sub", [
    ...argv(`-h localhost -p ${String(port)}`),
    ...clientArgs,
    ...argv(`-t ${topic} -C 1 -W 10 -i tls-sub -d`),
  ], { lineBuffered: true });
  await sub.waitForLine(/received SUBACK/, { timeoutMs: 10_000 });
  const pub = await runProcess("mosquitto_pub", [
    ...argv(`-h localhost -p ${String(port)}`),
    ...clientArgs,
    ...argv(`-t ${topic} -m over-tls -q 1`),
  ]);
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  const status = await sub.status(10_000);
  assert.equal(status.code, 0, sub.describeOutput());
  assert.ok(sub.stdout.includes("over-tls"), sub.describeOutput());
}

Deno.test("TLS listener serves mosquitto_sub/mosquitto_pub --cafile", async () => {
  const { midge, port, c } = await tlsBroker([]);
  await using _ = midge;
  await mosquittoRoundTrip(port, ["--cafile", c.ca], "tls/mosquitto");
  // A client that does not trust the CA refuses the server.
  const untrusted = await runProcess(
    "mosquitto_pub",
    argv(`-h localhost -p ${String(port)} --cafile ${certDir}/stranger-ca.crt -t x -m y`),
  );
  assert.notEqual(untrusted.code, 0);
  // A plain-text client gets no MQTT answer.
  const plain = await runProcess("mosquitto_pub", argv(`-h 127.0.0.1 -p ${port} -t x -m y`));
  assert.notEqual(plain.code, 0);
});

const PAHO_TLS = String.raw`
import json, ssl, sys
import paho.mqtt.client as mqtt
port, ca, transport = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cert = sys.argv[4] if len(sys.argv) > 4 else None
key = sys.argv[5] if len(sys.argv) > 5 else None
client = mqtt.Client(client_id="paho-" + transport, transport=transport)
client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
def on_connect(c, userdata, flags, rc):
    print(json.dumps({"connack": rc}), flush=True)
    if rc != 0:
        c.disconnect()
        return
    c.subscribe("paho/#", qos=1)
def on_subscribe(c, userdata, mid, granted):
    c.publish("paho/" + transport, "hello", qos=1)
def on_message(c, userdata, message):
    print(json.dumps({"topic": message.topic, "payload": message.payload.decode()}), flush=True)
    c.disconnect()
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("localhost", port, 30)
client.loop_forever()
`;

async function paho(port: number, transport: "tcp" | "websockets", extra: string[] = []) {
  const c = await certs();
  const run = await runProcess(PYTHON, ["-c", PAHO_TLS, String(port), c.ca, transport, ...extra], {
    timeoutMs: 20_000,
  });
  assert.equal(run.code, 0, run.stderr.join("\n"));
  return run.stdout.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

Deno.test("TLS listener serves Paho with tls_set(ca_certs)", async () => {
  const { midge, port } = await tlsBroker([]);
  await using _ = midge;
  assert.deepEqual(await paho(port, "tcp"), [
    { connack: 0 },
    { topic: "paho/tcp", payload: "hello" },
  ]);
});

Deno.test("wss listener (protocol websockets + certfile) serves Paho over TLS WebSockets", async () => {
  const { midge, port } = await tlsBroker([], "websockets");
  await using _ = midge;
  assert.deepEqual(await paho(port, "websockets"), [
    { connack: 0 },
    { topic: "paho/websockets", payload: "hello" },
  ]);
});

Deno.test("require_certificate: only clients with a certificate from cafile get in", async () => {
  const c = await certs();
  const { midge, port } = await tlsBroker([`cafile ${c.ca}`, "require_certificate true"]);
  await using _ = midge;
  await mosquittoRoundTrip(
    port,
    ["--cafile", c.ca, "--cert", c.clientCert, "--key", c.clientKey],
    "tls/cert",
  );
  for (const args of [[], ["--cert", c.strangerCert, "--key", c.strangerKey]]) {
    const refused = await runProcess("mosquitto_pub", [
      ...argv(`-h localhost -p ${String(port)} --cafile ${c.ca}`),
      ...args,
      ...argv(`-t x -m y`),
    ]);
    assert.notEqual(refused.code, 0, `mosquitto_pub ${args.join(" ")} got in`);
  }
  assert.deepEqual(await paho(port, "tcp", [c.clientCert, c.clientKey]), [
    { connack: 0 },
    { topic: "paho/tcp", payload: "hello" },
  ]);
});

Deno.test("use_identity_as_username: the certificate's CN is the user name the ACL sees", async () => {
  await using dir = await TempDir.create();
  const c = await certs();
  const acl = dir.write("acl", "user alice\ntopic readwrite alice/#\n");
  const { midge, port } = await tlsBroker([
    `cafile ${c.ca}`,
    "require_certificate true",
    "use_identity_as_username true",
    `acl_file ${acl}`,
  ]);
  await using _ = midge;
  // The user name in CONNECT is ignored: the certificate says alice.
  await mosquittoRoundTrip(
    port,
    ["--cafile", c.ca, "--cert", c.clientCert, "--key", c.clientKey, "-u", "mallory"],
    "alice/door",
  );
  assert.ok(
    midge.log.matching(/New client connected from .* as tls-sub .*u'alice'/).length > 0,
    midge.log.lines.join("\n"),
  );
});

/** The user name Mosquitto 2.0 gives a client with `use_subject_as_username`. */
async function mosquittoSubjectName(c: Certificates): Promise<string> {
  await using dir = await TempDir.create();
  const port = freePort();
  const conf = dir.write(
    "mosquitto.conf",
    [
      `listener ${port} 127.0.0.1`,
      "user root",
      "allow_anonymous true",
      `certfile ${c.serverCert}`,
      `keyfile ${c.serverKey}`,
      `cafile ${c.ca}`,
      "require_certificate true",
      "use_subject_as_username true",
      "log_dest stderr",
      "log_type all",
    ].join("\n") + "\n",
  );
  await using mosquitto = spawnProcess("mosquitto", ["-c", conf]);
  await mosquitto.waitForLine(/mosquitto version .* running/, {
    stream: "stderr",
    timeoutMs: 10_000,
  });
  const pub = await runProcess(
    "mosquitto_pub",
    argv(
      `-h localhost -p ${
        String(port)
      } --cafile ${c.ca} --cert ${c.clientCert} --key ${c.clientKey} -t x -m y`,
    ),
  );
  assert.equal(pub.code, 0, pub.stderr.join("\n"));
  const line = await mosquitto.waitForLine(/New client connected/, {
    stream: "stderr",
    timeoutMs: 10_000,
  });
  const name = /u'([^']*)'/.exec(line)?.[1];
  assert.ok(name !== undefined, line);
  return name;
}

Deno.test("use_subject_as_username gives the same user name as Mosquitto (RFC 2253 subject)", async () => {
  const c = await certs();
  const expected = await mosquittoSubjectName(c);
  assert.equal(expected, "O=house,CN=alice");
  const { midge, port } = await tlsBroker([
    `cafile ${c.ca}`,
    "require_certificate true",
    "use_subject_as_username true",
  ]);
  await using _ = midge;
  await mosquittoRoundTrip(
    port,
    ["--cafile", c.ca, "--cert", c.clientCert, "--key", c.clientKey],
    "s/x",
  );
  assert.ok(
    midge.log.matching(new RegExp(`u'${expected}'`)).length > 0,
    midge.log.lines.join("\n"),
  );
});

/** The CN of the certificate a new TLS connection to `port` is served. */
async function servedCommonName(port: number, ca: string): Promise<string | undefined> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: Deno.readTextFileSync(ca),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const cn = socket.getPeerCertificate().subject?.CN;
    return Array.isArray(cn) ? cn[0] : cn;
  } finally {
    socket.destroy();
  }
}

Deno.test("a reload with renewed certificates serves them to new clients and keeps old ones", async () => {
  await using dir = await TempDir.create();
  const c = await certs();
  const certfile = dir.write("server.crt", Deno.readTextFileSync(c.serverCert));
  const keyfile = dir.write("server.key", Deno.readTextFileSync(c.serverKey));
  const port = freePort();
  const text =
    `listener ${port} 127.0.0.1\ncertfile ${certfile}\nkeyfile ${keyfile}\nallow_anonymous true\n`;
  await using midge = await configureBroker(text, { bind: true });
  assert.equal(await servedCommonName(port, c.ca), "localhost");

  // A client connected before the renewal stays connected through it.
  const before = tls.connect({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: Deno.readTextFileSync(c.ca),
  });
  await new Promise((resolve) => before.once("secureConnect", resolve));
  Deno.writeTextFileSync(certfile, Deno.readTextFileSync(c.renewedCert));
  Deno.writeTextFileSync(keyfile, Deno.readTextFileSync(c.renewedKey));
  await midge.broker.applyConfig(parseConfig(text, { file: "test.conf" }));
  assert.equal(await servedCommonName(port, c.ca), "renewed");
  assert.equal(before.destroyed, false);
  before.destroy();

  // A key that does not fit the certificate fails the reload; the renewed pair stays in use.
  Deno.writeTextFileSync(keyfile, Deno.readTextFileSync(c.serverKey));
  await assert.rejects(
    () => midge.broker.applyConfig(parseConfig(text, { file: "test.conf" })),
    /the private key does not belong to the certificate/,
  );
  assert.equal(await servedCommonName(port, c.ca), "renewed");
});

Deno.test("a reload that turns on require_certificate rebinds the TLS listener", async () => {
  const c = await certs();
  const { midge, port, text } = await tlsBroker([]);
  await using _ = midge;
  assert.equal(await servedCommonName(port, c.ca), "localhost");
  const bound = midge.broker.listeners[0];
  await midge.broker.applyConfig(
    parseConfig(text + `cafile ${c.ca}\nrequire_certificate true\n`, { file: "test.conf" }),
  );
  // The rebind runs in the background: wait until the listener's socket is a new one.
  await waitUntil(
    () => midge.broker.listeners.length === 1 && midge.broker.listeners[0] !== bound,
    "the TLS listener to be bound again",
  );
  const refused = await runProcess(
    "mosquitto_pub",
    argv(`-h localhost -p ${String(port)} --cafile ${c.ca} -t x -m y`),
  );
  assert.notEqual(refused.code, 0);
  await mosquittoRoundTrip(
    port,
    ["--cafile", c.ca, "--cert", c.clientCert, "--key", c.clientKey],
    "re/bind",
  );
});

Deno.test("TLS listener address is in use: the error names the address", async () => {
  const c = await certs();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (blocker.addr as Deno.NetAddr).port;
  try {
    const text = `listener ${port} 127.0.0.1\ncertfile ${c.serverCert}\nkeyfile ${c.serverKey}\n`;
    await assert.rejects(
      () => configureBroker(text, { bind: true }),
      (error: Error) =>
        error instanceof Deno.errors.AddrInUse && error.message.endsWith(`127.0.0.1:${port}`),
    );
  } finally {
    blocker.close();
  }
});
