/**
 * midge's MQTT client: one TCP connection on midge's own codec, used by `midge pub`,
 * `midge sub` and `midge healthcheck`.
 *
 * @example
 * ```ts ignore
 * import { MqttClient } from "./mod.ts";
 * await using client = new MqttClient({ hostname: "127.0.0.1", port: 1883 });
 * await client.connect();
 * await client.publish("greeting", "hello", { qos: 1 });
 * ```
 *
 * @module
 */

export {
  type ClientStream,
  type DisconnectOptions,
  MqttClient,
  type MqttClientOptions,
  type PublishOptions,
  type PublishResult,
  randomClientId,
  type ReceivedMessage,
  type SubscribeRequest,
} from "./client.ts";
export {
  connackMessage,
  ConnectionRefusedError,
  MqttConnectionError,
  reasonString,
} from "./errors.ts";
export { describePacket, type Direction } from "./debug.ts";
export { MessageQueue } from "./message_queue.ts";
export { topicMatches } from "./topic_match.ts";
