/**
 * MQTT over WebSockets: `Deno.serve` + `Deno.upgradeWebSocket` adapted to the core's
 * {@link Transport}. To the core it is the same byte stream as TCP: a binary frame may carry part
 * of a packet or several packets.
 *
 * @module
 */

import type { Transport, TransportSink } from "../transport.ts";
import { bindError, familyOf, type RunningListener, unmapIpv4 } from "./listener.ts";

/** Subprotocols accepted, in order of preference (MQTT 5.0 §6: "mqtt"; MQTT 3.1 used "mqttv3.1"). */
const SUBPROTOCOLS = ["mqtt", "mqttv3.1"];

/** A write resolves once at most this much is still queued in the socket. */
const WRITE_HIGH_WATER = 256 * 1024;

/** Options for {@link listenWebSocket}. */
export interface WebSocketListenOptions {
  /** Address to bind, e.g. `127.0.0.1`, `::1` or `0.0.0.0`. */
  hostname: string;
  /** Port to bind; 0 picks a free one (see {@link RunningListener.port}). */
  port: number;
  /** Receives each upgraded connection; the callee must call `start()` on it. */
  onTransport: (transport: Transport) => void;
  /**
   * Answers requests that are not WebSocket upgrades (`GET /metrics`, the dashboard); returning
   * undefined, or leaving it out, answers 400 as before.
   */
  onRequest?: (request: Request) => Response | Promise<Response> | undefined;
  /**
   * Certificate and key to serve wss with. `Deno.serve` can neither request client certificates
   * nor limit TLS versions, so the config refuses those options on WebSocket listeners.
   */
  tls?: { cert: string; key: string };
}

/** A bound WebSocket listener. */
export interface WebSocketRunningListener extends RunningListener {
  /** Closes at once, upgraded WebSockets included, and releases the port. */
  shutdown(): Promise<void>;
}

/** The subprotocol to answer with, or undefined when the client offers none we speak. */
function chooseSubprotocol(request: Request): string | undefined {
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase());
  return SUBPROTOCOLS.find((name) => offered.includes(name));
}

/**
 * Binds an HTTP listener that upgrades requests offering the `mqtt` subprotocol to WebSockets and
 * hands each one to `onTransport`. Other requests go to `onRequest`, else get 400.
 *
 * Rejects with `Deno.errors.AddrInUse` when the port is taken, with the address in the message
 * (`Address already in use: 127.0.0.1:8080`).
 *
 * `close()` stops accepting at once (later requests get 503). Deno's `server.shutdown()` also
 * closes upgraded WebSockets (since Deno 2.9), which would cut clients off before the broker
 * sent its DISCONNECT, so while connections are established the server is shut down only once
 * the last of them has closed, and `close()` resolves without waiting for that. With no
 * connections left, `close()` resolves when the port is released; so a caller that wants the port
 * back calls it again after closing its clients.
 *
 * @example
 * ```ts ignore
 * const listener = await listenWebSocket({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onTransport: (transport) => transport.start({ onData() {}, onClose() {} }),
 * });
 * const socket = new WebSocket(`ws://127.0.0.1:${listener.port}/mqtt`, "mqtt");
 * ```
 */
export async function listenWebSocket(
  options: WebSocketListenOptions,
): Promise<WebSocketRunningListener> {
  const live = new Set<WebSocketTransport>();
  let accepting = true;
  let shutdown: Promise<void> | undefined;
  const shutdownServer = () => shutdown ??= server.shutdown();

  const forget = (transport: WebSocketTransport) => {
    live.delete(transport);
    if (!accepting && live.size === 0) shutdownServer();
  };

  const handle = (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Response | Promise<Response> => {
    if (!accepting) return new Response("Listener closed", { status: 503 });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      const answer = options.onRequest?.(request);
      if (answer !== undefined) return answer;
      return new Response('Expected a WebSocket upgrade with subprotocol "mqtt"', { status: 400 });
    }
    const protocol = chooseSubprotocol(request);
    if (protocol === undefined) {
      return new Response('Expected WebSocket subprotocol "mqtt"', { status: 400 });
    }
    // Read the peer address first: after the upgrade Deno 2.9 throws "Request closed" for it.
    const remote = info.remoteAddr;
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol });
    const transport = new WebSocketTransport(socket, remote, forget);
    live.add(transport);
    try {
      options.onTransport(transport);
    } catch {
      // The upgrade response must still be returned; the socket closes once open.
      transport.close();
    }
    return response;
  };

  const listening = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
      // Given so that Deno prints no "Listening on" line of its own, and to learn the real port.
      onListen: (addr) => listening.resolve(addr),
      // A failing handler (e.g. a malformed upgrade) gets a status, not a stack trace on stderr.
      onError: () => new Response("Internal Server Error", { status: 500 }),
    }, handle);
  } catch (error) {
    throw bindError(error, options.hostname, options.port);
  }
  const addr = await listening.promise;

  return {
    protocol: "websockets",
    hostname: addr.hostname,
    port: addr.port,
    family: familyOf(addr.hostname),
    close() {
      accepting = false;
      return live.size === 0 ? shutdownServer() : Promise.resolve();
    },
    shutdown() {
      accepting = false;
      return shutdownServer();
    },
  };
}

/** One upgraded WebSocket as a {@link Transport}. */
export class WebSocketTransport implements Transport {
  readonly remoteAddress: string;
  readonly remotePort: number;
  #socket: WebSocket;
  #sink: TransportSink | undefined;
  /** Chunks that arrived before start(). */
  #early: Uint8Array[] = [];
  #closed = false;
  #closeReason: unknown;
  #finished = false;
  #onFinish: (transport: WebSocketTransport) => void;

  /** Wraps a socket from `Deno.upgradeWebSocket`; `onFinish` runs once it has closed. */
  constructor(
    socket: WebSocket,
    remote: Deno.NetAddr,
    onFinish: (transport: WebSocketTransport) => void,
  ) {
    this.#socket = socket;
    this.remoteAddress = unmapIpv4(remote.hostname);
    this.remotePort = remote.port;
    this.#onFinish = onFinish;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => this.#onMessage(event);
    socket.onerror = (event) => {
      if (this.#closed) return;
      this.#closeReason ??= event instanceof ErrorEvent ? (event.error ?? event.message) : event;
    };
    socket.onclose = () => this.#finish();
  }

  #onMessage(event: MessageEvent): void {
    if (this.#closed) return;
    if (!(event.data instanceof ArrayBuffer)) {
      // MQTT Control Packets must be sent in WebSocket binary data frames; a receiver closes the
      // connection on anything else [MQTT-6.0.0-1].
      this.#closeWith(new Error("Cannot accept WebSocket text frame: MQTT requires binary frames"));
      return;
    }
    // Each message event carries its own ArrayBuffer, so the view is fresh for the core.
    const chunk = new Uint8Array(event.data);
    if (chunk.length === 0) return;
    if (this.#sink) this.#sink.onData(chunk);
    else this.#early.push(chunk);
  }

  start(sink: TransportSink): void {
    if (this.#sink) throw new Error("Cannot start transport: already started");
    this.#sink = sink;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) {
      if (this.#finished) break;
      sink.onData(chunk);
    }
    if (this.#finished) this.#report();
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    try {
      // send() copies the bytes into the frame, so the caller may reuse its buffer.
      this.#socket.send(bytes);
    } catch (error) {
      this.#closeWith(error);
      return;
    }
    // WebSocket has no drain event: wait until the socket has flushed most of what is queued.
    while (
      !this.#closed && this.#socket.readyState === WebSocket.OPEN &&
      this.#socket.bufferedAmount > WRITE_HIGH_WATER
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  close(): void {
    this.#closeWith(undefined);
  }

  #closeWith(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason ??= reason;
    const socket = this.#socket;
    if (socket.readyState === WebSocket.CONNECTING) {
      // Until the 101 response is out, Deno ignores close(); close as soon as it opens.
      socket.addEventListener("open", () => socket.close(), { once: true });
      return;
    }
    try {
      socket.close();
    } catch {
      // Already closing.
    }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closed = true;
    this.#onFinish(this);
    if (this.#sink) this.#report();
  }

  #report(): void {
    const sink = this.#sink;
    if (!sink) return;
    this.#sink = undefined;
    if (this.#closeReason === undefined) sink.onClose();
    else sink.onClose(this.#closeReason);
  }
}
