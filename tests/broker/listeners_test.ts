import assert from "node:assert/strict";
import { listenTcp, MIN_READ_SIZE, TcpTransport } from "../../broker/listeners/tcp.ts";
import { listenWebSocket } from "../../broker/listeners/websocket.ts";
import type { Transport, TransportSink } from "../../broker/transport.ts";

/** A transport as the test sees it: everything its sink received. */
interface Accepted {
  transport: Transport;
  chunks: Uint8Array[];
  closes: unknown[];
  /** Resolves with the close reason when onClose runs. */
  closed: Promise<unknown>;
  /** Resolves once at least `n` bytes arrived in total. */
  received(n: number): Promise<Uint8Array>;
}

/** Records what a transport delivers; optionally echoes it back. */
function accept(transport: Transport, echo = false): Accepted {
  const chunks: Uint8Array[] = [];
  const closes: unknown[] = [];
  const closed = Promise.withResolvers<unknown>();
  let waiter: { n: number; resolve: (bytes: Uint8Array) => void } | undefined;
  const total = () => concat(chunks);
  const sink: TransportSink = {
    onData(chunk) {
      chunks.push(chunk);
      if (echo) transport.write(chunk);
      if (waiter && total().length >= waiter.n) waiter.resolve(total());
    },
    onClose(error) {
      closes.push(error);
      closed.resolve(error);
    },
  };
  const accepted: Accepted = {
    transport,
    chunks,
    closes,
    closed: closed.promise,
    received(n) {
      if (total().length >= n) return Promise.resolve(total());
      return new Promise((resolve) => waiter = { n, resolve });
    },
  };
  transport.start(sink);
  return accepted;
}

/** Collects accepted transports and lets a test await the next one, in order of arrival. */
function acceptQueue(echo = false) {
  const all: Accepted[] = [];
  const waiters: ((accepted: Accepted) => void)[] = [];
  let taken = 0;
  return {
    all,
    onTransport(transport: Transport) {
      const accepted = accept(transport, echo);
      all.push(accepted);
      const waiter = waiters.shift();
      if (waiter) {
        taken++;
        waiter(accepted);
      }
    },
    next(): Promise<Accepted> {
      const ready = all[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let offset = 0;
  while (offset < n) {
    const read = await conn.read(out.subarray(offset));
    if (read === null) throw new Error(`Cannot read ${n} bytes: EOF after ${offset}`);
    offset += read;
  }
  return out;
}

function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + 7) & 0xff);
}

Deno.test("listenTcp() binds port 0 and round-trips bytes through a transport", async () => {
  const accepted = acceptQueue(true);
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, onTransport: accepted.onTransport });
  assert.equal(listener.protocol, "mqtt");
  assert.equal(listener.family, "ipv4");
  assert.equal(listener.hostname, "127.0.0.1");
  assert.notEqual(listener.port, 0);

  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const server = await accepted.next();
  assert.equal(server.transport.remoteAddress, "127.0.0.1");
  assert.equal(server.transport.remotePort, (client.localAddr as Deno.NetAddr).port);

  // CONNECT-like bytes out, echoed back unchanged.
  const sent = Uint8Array.of(
    0x10,
    0x0c,
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    0x04,
    0x02,
    0,
    60,
    0,
    0,
  );
  await client.write(sent);
  assert.deepEqual(await readExactly(client, sent.length), sent);

  client.close();
  assert.equal(await server.closed, undefined);
  assert.equal(server.closes.length, 1);
  await listener.close();
});

Deno.test("listenTcp() on ::1 reports ipv6 and an unbracketed remote address", async () => {
  const accepted = acceptQueue();
  let listener;
  try {
    listener = listenTcp({ hostname: "::1", port: 0, onTransport: accepted.onTransport });
  } catch (error) {
    // A host without IPv6 loopback cannot run this test.
    if (error instanceof Deno.errors.AddrNotAvailable) return;
    throw error;
  }
  assert.equal(listener.family, "ipv6");
  assert.equal(listener.hostname, "::1");
  const client = await Deno.connect({ hostname: "::1", port: listener.port });
  const server = await accepted.next();
  assert.equal(server.transport.remoteAddress, "::1");
  client.close();
  await server.closed;
  await listener.close();
});

Deno.test("TcpTransport hands onData a fresh buffer for every read", async () => {
  const accepted = acceptQueue();
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, onTransport: accepted.onTransport });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const server = await accepted.next();
  for (let i = 1; i <= 5; i++) {
    await client.write(Uint8Array.of(0xc0, 0x00)); // PINGREQ
    await server.received(2 * i);
  }
  const buffers = new Set(server.chunks.map((chunk) => chunk.buffer));
  assert.equal(buffers.size, server.chunks.length);
  // Views kept by the core still hold what was read into them.
  assert.deepEqual(
    concat(server.chunks),
    Uint8Array.of(0xc0, 0, 0xc0, 0, 0xc0, 0, 0xc0, 0, 0xc0, 0),
  );
  client.close();
  await server.closed;
  await listener.close();
});

Deno.test("TcpTransport grows its read buffer for a burst and shrinks back when idle", async () => {
  let transport: TcpTransport | undefined;
  const gotTransport = Promise.withResolvers<void>();
  const listener = listenTcp({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: (t) => {
      transport = t as TcpTransport;
      gotTransport.resolve();
    },
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  await gotTransport.promise;
  // Queue 32 KiB in the kernel before reading starts, so reads fill their buffers.
  const burst = pattern(32 * 1024);
  await client.write(burst);
  const server = accept(transport!);
  assert.deepEqual(await server.received(burst.length), burst);
  assert.ok(server.chunks[0]!.length <= MIN_READ_SIZE);
  assert.ok(Math.max(...server.chunks.map((c) => c.length)) > MIN_READ_SIZE);

  await client.write(Uint8Array.of(0xc0, 0x00));
  await server.received(burst.length + 2);
  assert.equal(transport!.readSize, MIN_READ_SIZE);

  client.close();
  await server.closed;
  await listener.close();
});

Deno.test("TcpTransport.write() writes a large buffer completely, then resolves after close()", async () => {
  const accepted = acceptQueue();
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, onTransport: accepted.onTransport });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const server = await accepted.next();
  const big = pattern(4 * 1024 * 1024);
  const [, echoed] = await Promise.all([
    server.transport.write(big),
    readExactly(client, big.length),
  ]);
  assert.deepEqual(echoed, big);

  server.transport.close();
  server.transport.close(); // idempotent
  await server.transport.write(Uint8Array.of(0xd0, 0x00)); // resolves, does not throw
  assert.equal(await server.closed, undefined);
  assert.equal(await client.read(new Uint8Array(1)), null);
  assert.equal(server.closes.length, 1);
  client.close();
  await listener.close();
});

Deno.test("RunningListener.close() stops accepting but keeps established connections", async () => {
  const accepted = acceptQueue(true);
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, onTransport: accepted.onTransport });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  const server = await accepted.next();
  await listener.close();
  await listener.close(); // idempotent

  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: listener.port }));
  await client.write(Uint8Array.of(0xc0, 0x00));
  assert.deepEqual(await readExactly(client, 2), Uint8Array.of(0xc0, 0x00));

  server.transport.close();
  await server.closed;
  client.close();
});

Deno.test("listenTcp() throws AddrInUse for a taken port", () => {
  const listener = listenTcp({ hostname: "127.0.0.1", port: 0, onTransport: () => {} });
  assert.throws(
    () => listenTcp({ hostname: "127.0.0.1", port: listener.port, onTransport: () => {} }),
    Deno.errors.AddrInUse,
  );
  return listener.close();
});

Deno.test("listenTcp() idle connections: memory per connection (reported, not asserted)", async () => {
  // A fresh process with --expose-gc, so garbage from the other tests does not blur the numbers;
  // "fixed" is a plain read loop with a 64 KiB buffer per pending read, for comparison.
  const script = new URL("./_idle_memory.ts", import.meta.url).pathname;
  for (const mode of ["adaptive", "fixed"]) {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--v8-flags=--expose-gc", script, "500", mode],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const result = JSON.parse(new TextDecoder().decode(stdout));
    console.log(
      `${result.count} idle TCP connections, ${mode} reads (server and client side): ` +
        `rss ${result.rssKiB} KiB, heap ${result.heapKiB} KiB, external ${result.externalKiB} KiB ` +
        `per connection`,
    );
  }
});

/** Opens a WebSocket client and waits for it to open. */
async function openWebSocket(port: number, protocols?: string | string[]): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, protocols);
  socket.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error("Cannot open WebSocket"));
  });
  return socket;
}

function nextMessage(socket: WebSocket): Promise<Uint8Array> {
  return new Promise((resolve) => {
    socket.onmessage = (event) => resolve(new Uint8Array(event.data as ArrayBuffer));
  });
}

function closedEvent(socket: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => socket.addEventListener("close", resolve, { once: true }));
}

Deno.test("listenWebSocket() carries bytes both ways over subprotocol mqtt", async () => {
  const accepted = acceptQueue();
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: accepted.onTransport,
  });
  assert.equal(listener.protocol, "websockets");
  assert.equal(listener.family, "ipv4");
  assert.notEqual(listener.port, 0);

  const [client, server] = await Promise.all([
    openWebSocket(listener.port, "mqtt"),
    accepted.next(),
  ]);
  assert.equal(client.protocol, "mqtt");
  assert.equal(server.transport.remoteAddress, "127.0.0.1");

  // One packet split over two frames, then two packets in one frame: a byte stream to the core.
  client.send(Uint8Array.of(0xc0));
  client.send(Uint8Array.of(0x00, 0xc0, 0x00));
  assert.deepEqual(await server.received(4), Uint8Array.of(0xc0, 0x00, 0xc0, 0x00));
  assert.equal(new Set(server.chunks.map((chunk) => chunk.buffer)).size, server.chunks.length);

  const reply = nextMessage(client);
  await server.transport.write(Uint8Array.of(0xd0, 0x00)); // PINGRESP
  assert.deepEqual(await reply, Uint8Array.of(0xd0, 0x00));

  const clientClosed = closedEvent(client);
  server.transport.close();
  server.transport.close();
  assert.equal(await server.closed, undefined);
  await clientClosed;
  assert.equal(server.closes.length, 1);
  await listener.close();
});

Deno.test("listenWebSocket() accepts the MQTT 3.1 subprotocol mqttv3.1", async () => {
  const accepted = acceptQueue();
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: accepted.onTransport,
  });
  const [client, server] = await Promise.all([
    openWebSocket(listener.port, "mqttv3.1"),
    accepted.next(),
  ]);
  assert.equal(client.protocol, "mqttv3.1");
  const clientClosed = closedEvent(client);
  client.close();
  await Promise.all([server.closed, clientClosed]);
  await listener.close();
});

Deno.test("listenWebSocket() rejects requests without subprotocol mqtt with 400", async () => {
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: () => assert.fail("no transport expected"),
  });
  const plain = await fetch(`http://127.0.0.1:${listener.port}/mqtt`);
  assert.equal(plain.status, 400);
  await plain.body?.cancel();

  const wrongProtocol = new WebSocket(`ws://127.0.0.1:${listener.port}/mqtt`, "chat");
  const closed = closedEvent(wrongProtocol);
  await new Promise((resolve) => wrongProtocol.onerror = resolve);
  await closed;
  await listener.close();
});

Deno.test("WebSocketTransport closes the connection on a text frame [MQTT-6.0.0-1]", async () => {
  const accepted = acceptQueue();
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: accepted.onTransport,
  });
  const [client, server] = await Promise.all([
    openWebSocket(listener.port, "mqtt"),
    accepted.next(),
  ]);
  const clientClosed = closedEvent(client);
  client.send("\u00c0\u0000");
  const reason = await server.closed;
  assert.ok(reason instanceof Error);
  assert.match(reason.message, /text frame/);
  await clientClosed;
  assert.equal(server.chunks.length, 0);
  await listener.close();
});

Deno.test("listenWebSocket() close() stops accepting, keeps established connections open", async () => {
  const accepted = acceptQueue();
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: accepted.onTransport,
  });
  const [client, server] = await Promise.all([
    openWebSocket(listener.port, "mqtt"),
    accepted.next(),
  ]);
  // Resolves at once even though a connection is open: the broker closes clients afterwards.
  await listener.close();

  // New clients are refused.
  const refused = new WebSocket(`ws://127.0.0.1:${listener.port}/mqtt`, "mqtt");
  const refusedClosed = closedEvent(refused);
  await new Promise((resolve) => refused.onerror = resolve);
  await refusedClosed;

  // The established connection still works, e.g. for the broker's DISCONNECT.
  const reply = nextMessage(client);
  await server.transport.write(Uint8Array.of(0xe0, 0x00));
  assert.deepEqual(await reply, Uint8Array.of(0xe0, 0x00));

  const clientClosed = closedEvent(client);
  server.transport.close();
  await Promise.all([server.closed, clientClosed]);
  // Once the last connection is gone, close() again resolves when the port is released.
  await listener.close();
});

Deno.test("WebSocketTransport.close() during the upgrade closes the socket once it opens", async () => {
  const closes: unknown[] = [];
  const serverClosed = Promise.withResolvers<void>();
  const listener = await listenWebSocket({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: (transport) => {
      transport.start({
        onData: () => assert.fail("no data expected"),
        onClose: (error) => {
          closes.push(error);
          serverClosed.resolve();
        },
      });
      // As a broker that is shutting down does with a connection it will not serve.
      transport.close();
    },
  });
  const client = new WebSocket(`ws://127.0.0.1:${listener.port}/mqtt`, "mqtt");
  await Promise.all([closedEvent(client), serverClosed.promise]);
  assert.deepEqual(closes, [undefined]);
  await listener.close();
});
