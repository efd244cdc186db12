/**
 * `midge` with no subcommand, run as a process: start-up log lines, signals, exit codes.
 *
 * @module
 */

import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A running `deno run main.ts …` whose stderr lines can be awaited. */
function spawnBroker(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", "--allow-sys", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let waiter: { pattern: RegExp; resolve: (line: string) => void } | undefined;
  const stderrDone = (async () => {
    let pending = "";
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (waiter?.pattern.test(line)) waiter.resolve(line);
      }
    }
    if (pending) lines.push(pending);
  })();
  const stdoutDone = child.stdout.pipeTo(new WritableStream());
  return {
    child,
    lines,
    /** Resolves with the first stderr line matching `pattern`. */
    waitFor(pattern: RegExp): Promise<string> {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiter = { pattern, resolve });
    },
    /** Waits for exit and for all output. */
    async finished(): Promise<Deno.CommandStatus> {
      const status = await child.status;
      await Promise.all([stderrDone, stdoutDone]);
      return status;
    },
  };
}

const TIMESTAMP = /^\d+: /;

Deno.test("midge logs like mosquitto on start, serves on loopback and exits 0 on SIGTERM", async () => {
  const broker = spawnBroker(["-p", "0"]);
  try {
    const opening = await broker.waitFor(/Opening ipv4 listen socket on port \d+\.$/);
    const port = Number(/port (\d+)\./.exec(opening)?.[1]);
    await broker.waitFor(/midge version 0\.1\.0 running$/);

    // Local-only mode: loopback answers.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();

    broker.child.kill("SIGTERM");
    const status = await broker.finished();
    assert.equal(status.code, 0, broker.lines.join("\n"));
    assert.ok(broker.lines.every((line) => TIMESTAMP.test(line)), broker.lines.join("\n"));
    const messages = broker.lines.map((line) => line.replace(TIMESTAMP, ""));
    assert.equal(messages[0], "midge version 0.1.0 starting");
    assert.ok(messages.includes(`Opening ipv6 listen socket on port ${port}.`));
    assert.equal(messages.at(-1), "midge version 0.1.0 terminating");
  } finally {
    try {
      broker.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await broker.finished();
  }
});

Deno.test("midge exits 0 on SIGINT", async () => {
  const broker = spawnBroker(["-p", "0"]);
  await broker.waitFor(/running$/);
  broker.child.kill("SIGINT");
  const status = await broker.finished();
  assert.equal(status.code, 0, broker.lines.join("\n"));
  assert.match(broker.lines.at(-1) ?? "", /: midge version 0\.1\.0 terminating$/);
});

Deno.test("midge reports a taken port in one line and exits 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const broker = spawnBroker(["-p", String(taken.addr.port)]);
  const status = await broker.finished();
  assert.equal(status.code, 1);
  const errors = broker.lines.filter((line) => /error/i.test(line));
  assert.deepEqual(
    errors.map((line) => line.replace(TIMESTAMP, "")),
    [`Error: Address already in use: 127.0.0.1:${taken.addr.port}`],
  );
  assert.ok(!broker.lines.some((line) => /^\s+at /.test(line)), "no stack trace");
});

Deno.test("midge -c with a missing file exits 1 with one error line", async () => {
  const broker = spawnBroker(["-c", "/nonexistent/midge/mosquitto.conf"]);
  const status = await broker.finished();
  assert.equal(status.code, 1);
  assert.match(
    broker.lines.join("\n"),
    /Error: Unable to open config file \/nonexistent\/midge\/mosquitto\.conf\./,
  );
});

Deno.test("midge -p rejects a port that is not a number", async () => {
  const broker = spawnBroker(["-p", "ten"]);
  const status = await broker.finished();
  assert.equal(status.code, 1);
  assert.match(broker.lines.join("\n"), /Invalid port specified \(ten\)/);
});
