/**
 * midge's pure MQTT 3.1 / 3.1.1 / 5.0 codec: packet shapes, framing, decoding, encoding and topic
 * rules. No I/O, no timers, no broker state.
 *
 * @example
 * ```ts
 * import { decodePacket, encodePacket, Framer } from "./mod.ts";
 * const framer = new Framer();
 * framer.push(encodePacket({ type: "pingreq" }, 4));
 * const frame = framer.next()!;
 * decodePacket(frame, 4); // { type: "pingreq" }
 * ```
 *
 * @module
 */

export type * from "./types.ts";
export * from "./constants.ts";
export * from "./reason_code.ts";
export { CodecError } from "./codec_error.ts";
export { Framer, type FramerOptions } from "./frame.ts";
export { decodePacket, encodePacket } from "./packet.ts";
export { decodePublish, encodePublish, setPublishDup, setPublishPacketId } from "./publish.ts";
export { decodeConnect, encodeConnect } from "./connect.ts";
export { decodeConnack, encodeConnack } from "./connack.ts";
export { decodeAck, encodeAck } from "./ack.ts";
export { decodeSuback, decodeSubscribe, encodeSuback, encodeSubscribe } from "./subscribe.ts";
export {
  decodeUnsuback,
  decodeUnsubscribe,
  encodeUnsuback,
  encodeUnsubscribe,
} from "./unsubscribe.ts";
export { decodePing, encodePing } from "./ping.ts";
export { decodeDisconnect, encodeDisconnect } from "./disconnect.ts";
export { decodeAuth, encodeAuth } from "./auth.ts";
export {
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  validateTopicFilter,
  validateTopicName,
} from "./topic.ts";
export {
  isPropertyAllowed,
  PROPERTIES,
  type PropertyInfo,
  propertyInfo,
  type PropertyType,
  WILL_PROPERTIES,
} from "./properties.ts";
export { decodeUtf8 } from "./reader.ts";
export { utf8Length } from "./writer.ts";
