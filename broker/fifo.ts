/**
 * A first-in first-out queue with O(1) `push` and `shift`: a session's message queue is drained
 * one PUBACK at a time, and `Array.prototype.shift` (or slicing) would copy it on every ack.
 *
 * @module
 */

/**
 * An array-backed queue that advances a head index and compacts only when half of it is spent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fifo } from "./fifo.ts";
 * const queue = new Fifo<number>();
 * queue.push(1);
 * queue.push(2);
 * assert.equal(queue.shift(), 1);
 * assert.deepEqual([...queue], [2]);
 * ```
 */
export class Fifo<T> implements Iterable<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Number of items queued. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends an item. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes every item. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
