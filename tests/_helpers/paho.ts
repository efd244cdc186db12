/**
 * Runs Eclipse Paho (python3-paho-mqtt 1.6.1, Debian's, hence `/usr/bin/python3`) clients
 * against a test broker. A test passes a Python script as a string; it runs after
 * {@linkcode PAHO_PRELUDE}, gets the broker port as `PORT`, and reports by printing one JSON
 * object per line with `emit(...)`. The TypeScript side asserts on those objects, so that a
 * failure names the expected and actual values.
 *
 * @module
 */

import { ChildProcess, DEFAULT_TIMEOUT_MS, spawnProcess } from "./process.ts";

/** The Python with paho installed; the `python3` on PATH (pyenv) has no paho. */
export const PYTHON = "/usr/bin/python3";

/**
 * Python helpers every script can use:
 * - `PORT`, `HOST`, `V311`, `V5`, `TIMEOUT` (seconds for each wait);
 * - `emit(**fields)` prints one JSON result line;
 * - `TestClient(client_id, version, clean=True, session_expiry=None, topic_alias_maximum=None,
 *   will=None, keepalive=60)` with `.connect()` → `(reason_code, session_present)`,
 *   `.subscribe(topic, qos, sub_id=None)` → granted codes, `.publish(topic, payload, qos,
 *   retain, props)` waiting for the handshake, `.wait_messages(n)`, `.wait_for(pred)`,
 *   `.messages` (dicts with topic, payload, qos, retain, dup, props), `.disconnect()` (normal,
 *   with DISCONNECT), `.drop()` (socket closed without DISCONNECT), `.disconnects`;
 * - `props(packet_type, **values)` builds a paho `Properties`.
 */
export const PAHO_PRELUDE = String.raw`
import json, socket, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = "127.0.0.1"
PORT = int(sys.argv[1])
ARGS = sys.argv[2:]
V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
TIMEOUT = 10.0


def emit(**fields):
    print(json.dumps(fields), flush=True)


def props(packet_type, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def wait_until(cond, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(0.005)


def _text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()


class TestClient:
    def __init__(self, client_id, version=V311, clean=True, session_expiry=None,
                 topic_alias_maximum=None, will=None, keepalive=60):
        self.client_id = client_id
        self.version = version
        self.clean = clean
        self.session_expiry = session_expiry
        self.topic_alias_maximum = topic_alias_maximum
        self.keepalive = keepalive
        self.lock = threading.Lock()
        self.messages = []
        self.disconnects = []
        self.connack = None
        self.subacks = {}
        if version == V5:
            self.c = mqtt.Client(client_id=client_id, protocol=V5)
        else:
            self.c = mqtt.Client(client_id=client_id, protocol=version, clean_session=clean)
        # A broker that drops us must show up as a failure, not be hidden by a reconnect.
        self.c.reconnect_delay_set(min_delay=60, max_delay=60)
        if will is not None:
            self.c.will_set(**will)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = self._on_message
        self.c.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        code = rc.value if hasattr(rc, "value") else rc
        self.connack = (int(code), int(flags.get("session present", 0)), properties)

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.subacks[mid] = [g.value if hasattr(g, "value") else g for g in granted]

    def _on_message(self, client, userdata, msg):
        p = {}
        if self.version == V5 and msg.properties is not None:
            for name in ("TopicAlias", "SubscriptionIdentifier", "MessageExpiryInterval",
                         "UserProperty", "ContentType", "ResponseTopic"):
                if hasattr(msg.properties, name):
                    p[name] = getattr(msg.properties, name)
        with self.lock:
            self.messages.append({
                "topic": _text(msg._topic), "payload": _text(msg.payload), "qos": msg.qos,
                "retain": bool(msg.retain), "dup": bool(msg.dup), "props": p,
            })

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnects.append(int(rc.value if hasattr(rc, "value") else rc))

    def connect(self):
        self.connack = None
        if self.version == V5:
            p = props(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                p.SessionExpiryInterval = self.session_expiry
            if self.topic_alias_maximum is not None:
                p.TopicAliasMaximum = self.topic_alias_maximum
            self.c.connect(HOST, PORT, self.keepalive, clean_start=self.clean, properties=p)
        else:
            self.c.connect(HOST, PORT, self.keepalive)
        self.c.loop_start()
        wait_until(lambda: self.connack is not None, self.client_id + " CONNACK")
        return self.connack[0], self.connack[1]

    def subscribe(self, topic, qos=0, sub_id=None):
        if self.version == V5:
            p = None
            if sub_id is not None:
                p = props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=sub_id)
            rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos), properties=p)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "subscribe() returned %d" % rc
        wait_until(lambda: mid in self.subacks, self.client_id + " SUBACK for " + topic)
        return self.subacks[mid]

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish() returned %d" % info.rc
        if qos > 0:
            # The handshake (PUBACK, or PUBREC/PUBREL/PUBCOMP) completes within TIMEOUT.
            info.wait_for_publish(TIMEOUT)
            assert info.is_published(), self.client_id + " publish to " + topic + " not acked"
        return info

    def wait_messages(self, n, timeout=TIMEOUT):
        wait_until(lambda: len(self.messages) >= n,
                   "%s to receive %d messages (has %d)" % (self.client_id, n, len(self.messages)),
                   timeout)
        with self.lock:
            return list(self.messages)

    def wait_for(self, pred, what, timeout=TIMEOUT):
        wait_until(lambda: any(pred(m) for m in list(self.messages)),
                   self.client_id + " to receive " + what, timeout)
        with self.lock:
            return list(self.messages)

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        # Stop the network thread first so that paho does not notice and reconnect, then close
        # the socket without sending DISCONNECT: the broker sees an abrupt close.
        self.c.loop_stop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()
`;

/** What a finished Paho script produced. */
export interface PahoRun {
  /** The `emit(...)` lines, parsed. */
  results: Record<string, unknown>[];
  stdout: string[];
  stderr: string[];
}

function parseResults(lines: readonly string[]): Record<string, unknown>[] {
  return lines.filter((line) => line.startsWith("{")).map((line) =>
    JSON.parse(line) as Record<string, unknown>
  );
}

/** The Python source a script runs as: the prelude, then the script. */
export function pahoSource(script: string): string {
  return `${PAHO_PRELUDE}\n# --- test script\n${script}\n`;
}

/**
 * Runs `script` (after {@linkcode PAHO_PRELUDE}) with `/usr/bin/python3 -c`, passing `port` and
 * `args` as argv; rejects with the full output if the script fails or hangs past `timeoutMs`.
 */
export async function runPaho(
  script: string,
  port: number,
  { args = [], timeoutMs = DEFAULT_TIMEOUT_MS * 2 }: { args?: string[]; timeoutMs?: number } = {},
): Promise<PahoRun> {
  await using paho = spawnPaho(script, port, args);
  const child = paho.child;
  const status = await child.status(timeoutMs);
  if (status.code !== 0) {
    throw new Error(`Paho script exited with ${status.code}\n${child.describeOutput()}`);
  }
  return {
    results: parseResults(child.stdout),
    stdout: [...child.stdout],
    stderr: [...child.stderr],
  };
}

/** A Paho script running in the background; dispose it to kill it. */
export class PahoProcess implements AsyncDisposable {
  readonly child: ChildProcess;

  constructor(child: ChildProcess) {
    this.child = child;
  }

  /** The `emit(...)` lines so far, parsed. */
  get results(): Record<string, unknown>[] {
    return parseResults(this.child.stdout);
  }

  /** Resolves with the first emitted object that has `field` equal to `value`. */
  async waitForResult(
    field: string,
    value: unknown,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<Record<string, unknown>> {
    const line = await this.child.waitForLine((text) => {
      if (!text.startsWith("{")) return false;
      return (JSON.parse(text) as Record<string, unknown>)[field] === value;
    }, { timeoutMs });
    return JSON.parse(line) as Record<string, unknown>;
  }

  /** Sends a signal, e.g. SIGKILL to drop the client's connection without DISCONNECT. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    this.child.kill(signal);
  }

  close(): Promise<void> {
    return this.child.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Starts `script` (after {@linkcode PAHO_PRELUDE}) in the background. */
export function spawnPaho(script: string, port: number, args: string[] = []): PahoProcess {
  return new PahoProcess(
    spawnProcess(PYTHON, ["-u", "-c", pahoSource(script), String(port), ...args]),
  );
}
