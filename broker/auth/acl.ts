/**
 * Mosquitto's `acl_file`: which topics a client may publish to (write) and receive (read).
 *
 * ```text
 * # Clients without a user name: rules before the first "user" line.
 * topic read $SYS/#
 * user alice
 * topic readwrite house/#
 * topic deny house/secret/#
 * # Every client: %c is its client id, %u its user name.
 * pattern readwrite clients/%c/#
 * ```
 *
 * Semantics are Mosquitto 2.0's (`security_default.c`): a client's own rules are checked first
 * (its `user` section, or the anonymous section when it has no user name), then the patterns;
 * within each, `deny` rules come before the others whatever their place in the file; the first
 * rule whose topic matches decides, unless it grants only the other kind of access. A topic
 * starting with `$` is only matched by a rule starting with `$`, so `topic read #` does not open
 * `$SYS`. With patterns present, a client whose id or user name holds `+` or `#` is refused
 * everything, as it could otherwise widen its own patterns.
 *
 * @module
 */

import { isValidTopicFilter } from "../../codec/topic.ts";
import type { ClientIdentity } from "./security.ts";

/** Receive messages on a topic (Mosquitto's MOSQ_ACL_READ). */
export const ACL_READ = 1;
/** Publish to a topic (MOSQ_ACL_WRITE). */
export const ACL_WRITE = 2;
/** `deny`: no access, checked before every other rule (MOSQ_ACL_NONE). */
export const ACL_DENY = 0;

/** One `topic` or `pattern` line. */
export interface AclRule {
  /** Topic filter as written (with `%c` / `%u` in patterns). */
  readonly filter: string;
  /** {@linkcode ACL_READ} | {@linkcode ACL_WRITE}, or {@linkcode ACL_DENY}. */
  readonly access: number;
  /** Line in the file, for messages. */
  readonly line: number;
}

/** A parsed ACL file. Each rule list holds `deny` rules first, then the others in file order. */
export interface AclFile {
  /** Rules for clients without a user name (before the first `user` line). */
  readonly anonymous: readonly AclRule[];
  /** Rules per user name. */
  readonly users: ReadonlyMap<string, readonly AclRule[]>;
  /** `pattern` rules, for every client. */
  readonly patterns: readonly AclRule[];
}

/** An ACL file that Mosquitto would refuse to load; the message names file and line. */
export class AclFileError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AclFileError";
  }
}

/**
 * Parses the text of an ACL file as Mosquitto 2.0 does; throws {@linkcode AclFileError} where
 * Mosquitto refuses to start (unknown keyword, access type or invalid topic filter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAclFile } from "./acl.ts";
 * const acl = parseAclFile("topic read $SYS/#\nuser alice\ntopic house/#\n", "acl");
 * assert.equal(acl.anonymous[0]?.filter, "$SYS/#");
 * assert.equal(acl.users.get("alice")?.[0]?.access, 3);
 * ```
 */
export function parseAclFile(text: string, file: string): AclFile {
  const anonymous: AclRule[] = [];
  const users = new Map<string, AclRule[]>();
  const patterns: AclRule[] = [];
  let current = anonymous;
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const where = `${file}:${lineNumber}`;
    // Mosquitto strips trailing white space (so CRLF files work) and skips `#` lines.
    const line = (lines[index] as string).trimEnd();
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const [keyword = "", ...rest] = trimmed.split(/[ \t]+/);
    if (keyword === "topic" || keyword === "pattern") {
      const access = rest[0];
      if (access === undefined) throw new AclFileError(`Empty topic in ACL file ${where}`);
      const after = trimmed.slice(keyword.length).trimStart().slice(access.length).trim();
      // "topic FILTER" (no access word) grants readwrite; so does Mosquitto's "topic read".
      const filter = after === "" ? access : after;
      const bits = after === "" ? ACL_READ | ACL_WRITE : accessBits(access, where);
      if (!isValidTopicFilter(filter)) {
        throw new AclFileError(`Invalid ACL topic "${filter}" in ACL file ${where}`);
      }
      const rule = { filter, access: bits, line: lineNumber };
      addRule(keyword === "topic" ? current : patterns, rule);
    } else if (keyword === "user") {
      const name = trimmed.slice(keyword.length).trim();
      if (name === "") throw new AclFileError(`Missing user name in ACL file ${where}`);
      let rules = users.get(name);
      if (rules === undefined) {
        rules = [];
        users.set(name, rules);
      }
      current = rules;
    } else {
      throw new AclFileError(
        `Invalid line in ACL file ${where}: expected "topic", "pattern" or "user", got "${keyword}"`,
      );
    }
  }
  return { anonymous, users, patterns };
}

function accessBits(word: string, where: string): number {
  switch (word) {
    case "read":
      return ACL_READ;
    case "write":
      return ACL_WRITE;
    case "readwrite":
      return ACL_READ | ACL_WRITE;
    case "deny":
      return ACL_DENY;
    default:
      throw new AclFileError(
        `Invalid topic access type "${word}" in ACL file ${where}: expected read, write, readwrite or deny`,
      );
  }
}

/** Mosquitto 2.0 puts `deny` rules at the front of their list, in file order among themselves. */
function addRule(rules: AclRule[], rule: AclRule): void {
  if (rule.access !== ACL_DENY) {
    rules.push(rule);
    return;
  }
  const firstAllow = rules.findIndex((r) => r.access !== ACL_DENY);
  if (firstAllow === -1) rules.push(rule);
  else rules.splice(firstAllow, 0, rule);
}

/** A rule ready to match: its filter split into levels. */
interface CompiledRule {
  readonly levels: readonly string[];
  readonly access: number;
}

/** The rules that apply to one client, patterns already filled in. */
interface ClientRules {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly own: readonly CompiledRule[];
  /** Substituted patterns; undefined when the client's id or name makes patterns refuse all. */
  readonly patterns: readonly CompiledRule[] | undefined;
}

/**
 * Answers access questions for one parsed ACL file. Rules per client are compiled once and cached
 * per identity object (sessions and connections keep theirs for their lifetime).
 */
export class AclChecker {
  readonly #acl: AclFile;
  readonly #ownRules = new Map<string | undefined, CompiledRule[]>();
  #cache = new WeakMap<ClientIdentity, ClientRules>();

  /** Wraps a parsed file. */
  constructor(acl: AclFile) {
    this.#acl = acl;
    this.#ownRules.set(undefined, acl.anonymous.map(compile));
    for (const [name, rules] of acl.users) this.#ownRules.set(name, rules.map(compile));
  }

  /**
   * May `identity` have `access` ({@linkcode ACL_READ} or {@linkcode ACL_WRITE}) to `topic`?
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ACL_READ, ACL_WRITE, AclChecker, parseAclFile } from "./acl.ts";
   * const acl = new AclChecker(parseAclFile("pattern readwrite clients/%c/#\n", "acl"));
   * const client = { clientId: "kitchen", username: undefined, peer: "" };
   * assert.equal(acl.check(client, "clients/kitchen/temp", ACL_WRITE), true);
   * assert.equal(acl.check(client, "clients/hall/temp", ACL_READ), false);
   * ```
   */
  check(identity: ClientIdentity, topic: string, access: number): boolean {
    const rules = this.#rulesFor(identity);
    const levels = topic.split("/");
    const dollar = topic.startsWith("$");
    for (const rule of rules.own) {
      if (!matches(rule.levels, levels, dollar)) continue;
      if (rule.access === ACL_DENY) return false;
      if (rule.access & access) return true;
    }
    const patterns = rules.patterns;
    if (patterns === undefined) return false;
    for (const rule of patterns) {
      if (!matches(rule.levels, levels, dollar)) continue;
      if (rule.access === ACL_DENY) return false;
      if (rule.access & access) return true;
    }
    return false;
  }

  /**
   * Could `identity` ever read a message matching `filter`? False only when no topic the filter
   * matches is readable, e.g. `garden/#` for a client that may read `house/#` only. (Mosquitto 2.0
   * grants every subscription and only filters deliveries; midge refuses hopeless ones.)
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { AclChecker, parseAclFile } from "./acl.ts";
   * const acl = new AclChecker(parseAclFile("topic read house/#\ntopic deny house/secret/#\n", "acl"));
   * const anonymous = { clientId: "c", username: undefined, peer: "" };
   * assert.equal(acl.mayRead(anonymous, "#"), true);
   * assert.equal(acl.mayRead(anonymous, "house/+/temp"), true);
   * assert.equal(acl.mayRead(anonymous, "garden/#"), false);
   * assert.equal(acl.mayRead(anonymous, "house/secret/+"), false);
   * ```
   */
  mayRead(identity: ClientIdentity, filter: string): boolean {
    const rules = this.#rulesFor(identity);
    const wanted = filter.split("/");
    const ownDenies = rules.own.filter((rule) => rule.access === ACL_DENY);
    for (const rule of rules.own) {
      if (!(rule.access & ACL_READ)) continue;
      const overlap = intersectFilters(wanted, rule.levels);
      if (overlap && !ownDenies.some((deny) => coversFilter(deny.levels, overlap))) return true;
    }
    const patterns = rules.patterns;
    if (patterns === undefined) return false;
    const denies = [...ownDenies, ...patterns.filter((rule) => rule.access === ACL_DENY)];
    for (const rule of patterns) {
      if (!(rule.access & ACL_READ)) continue;
      const overlap = intersectFilters(wanted, rule.levels);
      if (overlap && !denies.some((deny) => coversFilter(deny.levels, overlap))) return true;
    }
    return false;
  }

  #rulesFor(identity: ClientIdentity): ClientRules {
    const cached = this.#cache.get(identity);
    if (
      cached !== undefined && cached.clientId === identity.clientId &&
      cached.username === identity.username
    ) {
      return cached;
    }
    const { clientId, username } = identity;
    const own = this.#ownRules.get(username) ?? [];
    let patterns: CompiledRule[] | undefined = [];
    if (this.#acl.patterns.length > 0) {
      // Mosquitto: a `+` or `#` in the id or name could widen the client's own patterns.
      if (/[+#]/.test(clientId) || username !== undefined && /[+#]/.test(username)) {
        patterns = undefined;
      } else {
        for (const rule of this.#acl.patterns) {
          if (username === undefined && rule.filter.includes("%u")) continue;
          // One pass, so a client id containing "%u" is not substituted again.
          const filter = rule.filter.replace(
            /%[cu]/g,
            (token) => token === "%c" ? clientId : username as string,
          );
          patterns.push({ levels: filter.split("/"), access: rule.access });
        }
      }
    }
    const rules = { clientId, username, own, patterns };
    this.#cache.set(identity, rules);
    return rules;
  }
}

function compile(rule: AclRule): CompiledRule {
  return { levels: rule.filter.split("/"), access: rule.access };
}

/**
 * Whether a topic filter matches a topic (both split into levels), Mosquitto's
 * `mosquitto_topic_matches_sub`: `#` also matches the parent level, and a topic starting with `$`
 * is matched only by a filter starting with `$` (and the other way round).
 */
function matches(filter: readonly string[], topic: readonly string[], dollar: boolean): boolean {
  if (((filter[0] as string).startsWith("$")) !== dollar) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i] as string;
    if (level === "#") return true;
    if (i >= topic.length) return false;
    if (level !== "+" && level !== topic[i]) return false;
  }
  return topic.length === filter.length;
}

/**
 * The filter matching exactly the topics both filters match, or undefined when none is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intersectFilters } from "./acl.ts";
 * assert.deepEqual(intersectFilters(["a", "+", "c"], ["a", "b", "#"]), ["a", "b", "c"]);
 * assert.equal(intersectFilters(["a", "b"], ["a", "c"]), undefined);
 * assert.equal(intersectFilters(["#"], ["$SYS", "#"]), undefined);
 * ```
 */
export function intersectFilters(
  a: readonly string[],
  b: readonly string[],
): string[] | undefined {
  // `$` topics only match filters starting with `$` [MQTT-4.7.2-1].
  if ((a[0] ?? "").startsWith("$") !== (b[0] ?? "").startsWith("$")) return undefined;
  const out: string[] = [];
  for (let i = 0;; i++) {
    const x = a[i];
    const y = b[i];
    if (x === "#") return [...out, ...b.slice(i)];
    if (y === "#") return [...out, ...a.slice(i)];
    if (x === undefined || y === undefined) return x === y ? out : undefined;
    if (x === "+") out.push(y);
    else if (y === "+" || x === y) out.push(x);
    else return undefined;
  }
}

/**
 * Whether every topic `inner` matches is matched by `outer`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { coversFilter } from "./acl.ts";
 * assert.equal(coversFilter(["a", "#"], ["a", "+", "c"]), true);
 * assert.equal(coversFilter(["a", "+"], ["a", "#"]), false);
 * ```
 */
export function coversFilter(outer: readonly string[], inner: readonly string[]): boolean {
  if ((outer[0] ?? "").startsWith("$") !== (inner[0] ?? "").startsWith("$")) return false;
  for (let i = 0;; i++) {
    const o = outer[i];
    const x = inner[i];
    if (o === "#") return true;
    if (x === undefined || o === undefined) return x === o;
    // `#` in the inner filter spans any number of levels, which only `#` covers.
    if (x === "#") return false;
    if (o === "+") continue;
    if (x === "+" || o !== x) return false;
  }
}
