/**
 * A message as the broker routes, queues and retains it, independent of any one client's
 * protocol version, packet id or topic alias.
 *
 * @module
 */

import type { Properties, QoS } from "../codec/types.ts";

/** An application message inside the broker. Immutable once routed: shared by every queue. */
export interface Message {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  /**
   * v5 properties to forward unchanged [MQTT-3.3.2-4..20]: everything but Topic Alias and
   * Subscription Identifiers (per connection / per subscription) and Message Expiry Interval
   * (recomputed from `expiresAt` when sent, [MQTT-3.3.2-6]).
   */
  readonly properties: Properties | undefined;
  /** `Date.now()` after which the message is dropped, or 0 for never. */
  readonly expiresAt: number;
  /** Client id of the publisher, for v5 No Local [MQTT-3.8.3-3]; "" for the broker itself. */
  readonly origin: string;
}

/** Seconds left before `message` expires (at least 1), or undefined when it never expires. */
export function remainingExpiry(message: Message, now: number): number | undefined {
  if (message.expiresAt === 0) return undefined;
  return Math.max(1, Math.ceil((message.expiresAt - now) / 1000));
}

/** True when `message` has a Message Expiry Interval that has run out [MQTT-3.3.2-5]. */
export function isExpired(message: Message, now: number): boolean {
  return message.expiresAt !== 0 && message.expiresAt <= now;
}

const compacted = new WeakMap<Message, Message>();

/**
 * `message` with a payload that owns its bytes. A payload decoded from a read buffer is a view
 * into a chunk of up to 64 KiB; keeping such a view in a queue or the retained store would pin the
 * whole chunk, so whatever outlives the read gets a copy (made once per message).
 */
export function compactMessage(message: Message): Message {
  const { payload } = message;
  // Worth a copy only when the view pins noticeably more than itself.
  if (payload.buffer.byteLength <= payload.byteLength * 2 + 256) return message;
  let copy = compacted.get(message);
  if (!copy) {
    copy = { ...message, payload: payload.slice() };
    compacted.set(message, copy);
  }
  return copy;
}
