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

/**
 * Names the address in a bind failure, keeping the error's class so callers can still test
 * `error instanceof Deno.errors.AddrInUse`: `Address already in use: 127.0.0.1:1883`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindError } from "./listener.ts";
 * const error = bindError(new Deno.errors.AddrInUse("Address already in use (os error 98)"), "::1", 1883);
 * assert.ok(error instanceof Deno.errors.AddrInUse);
 * assert.equal(error.message, "Address already in use: [::1]:1883");
 * ```
 */
export function bindError(error: unknown, hostname: string, port: number): unknown {
  if (!(error instanceof Error)) return error;
  const address = familyOf(hostname) === "ipv6" ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  const message = `${error.message.replace(/ \(os error \d+\)$/, "")}: ${address}`;
  const ErrorClass = error.constructor as new (message: string, options?: ErrorOptions) => Error;
  try {
    return new ErrorClass(message, { cause: error });
  } catch {
    return new Error(message, { cause: error });
  }
}

/**
 * An IPv4 client of a dual-stack (`::`) listener shows up as `::ffff:127.0.0.1`; log it as
 * `127.0.0.1`, as Mosquitto (with separate IPv4 and IPv6 sockets) does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unmapIpv4 } from "./listener.ts";
 * assert.equal(unmapIpv4("::ffff:127.0.0.1"), "127.0.0.1");
 * assert.equal(unmapIpv4("::1"), "::1");
 * ```
 */
export function unmapIpv4(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}
