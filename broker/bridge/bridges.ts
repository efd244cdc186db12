/**
 * The broker's bridges, reconciled with each configuration: a reload adds, removes and restarts
 * `connection` sections without a restart of the broker, and a bridge whose section did not
 * change keeps its connections and its queue (Mosquitto reads bridges only at start-up).
 *
 * @module
 */

import type { Broker } from "../broker.ts";
import type { BridgeConfig } from "../config/types.ts";
import { Bridge } from "./bridge.ts";

/** What identifies a bridge's configuration: everything but where it was written. */
function signature(config: BridgeConfig): string {
  const { definedAt: _where, ...rest } = config;
  return JSON.stringify(rest);
}

/** The running bridges of one broker, by name. */
export class BridgeManager {
  readonly #broker: Broker;
  readonly #bridges = new Map<string, Bridge>();

  /** Manages the bridges of `broker`; none runs before {@linkcode apply}. */
  constructor(broker: Broker) {
    this.#broker = broker;
  }

  /** The running bridges, in the order started. */
  get all(): readonly Bridge[] {
    return [...this.#bridges.values()];
  }

  /** The running bridge called `name`. */
  get(name: string): Bridge | undefined {
    return this.#bridges.get(name);
  }

  /**
   * Makes the running bridges those of `configs`: removed ones stop (their local session ends),
   * changed ones restart (their local session, and so their queue, carries over when the local
   * client id is the same), new ones start, unchanged ones are left alone.
   */
  async apply(configs: readonly BridgeConfig[]): Promise<void> {
    const log = this.#broker.log;
    const wanted = new Map(configs.map((config) => [config.name, config]));
    for (const [name, bridge] of [...this.#bridges]) {
      const next = wanted.get(name);
      if (next !== undefined && signature(next) === signature(bridge.config)) continue;
      this.#bridges.delete(name);
      if (next === undefined) {
        log.info(`Bridge ${name} removed from the configuration, stopping it.`);
        await bridge.stop(true);
      } else {
        log.info(`Bridge ${name} changed in the configuration, restarting it.`);
        await bridge.stop(next.localClientId !== bridge.config.localClientId);
      }
    }
    for (const config of configs) {
      if (this.#bridges.has(config.name)) continue;
      const bridge = new Bridge(this.#broker, config);
      this.#bridges.set(config.name, bridge);
      await bridge.start();
    }
  }

  /** Stops every bridge, keeping their local sessions (for a restart of the broker). */
  async stopAll(): Promise<void> {
    const bridges = [...this.#bridges.values()];
    this.#bridges.clear();
    await Promise.all(bridges.map((bridge) => bridge.stop(false)));
  }
}
