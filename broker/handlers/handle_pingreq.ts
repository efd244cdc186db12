/**
 * PINGREQ (section 3.12).
 *
 * @module
 */

import type { Connection } from "../connection.ts";

/** Answers PINGREQ with PINGRESP [MQTT-3.12.4-1]. */
export function handlePingreq(connection: Connection): void {
  connection.send({ type: "pingresp" });
}
