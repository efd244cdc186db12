/**
 * `midge passwd`: manages Mosquitto password files with `mosquitto_passwd`'s command line, and
 * writes files that Mosquitto reads (and reads files that `mosquitto_passwd` wrote).
 *
 * ```sh
 * midge passwd -c /etc/mosquitto/passwd alice        # new file, asks for the password
 * midge passwd -b /etc/mosquitto/passwd bob hunter2  # add or change a user, password given
 * midge passwd -D /etc/mosquitto/passwd bob          # delete a user
 * midge passwd -U /etc/mosquitto/passwd              # hash a file of user:plain-text lines
 * ```
 *
 * @module
 */

import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import {
  DEFAULT_ITERATIONS,
  formatPasswordHash,
  hashPassword,
  parsePasswordHash,
  type PasswordHashKind,
} from "../broker/auth/password_hash.ts";

/** Flags of `midge passwd` as commander parses them. */
export interface PasswdFlags {
  /** `-b`: the password is the last argument. */
  batch?: boolean;
  /** `-c`: create (or overwrite) the file. */
  create?: boolean;
  /** `-D`: delete the user. */
  delete?: boolean;
  /** `-U`: hash the plain-text passwords of a file. */
  update?: boolean;
  /** `-H`: `sha512` or `sha512-pbkdf2` (default). */
  hash?: PasswordHashKind;
  /** `-I`: PBKDF2 iterations (default 101). */
  iterations?: number;
}

/** Where `midge passwd` reads passwords from and writes messages to; tests replace them. */
export interface PasswdIo {
  /** Reads a password after printing `prompt` (without echo on a terminal). */
  readPassword(prompt: string): Promise<string | undefined>;
  /** Prints an error or warning line. */
  error(line: string): void;
}

const USAGE = `midge passwd is a tool for managing password files for mosquitto and midge.

Usage: midge passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username
       midge passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c] -b passwordfile username password
       midge passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512.
 -I : specify the number of PBKDF2 iterations (default ${DEFAULT_ITERATIONS}).
 -U : update a plain text password file to use hashed passwords.`;

/** A failure to report as `Error: ...` with exit code `code`. */
class PasswdError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

function parseHashKind(value: string): PasswordHashKind {
  if (value !== "sha512" && value !== "sha512-pbkdf2") {
    throw new InvalidArgumentError(`Unknown hash type '${value}'`);
  }
  return value;
}

function parseIterations(value: string): number {
  const iterations = /^-?[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(iterations > 0) || iterations > 2147483647) {
    throw new InvalidArgumentError("Number of iterations must be > 0.");
  }
  return iterations;
}

/**
 * The `passwd` subcommand.
 *
 * @example
 * ```ts ignore
 * import { Command } from "@commander-js/extra-typings";
 * import { passwdCommand } from "./passwd.ts";
 * await new Command("midge").addCommand(passwdCommand())
 *   .parseAsync(["passwd", "-b", "-c", "passwd", "alice", "secret"], { from: "user" });
 * ```
 */
export function passwdCommand() {
  return new Command("passwd")
    .description("Manage a Mosquitto password file (mosquitto_passwd compatible)")
    .usage(
      "[-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D | -U] [-b] file [user [password]]",
    )
    .option("-b, --batch", "take the password from the command line")
    .option("-c, --create", "create a new password file, overwriting an existing one")
    .option("-D, --delete", "delete the user rather than add or change its password")
    .option("-U, --update", "hash the plain-text passwords of a file")
    .option("-H, --hash <type>", "hash algorithm: sha512-pbkdf2 (default) or sha512", parseHashKind)
    .option("-I, --iterations <count>", "PBKDF2 iterations (default 101)", parseIterations)
    .argument("[args...]", "password file, user name and (with -b) password")
    .addHelpText("after", `\n${USAGE}`)
    .action(async (args, flags) => {
      Deno.exit(await runPasswd(args, flags));
    });
}

/** Runs `midge passwd`; resolves with the exit code. */
export async function runPasswd(
  args: readonly string[],
  flags: PasswdFlags,
  io: PasswdIo = terminalIo(),
): Promise<number> {
  try {
    await passwd(args, flags, io);
    return 0;
  } catch (error) {
    if (error instanceof PasswdError) {
      if (error.message !== "") io.error(error.message);
      return error.code;
    }
    io.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function passwd(args: readonly string[], flags: PasswdFlags, io: PasswdIo): Promise<void> {
  const options = {
    kind: flags.hash ?? "sha512-pbkdf2",
    iterations: flags.iterations ?? DEFAULT_ITERATIONS,
  } as const;
  if (flags.create && flags.delete) {
    throw new PasswdError("Error: -c and -D cannot be used together.");
  }
  if (flags.update) {
    if (flags.create || flags.delete || flags.batch) {
      throw new PasswdError("Error: -U cannot be used with -b, -c or -D.");
    }
    const [file, ...extra] = args;
    if (file === undefined || extra.length > 0) {
      throw new PasswdError(`Error: -U argument given but password file missing.\n\n${USAGE}`);
    }
    await updateFile(file, options);
    return;
  }
  const [file, username, password, ...extra] = args;
  const wanted = flags.batch ? 3 : 2;
  if (file === undefined || username === undefined || args.length !== wanted || extra.length) {
    const what = flags.batch
      ? "-b argument given but password file, username or password missing."
      : flags.create
      ? "-c argument given but password file or username missing."
      : flags.delete
      ? "-D argument given but password file or username missing."
      : "password file or username missing.";
    throw new PasswdError(`Error: ${what}\n\n${USAGE}`);
  }
  if (username.includes(":")) {
    throw new PasswdError("Error: Username must not contain the ':' character.");
  }
  if (username === "") throw new PasswdError("Error: Empty username.");

  if (flags.delete) {
    const lines = readLines(file);
    const kept = lines.filter((line) => userOf(line) !== username);
    if (kept.length === lines.length) {
      throw new PasswdError(`Warning: User ${username} not found in password file.`);
    }
    writeLines(file, kept);
    return;
  }

  const secret = password ?? await askPassword(io);
  const line = `${username}:${formatPasswordHash(await hashPassword(secret, options))}`;
  if (flags.create) {
    writeLines(file, [line]);
    return;
  }
  const lines = readLines(file);
  let found = false;
  const updated = lines.map((existing) => {
    if (userOf(existing) !== username) return existing;
    found = true;
    return line;
  });
  if (!found) updated.push(line);
  writeLines(file, updated);
}

/** Asks twice, as mosquitto_passwd does. */
async function askPassword(io: PasswdIo): Promise<string> {
  const first = await io.readPassword("Password: ");
  if (first === undefined) throw new PasswdError("Error: No password given.");
  const second = await io.readPassword("Reenter password: ");
  if (first !== second) throw new PasswdError("Error: Passwords do not match.", 2);
  if (first === "") throw new PasswdError("Error: Empty password.");
  return first;
}

/**
 * `-U`: hashes each `user:password` line. Lines that already hold a Mosquitto hash are kept
 * (mosquitto_passwd would hash the hash, locking the user out when run twice).
 */
async function updateFile(
  file: string,
  options: { kind: PasswordHashKind; iterations: number },
): Promise<void> {
  const lines = readLines(file);
  const updated: string[] = [];
  for (const line of lines) {
    const separator = line.indexOf(":");
    if (line.startsWith("#") || separator <= 0) {
      updated.push(line);
      continue;
    }
    const username = line.slice(0, separator);
    const password = line.slice(separator + 1).replace(/\r$/, "");
    if (isHash(password)) {
      updated.push(line);
      continue;
    }
    updated.push(`${username}:${formatPasswordHash(await hashPassword(password, options))}`);
  }
  writeLines(file, updated);
}

function isHash(text: string): boolean {
  try {
    parsePasswordHash(text.trim());
    return true;
  } catch {
    return false;
  }
}

/** The user name of a password file line (what precedes the first `:`), trimmed. */
function userOf(line: string): string | undefined {
  if (line.startsWith("#")) return undefined;
  const separator = line.indexOf(":");
  return separator < 0 ? undefined : line.slice(0, separator).trim();
}

/** The lines of a file, without the empty one after a final newline. */
function readLines(file: string): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "No such file or directory"
      : error instanceof Error
      ? error.message.replace(/ \(os error \d+\).*$/s, "")
      : String(error);
    throw new PasswdError(`Error: Unable to open password file ${file}. ${reason}.`);
  }
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * Replaces the file through a temporary file and a rename, so that a broker reading it never
 * sees half of it; an existing file keeps its permissions.
 */
function writeLines(file: string, lines: readonly string[]): void {
  const text = lines.length === 0 ? "" : lines.join("\n") + "\n";
  let mode: number | undefined;
  try {
    mode = Deno.statSync(file).mode ?? undefined;
  } catch {
    mode = undefined;
  }
  const temporary = `${file}.tmp${Deno.pid}`;
  try {
    Deno.writeTextFileSync(temporary, text, mode === undefined ? {} : { mode: mode & 0o7777 });
    if (mode !== undefined) Deno.chmodSync(temporary, mode & 0o7777);
    Deno.renameSync(temporary, file);
  } catch (error) {
    try {
      Deno.removeSync(temporary);
    } catch {
      // Never created.
    }
    const reason = error instanceof Error ? error.message.replace(/ \(os error \d+\).*$/s, "") : "";
    throw new PasswdError(`Error: Unable to write password file ${file}. ${reason}.`);
  }
}

/** Prompts on stdout and reads stdin: without echo on a terminal, else line by line. */
function terminalIo(): PasswdIo {
  const lines = stdinLines();
  return {
    async readPassword(prompt) {
      const encoder = new TextEncoder();
      Deno.stdout.writeSync(encoder.encode(prompt));
      if (Deno.stdin.isTerminal()) {
        Deno.stdin.setRaw(true);
        try {
          return await readHidden();
        } finally {
          Deno.stdin.setRaw(false);
          Deno.stdout.writeSync(encoder.encode("\n"));
        }
      }
      const next = await lines.next();
      Deno.stdout.writeSync(encoder.encode("\n"));
      return next.done ? undefined : next.value;
    },
    error(line) {
      const bytes = new TextEncoder().encode(line + "\n");
      let offset = 0;
      while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
    },
  };
}

/** Reads one line from a raw-mode terminal without echoing it. */
async function readHidden(): Promise<string | undefined> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) {
      return bytes.length ? new TextDecoder().decode(new Uint8Array(bytes)) : undefined;
    }
    const byte = buffer[0] as number;
    if (byte === 0x0d || byte === 0x0a) break;
    if (byte === 0x03) throw new PasswdError("", 130); // Ctrl-C
    if (byte === 0x7f || byte === 0x08) bytes.pop();
    else bytes.push(byte);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Lines of stdin, read as they are needed. */
async function* stdinLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      yield pending.slice(0, newline).replace(/\r$/, "");
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
  if (pending !== "") yield pending;
}
