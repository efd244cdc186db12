/**
 * Eclipse Paho (Python, paho-mqtt 1.6.1) clients against the broker, MQTT 3.1.1 and 5.0: QoS 2,
 * retained messages, wills, persistent sessions, shared subscriptions, and the MQTT 5 features
 * topic alias, subscription identifiers and message expiry.
 *
 * Each step is one Python script (see tests/_helpers/paho.ts for the `TestClient` it uses) that
 * prints what the clients saw as JSON; the assertions are here.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBroker } from "../_helpers/broker.ts";
import { runPaho } from "../_helpers/paho.ts";

/** A message as `TestClient` records it. */
interface PahoMessage {
  /** The topic as on the wire: empty when the broker sent only a topic alias. */
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  dup: boolean;
  props: {
    TopicAlias?: number;
    SubscriptionIdentifier?: number[];
    MessageExpiryInterval?: number;
  };
}

type Version = "v311" | "v5";

/** Runs a script with the version as its first argument and returns its single result line. */
async function run(port: number, version: Version, script: string) {
  const { results } = await runPaho(
    `VERSION = V5 if ARGS[0] == "v5" else V311\n${script}`,
    port,
    { args: [version] },
  );
  assert.equal(results.length, 1, `expected one result line, got ${JSON.stringify(results)}`);
  return results[0]!;
}

function payloads(messages: unknown): string[] {
  return (messages as PahoMessage[]).map((m) => m.payload);
}

/** `-s`-style session arguments: v5 needs a Session Expiry Interval for the session to outlive the connection. */
const PERSISTENT = `clean=False, session_expiry=(300 if VERSION == V5 else None)`;

for (const version of ["v311", "v5"] as const) {
  Deno.test(`paho ${version}: QoS 2, retained, will, persistent session, shared subscription`, async (t) => {
    await using broker = await startBroker();
    const port = broker.port;

    await t.step("QoS 2 both ways: exactly once, in order, granted QoS 2", async () => {
      const result = await run(
        port,
        version,
        String.raw`
sub = TestClient("q2-sub", VERSION); sub.connect()
granted = sub.subscribe("q2/t", 2)
pub = TestClient("q2-pub", VERSION); pub.connect()
# publish() waits for PUBREC/PUBREL/PUBCOMP of each message.
for i in range(10):
    pub.publish("q2/t", "m%d" % i, qos=2)
pub.publish("q2/t", "end", qos=2)
msgs = sub.wait_for(lambda m: m["payload"] == "end", "end")
emit(granted=granted, messages=msgs, disconnects=sub.disconnects + pub.disconnects)
sub.disconnect(); pub.disconnect()
`,
      );
      assert.deepEqual(result.granted, [2]);
      const messages = result.messages as PahoMessage[];
      assert.deepEqual(payloads(messages), [
        ...Array.from({ length: 10 }, (_, i) => `m${i}`),
        "end",
      ]);
      assert.ok(
        messages.every((m) => m.qos === 2 && !m.dup && !m.retain),
        JSON.stringify(messages),
      );
      assert.deepEqual(result.disconnects, []);
    });

    await t.step("retained: stored, replaced, deleted by an empty payload", async () => {
      const result = await run(
        port,
        version,
        String.raw`
live = TestClient("ret-live", VERSION); live.connect(); live.subscribe("ret/t", 1)
pub = TestClient("ret-pub", VERSION); pub.connect()

def fresh(name):
    # A new subscriber, then a live probe: whatever arrives before the probe is retained.
    c = TestClient(name, VERSION); c.connect(); c.subscribe("ret/t", 1)
    pub.publish("ret/t", "probe-" + name, qos=1)
    msgs = c.wait_for(lambda m: m["payload"] == "probe-" + name, "probe-" + name)
    c.disconnect()
    return msgs

pub.publish("ret/t", "first", qos=1, retain=True)
stored = fresh("ret-a")
pub.publish("ret/t", "second", qos=1, retain=True)
replaced = fresh("ret-b")
pub.publish("ret/t", "", qos=1, retain=True)
deleted = fresh("ret-c")
live_msgs = live.wait_for(lambda m: m["payload"] == "probe-ret-c", "probe-ret-c")
emit(stored=stored, replaced=replaced, deleted=deleted, live=live_msgs)
live.disconnect(); pub.disconnect()
`,
      );
      const summary = (messages: unknown) =>
        (messages as PahoMessage[]).map((m) => `${m.payload}${m.retain ? " (retained)" : ""}`);
      assert.deepEqual(summary(result.stored), ["first (retained)", "probe-ret-a"]);
      assert.deepEqual(summary(result.replaced), ["second (retained)", "probe-ret-b"]);
      assert.deepEqual(summary(result.deleted), ["probe-ret-c"]);
      // A subscriber that is already there gets retained publishes with RETAIN 0, including
      // the empty one that deletes [MQTT-3.3.1-9], [MQTT-3.3.1-10] (3.1.1), [MQTT-3.3.1-12] (5).
      assert.deepEqual(summary(result.live), [
        "first",
        "probe-ret-a",
        "second",
        "probe-ret-b",
        "",
        "probe-ret-c",
      ]);
    });

    await t.step(
      "will: sent on abrupt close and on a killed process, not on DISCONNECT",
      async () => {
        const result = await run(
          port,
          version,
          String.raw`
import subprocess
obs = TestClient("will-obs", VERSION); obs.connect(); obs.subscribe("will/#", 1)

polite = TestClient("will-polite", VERSION,
                    will=dict(topic="will/polite", payload="polite gone", qos=1))
polite.connect()
polite.disconnect()
# The broker must discard the will on DISCONNECT [MQTT-3.1.2-10]; give it time to (wrongly)
# publish it before the probe below marks the end.
time.sleep(0.5)

abrupt = TestClient("will-abrupt", VERSION,
                    will=dict(topic="will/abrupt", payload="abrupt gone", qos=1))
abrupt.connect()
abrupt.drop()
obs.wait_for(lambda m: m["topic"] == "will/abrupt", "the will of will-abrupt")

# A separate process, killed with SIGKILL once connected: the kernel closes its socket.
CHILD = '''
import sys, time
import paho.mqtt.client as mqtt
c = mqtt.Client(client_id="will-killed", protocol=int(sys.argv[2]))
c.will_set("will/killed", "killed gone", qos=1)
c.on_connect = lambda *args: print("connected", flush=True)
c.connect("127.0.0.1", int(sys.argv[1]), 60)
c.loop_forever()
'''
child = subprocess.Popen([sys.executable, "-c", CHILD, str(PORT), str(VERSION)],
                         stdout=subprocess.PIPE)
assert child.stdout.readline().strip() == b"connected"
child.kill(); child.wait()
obs.wait_for(lambda m: m["topic"] == "will/killed", "the will of will-killed")

obs.c.publish("will/probe", "probe", qos=1)
msgs = obs.wait_for(lambda m: m["topic"] == "will/probe", "will/probe")
emit(messages=msgs)
obs.disconnect()
`,
        );
        const messages = result.messages as PahoMessage[];
        assert.deepEqual(messages.map((m) => `${m.topic} ${m.payload}`), [
          "will/abrupt abrupt gone",
          "will/killed killed gone",
          "will/probe probe",
        ]);
      },
    );

    await t.step(
      "persistent session: QoS 1 messages queued while offline are delivered",
      async () => {
        const result = await run(
          port,
          version,
          String.raw`
s = TestClient("persist-sub", VERSION, ${PERSISTENT})
first = s.connect()
s.subscribe("persist/t", 1)
s.disconnect()
time.sleep(0.2)
pub = TestClient("persist-pub", VERSION); pub.connect()
for i in range(5):
    pub.publish("persist/t", "q%d" % i, qos=1)
s2 = TestClient("persist-sub", VERSION, ${PERSISTENT})
second = s2.connect()
s2.wait_messages(5)
pub.publish("persist/t", "live", qos=1)
msgs = s2.wait_for(lambda m: m["payload"] == "live", "live")
emit(first=first, second=second, messages=msgs)
s2.disconnect(); pub.disconnect()
`,
        );
        // CONNACK (return code, session present) [MQTT-3.2.2-2], [MQTT-3.2.2-3].
        assert.deepEqual(result.first, [0, 0]);
        assert.deepEqual(result.second, [0, 1]);
        const messages = result.messages as PahoMessage[];
        assert.deepEqual(payloads(messages), ["q0", "q1", "q2", "q3", "q4", "live"]);
        assert.ok(messages.every((m) => m.qos === 1), JSON.stringify(messages));
      },
    );

    await t.step("shared subscription $share/g: round-robin, together exactly all", async () => {
      const result = await run(
        port,
        version,
        String.raw`
a = TestClient("share-a", VERSION); a.connect(); a.subscribe("$share/g/share/t", 1)
b = TestClient("share-b", VERSION); b.connect(); b.subscribe("$share/g/share/t", 1)
# A plain subscription both hold marks the end: once each has it, nothing shared is pending.
a.subscribe("share/end", 1); b.subscribe("share/end", 1)
pub = TestClient("share-pub", VERSION); pub.connect()
for i in range(20):
    pub.publish("share/t", "s%d" % i, qos=1)
pub.publish("share/end", "end", qos=1)
a.wait_for(lambda m: m["payload"] == "end", "end")
b.wait_for(lambda m: m["payload"] == "end", "end")
emit(a=[m["payload"] for m in a.messages if m["topic"] == "share/t"],
     b=[m["payload"] for m in b.messages if m["topic"] == "share/t"])
a.disconnect(); b.disconnect(); pub.disconnect()
`,
      );
      const a = result.a as string[];
      const b = result.b as string[];
      assert.ok(a.length > 0 && b.length > 0, `each member gets some: a=${a} b=${b}`);
      const all = Array.from({ length: 20 }, (_, i) => `s${i}`);
      assert.deepEqual([...a, ...b].sort(), [...all].sort(), `no duplicates, none lost`);
    });
  });
}

Deno.test("paho v5: topic alias, subscription identifiers, message expiry", async (t) => {
  await using broker = await startBroker();
  const port = broker.port;

  await t.step(
    "topic alias client → broker: alias set, used with an empty topic, remapped",
    async () => {
      const result = await run(
        port,
        "v5",
        String.raw`
c = TestClient("alias-in", V5); c.connect()
connack_props = c.connack[2]
alias_max = getattr(connack_props, "TopicAliasMaximum", 0)
sub = TestClient("alias-sub", V5); sub.connect(); sub.subscribe("alias/#", 1)

def pub(topic, payload, alias):
    c.publish(topic, payload, qos=1, properties=props(PacketTypes.PUBLISH, TopicAlias=alias))

pub("alias/one", "a1", 1)
pub("", "a2", 1)
pub("alias/two", "b1", 2)
pub("", "b2", 2)
pub("", "a3", 1)
pub("alias/three", "c1", 1)   # remapped: alias 1 now means alias/three (3.3.2.3.4)
pub("", "c2", 1)
msgs = sub.wait_messages(7)
emit(alias_max=alias_max, messages=msgs, disconnects=c.disconnects)
c.disconnect(); sub.disconnect()
`,
      );
      assert.ok(
        (result.alias_max as number) >= 2,
        `CONNACK Topic Alias Maximum ${result.alias_max}`,
      );
      const messages = result.messages as PahoMessage[];
      assert.deepEqual(messages.map((m) => `${m.topic} ${m.payload}`), [
        "alias/one a1",
        "alias/one a2",
        "alias/two b1",
        "alias/two b2",
        "alias/one a3",
        "alias/three c1",
        "alias/three c2",
      ]);
      // The subscriber sent no Topic Alias Maximum, so it must get no aliases [MQTT-3.1.2-26].
      assert.ok(messages.every((m) => m.props.TopicAlias === undefined), JSON.stringify(messages));
      assert.deepEqual(result.disconnects, []);
    },
  );

  await t.step(
    "topic alias broker → client: aliases within the client's maximum, repeats topic-less",
    async () => {
      const result = await run(
        port,
        "v5",
        String.raw`
r = TestClient("alias-out", V5, topic_alias_maximum=3); r.connect(); r.subscribe("out/#", 1)
pub = TestClient("alias-out-pub", V5); pub.connect()
sent = []
# Five topics, each twice in a row, then all again: more topics than the client allows aliases.
order = [("out/t%d" % i) for i in range(5) for _ in range(2)] + [("out/t%d" % i) for i in range(5)]
for n, topic in enumerate(order):
    pub.publish(topic, "p%d" % n, qos=1)
    sent.append([topic, "p%d" % n])
msgs = r.wait_messages(len(order))
emit(sent=sent, messages=msgs)
r.disconnect(); pub.disconnect()
`,
      );
      const messages = result.messages as PahoMessage[];
      const sent = result.sent as [string, string][];
      // Paho 1.6.1 does not resolve incoming aliases, so what it reports is what was on the wire.
      const aliases = new Map<number, string>();
      const resolved = messages.map((m) => {
        const alias = m.props.TopicAlias;
        if (alias === undefined) {
          assert.notEqual(m.topic, "", `an empty topic needs an alias: ${JSON.stringify(m)}`);
          return [m.topic, m.payload];
        }
        // The broker must not exceed the Topic Alias Maximum the client sent [MQTT-3.3.2-11].
        assert.ok(alias >= 1 && alias <= 3, `alias ${alias} outside 1..3: ${JSON.stringify(m)}`);
        if (m.topic !== "") aliases.set(alias, m.topic);
        const topic = aliases.get(alias);
        assert.ok(
          topic !== undefined,
          `alias ${alias} used before it was set: ${JSON.stringify(m)}`,
        );
        return [topic, m.payload];
      });
      assert.deepEqual(resolved, sent, "every message resolves to the topic it was published on");
      // The point of an outbound alias: the second message in a row on a topic carries only it.
      // (Mosquitto 2.0.11 never sends aliases to clients, so it fails here.)
      // Checked for the first three topics, which fit in the client's maximum of 3; whether the
      // broker then reassigns aliases to the other topics or sends them in full is its choice.
      for (const i of [1, 3, 5]) {
        const m = messages[i]!;
        assert.ok(
          m.topic === "" && m.props.TopicAlias !== undefined,
          `message ${i} (${sent[i]![0]}, a repeat) should carry an alias and an empty topic: ${
            JSON.stringify(m)
          }`,
        );
      }
    },
  );

  await t.step(
    "subscription identifiers: overlapping subscriptions → one message with both ids",
    async () => {
      const result = await run(
        port,
        "v5",
        String.raw`
c = TestClient("subid", V5); c.connect()
c.subscribe("subid/+", 1, sub_id=1)
c.subscribe("subid/x", 1, sub_id=2)
c.subscribe("subid/none", 1)
pub = TestClient("subid-pub", V5); pub.connect()
pub.publish("subid/x", "both", qos=1)
pub.publish("subid/y", "one", qos=1)
pub.publish("subid/none", "none", qos=1)
# subid/none also matches subid/+ (id 1); a message without ids goes to a plain topic.
c.subscribe("plain/t", 1)
pub.publish("plain/t", "plain", qos=1)
msgs = c.wait_for(lambda m: m["payload"] == "plain", "plain")
emit(messages=msgs)
c.disconnect(); pub.disconnect()
`,
      );
      const messages = result.messages as PahoMessage[];
      // The spec allows one copy per matching subscription too [MQTT-3.3.4-2]; midge sends a
      // single copy, which must then carry every matching subscription's id [MQTT-3.3.4-4].
      // (Mosquitto 2.0.11 sends one copy per subscription, so it fails this step.)
      assert.deepEqual(
        messages.map((m) => [m.payload, [...(m.props.SubscriptionIdentifier ?? [])].sort()]),
        [["both", [1, 2]], ["one", [1]], ["none", [1]], ["plain", []]],
      );
    },
  );

  await t.step(
    "message expiry: expired queued message dropped, live one has a reduced interval",
    async () => {
      const result = await run(
        port,
        "v5",
        String.raw`
s = TestClient("exp-sub", V5, clean=False, session_expiry=300); s.connect()
s.subscribe("exp/#", 1)
s.disconnect()
time.sleep(0.2)
pub = TestClient("exp-pub", V5); pub.connect()
pub.publish("exp/short", "short", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
pub.publish("exp/long", "long", qos=1, properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=60))
time.sleep(2.0)
s2 = TestClient("exp-sub", V5, clean=False, session_expiry=300)
present = s2.connect()
s2.wait_for(lambda m: m["payload"] == "long", "long")
pub.publish("exp/end", "end", qos=1)
msgs = s2.wait_for(lambda m: m["payload"] == "end", "end")
emit(present=present, messages=msgs)
s2.disconnect(); pub.disconnect()
`,
      );
      assert.deepEqual(result.present, [0, 1]);
      const messages = result.messages as PahoMessage[];
      assert.deepEqual(payloads(messages), ["long", "end"], "the 1 s message expired while queued");
      const expiry = messages[0]!.props.MessageExpiryInterval;
      // The interval sent on is the original minus the time spent queued [MQTT-3.3.2-6]; the
      // 1 s message expired before delivery started, so it was deleted [MQTT-3.3.2-5].
      assert.ok(expiry !== undefined && expiry > 0 && expiry < 60, `expiry ${expiry}`);
      assert.equal(messages[1]!.props.MessageExpiryInterval, undefined);
    },
  );
});
