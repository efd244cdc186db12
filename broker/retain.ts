/**
 * Retained messages, one per topic, in a trie by topic level so that a wildcard subscription
 * visits only the branches its filter can match.
 *
 * @module
 */

import { isExpired, type Message } from "./message.ts";

class Node {
  readonly children = new Map<string, Node>();
  message: Message | undefined;
}

/**
 * The retained message store (section 3.3.1.3).
 *
 * @example
 * ```ts
 * import { RetainStore } from "./retain.ts";
 * const store = new RetainStore();
 * store.set({ topic: "a/b", payload: new Uint8Array([1]), qos: 0, retain: true,
 *   properties: undefined, expiresAt: 0, origin: "" });
 * store.match("a/+", Date.now()).length; // 1
 * ```
 */
export class RetainStore {
  readonly #root = new Node();
  #count = 0;

  /** Number of retained messages. */
  get size(): number {
    return this.#count;
  }

  /**
   * Stores `message` as the retained one of its topic, or deletes the topic's retained message
   * when the payload is empty [MQTT-3.3.1-6], [MQTT-3.3.1-7].
   */
  set(message: Message): void {
    const levels = message.topic.split("/");
    if (message.payload.length === 0) {
      this.#delete(levels);
      return;
    }
    let node = this.#root;
    for (const level of levels) {
      let child = node.children.get(level);
      if (!child) {
        child = new Node();
        node.children.set(level, child);
      }
      node = child;
    }
    if (!node.message) this.#count++;
    node.message = message;
  }

  /** The retained message of exactly `topic`, if any. */
  get(topic: string): Message | undefined {
    let node: Node | undefined = this.#root;
    for (const level of topic.split("/")) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node.message;
  }

  /** Every retained message, for persistence and `$SYS` counts. */
  *all(): IterableIterator<Message> {
    const stack: Node[] = [this.#root];
    while (stack.length > 0) {
      const node = stack.pop() as Node;
      if (node.message) yield node.message;
      for (const child of node.children.values()) stack.push(child);
    }
  }

  /**
   * Retained messages whose topic matches `filter`, dropping (and deleting) expired ones
   * [MQTT-3.3.2-5]. Topics starting with `$` are not matched by a leading wildcard [MQTT-4.7.2-1].
   */
  match(filter: string, now: number): Message[] {
    const out: Message[] = [];
    const expired: Message[] = [];
    this.#walk(this.#root, filter.split("/"), 0, out, expired, now);
    for (const message of expired) this.#delete(message.topic.split("/"));
    return out;
  }

  #walk(
    node: Node,
    levels: readonly string[],
    depth: number,
    out: Message[],
    expired: Message[],
    now: number,
  ): void {
    if (depth === levels.length) {
      this.#take(node, out, expired, now);
      return;
    }
    const level = levels[depth] as string;
    if (level === "#") {
      // "a/#" also matches "a" itself [MQTT-4.7.1-2].
      if (depth > 0) this.#take(node, out, expired, now);
      this.#takeAll(node, depth === 0, out, expired, now);
      return;
    }
    if (level === "+") {
      for (const [name, child] of node.children) {
        if (depth === 0 && name.startsWith("$")) continue;
        this.#walk(child, levels, depth + 1, out, expired, now);
      }
      return;
    }
    const child = node.children.get(level);
    if (child) this.#walk(child, levels, depth + 1, out, expired, now);
  }

  #takeAll(node: Node, skipDollar: boolean, out: Message[], expired: Message[], now: number): void {
    for (const [name, child] of node.children) {
      if (skipDollar && name.startsWith("$")) continue;
      this.#take(child, out, expired, now);
      this.#takeAll(child, false, out, expired, now);
    }
  }

  #take(node: Node, out: Message[], expired: Message[], now: number): void {
    const message = node.message;
    if (!message) return;
    if (isExpired(message, now)) expired.push(message);
    else out.push(message);
  }

  #delete(levels: readonly string[]): void {
    const path: Node[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children.get(level);
      if (!child) return;
      path.push(child);
      node = child;
    }
    if (!node.message) return;
    node.message = undefined;
    this.#count--;
    for (let i = levels.length; i > 0; i--) {
      const child = path[i] as Node;
      if (child.message || child.children.size > 0) break;
      (path[i - 1] as Node).children.delete(levels[i - 1] as string);
    }
  }
}
