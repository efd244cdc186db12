/**
 * One configured listener (Mosquitto's `listener PORT [ADDRESS]`): the sockets it binds and the
 * settings its clients get. A reload keeps a listener whose key is unchanged, so its clients stay
 * connected, and only swaps its settings.
 *
 * @module
 */

import type { ListenerSettings } from "./options.ts";
import type { RunningListener } from "./listeners/listener.ts";
import { listenTcp } from "./listeners/tcp.ts";
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
  /** Changed in place by a reload; connections read it when they need it. */
  settings: ListenerSettings;
  /** Bound sockets: one, or two for loopback pairs and IPv4+IPv6 without dual stack. */
  sockets: RunningListener[] = [];
  /** Clients connected through this listener, for `max_connections`. */
  connectionCount = 0;

  /** Describes a listener; {@linkcode open} binds it. */
  constructor(spec: ListenerSpec, settings: ListenerSettings) {
    this.key = listenerKey(spec);
    this.spec = spec;
    this.settings = settings;
  }

  /** The port actually bound (the requested one unless it was 0). */
  get port(): number {
    return this.sockets[0]?.port ?? this.spec.port;
  }

  /**
   * Binds the sockets. Every interface means `::` with dual stack (one socket serving IPv4 and
   * IPv6, since Linux refuses `0.0.0.0` and `::` on one port otherwise), or `0.0.0.0` on a host
   * without IPv6. Returns the address families served, for Mosquitto's "Opening ipv4 listen
   * socket" lines.
   */
  async open(onTransport: (transport: Transport, listener: BrokerListener) => void): Promise<
    ("ipv4" | "ipv6")[]
  > {
    const { spec } = this;
    const accept = (transport: Transport) => onTransport(transport, this);
    const bind = async (hostname: string, port: number) => {
      const socket = spec.protocol === "websockets"
        ? await listenWebSocket({ hostname, port, onTransport: accept })
        : listenTcp({ hostname, port, onTransport: accept, noDelay: spec.noDelay });
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
