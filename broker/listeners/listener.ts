/**
 * What every listener (`tcp.ts`, `websocket.ts`) hands back to the broker once it is bound.
 *
 * @module
 */

/** A bound, accepting listener. */
export interface RunningListener {
  /** Mosquitto's `protocol` option: plain MQTT over TCP, or MQTT over WebSockets. */
  readonly protocol: "mqtt" | "websockets";
  /** The address actually bound, e.g. `127.0.0.1` or `::1` (no brackets). */
  readonly hostname: string;
  /** The port actually bound; differs from the requested one when port 0 was asked for. */
  readonly port: number;
  /** Address family, as Mosquitto prints it in `Opening ipv4 listen socket on port 1883.` */
  readonly family: "ipv4" | "ipv6";
  /**
   * Stops accepting new connections. Established connections stay open: the broker closes
   * those itself so that MQTT 5 clients get their DISCONNECT first. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * The address family of a bound hostname, for log lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { familyOf } from "./listener.ts";
 * assert.equal(familyOf("::1"), "ipv6");
 * assert.equal(familyOf("127.0.0.1"), "ipv4");
 * ```
 */
export function familyOf(hostname: string): "ipv4" | "ipv6" {
  return hostname.includes(":") ? "ipv6" : "ipv4";
}
