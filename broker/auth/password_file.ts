/**
 * Mosquitto's `password_file`: one `user:hash` per line, as `mosquitto_passwd` writes it.
 *
 * Read as Mosquitto 2.0 reads it: lines starting with `#` and lines without `:` are skipped,
 * blanks around the user name and the hash are trimmed, and an entry whose hash cannot be decoded
 * (a plain-text password, say) is dropped with a warning, so that user cannot log in while
 * everyone else still can.
 *
 * @module
 */

import { parsePasswordHash, type PasswordHash } from "./password_hash.ts";

/** A parsed password file. */
export interface PasswordFile {
  /** Hash per user name. */
  readonly users: ReadonlyMap<string, PasswordHash>;
  /** Entries dropped and why, each naming the file and line, never a hash. */
  readonly warnings: string[];
}

/** Longest user name or hash Mosquitto reads (MQTT strings are at most 65535 bytes). */
const MAX_FIELD = 65535;

/**
 * Parses the text of a password file; `file` names it in warnings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePasswordFile } from "./password_file.ts";
 * const { users, warnings } = parsePasswordFile(
 *   "# comment\ncarol:plain-text\nbob:$6$F5KSjhEgtvR3eNoN$cmeQpwJ1ljRN3RBwoZJMGKvwAQKsBink1BV9aFukzBzunBKwCcB0mzBb8aChoHJlT65mblxArXpRIxcEMG0fUQ==\n",
 *   "passwd",
 * );
 * assert.deepEqual([...users.keys()], ["bob"]);
 * assert.equal(warnings.length, 1);
 * ```
 */
export function parsePasswordFile(text: string, file: string): PasswordFile {
  const users = new Map<string, PasswordHash>();
  const warnings: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as string;
    const where = `${file}:${index + 1}`;
    if (line.startsWith("#") || !line.includes(":")) continue;
    // strtok semantics: empty fields are skipped, so "::x" has user "x"; anything after a
    // second field is ignored.
    const fields = line.split(":").map((field) => field.trim()).filter((field) => field !== "");
    const [username, hashText] = fields;
    if (username === undefined) {
      warnings.push(`Password file ${where}: empty user name, ignoring the line`);
      continue;
    }
    if (new TextEncoder().encode(username).length > MAX_FIELD) {
      warnings.push(`Password file ${where}: user name too long, ignoring the line`);
      continue;
    }
    if (hashText === undefined) {
      warnings.push(`Password file ${where}: no password hash for user "${username}", ignoring it`);
      continue;
    }
    let hash: PasswordHash;
    try {
      hash = parsePasswordHash(hashText);
    } catch (error) {
      const reason = error instanceof Error ? error.message.replace(/^Cannot parse /, "") : "";
      warnings.push(
        `Password file ${where}: invalid ${reason} for user "${username}", ignoring it (plain-text passwords must be hashed with "midge passwd -U")`,
      );
      continue;
    }
    if (users.has(username)) {
      warnings.push(
        `Password file ${where}: user "${username}" appears again; this later entry is used`,
      );
    }
    users.set(username, hash);
  }
  return { users, warnings };
}
