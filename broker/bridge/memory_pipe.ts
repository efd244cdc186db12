/**
 * An in-memory connection between an MQTT client and the broker in the same process: one end is
 * a {@linkcode Transport} for `broker.handleTransport`, the other a {@linkcode ClientStream} for
 * `MqttClient`. A bridge reaches its own broker through it, as an ordinary client would (so the
 * broker's sessions, queues, persistence and ACLs apply), without a socket.
 *
 * @module
 */

import type { ClientStream } from "../../client/client.ts";
import type { Transport, TransportSink } from "../transport.ts";

/** Both ends of one in-memory connection. */
export interface MemoryPipe {
  /** The broker's end. */
  readonly transport: Transport;
  /** The client's end. */
  readonly stream: ClientStream;
}

/**
 * Creates a connected pair. Bytes written by the client reach the broker's sink synchronously;
 * bytes the broker writes wait for the client's next read. Closing either end closes both.
 *
 * @example
 * ```ts
 * import { createMemoryPipe } from "./memory_pipe.ts";
 * const { transport, stream } = createMemoryPipe("internal", 0);
 * transport.start({ onData: (chunk) => console.log(chunk.length), onClose: () => {} });
 * await stream.write(new Uint8Array([0xc0, 0x00])); // logs 2
 * stream.close();
 * ```
 */
export function createMemoryPipe(remoteAddress: string, remotePort: number): MemoryPipe {
  let sink: TransportSink | undefined;
  /** Written by the client before the broker started reading. */
  let early: Uint8Array[] = [];
  const toClient: Uint8Array[] = [];
  /** Offset into `toClient[0]` already read. */
  let offset = 0;
  let closed = false;
  let wakeReader: (() => void) | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    const wake = wakeReader;
    wakeReader = undefined;
    wake?.();
    // The broker hears of it once, as a socket's end would tell it.
    sink?.onClose();
  };

  const transport: Transport = {
    remoteAddress,
    remotePort,
    start(newSink) {
      sink = newSink;
      const chunks = early;
      early = [];
      for (const chunk of chunks) newSink.onData(chunk);
      if (closed) newSink.onClose();
    },
    write(bytes) {
      if (closed) return Promise.resolve();
      // The connection may share `bytes` with other subscribers: the reader copies out of it.
      toClient.push(bytes);
      const wake = wakeReader;
      wakeReader = undefined;
      wake?.();
      return Promise.resolve();
    },
    close,
  };

  const stream: ClientStream = {
    async read(buffer) {
      while (toClient.length === 0) {
        if (closed) return null;
        await new Promise<void>((resolve) => wakeReader = resolve);
      }
      let n = 0;
      while (n < buffer.length && toClient.length > 0) {
        const chunk = toClient[0] as Uint8Array;
        const take = Math.min(chunk.length - offset, buffer.length - n);
        buffer.set(chunk.subarray(offset, offset + take), n);
        n += take;
        offset += take;
        if (offset === chunk.length) {
          toClient.shift();
          offset = 0;
        }
      }
      return n;
    },
    write(bytes) {
      if (closed) {
        return Promise.reject(new Deno.errors.BrokenPipe("The broker closed the connection"));
      }
      // The broker may keep views into what it is given; the client never reuses a written buffer.
      if (sink === undefined) early.push(bytes);
      else sink.onData(bytes);
      return Promise.resolve(bytes.length);
    },
    close,
  };
  return { transport, stream };
}
