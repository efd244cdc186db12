/**
 * Clients that misbehave on purpose, against a `midge` broker process (so its memory is measured
 * alone, from /proc): silent sockets, huge user names, oversized packets, a flood of failed logins
 * and a subscriber that never reads. Each test prints the broker's resident memory before and
 * after; none asserts a duration. Everything is on loopback and bounded.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { processRss } from "../_helpers/broker.ts";
import type { ChildProcess } from "../_helpers/process.ts";
import { freePort } from "../_helpers/process.ts";
import { connectPacket, encodeRaw, RawClient } from "../_helpers/raw_mqtt.ts";
import { spawnServe } from "../cli/_serve.ts";
import { PASSWORD_FILE, TempDir } from "./_security.ts";

/** A `midge -c` process with a password file, on a free loopback port. */
interface MidgeProcess extends AsyncDisposable {
  readonly port: number;
  readonly child: ChildProcess;
  /** Resident memory of the broker process in MiB. */
  rss(): number;
}

async function startMidge(lines: string[]): Promise<MidgeProcess> {
  const dir = await TempDir.create();
  const port = freePort();
  const passwd = dir.write("passwd", PASSWORD_FILE);
  const conf = dir.write(
    "midge.conf",
    [
      `listener ${port} 127.0.0.1`,
      `password_file ${passwd}`,
      // Errors only: thousands of refused logins would otherwise be thousands of lines.
      "log_type error",
      "connection_messages false",
      ...lines,
    ].join("\n") + "\n",
  );
  const child = spawnServe(["-c", conf]);
  try {
    await waitForPort(port, child);
  } catch (error) {
    await child.close();
    await dir[Symbol.asyncDispose]();
    throw error;
  }
  return {
    port,
    child,
    rss: () => Math.round(processRss(child.pid) / 1024 / 102.4) / 10,
    async [Symbol.asyncDispose]() {
      await child.close();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Waits until the broker accepts connections (its "running" line is not logged at log_type error). */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exited) throw new Error(`midge exited\n${child.describeOutput()}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`midge did not listen\n${child.describeOutput()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

function report(what: string, readings: Record<string, number>): void {
  const parts = Object.entries(readings).map(([label, mib]) => `${label} ${mib} MiB`);
  console.log(`broker RSS, ${what}: ${parts.join(", ")}`);
}

/** Connects with a good password, subscribes, publishes QoS 1 to itself and gets it back. */
async function honestRoundTrip(port: number, topic: string): Promise<void> {
  await using client = await RawClient.open(port, 4);
  await client.send(
    connectPacket(`honest-${topic}`, 4, { username: "alice", password: Buffer.from("secret") }),
  );
  assert.equal((await client.readPacket()).cmd, "connack");
  await client.send({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic, qos: 1 }] });
  assert.equal((await client.readPacket()).cmd, "suback");
  await client.send({
    cmd: "publish",
    topic,
    payload: Buffer.from("still here"),
    qos: 1,
    messageId: 2,
    retain: false,
    dup: false,
  });
  const seen = new Set<string>();
  while (!seen.has("publish") || !seen.has("puback")) seen.add((await client.readPacket()).cmd);
}

async function openSockets(port: number, count: number): Promise<Deno.TcpConn[]> {
  const sockets: Deno.TcpConn[] = [];
  // In batches, so the listen backlog never overflows into SYN retries.
  for (let i = 0; i < count; i += 200) {
    const batch = Math.min(200, count - i);
    sockets.push(
      ...await Promise.all(
        Array.from({ length: batch }, () => Deno.connect({ hostname: "127.0.0.1", port })),
      ),
    );
  }
  return sockets;
}

/** Resolves when the peer has closed `socket` (EOF or reset). */
async function closedByPeer(socket: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(16);
  try {
    while (await socket.read(buffer) !== null) {
      // Discard: a refusal's CONNACK, for instance.
    }
  } catch {
    // A reset is a close too.
  }
}

Deno.test("2,000 sockets that never send CONNECT are closed after connect_timeout", async () => {
  await using midge = await startMidge(["connect_timeout 2"]);
  const before = midge.rss();
  const sockets = await openSockets(midge.port, 2000);
  // Still serving while they hang around.
  await honestRoundTrip(midge.port, "idle/check");
  const open = midge.rss();
  await Promise.all(sockets.map(closedByPeer));
  for (const socket of sockets) socket.close();
  const after = midge.rss();
  report("2,000 silent sockets", {
    before: before,
    "with them open": open,
    "after they were closed": after,
  });
  await honestRoundTrip(midge.port, "idle/after");
});

Deno.test("CONNECTs with 64 KiB user names and passwords are refused without harm", async () => {
  await using midge = await startMidge([]);
  const before = midge.rss();
  const huge = "u".repeat(65535);
  const connect = encodeRaw(
    connectPacket("", 4, { username: huge, password: Buffer.alloc(65535, 0x70) }),
    4,
  );
  let refused = 0;
  const readings: Record<string, number> = { before };
  for (let round = 0; round < 10; round++) {
    if (round === 5) readings["after 100"] = midge.rss();
    const codes = await Promise.all(Array.from({ length: 20 }, async () => {
      const socket = await Deno.connect({ hostname: "127.0.0.1", port: midge.port });
      try {
        let written = 0;
        while (written < connect.length) written += await socket.write(connect.subarray(written));
        const reply = new Uint8Array(4);
        let read = 0;
        while (read < 4) {
          const n = await socket.read(reply.subarray(read));
          if (n === null) break;
          read += n;
        }
        return reply[3];
      } finally {
        socket.close();
      }
    }));
    refused += codes.filter((code) => code === 5).length;
  }
  assert.equal(refused, 200);
  readings["after 200"] = midge.rss();
  report("CONNECTs with 64 KiB user names and passwords", readings);
  await honestRoundTrip(midge.port, "huge/after");
});

Deno.test("oversized packets are refused from their header, before their body is read", async () => {
  await using midge = await startMidge(["max_packet_size 1024", "message_size_limit 512"]);
  const before = midge.rss();
  // A first packet announcing 256 MiB, then 1 MiB of it: closed without buffering.
  const header = new Uint8Array([0x10, 0xff, 0xff, 0xff, 0x7f]);
  const junk = new Uint8Array(1024 * 1024);
  await Promise.all(Array.from({ length: 50 }, async () => {
    const socket = await Deno.connect({ hostname: "127.0.0.1", port: midge.port });
    try {
      await socket.write(header);
      await socket.write(junk).catch(() => 0);
      await closedByPeer(socket);
    } finally {
      socket.close();
    }
  }));
  // After CONNECT, a v5 PUBLISH over max_packet_size: DISCONNECT 0x95 Packet too large.
  await using big = await RawClient.open(midge.port, 5);
  await big.send(connectPacket("big", 5, { username: "alice", password: Buffer.from("secret") }));
  assert.equal((await big.readPacket()).cmd, "connack");
  await big.send({
    cmd: "publish",
    topic: "t",
    payload: Buffer.alloc(4096),
    qos: 0,
    retain: false,
    dup: false,
  });
  const closing = await big.waitForClose();
  assert.equal(closing[0]?.cmd, "disconnect");
  assert.equal((closing[0] as { reasonCode?: number }).reasonCode, 0x95);
  // Under max_packet_size but over message_size_limit: PUBACK 0x97 Quota exceeded.
  await using limited = await RawClient.open(midge.port, 5);
  await limited.send(
    connectPacket("limited", 5, { username: "alice", password: Buffer.from("secret") }),
  );
  await limited.readPacket();
  await limited.send({
    cmd: "publish",
    topic: "t",
    payload: Buffer.alloc(600),
    qos: 1,
    messageId: 3,
    retain: false,
    dup: false,
  });
  const ack = await limited.readPacket();
  assert.equal(ack.cmd, "puback");
  assert.equal((ack as { reasonCode?: number }).reasonCode, 0x97);
  const after = midge.rss();
  report("50 packets announcing 256 MiB, one 4 KiB PUBLISH over a 1 KiB limit", { before, after });
});

Deno.test("10,000 failed logins: the broker keeps serving, an honest client gets through", async () => {
  await using midge = await startMidge([]);
  const before = midge.rss();
  const wrong = encodeRaw(
    connectPacket("", 4, { username: "alice", password: Buffer.from("guess") }),
    4,
  );
  let refused = 0;
  let attempts = 0;
  const attacker = async () => {
    const reply = new Uint8Array(4);
    while (attempts < 10_000) {
      attempts++;
      const socket = await Deno.connect({ hostname: "127.0.0.1", port: midge.port });
      try {
        await socket.write(wrong);
        let read = 0;
        while (read < 4) {
          const n = await socket.read(reply.subarray(read));
          if (n === null) break;
          read += n;
        }
        if (read === 4 && reply[0] === 0x20 && reply[3] === 5) refused++;
      } finally {
        socket.close();
      }
    }
  };
  const started = Date.now();
  const attackers = Promise.all(Array.from({ length: 50 }, attacker));
  // Meanwhile, once the flood is going, an honest client logs in and round-trips a message.
  while (attempts < 2000) await new Promise((resolve) => setTimeout(resolve, 5));
  await honestRoundTrip(midge.port, "flood/honest");
  const honestAt = attempts;
  while (attempts < 5000) await new Promise((resolve) => setTimeout(resolve, 5));
  const half = midge.rss();
  await attackers;
  const seconds = (Date.now() - started) / 1000;
  assert.equal(refused, 10_000);
  const after = midge.rss();
  report(
    `10,000 failed logins (${Math.round(10_000 / seconds)}/s; honest client in after ${honestAt})`,
    { before, "after 5,000": half, "after 10,000": after },
  );
});

Deno.test("a subscriber that never reads does not grow the broker without bound", async () => {
  await using midge = await startMidge(["max_queued_messages 100", "max_inflight_messages 20"]);
  const before = midge.rss();
  // It subscribes (QoS 0 and QoS 1) and then stops reading.
  const stuck = await RawClient.open(midge.port, 4);
  await stuck.send(
    connectPacket("stuck", 4, { username: "bob", password: Buffer.from("hunter2") }),
  );
  await stuck.readPacket();
  await stuck.send({
    cmd: "subscribe",
    messageId: 1,
    subscriptions: [{ topic: "flood/q0", qos: 0 }, { topic: "flood/q1", qos: 1 }],
  });
  await stuck.readPacket();
  await using publisher = await RawClient.open(midge.port, 4);
  await publisher.send(
    connectPacket("flooder", 4, { username: "alice", password: Buffer.from("secret") }),
  );
  await publisher.readPacket();
  const payload = Buffer.alloc(16 * 1024, 0x61);
  let messageId = 0;
  /** 2 x 1,000 messages of 16 KiB: 32 MiB offered to the stuck subscriber. */
  const flood = async () => {
    for (let i = 0; i < 1000; i++) {
      await publisher.send({
        cmd: "publish",
        topic: "flood/q0",
        payload,
        qos: 0,
        retain: false,
        dup: false,
      });
      messageId = messageId % 65535 + 1;
      await publisher.send({
        cmd: "publish",
        topic: "flood/q1",
        payload,
        qos: 1,
        messageId,
        retain: false,
        dup: false,
      });
    }
    for (let acked = 0; acked < 1000;) if ((await publisher.readPacket()).cmd === "puback") acked++;
  };
  await flood();
  const first = midge.rss();
  await flood();
  const second = midge.rss();
  // Others are still served.
  await honestRoundTrip(midge.port, "flood/other");
  await stuck.close();
  const after = midge.rss();
  report("a stuck subscriber offered 2 x 32 MiB", {
    before,
    "after the first 32": first,
    "after the second 32": second,
    "after it left": after,
  });
  // What is kept for it is bounded (max_queued_messages, the outgoing buffer): the second
  // 32 MiB offered must not add as much again (RSS is noisy, hence the slack).
  assert.ok(second - first < 24, `the second flood grew the broker by ${second - first} MiB`);
});
