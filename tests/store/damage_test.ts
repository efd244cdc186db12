/**
 * Power-loss style damage: the database or its WAL truncated at a random offset, bytes flipped,
 * a page zeroed, the WAL lost. The store always opens — keeping what is intact, or moving the
 * file aside to `.bad` and starting empty — and stays usable; and a real broker process always
 * starts on such a file.
 *
 * Damage comes from a seeded generator; the seed is printed and `MIDGE_DAMAGE_SEED=<seed>`
 * replays a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SqliteStore, type StoreLog } from "../../broker/store/sqlite_store.ts";
import type { StoreSnapshot } from "../../broker/store/store.ts";
import { MqttClient } from "../../client/client.ts";
import { waitUntil } from "../_helpers/process.ts";
import { startMidge } from "./_broker_process.ts";
import { delivery, message, session } from "./_conformance.ts";

const SEED = Number(Deno.env.get("MIDGE_DAMAGE_SEED") ?? Date.now() % 0x7fffffff);
console.log(`damage_test seed ${SEED} (replay with MIDGE_DAMAGE_SEED=${SEED})`);

/** mulberry32, as in crash_test.ts. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const next = random(SEED);
const below = (n: number) => Math.floor(next() * n);

/** Transactions in the main file (checkpointed) and in the WAL. */
const CHECKPOINTED = 40;
const IN_WAL = 60;

/**
 * Writes a store the way a broker leaves it when the power goes: the first transactions
 * checkpointed into the database file, the rest only in the WAL. Transaction `i` adds session
 * `s<i>` with one queued message and retained message `r/<i>`. Returns the files' bytes.
 */
function writeGolden(dir: string): { db: Uint8Array; wal: Uint8Array } {
  const path = `${dir}/golden.db`;
  const write = (store: SqliteStore, i: number) => {
    store.putSession(session(`s${i}`));
    store.putDelivery(delivery(`s${i}`, 1, message("t", "x".repeat(200 + i))));
    store.putRetained(message(`r/${i}`, `retained ${i}`, { retain: true }));
    store.commit();
  };
  const first = SqliteStore.open(path);
  for (let i = 0; i < CHECKPOINTED; i++) write(first, i);
  first.close(); // checkpoints: all of it is in the database file now
  const second = SqliteStore.open(path);
  for (let i = CHECKPOINTED; i < CHECKPOINTED + IN_WAL; i++) write(second, i);
  // Copied while open: exactly the bytes a power cut would leave.
  const files = { db: Deno.readFileSync(path), wal: Deno.readFileSync(`${path}-wal`) };
  second.discard();
  return files;
}

type Damage = { name: string; apply(files: { db: Uint8Array; wal: Uint8Array | undefined }): void };

function flip(bytes: Uint8Array, count: number): void {
  for (let i = 0; i < count; i++) bytes[below(bytes.length)]! ^= 1 << below(8);
}

const DAMAGES: Damage[] = [
  {
    name: "WAL truncated",
    apply: (f) => void (f.wal = f.wal!.slice(0, below(f.wal!.length))),
  },
  { name: "WAL lost", apply: (f) => void (f.wal = undefined) },
  { name: "WAL bytes flipped", apply: (f) => flip(f.wal!, 1 + below(8)) },
  { name: "database truncated", apply: (f) => void (f.db = f.db.slice(0, below(f.db.length))) },
  { name: "database bytes flipped", apply: (f) => flip(f.db, 1 + below(8)) },
  {
    name: "database page zeroed",
    apply: (f) => {
      const page = below(Math.ceil(f.db.length / 4096));
      f.db.fill(0, page * 4096, (page + 1) * 4096);
    },
  },
  {
    name: "database truncated and WAL truncated",
    apply: (f) => {
      f.db = f.db.slice(0, below(f.db.length));
      f.wal = f.wal!.slice(0, below(f.wal!.length));
    },
  },
];

/** The session ids of a snapshot as transaction numbers. */
function sessionNumbers(snapshot: StoreSnapshot): number[] {
  return snapshot.sessions.map((s) => Number(s.clientId.slice(1))).sort((a, b) => a - b);
}

Deno.test("SqliteStore.open() always opens a damaged store, keeping what is intact or moving it aside", () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-damage-" });
  try {
    const golden = writeGolden(dir);
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 6; round++) {
      for (const damage of DAMAGES) {
        const files = { db: golden.db.slice(), wal: golden.wal.slice() as Uint8Array | undefined };
        damage.apply(files);
        const path = `${dir}/r${round}-${damage.name.replaceAll(" ", "-")}.db`;
        Deno.writeFileSync(path, files.db);
        if (files.wal) Deno.writeFileSync(`${path}-wal`, files.wal);
        const errors: string[] = [];
        const log: StoreLog = { error: (l) => void errors.push(l), warn: () => {} };
        const label = `round ${round}, ${damage.name}`;

        const store = SqliteStore.open(path, { log }); // must not throw
        const snapshot = store.load();
        const numbers = sessionNumbers(snapshot);
        let outcome: string;
        if (store.movedAside !== undefined) {
          outcome = "moved aside";
          assert.deepStrictEqual(numbers, [], label);
          assert.match(
            errors[0] ?? "",
            /is unusable .* moved it to .*\.bad/,
            `${label}: ${errors}`,
          );
        } else if (damage.name.startsWith("WAL")) {
          // The database file is intact, so everything checkpointed is there, and the WAL adds a
          // prefix of the later transactions: SQLite replays frames up to the last intact commit.
          outcome = numbers.length === CHECKPOINTED + IN_WAL ? "intact" : "kept a prefix";
          assert.deepStrictEqual(
            numbers,
            Array.from({ length: numbers.length }, (_, i) => i),
            label,
          );
          assert.ok(numbers.length >= CHECKPOINTED, `${label}: lost checkpointed data`);
        } else {
          // Damage inside the database file that SQLite's checks cannot see (a flipped bit in a
          // payload) reads back; what matters is that every row decodes and the store works.
          outcome = "opened";
          assert.ok(numbers.every((n) => n >= 0 && n < CHECKPOINTED + IN_WAL), label);
        }
        outcomes.set(
          `${damage.name}: ${outcome}`,
          (outcomes.get(`${damage.name}: ${outcome}`) ?? 0) + 1,
        );

        // Usable: a change commits and reads back after reopening.
        store.putSession(session("after"));
        store.close();
        const reopened = SqliteStore.open(path, { log });
        assert.ok(reopened.load().sessions.some((s) => s.clientId === "after"), label);
        assert.equal(reopened.movedAside, undefined, `${label}: the new file is sound`);
        reopened.close();
      }
    }
    console.log([...outcomes].map(([what, n]) => `${what} ×${n}`).join("\n"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("Broker process starts on a persistence file damaged after a SIGKILL", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-damage-" });
  try {
    let broker = await startMidge({ dir });
    const client = new MqttClient({ port: broker.port, clientId: "writer", clean: false });
    await client.connect();
    await client.subscribe([{ topicFilter: "queue/#", qos: 1 }]);
    for (let i = 0; i < 200; i++) {
      await client.publish(`retained/${i}`, `value ${i}`, { qos: 1, retain: true });
    }
    await broker.kill();
    client.close();

    // A torn WAL: the broker starts and keeps a consistent prefix.
    const wal = Deno.readFileSync(`${dir}/midge.db-wal`);
    Deno.writeFileSync(`${dir}/midge.db-wal`, wal.slice(0, below(wal.length)));
    broker = await startMidge({ dir });
    const restored = broker.log.find((line) => / Restored /.test(line)) ?? broker.log.join("\n");
    assert.match(restored, /Restored [01] sessions, [\d,]+ retained, 0 queued\.$/);
    const retained = Number(/, ([\d,]+) retained/.exec(restored)?.[1]?.replace(",", ""));
    const reader = new MqttClient({ port: broker.port, clientId: "reader" });
    const topics: string[] = [];
    reader.onMessage((m) => void topics.push(m.topic));
    await reader.connect();
    await reader.subscribe([{ topicFilter: "retained/#", qos: 0 }]);
    await waitUntil(() => topics.length === retained, "the retained messages that survived");
    // A prefix: retained/0 .. retained/(n-1), as they were acknowledged in that order.
    assert.deepStrictEqual(
      topics.map((t) => Number(t.split("/")[1])).sort((a, b) => a - b),
      Array.from({ length: retained }, (_, i) => i),
    );
    await reader.disconnect();
    await broker.kill();

    // A destroyed header: moved aside, loudly, and the broker starts empty.
    const db = Deno.readFileSync(`${dir}/midge.db`);
    db.fill(0xff, 0, 100);
    Deno.writeFileSync(`${dir}/midge.db`, db);
    broker = await startMidge({ dir });
    await using _last = broker;
    assert.ok(
      broker.log.some((line) =>
        /Error: Persistence file .*midge\.db is unusable .*moved it to .*midge\.db\.bad/.test(line)
      ),
      broker.log.join("\n"),
    );
    assert.ok(
      broker.log.some((line) => / Restored 0 sessions, 0 retained, 0 queued\.$/.test(line)),
    );
    assert.ok(Deno.statSync(`${dir}/midge.db.bad`).isFile);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
