/**
 * Mosquitto's password hashes, as `mosquitto_passwd` writes them and `password_file` holds them:
 *
 * - `$6$SALT$HASH`: SHA-512 over the password followed by the salt.
 * - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512 with that many iterations, 64 bytes long.
 *
 * SALT and HASH are standard base64 with padding; `mosquitto_passwd` makes 12-byte salts. Hashing
 * runs on WebCrypto, which Deno computes off the main thread, so a flood of logins does not stall
 * the event loop; comparisons take the same time whatever the bytes.
 *
 * @module
 */

/** `sha512` is `$6$`, `sha512-pbkdf2` is `$7$` (the names `mosquitto_passwd -H` takes). */
export type PasswordHashKind = "sha512" | "sha512-pbkdf2";

/** A decoded password hash. */
export interface PasswordHash {
  readonly kind: PasswordHashKind;
  /** PBKDF2 iterations; 0 for `sha512`. */
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/** Salt length `mosquitto_passwd` uses. */
export const SALT_LENGTH = 12;
/** Iterations `mosquitto_passwd` 2.0 uses for `$7$` unless `-I` says otherwise. */
export const DEFAULT_ITERATIONS = 101;
/** Bytes of a SHA-512 digest, the length of every hash Mosquitto writes. */
const HASH_LENGTH = 64;
/** Iterations accepted when reading a file: Mosquitto takes any positive `int`. */
const MAX_ITERATIONS = 2147483647;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes standard base64 (with padding), throwing on anything else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBase64 } from "./password_hash.ts";
 * assert.deepEqual(decodeBase64("AQID"), new Uint8Array([1, 2, 3]));
 * ```
 */
export function decodeBase64(text: string): Uint8Array {
  if (!BASE64.test(text) || text.length % 4 !== 0) {
    throw new Error(`Cannot decode base64 "${text}"`);
  }
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Encodes bytes as standard base64 with padding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBase64 } from "./password_hash.ts";
 * assert.equal(encodeBase64(new Uint8Array([1, 2, 3])), "AQID");
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Reads the hash part of a `password_file` line (after `user:`). Throws an Error saying what is
 * wrong; the message never contains the hash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePasswordHash } from "./password_hash.ts";
 * const hash = parsePasswordHash(
 *   "$7$101$CZgVYkikZVMXVnCr$O9A2K1rI8rp0C1Hfq+kPtl0GzG/oJi0d86HP0vDU6XtQvhE9G6IWKOoG8bv6Kv0ps7MJ3Sizw6Tz1vzEgO+Wpw==",
 * );
 * assert.equal(hash.kind, "sha512-pbkdf2");
 * assert.equal(hash.iterations, 101);
 * assert.equal(hash.salt.length, 12);
 * ```
 */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split("$");
  // A leading "$" leaves an empty first part: ["", "7", iterations, salt, hash].
  if (parts[0] !== "" || parts.length < 4) {
    throw new Error("Cannot parse password hash: expected $6$SALT$HASH or $7$ITERATIONS$SALT$HASH");
  }
  const kind = parts[1];
  let iterations = 0;
  let saltText: string;
  let hashText: string;
  if (kind === "6" && parts.length === 4) {
    saltText = parts[2] as string;
    hashText = parts[3] as string;
  } else if (kind === "7" && parts.length === 5) {
    const count = parts[2] as string;
    iterations = /^[0-9]{1,10}$/.test(count) ? Number(count) : 0;
    if (iterations < 1 || iterations > MAX_ITERATIONS) {
      throw new Error(`Cannot parse password hash: invalid iteration count "${count}"`);
    }
    saltText = parts[3] as string;
    hashText = parts[4] as string;
  } else if (kind === "6" || kind === "7") {
    throw new Error(`Cannot parse password hash: wrong number of fields for type $${kind}$`);
  } else {
    throw new Error(`Cannot parse password hash: unknown hash type "$${kind}$"`);
  }
  let salt: Uint8Array;
  let hash: Uint8Array;
  try {
    salt = decodeBase64(saltText);
    hash = decodeBase64(hashText);
  } catch {
    throw new Error("Cannot parse password hash: salt or hash is not valid base64");
  }
  if (salt.length === 0) throw new Error("Cannot parse password hash: empty salt");
  if (hash.length !== HASH_LENGTH) {
    throw new Error(
      `Cannot parse password hash: hash is ${hash.length} bytes, expected ${HASH_LENGTH}`,
    );
  }
  return { kind: kind === "6" ? "sha512" : "sha512-pbkdf2", iterations, salt, hash };
}

/**
 * Writes a hash in `password_file` form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPasswordHash, parsePasswordHash } from "./password_hash.ts";
 * const text = "$6$F5KSjhEgtvR3eNoN$cmeQpwJ1ljRN3RBwoZJMGKvwAQKsBink1BV9aFukzBzunBKwCcB0mzBb8aChoHJlT65mblxArXpRIxcEMG0fUQ==";
 * assert.equal(formatPasswordHash(parsePasswordHash(text)), text);
 * ```
 */
export function formatPasswordHash(hash: PasswordHash): string {
  const salt = encodeBase64(hash.salt);
  const digest = encodeBase64(hash.hash);
  return hash.kind === "sha512"
    ? `$6$${salt}$${digest}`
    : `$7$${hash.iterations}$${salt}$${digest}`;
}

/** Options of {@linkcode hashPassword}. */
export interface HashPasswordOptions {
  /** Default `sha512-pbkdf2`, as `mosquitto_passwd` 2.0. */
  kind?: PasswordHashKind;
  /** PBKDF2 iterations (default 101). */
  iterations?: number;
  /** Salt to use; default 12 random bytes. */
  salt?: Uint8Array;
}

/**
 * Hashes a password the way `mosquitto_passwd` does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, verifyPassword } from "./password_hash.ts";
 * const hash = await hashPassword("secret");
 * assert.equal(await verifyPassword(hash, "secret"), true);
 * assert.equal(await verifyPassword(hash, "Secret"), false);
 * ```
 */
export async function hashPassword(
  password: string | Uint8Array,
  options: HashPasswordOptions = {},
): Promise<PasswordHash> {
  const kind = options.kind ?? "sha512-pbkdf2";
  const iterations = kind === "sha512" ? 0 : options.iterations ?? DEFAULT_ITERATIONS;
  if (kind === "sha512-pbkdf2" && !(Number.isInteger(iterations) && iterations >= 1)) {
    throw new Error(`Cannot hash password: invalid iteration count ${iterations}`);
  }
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SALT_LENGTH));
  const hash = await digest(kind, iterations, salt, passwordBytes(password));
  return { kind, iterations, salt, hash };
}

/**
 * Checks a password against a hash in constant time (for a given hash). `password` as the client
 * sent it: like Mosquitto, which treats it as a C string, bytes from the first NUL on are ignored.
 */
export async function verifyPassword(
  hash: PasswordHash,
  password: string | Uint8Array,
): Promise<boolean> {
  const computed = await digest(hash.kind, hash.iterations, hash.salt, passwordBytes(password));
  return timingSafeEqual(computed, hash.hash);
}

/**
 * Compares two byte arrays in time that depends only on their lengths.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timingSafeEqual } from "./password_hash.ts";
 * assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
 * assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.max(a.length, b.length);
  let difference = a.length ^ b.length;
  for (let i = 0; i < length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  const bytes = typeof password === "string" ? new TextEncoder().encode(password) : password;
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

async function digest(
  kind: PasswordHashKind,
  iterations: number,
  salt: Uint8Array,
  password: Uint8Array,
): Promise<Uint8Array> {
  // Copies into fresh ArrayBuffers: WebCrypto's types want BufferSource over an ArrayBuffer.
  const saltBytes = new Uint8Array(salt);
  if (kind === "sha512") {
    const input = new Uint8Array(password.length + saltBytes.length);
    input.set(password);
    input.set(saltBytes, password.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-512", input));
  }
  const key = await crypto.subtle.importKey("raw", new Uint8Array(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt: saltBytes, iterations },
    key,
    HASH_LENGTH * 8,
  );
  return new Uint8Array(bits);
}
