/**
 * The subscription trie: topic filters split at `/`, one node per level, so matching a topic
 * walks at most the topic's depth times the three branches (exact, `+`, `#`) instead of testing
 * every filter.
 *
 * @module
 */

import type { QoS } from "../codec/types.ts";

/** One client's subscription to one filter, with its v5 options (section 3.8.3.1). */
export interface SubscriptionEntry {
  readonly clientId: string;
  /** The filter without any `$share/group/` prefix. */
  readonly filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  /** v5 Subscription Identifier, 0 when none. */
  identifier: number;
}

/** What one client gets for one topic after overlapping subscriptions are merged. */
export interface Delivery {
  clientId: string;
  /** Highest granted QoS of the matching subscriptions [MQTT-3.3.4-2]. */
  qos: QoS;
  /** Keep the RETAIN flag as published (any matching subscription asked for it). */
  retainAsPublished: boolean;
  /** Identifiers of every matching subscription that has one [MQTT-3.3.4-3]. */
  identifiers: number[];
}

interface SharedGroup {
  members: SubscriptionEntry[];
  next: number;
}

class Node {
  readonly children = new Map<string, Node>();
  readonly subscribers = new Map<string, SubscriptionEntry>();
  readonly shared = new Map<string, SharedGroup>();

  isEmpty(): boolean {
    return this.children.size === 0 && this.subscribers.size === 0 && this.shared.size === 0;
  }
}

/** Chooses one member of a shared group; lets the broker prefer members that are online. */
export type SharedMemberPicker = (members: readonly SubscriptionEntry[], start: number) => number;

const firstMember: SharedMemberPicker = (_members, start) => start;

/** Topics whose match results are kept; beyond that the cache starts over. */
const MATCH_CACHE_SIZE = 10_000;

const NO_DELIVERIES: Delivery[] = [];

/** A topic's publisher-independent match: merged deliveries and the shared groups to pick from. */
interface CachedMatch {
  deliveries: Delivery[];
  groups: SharedGroup[];
  /** Some matching subscription has No Local, so results depend on the publisher. */
  hasNoLocal: boolean;
}

/** [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with `$`. */
function isDollar(topic: string): boolean {
  return topic.charCodeAt(0) === 0x24;
}

/**
 * All subscriptions of all clients, normal and shared (`$share/group/filter`, [MQTT-4.8.2]).
 *
 * @example
 * ```ts
 * import { SubscriptionTree } from "./subscriptions.ts";
 * const tree = new SubscriptionTree();
 * tree.add({ clientId: "alarm", filter: "sensor/thermostat/+", qos: 1, noLocal: false,
 *   retainAsPublished: false, identifier: 0 });
 * tree.match("sensor/thermostat/room1", "").deliveries.length; // 1
 * ```
 */
export class SubscriptionTree {
  readonly #root = new Node();
  #count = 0;
  #pickShared: SharedMemberPicker;
  /**
   * Match results by topic: a hot topic (a sensor publishing every second to the same
   * subscribers) walks the trie once, not per message. Cleared whenever a subscription changes,
   * and when it grows past {@linkcode MATCH_CACHE_SIZE} topics.
   */
  readonly #cache = new Map<string, CachedMatch>();

  /** `pickShared` picks a shared group's member starting at a round-robin index. */
  constructor(pickShared: SharedMemberPicker = firstMember) {
    this.#pickShared = pickShared;
  }

  /** Number of subscriptions, shared ones included. */
  get size(): number {
    return this.#count;
  }

  /** Adds or replaces `entry`; `group` makes it a shared subscription. True when it is new. */
  add(entry: SubscriptionEntry, group?: string): boolean {
    this.#cache.clear();
    const node = this.#nodeFor(entry.filter, true) as Node;
    if (group === undefined) {
      const isNew = !node.subscribers.has(entry.clientId);
      node.subscribers.set(entry.clientId, entry);
      if (isNew) this.#count++;
      return isNew;
    }
    let shared = node.shared.get(group);
    if (!shared) {
      shared = { members: [], next: 0 };
      node.shared.set(group, shared);
    }
    const index = shared.members.findIndex((m) => m.clientId === entry.clientId);
    if (index >= 0) {
      shared.members[index] = entry;
      return false;
    }
    shared.members.push(entry);
    this.#count++;
    return true;
  }

  /** Removes a client's subscription to `filter`; true when there was one. */
  remove(clientId: string, filter: string, group?: string): boolean {
    this.#cache.clear();
    const levels = filter.split("/");
    const path: Node[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children.get(level);
      if (!child) return false;
      path.push(child);
      node = child;
    }
    let removed = false;
    if (group === undefined) {
      removed = node.subscribers.delete(clientId);
    } else {
      const shared = node.shared.get(group);
      if (shared) {
        const index = shared.members.findIndex((m) => m.clientId === clientId);
        if (index >= 0) {
          shared.members.splice(index, 1);
          removed = true;
          if (shared.members.length === 0) node.shared.delete(group);
          else if (shared.next >= shared.members.length) shared.next = 0;
        }
      }
    }
    if (!removed) return false;
    this.#count--;
    // Prune empty branches so that a churn of unique filters does not grow the tree forever.
    for (let i = levels.length; i > 0; i--) {
      const child = path[i] as Node;
      if (!child.isEmpty()) break;
      (path[i - 1] as Node).children.delete(levels[i - 1] as string);
    }
    return true;
  }

  /**
   * Every client that gets a message published to `topic`, once each, with overlapping
   * subscriptions merged [MQTT-3.3.4-2], No Local applied for `publisher` [MQTT-3.8.3-3], and one
   * member of each matching shared group chosen round-robin. Shared deliveries are separate from
   * normal ones: a client with both gets both, as the spec requires.
   */
  match(
    topic: string,
    publisher: string,
  ): { deliveries: readonly Delivery[]; shared: Delivery[] } {
    let cached = this.#cache.get(topic);
    if (cached === undefined) {
      cached = this.#collectAll(topic);
      if (this.#cache.size >= MATCH_CACHE_SIZE) this.#cache.clear();
      this.#cache.set(topic, cached);
    }
    if (cached.hasNoLocal) {
      // No Local depends on the publisher: such topics take the uncached walk.
      const found = new Map<string, Delivery>();
      const groups: SharedGroup[] = [];
      this.#walk(this.#root, topic.split("/"), 0, isDollar(topic), publisher, found, groups);
      return { deliveries: [...found.values()], shared: this.#pick(groups) };
    }
    return {
      deliveries: cached.deliveries,
      shared: cached.groups.length === 0 ? NO_DELIVERIES : this.#pick(cached.groups),
    };
  }

  #collectAll(topic: string): CachedMatch {
    const found = new Map<string, Delivery>();
    const groups: SharedGroup[] = [];
    const noLocal = { seen: false };
    this.#walk(this.#root, topic.split("/"), 0, isDollar(topic), undefined, found, groups, noLocal);
    return { deliveries: [...found.values()], groups, hasNoLocal: noLocal.seen };
  }

  /** One member of each matching shared group, round-robin [MQTT-4.8.2-3]. */
  #pick(groups: readonly SharedGroup[]): Delivery[] {
    const shared: Delivery[] = [];
    for (const group of groups) {
      const count = group.members.length;
      if (count === 0) continue;
      const start = group.next % count;
      const chosen = this.#pickShared(group.members, start) % count;
      group.next = (chosen + 1) % count;
      const entry = group.members[chosen] as SubscriptionEntry;
      shared.push({
        clientId: entry.clientId,
        qos: entry.qos,
        retainAsPublished: entry.retainAsPublished,
        identifiers: entry.identifier !== 0 ? [entry.identifier] : [],
      });
    }
    return shared;
  }

  #walk(
    node: Node,
    levels: readonly string[],
    depth: number,
    dollar: boolean,
    publisher: string | undefined,
    found: Map<string, Delivery>,
    groups: SharedGroup[],
    noLocal?: { seen: boolean },
  ): void {
    const wildcardsAllowed = !(dollar && depth === 0);
    if (wildcardsAllowed) {
      // `#` matches the parent level too: "sport/#" matches "sport" [MQTT-4.7.1-2].
      const hash = node.children.get("#");
      if (hash) this.#collect(hash, publisher, found, groups, noLocal);
    }
    if (depth === levels.length) {
      this.#collect(node, publisher, found, groups, noLocal);
      return;
    }
    const level = levels[depth] as string;
    const exact = node.children.get(level);
    if (exact) this.#walk(exact, levels, depth + 1, dollar, publisher, found, groups, noLocal);
    if (wildcardsAllowed) {
      const plus = node.children.get("+");
      if (plus) this.#walk(plus, levels, depth + 1, dollar, publisher, found, groups, noLocal);
    }
  }

  #collect(
    node: Node,
    publisher: string | undefined,
    found: Map<string, Delivery>,
    groups: SharedGroup[],
    noLocal: { seen: boolean } | undefined,
  ): void {
    for (const entry of node.subscribers.values()) {
      if (entry.noLocal) {
        if (noLocal) noLocal.seen = true;
        if (entry.clientId === publisher) continue;
      }
      const existing = found.get(entry.clientId);
      if (existing) {
        if (entry.qos > existing.qos) existing.qos = entry.qos;
        if (entry.retainAsPublished) existing.retainAsPublished = true;
        if (entry.identifier !== 0) existing.identifiers.push(entry.identifier);
      } else {
        found.set(entry.clientId, {
          clientId: entry.clientId,
          qos: entry.qos,
          retainAsPublished: entry.retainAsPublished,
          identifiers: entry.identifier !== 0 ? [entry.identifier] : [],
        });
      }
    }
    for (const group of node.shared.values()) groups.push(group);
  }

  #nodeFor(filter: string, create: boolean): Node | undefined {
    let node = this.#root;
    for (const level of filter.split("/")) {
      let child = node.children.get(level);
      if (!child) {
        if (!create) return undefined;
        child = new Node();
        node.children.set(level, child);
      }
      node = child;
    }
    return node;
  }
}
