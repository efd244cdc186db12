/**
 * Child-process helpers for interop tests: every spawned process is killed and awaited on
 * dispose, its output is collected line by line, and every wait has a bounded timeout. The
 * timeouts exist only to stop a hung test with a useful message; they are never performance
 * assertions.
 *
 * @module
 */

/** Default bound for a single wait, generous enough for a loaded 2-core machine. */
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Resolves or rejects like `promise`, or rejects with `Timed out after N ms: what` when it has
 * not settled within `timeoutMs`. The timer is always cleared, so no timer leaks into the next
 * test.
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${timeoutMs} ms: ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `condition` every `intervalMs` until it returns true; rejects with `Timed out ... what`
 * after `timeoutMs`.
 */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    await delay(intervalMs);
  }
}

/** A line matcher: an exact line, a regular expression, or a predicate. */
export type LineMatcher = string | RegExp | ((line: string) => boolean);

function matches(matcher: LineMatcher, line: string): boolean {
  if (typeof matcher === "string") return line === matcher;
  if (matcher instanceof RegExp) return matcher.test(line);
  return matcher(line);
}

/** Collects the lines of one output stream of a child and lets tests wait for a line. */
class LineCollector {
  /** Every complete line read so far, without the line terminator. */
  readonly lines: string[] = [];
  #waiters: { matcher: LineMatcher; from: number; resolve: (line: string) => void }[] = [];
  #closed = false;
  #closeWaiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of stream) {
        partial += decoder.decode(chunk, { stream: true });
        let newline = partial.indexOf("\n");
        while (newline >= 0) {
          this.#push(partial.slice(0, newline).replace(/\r$/, ""));
          partial = partial.slice(newline + 1);
          newline = partial.indexOf("\n");
        }
      }
      partial += decoder.decode();
      if (partial.length > 0) this.#push(partial);
    } catch {
      // The stream errors when the child is killed mid-write; the lines read so far stand.
    } finally {
      this.#closed = true;
      for (const wake of this.#closeWaiters) wake();
      this.#closeWaiters = [];
    }
  }

  #push(line: string): void {
    this.lines.push(line);
    const index = this.lines.length - 1;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (index >= waiter.from && matches(waiter.matcher, line)) {
        waiter.resolve(line);
        return false;
      }
      return true;
    });
  }

  /** Resolves with the first line at index >= `from` matching `matcher`. */
  waitForLine(matcher: LineMatcher, from: number, timeoutMs: number, what: string) {
    for (let i = from; i < this.lines.length; i++) {
      const line = this.lines[i]!;
      if (matches(matcher, line)) return Promise.resolve(line);
    }
    const found = new Promise<string>((resolve, reject) => {
      this.#waiters.push({ matcher, from, resolve });
      if (this.#closed) reject(new Error(`Stream ended before a line matching ${what}`));
      else {
        this.#closeWaiters.push(() =>
          reject(new Error(`Stream ended before a line matching ${what}`))
        );
      }
    });
    return withTimeout(found, timeoutMs, `a line matching ${what}`);
  }
}

/** Options for {@linkcode spawnProcess}. */
export interface SpawnOptions {
  /** Pipe stdin so that tests can write to it with {@linkcode ChildProcess.write}. */
  stdin?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * Run through `stdbuf -oL` so that a C program's stdout is flushed per line even though it is
   * a pipe (mosquitto_sub prints its `-d` lines with buffered stdio). `stdbuf` execs the program,
   * so the pid and signals are the program's own.
   */
  lineBuffered?: boolean;
}

/**
 * A running child process with collected stdout/stderr lines. Dispose it (`await using`) to kill
 * it if it still runs and await its exit and its output streams.
 */
export class ChildProcess implements AsyncDisposable {
  readonly command: string;
  readonly args: readonly string[];
  readonly #child: Deno.ChildProcess;
  readonly #stdout: LineCollector;
  readonly #stderr: LineCollector;
  #stdinWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #exited = false;
  readonly #status: Promise<Deno.CommandStatus>;

  constructor(command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.command = command;
    this.args = args;
    this.#child = new Deno.Command(options.lineBuffered ? "stdbuf" : command, {
      args: options.lineBuffered ? ["-oL", command, ...args] : [...args],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
    this.#stdout = new LineCollector(this.#child.stdout);
    this.#stderr = new LineCollector(this.#child.stderr);
    if (options.stdin) this.#stdinWriter = this.#child.stdin.getWriter();
    this.#status = this.#child.status.then((status) => {
      this.#exited = true;
      return status;
    });
  }

  /** Process id, e.g. to read `/proc/<pid>/status`. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Complete stdout lines read so far. */
  get stdout(): readonly string[] {
    return this.#stdout.lines;
  }

  /** Complete stderr lines read so far. */
  get stderr(): readonly string[] {
    return this.#stderr.lines;
  }

  /** `command args...` for messages. */
  get commandLine(): string {
    return [this.command, ...this.args].join(" ");
  }

  /**
   * Resolves with the first stdout line at index >= `from` that matches; rejects when stdout
   * ends first or after `timeoutMs`.
   */
  waitForLine(
    matcher: LineMatcher,
    { from = 0, timeoutMs = DEFAULT_TIMEOUT_MS, stream = "stdout" }: {
      from?: number;
      timeoutMs?: number;
      stream?: "stdout" | "stderr";
    } = {},
  ): Promise<string> {
    const collector = stream === "stdout" ? this.#stdout : this.#stderr;
    return collector.waitForLine(matcher, from, timeoutMs, `${matcher} from ${this.commandLine}`)
      .catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${this.describeOutput()}`);
      });
  }

  /** Writes UTF-8 text to stdin (needs `stdin: true`). */
  async write(text: string): Promise<void> {
    if (!this.#stdinWriter) throw new Error(`Cannot write to ${this.commandLine}: stdin not piped`);
    await this.#stdinWriter.write(new TextEncoder().encode(text));
  }

  /** Closes stdin (needs `stdin: true`), e.g. to end `mosquitto_pub -l`. */
  async closeStdin(): Promise<void> {
    const writer = this.#stdinWriter;
    this.#stdinWriter = undefined;
    await writer?.close().catch(() => {});
  }

  /** Sends a signal if the process still runs. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone between the check and the kill.
    }
  }

  /**
   * Waits for the process to exit by itself and for its output to be fully read; rejects after
   * `timeoutMs` (the process is left running for dispose to kill).
   */
  async status(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Deno.CommandStatus> {
    const status = await withTimeout(this.#status, timeoutMs, `exit of ${this.commandLine}`)
      .catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${this.describeOutput()}`);
      });
    await Promise.all([this.#stdout.done, this.#stderr.done]);
    return status;
  }

  /** The collected output, for assertion messages. */
  describeOutput(): string {
    return `--- stdout of ${this.commandLine}\n${this.stdout.join("\n")}\n--- stderr\n${
      this.stderr.join("\n")
    }`;
  }

  /** Kills the process if it still runs, then awaits its exit and its output streams. */
  async close(): Promise<void> {
    await this.closeStdin();
    if (!this.#exited) {
      this.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      // A process that ignores SIGTERM gets SIGKILL; one second is only a bound for that.
      const hard = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill("SIGKILL");
          resolve();
        }, 1000);
      });
      await Promise.race([this.#status, hard]);
      clearTimeout(timer);
    }
    await this.#status;
    await Promise.all([this.#stdout.done, this.#stderr.done]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Spawns `command args...` with stdout and stderr collected line by line. */
export function spawnProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  return new ChildProcess(command, args, options);
}

/** The outcome of {@linkcode runProcess}. */
export interface RunResult {
  code: number;
  stdout: string[];
  stderr: string[];
}

/**
 * Runs `command args...` to completion (killing it after `timeoutMs`) and returns its exit code
 * and output lines.
 */
export async function runProcess(
  command: string,
  args: readonly string[],
  { timeoutMs = DEFAULT_TIMEOUT_MS, stdin }: { timeoutMs?: number; stdin?: string } = {},
): Promise<RunResult> {
  await using child = spawnProcess(command, args, { stdin: stdin !== undefined });
  if (stdin !== undefined) {
    await child.write(stdin);
    await child.closeStdin();
  }
  const status = await child.status(timeoutMs);
  return { code: status.code, stdout: [...child.stdout], stderr: [...child.stderr] };
}

/** Finds a free TCP port on `hostname` by binding port 0 and closing it again. */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Whether an IPv6 loopback socket can be bound on this machine. */
export function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
