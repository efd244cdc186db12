/**
 * Measures memory per idle TCP connection; run by `listeners_test.ts` in a fresh process with
 * `--v8-flags=--expose-gc` so that garbage from other tests does not blur the numbers.
 *
 * Usage: `deno run --allow-net --v8-flags=--expose-gc _idle_memory.ts <count> <adaptive|fixed>`,
 * where `fixed` is a plain read loop with one 64 KiB buffer per pending read, for comparison.
 * Prints one JSON line: `{ "rssKiB": …, "heapKiB": …, "externalKiB": … }` per connection.
 *
 * @module
 */

import { listenTcp } from "../../broker/listeners/tcp.ts";
import type { Transport } from "../../broker/transport.ts";

const count = Number(Deno.args[0] ?? 500);
const mode = Deno.args[1] ?? "adaptive";
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const transports: Transport[] = [];
const conns: Deno.Conn[] = [];
let accepted = 0;
let allAccepted = Promise.withResolvers<void>();
const onAccept = () => {
  if (++accepted === count) allAccepted.resolve();
};

let port: number;
let closeListener: () => Promise<void> | void;
if (mode === "fixed") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  port = listener.addr.port;
  closeListener = () => listener.close();
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      onAccept();
      (async () => {
        try {
          while (await conn.read(new Uint8Array(64 * 1024)) !== null) { /* idle */ }
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
} else {
  const listener = listenTcp({
    hostname: "127.0.0.1",
    port: 0,
    onTransport: (transport) => {
      transports.push(transport);
      transport.start({ onData() {}, onClose() {} });
      onAccept();
    },
  });
  port = listener.port;
  closeListener = () => listener.close();
}

const clients: Deno.Conn[] = [];
const connectAll = async (n: number) => {
  for (let i = 0; i < n; i++) clients.push(await Deno.connect({ hostname: "127.0.0.1", port }));
};
// Warm up: one connection through every code path, so the baseline holds the compiled code.
await connectAll(1);
while (accepted < 1) await new Promise((resolve) => setTimeout(resolve, 1));
accepted = 0;
allAccepted = Promise.withResolvers<void>();

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
  }
};
await settle();
const before = Deno.memoryUsage();
await connectAll(count);
await allAccepted.promise;
await settle();
const after = Deno.memoryUsage();
const per = (key: keyof Deno.MemoryUsage) =>
  Math.round(((after[key] - before[key]) / count / 1024) * 10) / 10;
console.log(JSON.stringify({
  mode,
  count,
  rssKiB: per("rss"),
  heapKiB: per("heapUsed"),
  externalKiB: per("external"),
}));

for (const client of clients) client.close();
for (const transport of transports) transport.close();
for (const conn of conns) {
  try {
    conn.close();
  } catch { /* already closed */ }
}
await closeListener();
Deno.exit(0);
