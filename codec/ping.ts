/**
 * PINGREQ and PINGRESP (sections 3.12, 3.13): a fixed header and nothing else.
 *
 * @module
 */

import type { PingreqPacket, PingrespPacket } from "./types.ts";
import { Reader } from "./reader.ts";

/**
 * Decodes a PINGREQ or PINGRESP body, which must be empty.
 *
 * @example
 * ```ts
 * import { decodePing } from "./ping.ts";
 * decodePing("pingreq", new Uint8Array(0)); // { type: "pingreq" }
 * ```
 */
export function decodePing(
  type: "pingreq" | "pingresp",
  body: Uint8Array,
): PingreqPacket | PingrespPacket {
  new Reader(body).expectEnd(type.toUpperCase());
  return { type } as PingreqPacket | PingrespPacket;
}

/**
 * Encodes a PINGREQ (`c0 00`) or PINGRESP (`d0 00`).
 *
 * @example
 * ```ts
 * import { encodePing } from "./ping.ts";
 * encodePing("pingresp"); // Uint8Array [0xd0, 0x00]
 * ```
 */
export function encodePing(type: "pingreq" | "pingresp"): Uint8Array {
  return new Uint8Array([type === "pingreq" ? 0xc0 : 0xd0, 0x00]);
}
