/**
 * Plain MQTT over TCP: `Deno.listen` adapted to the core's {@link Transport}.
 *
 * The read path is written for idle memory. Every pending `conn.read(buf)` pins `buf` until data
 * arrives, so a broker holding thousands of quiet clients pays for one read buffer per client. A
 * fixed 64 KiB buffer measured at 63 KiB per idle connection; here a pending read starts at
 * {@link MIN_READ_SIZE} and only grows while reads keep filling it.
 *
 * @module
 */

import type { Transport, TransportSink } from "../transport.ts";
import { bindError, familyOf, type RunningListener, unmapIpv4 } from "./listener.ts";

/**
 * Size of the read buffer an idle connection keeps pending (and of the first read): enough for a
 * typical CONNECT or PINGREQ in one read. 512 measured 0.4 KiB more RSS per idle client.
 */
export const MIN_READ_SIZE = 128;
/** Largest read buffer; reads that keep filling it double up to here. */
export const MAX_READ_SIZE = 64 * 1024;

/** Options for {@link listenTcp}. */
export interface TcpListenOptions {
  /** Address to bind, e.g. `127.0.0.1`, `::1` or `0.0.0.0`. */
  hostname: string;
  /** Port to bind; 0 picks a free one (see {@link RunningListener.port}). */
  port: number;
  /** Receives each accepted connection; the callee must call `start()` on it. */
  onTransport: (transport: Transport) => void;
  /** Disables Nagle's algorithm on accepted sockets (default `true`, as Mosquitto's `set_tcp_nodelay` is for small packets). */
  noDelay?: boolean;
}

/**
 * Binds a TCP listener and hands every accepted connection to `onTransport`.
 *
 * Throws `Deno.errors.AddrInUse` synchronously when the port is taken, with the address in the
 * message (`Address already in use: 127.0.0.1:1883`).
 *
 * @example
 * ```ts ignore
 * const listener = listenTcp({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onTransport: (transport) => transport.start({ onData() {}, onClose() {} }),
 * });
 * console.log(listener.port);
 * await listener.close();
 * ```
 */
export function listenTcp(options: TcpListenOptions): RunningListener {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  } catch (error) {
    throw bindError(error, options.hostname, options.port);
  }
  const noDelay = options.noDelay ?? true;
  let closed = false;

  const acceptLoop = (async () => {
    while (!closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed || error instanceof Deno.errors.BadResource) return;
        // Transient accept failures (e.g. EMFILE, ECONNABORTED) must not stop the listener, as
        // Mosquitto keeps its listen socket after a failed accept(); pause so EMFILE cannot spin.
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (noDelay) {
        try {
          conn.setNoDelay(true);
        } catch {
          // The peer may already have gone; the read loop will notice.
        }
      }
      const transport = new TcpTransport(conn);
      try {
        options.onTransport(transport);
      } catch {
        // One connection the broker failed to take on must not stop the accept loop.
        transport.close();
      }
    }
  })();

  const addr = listener.addr;
  return {
    protocol: "mqtt",
    hostname: addr.hostname,
    port: addr.port,
    family: familyOf(addr.hostname),
    async close() {
      if (!closed) {
        closed = true;
        try {
          listener.close();
        } catch {
          // Already closed.
        }
      }
      await acceptLoop;
    },
  };
}

/** Smallest power of two that holds `n`, clamped to the read size limits. */
function readSizeFor(n: number): number {
  let size = MIN_READ_SIZE;
  while (size < n && size < MAX_READ_SIZE) size *= 2;
  return size;
}

/** One accepted TCP connection as a {@link Transport}. */
export class TcpTransport implements Transport {
  readonly remoteAddress: string;
  readonly remotePort: number;
  #conn: Deno.Conn;
  #sink: TransportSink | undefined;
  #closed = false;
  #closeReason: unknown;
  #finished = false;
  #readSize = MIN_READ_SIZE;
  /** The buffer of the pending read. */
  #buffer: Uint8Array | undefined;

  /** Wraps an accepted connection; reading begins with {@link TcpTransport.start}. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    const remote = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = unmapIpv4(remote.hostname ?? "");
    this.remotePort = remote.port ?? 0;
  }

  /** Size of the buffer the next read will use; exposed for tests of the adaptive sizing. */
  get readSize(): number {
    return this.#readSize;
  }

  start(sink: TransportSink): void {
    if (this.#sink) throw new Error("Cannot start transport: already started");
    this.#sink = sink;
    if (this.#closed) {
      // Closed before start(): there is no pending read to report it.
      this.#finish();
      return;
    }
    this.#read();
  }

  // Reads chain through two callbacks bound once per connection rather than an async loop: a
  // suspended async function keeps a generator, its registers and an await closure per idle
  // client, about 250 bytes more than a pending `then`.
  #read(): void {
    // A fresh buffer per read: the core keeps subarray views of what it is given.
    const buffer = new Uint8Array(this.#readSize);
    this.#buffer = buffer;
    this.#conn.read(buffer).then(this.#onRead, this.#onReadError);
  }

  #onRead = (n: number | null): void => {
    const buffer = this.#buffer!;
    this.#buffer = undefined;
    if (n === null || this.#closed) {
      this.#closeConn(undefined);
      this.#finish();
      return;
    }
    if (n > 0) {
      // Grow while reads fill the buffer (a burst); otherwise fit the next pending read to
      // what just came, so a connection that goes quiet falls back to MIN_READ_SIZE.
      this.#readSize = n === buffer.length
        ? Math.min(buffer.length * 2, MAX_READ_SIZE)
        : readSizeFor(n);
      // A small read from a big buffer is copied, so retained views do not pin the rest.
      const chunk = n * 2 < buffer.length && buffer.length > MIN_READ_SIZE
        ? buffer.slice(0, n)
        : buffer.subarray(0, n);
      try {
        this.#sink!.onData(chunk);
      } catch (error) {
        this.#onReadError(error);
        return;
      }
      if (this.#closed) {
        this.#finish();
        return;
      }
    }
    this.#read();
  };

  #onReadError = (error: unknown): void => {
    // After our own close() the pending read fails; #closeConn keeps the first reason only.
    this.#closeConn(error);
    this.#finish();
  };

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    try {
      while (offset < bytes.length && !this.#closed) {
        offset += await this.#conn.write(bytes.subarray(offset));
      }
    } catch (error) {
      // Writes resolve once the connection is gone; closing wakes the read loop, which reports
      // this error through onClose.
      this.#closeConn(error);
    }
  }

  close(): void {
    this.#closeConn(undefined);
  }

  #closeConn(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  #finish(): void {
    if (this.#finished || !this.#sink) return;
    this.#finished = true;
    if (this.#closeReason === undefined) this.#sink.onClose();
    else this.#sink.onClose(this.#closeReason);
  }
}
