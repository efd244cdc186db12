/**
 * midge: an MQTT 3.1 / 3.1.1 / 5.0 broker for Deno, a drop-in for Eclipse Mosquitto on small
 * Linux devices.
 *
 * @example Run a broker in-process on a port chosen by the OS
 * ```ts
 * import { Broker } from "./mod.ts";
 * const broker = new Broker({ verbose: false });
 * const [listener] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
 * console.log(`MQTT on port ${listener?.port}`);
 * await broker.close();
 * ```
 *
 * @module
 */

export { Broker, type BrokerStats, type ListenOptions } from "./broker/broker.ts";
export type { BrokerOptions } from "./broker/options.ts";
export type { Transport, TransportSink } from "./broker/transport.ts";
export type { RunningListener } from "./broker/listeners/listener.ts";
export type { Message } from "./broker/message.ts";
export { VERSION } from "./broker/version.ts";
export * from "./codec/mod.ts";
