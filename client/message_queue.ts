/**
 * An unbounded push queue read as an async iterator, for {@linkcode MqttClient.messages}.
 *
 * @module
 */

/**
 * Items pushed by a producer and pulled with `for await`. `end()` finishes the iteration once the
 * buffered items are consumed; `end(error)` makes the next pull reject instead.
 *
 * @example
 * ```ts
 * import { MessageQueue } from "./message_queue.ts";
 * const queue = new MessageQueue<number>();
 * queue.push(1);
 * queue.end();
 * for await (const n of queue) console.log(n); // 1
 * ```
 */
export class MessageQueue<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #head = 0;
  #waiters: { resolve: (result: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  #ended = false;
  #error: unknown;
  #onReturn: (() => void) | undefined;

  /** `onReturn` runs once when the consumer stops early (`break`) or the queue ends. */
  constructor(onReturn?: () => void) {
    this.#onReturn = onReturn;
  }

  /** Number of buffered items not yet pulled. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Hands `item` to a waiting consumer or buffers it. Ignored after `end()`. */
  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.#items.push(item);
  }

  /** No more items will come; with `error`, pending and later pulls reject with it. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#release();
    for (const waiter of this.#waiters.splice(0)) {
      if (error === undefined) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head++] as T;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.#items = [];
    this.#head = 0;
    this.#error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  #release(): void {
    const onReturn = this.#onReturn;
    this.#onReturn = undefined;
    onReturn?.();
  }
}
