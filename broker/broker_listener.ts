/**
 * One configured listener (Mosquitto's `listener PORT [ADDRESS]`): the sockets it binds and the
 * settings its clients get. A reload keeps a listener whose key is unchanged, so its clients stay
 * connected, and only swaps its settings.
 *
 * @module
 */

import { listenerLabel, ListenerMetrics } from "./metrics/broker_metrics.ts";
import type { ListenerSettings } from "./options.ts";
import type { RunningListener } from "./listeners/listener.ts";
import { listenTcp } from "./listeners/tcp.ts";
import type { TlsRunningListener, TlsSettings } from "./listeners/tls.ts";
import { getBrokerLogger } from "./log.ts";
import { listenWebSocket } from "./listeners/websocket.ts";
import type { Transport } from "./transport.ts";

/** What to bind. */
export interface ListenerSpec {
  protocol: "mqtt" | "websockets";
  port: number;
  /**
   * Address to bind; undefined binds every interface (both families unless `socketDomain`
   * narrows it), as Mosquitto does for `listener 1883`.
   */
  hostname?: string;
  socketDomain?: "ipv4" | "ipv6";
  /** Disable Nagle's algorithm on accepted sockets. */
  noDelay?: boolean;
}

/** The identity of a listener across reloads. */
export function listenerKey(spec: ListenerSpec): string {
  return `${spec.protocol} ${spec.hostname ?? "*"} ${spec.port} ${spec.socketDomain ?? "any"}`;
}

/** A bound listener with its live settings. */
export class BrokerListener {
  readonly key: string;
  readonly spec: ListenerSpec;
  #settings: ListenerSettings;
  /** Bound sockets: one, or two for loopback pairs and IPv4+IPv6 without dual stack. */
  sockets: RunningListener[] = [];
  /** Clients connected through this listener, for `max_connections`. */
  connectionCount = 0;
  /**
   * Its counters; the broker swaps in the registry's once the port is known, so that a listener
   * reopened on the same port continues the same counts.
   */
  metrics: ListenerMetrics;

  /** Describes a listener; {@linkcode open} binds it. */
  constructor(spec: ListenerSpec, settings: ListenerSettings) {
    this.key = listenerKey(spec);
    this.spec = spec;
    this.#settings = settings;
    this.metrics = new ListenerMetrics(listenerLabel(spec.protocol, spec.port));
  }

  /**
   * Changed in place by a reload; connections read it when they need it. New TLS settings
   * (renewed certificates) apply to new connections at once: an MQTT TLS listener swaps them in
   * place and keeps its clients; otherwise the port is bound again, and WebSocket clients are
   * dropped then, since `Deno.serve` can neither swap certificates nor release its port while
   * they are connected.
   */
  get settings(): ListenerSettings {
    return this.#settings;
  }

  set settings(settings: ListenerSettings) {
    const before = this.#settings.tls;
    this.#settings = settings;
    if (this.#reopen !== undefined && !sameTls(before, settings.tls)) this.#applyTls(settings.tls);
  }

  /** Settles once a rebind for new TLS settings is done (tests wait for it). */
  get tlsUpdated(): Promise<void> {
    return this.#rebinding;
  }

  #reopen: (() => Promise<unknown>) | undefined;
  #rebinding: Promise<void> = Promise.resolve();
  #rebindPort: number | undefined;
  #tlsSockets: TlsRunningListener[] = [];
  #webSockets: { shutdown(): Promise<void> }[] = [];

  #applyTls(tls: TlsSettings | undefined): void {
    const inPlace = tls !== undefined && this.spec.protocol === "mqtt" &&
      this.#tlsSockets.length === this.sockets.length &&
      this.#tlsSockets.every((socket) => socket.reconfigure(tls));
    if (inPlace) return;
    const reopen = this.#reopen;
    if (reopen === undefined) return;
    this.#rebinding = this.#rebinding.then(async () => {
      const port = this.port;
      const old = this.sockets;
      const webSockets = this.#webSockets;
      this.sockets = [];
      this.#tlsSockets = [];
      this.#webSockets = [];
      await Promise.all(old.map((socket) => socket.close()));
      await Promise.all(webSockets.map((socket) => socket.shutdown()));
      this.#rebindPort = port;
      try {
        await reopen();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        getBrokerLogger().error(
          `Error: Cannot reopen the listener on port ${port} with its new TLS settings: ${message}`,
        );
      } finally {
        this.#rebindPort = undefined;
      }
    });
  }

  /** The port actually bound (the requested one unless it was 0). */
  get port(): number {
    return this.sockets[0]?.port ?? this.spec.port;
  }

  /**
   * Binds the sockets. Every interface means `::` with dual stack (one socket serving IPv4 and
   * IPv6, since Linux refuses `0.0.0.0` and `::` on one port otherwise), or `0.0.0.0` on a host
   * without IPv6. Returns the address families served, for Mosquitto's "Opening ipv4 listen
   * socket" lines. A WebSocket listener hands plain HTTP requests to `onRequest` (undefined
   * from it keeps the default answer).
   */
  async open(
    onTransport: (transport: Transport, listener: BrokerListener) => void,
    onRequest?: (
      request: Request,
      listener: BrokerListener,
    ) => Response | Promise<Response> | undefined,
  ): Promise<("ipv4" | "ipv6")[]> {
    const { spec } = this;
    this.#reopen = () => this.open(onTransport, onRequest);
    const accept = (transport: Transport) => onTransport(transport, this);
    const answer = onRequest && ((request: Request) => onRequest(request, this));
    const tls = this.#settings.tls;
    const bind = async (hostname: string, requested: number) => {
      const port = this.#rebindPort ?? requested;
      let socket: RunningListener;
      if (spec.protocol === "websockets") {
        const ws = await listenWebSocket({
          hostname,
          port,
          onTransport: accept,
          onRequest: answer,
          tls,
        });
        this.#webSockets.push(ws);
        socket = ws;
      } else if (tls !== undefined) {
        // node:tls costs ~7 MiB of memory: loaded only for TLS listeners.
        const { listenTls } = await import("./listeners/tls.ts");
        const secure = await listenTls({
          hostname,
          port,
          tls,
          onTransport: accept,
          noDelay: spec.noDelay,
        });
        this.#tlsSockets.push(secure);
        socket = secure;
      } else {
        socket = listenTcp({ hostname, port, onTransport: accept, noDelay: spec.noDelay });
      }
      this.sockets.push(socket);
      return socket;
    };
    try {
      if (spec.hostname !== undefined) {
        const socket = await bind(spec.hostname, spec.port);
        return [socket.family];
      }
      if (spec.socketDomain === "ipv4") {
        await bind("0.0.0.0", spec.port);
        return ["ipv4"];
      }
      if (spec.socketDomain === "ipv6") {
        await bind("::", spec.port);
        return ["ipv6"];
      }
      try {
        await bind("::", spec.port);
        return ["ipv4", "ipv6"];
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrNotAvailable)) throw error;
        await bind("0.0.0.0", spec.port);
        return ["ipv4"];
      }
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Stops accepting; established connections are the broker's to close. Call again once they
   * are closed: a WebSocket server only releases its port when its last connection is gone
   * (Deno's `shutdown()` would otherwise close upgraded sockets before their DISCONNECT).
   */
  async close(): Promise<void> {
    await Promise.all(this.sockets.map((socket) => socket.close()));
  }
}

/** Whether two TLS settings serve the same way (a reload re-reads the files into new objects). */
function sameTls(a: TlsSettings | undefined, b: TlsSettings | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.cert === b.cert && a.key === b.key && a.ca.join("\n") === b.ca.join("\n") &&
    a.requireCertificate === b.requireCertificate && a.minVersion === b.minVersion &&
    a.useIdentityAsUsername === b.useIdentityAsUsername &&
    a.useSubjectAsUsername === b.useSubjectAsUsername;
}
