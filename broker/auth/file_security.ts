/**
 * The security policy of Mosquitto's `password_file`, `acl_file` and `allow_anonymous` options.
 *
 * Authentication, as Mosquitto 2.0: a client without a user name is anonymous and gets in only
 * with `allow_anonymous true`; a client with a user name must match the password file (any name
 * is accepted when there is no password file but anonymous access is on). Every refusal is
 * "not authorised" (0x87 / 3.1.1 code 5), as Mosquitto answers, so a client cannot tell a wrong
 * password from an unknown user; unknown users are even hashed against a dummy so that the time
 * taken does not tell either.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import { ACL_READ, ACL_WRITE, AclChecker, type AclFile, parseAclFile } from "./acl.ts";
import { parsePasswordFile } from "./password_file.ts";
import { DEFAULT_ITERATIONS, type PasswordHash, verifyPassword } from "./password_hash.ts";
import type { ClientIdentity, SecurityPolicy } from "./security.ts";

/** Settings of a {@linkcode FileSecurity}. */
export interface FileSecurityOptions {
  /** `allow_anonymous`. */
  allowAnonymous: boolean;
  /** Users and their hashes from `password_file`; undefined when there is none. */
  passwords?: ReadonlyMap<string, PasswordHash>;
  /** Rules from `acl_file`; undefined when there is none (every topic open). */
  acl?: AclFile;
}

/** Hashed for unknown users, so they take as long as known ones. */
const DUMMY_HASH: PasswordHash = {
  kind: "sha512-pbkdf2",
  iterations: DEFAULT_ITERATIONS,
  salt: new Uint8Array(12),
  hash: new Uint8Array(64),
};

/**
 * `password_file` + `acl_file` + `allow_anonymous`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileSecurity } from "./file_security.ts";
 * import { parseAclFile } from "./acl.ts";
 * const security = new FileSecurity({
 *   allowAnonymous: true,
 *   acl: parseAclFile("topic read sensors/#\n", "acl"),
 * });
 * const anonymous = { clientId: "c1", username: undefined, peer: "127.0.0.1:5000" };
 * assert.equal(await security.authenticate(anonymous, undefined), 0);
 * assert.equal(security.canRead(anonymous, "sensors/temp"), true);
 * assert.equal(security.canWrite(anonymous, "sensors/temp"), false);
 * ```
 */
export class FileSecurity implements SecurityPolicy {
  readonly allowAnonymous: boolean;
  readonly restrictsRead: boolean;
  readonly #passwords: ReadonlyMap<string, PasswordHash> | undefined;
  readonly #acl: AclChecker | undefined;

  /** Creates the policy from parsed files. */
  constructor(options: FileSecurityOptions) {
    this.allowAnonymous = options.allowAnonymous;
    this.#passwords = options.passwords;
    this.#acl = options.acl ? new AclChecker(options.acl) : undefined;
    this.restrictsRead = this.#acl !== undefined;
  }

  /** Number of users in the password file (0 without one). */
  get userCount(): number {
    return this.#passwords?.size ?? 0;
  }

  authenticate(
    identity: ClientIdentity,
    password: Uint8Array | undefined,
  ): number | Promise<number> {
    const username = identity.username;
    const passwords = this.#passwords;
    if (username === undefined || passwords === undefined) {
      return this.allowAnonymous ? 0 : ReasonCode.NotAuthorized;
    }
    const hash = passwords.get(username);
    if (hash === undefined || password === undefined) {
      return verifyPassword(DUMMY_HASH, password ?? new Uint8Array(0)).then(
        () => ReasonCode.NotAuthorized,
      );
    }
    return verifyPassword(hash, password).then((ok) => ok ? 0 : ReasonCode.NotAuthorized);
  }

  canWrite(identity: ClientIdentity, topic: string): boolean {
    return this.#acl === undefined || this.#acl.check(identity, topic, ACL_WRITE);
  }

  canRead(identity: ClientIdentity, topic: string): boolean {
    return this.#acl === undefined || this.#acl.check(identity, topic, ACL_READ);
  }

  canSubscribe(identity: ClientIdentity, filter: string): boolean {
    return this.#acl === undefined || this.#acl.mayRead(identity, filter);
  }
}

/** Where {@linkcode loadFileSecurity} reads from. */
export interface LoadFileSecurityOptions {
  /** `allow_anonymous`. */
  allowAnonymous: boolean;
  /** Path of `password_file`, if any. */
  passwordFile?: string;
  /** Path of `acl_file`, if any. */
  aclFile?: string;
  /** Reads a text file (default `Deno.readTextFileSync`). */
  readTextFile?: (path: string) => string;
}

/** A loaded policy and what was dropped while loading it. */
export interface LoadedFileSecurity {
  security: FileSecurity;
  /** Password file entries that were ignored, each naming file and line. */
  warnings: string[];
}

/**
 * Reads the password and ACL files. Throws an Error naming the file when one cannot be read or
 * the ACL file is invalid (Mosquitto refuses to start then; on a reload midge keeps the rules it
 * has). Password entries that cannot be decoded are dropped with a warning, as Mosquitto does.
 */
export function loadFileSecurity(options: LoadFileSecurityOptions): LoadedFileSecurity {
  const read = options.readTextFile ?? Deno.readTextFileSync;
  const warnings: string[] = [];
  const settings: FileSecurityOptions = { allowAnonymous: options.allowAnonymous };
  if (options.passwordFile !== undefined) {
    const file = parsePasswordFile(
      readFile(read, options.passwordFile, "password"),
      options.passwordFile,
    );
    warnings.push(...file.warnings);
    settings.passwords = file.users;
  }
  if (options.aclFile !== undefined) {
    settings.acl = parseAclFile(readFile(read, options.aclFile, "ACL"), options.aclFile);
  }
  return { security: new FileSecurity(settings), warnings };
}

function readFile(read: (path: string) => string, path: string, what: string): string {
  try {
    return read(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/ \(os error \d+\).*$/s, "") : "";
    throw new Error(`Cannot read ${what} file "${path}": ${reason}`, { cause: error });
  }
}
