/**
 * {@linkcode SqliteStore}: the shared store suite on a real file, then what only a file store
 * does: commit within the tick without being asked, and start-up on a damaged, foreign, locked,
 * newer or older file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  LAZY_SAVE_MS,
  SCHEMA_VERSION,
  SqliteStore,
  type StoreLog,
} from "../../broker/store/sqlite_store.ts";
import { waitUntil } from "../_helpers/process.ts";
import { delivery, message, session, storeConformance } from "./_conformance.ts";

storeConformance("SqliteStore", () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-store-" });
  const path = `${dir}/midge.db`;
  const open: SqliteStore[] = [];
  const track = (store: SqliteStore) => (open.push(store), store);
  return {
    open: () => track(SqliteStore.open(path)),
    crash: (store) => {
      (store as SqliteStore).discard();
      return track(SqliteStore.open(path));
    },
    reopen: (store) => {
      store.close();
      return track(SqliteStore.open(path));
    },
    cleanup: () => {
      for (const store of open) store.discard();
      Deno.removeSync(dir, { recursive: true });
    },
  };
});

/** A temporary directory removed on dispose, and a log that keeps its lines. */
function scratch() {
  const dir = Deno.makeTempDirSync({ prefix: "midge-store-" });
  const lines: string[] = [];
  const log: StoreLog = {
    error: (line) => void lines.push(`E ${line}`),
    warn: (line) => void lines.push(`W ${line}`),
  };
  return {
    dir,
    path: `${dir}/midge.db`,
    lines,
    log,
    files: () => [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

Deno.test("SqliteStore.open() moves a file that is not SQLite aside and starts empty", () => {
  using s = scratch();
  Deno.writeTextFileSync(s.path, "this is not a database, just some text ".repeat(200));
  const store = SqliteStore.open(s.path, { log: s.log });
  assert.deepStrictEqual(store.load().sessions, []);
  assert.equal(store.movedAside, `${s.path}.bad`);
  assert.match(
    s.lines[0] ?? "",
    /^E Error: Persistence file .*midge\.db is unusable \(it is not a SQLite database\); moved it to .*midge\.db\.bad/,
  );
  store.putSession(session("new"));
  store.close();
  assert.deepStrictEqual(s.files(), ["midge.db", "midge.db.bad"]);
});

Deno.test("SqliteStore.open() moves a Mosquitto persistence file aside, naming it as such", () => {
  using s = scratch();
  // The start of a mosquitto.db: magic 0x00 0xB5 0x00 "mosquitto db", then a CRC and version.
  const magic = [0x00, 0xb5, 0x00, ...new TextEncoder().encode("mosquitto db")];
  Deno.writeFileSync(s.path, new Uint8Array([...magic, 0, 0, 0, 0, 0, 0, 0, 6, 1, 2, 3]));
  const store = SqliteStore.open(s.path, { log: s.log });
  assert.match(s.lines[0] ?? "", /it is a Mosquitto persistence file, which midge cannot read/);
  store.close();
});

Deno.test("SqliteStore.open() numbers the .bad files when one is already there", () => {
  using s = scratch();
  for (const _ of [1, 2]) {
    Deno.writeTextFileSync(s.path, "garbage".repeat(10));
    SqliteStore.open(s.path, { log: s.log }).close();
  }
  assert.deepStrictEqual(s.files(), ["midge.db", "midge.db.bad", "midge.db.bad.1"]);
});

Deno.test("SqliteStore.open() moves aside a store written by a newer schema version", () => {
  using s = scratch();
  SqliteStore.open(s.path).close();
  {
    using db = new DatabaseSync(s.path);
    db.exec("UPDATE schema_version SET version = 99");
  }
  const store = SqliteStore.open(s.path, { log: s.log });
  assert.match(
    s.lines[0] ?? "",
    new RegExp(
      `written by a newer midge \\(schema version 99, this one reads up to ${SCHEMA_VERSION}\\)`,
    ),
  );
  store.close();
});

Deno.test("SqliteStore.open() moves aside a SQLite file of another application", () => {
  using s = scratch();
  {
    using db = new DatabaseSync(s.path);
    db.exec("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hello')");
  }
  const store = SqliteStore.open(s.path, { log: s.log });
  assert.match(s.lines[0] ?? "", /not a midge store/);
  store.close();
  using moved = new DatabaseSync(`${s.path}.bad`);
  assert.equal(moved.prepare("SELECT text FROM notes").get()?.text, "hello");
});

Deno.test("SqliteStore.open() refuses a file another process holds, without moving it", () => {
  using s = scratch();
  const first = SqliteStore.open(s.path);
  first.putSession(session("c"));
  first.commit();
  assert.throws(
    () => SqliteStore.open(s.path, { log: s.log }),
    /Cannot open persistence file .*midge\.db: it is in use by another process/,
  );
  assert.deepStrictEqual(s.lines, []);
  first.close();
  assert.deepStrictEqual(s.files(), ["midge.db"]);
});

Deno.test("SqliteStore.open() refuses a directory that does not exist", () => {
  using s = scratch();
  assert.throws(
    () => SqliteStore.open(`${s.dir}/missing/midge.db`),
    /Cannot open persistence file .*missing\/midge\.db: unable to open database file/,
  );
});

Deno.test("SqliteStore.open() skips and removes rows it cannot decode, keeping the rest", () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  store.putSession(session("good"));
  store.putSession(session("bad"));
  store.putDelivery(delivery("good", 1, message("t", "fine")));
  store.putDelivery(delivery("good", 2, message("t", "broken properties")));
  store.close();
  {
    using db = new DatabaseSync(s.path);
    db.exec("UPDATE sessions SET protocol_version = 9 WHERE client_id = 'bad'");
    db.exec("UPDATE deliveries SET properties = '{not json' WHERE seq = 2");
  }
  const reopened = SqliteStore.open(s.path, { log: s.log });
  const snapshot = reopened.load();
  assert.deepStrictEqual(snapshot.sessions, [session("good")]);
  assert.deepStrictEqual(snapshot.deliveries, [delivery("good", 1, message("t", "fine"))]);
  assert.match(
    s.lines[0] ?? "",
    /^W Warning: Persistence file .*: 2 damaged row\(s\) skipped and removed/,
  );
  reopened.close();
  // Removed, so the next start is quiet.
  s.lines.length = 0;
  SqliteStore.open(s.path, { log: s.log }).close();
  assert.deepStrictEqual(s.lines, []);
});

Deno.test("SqliteStore.open() drops retained messages that expired while it was closed", () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  store.putRetained(message("old", "x", { retain: true, expiresAt: 1000 }));
  store.putRetained(message("new", "x", { retain: true, expiresAt: 5000 }));
  store.close();
  const reopened = SqliteStore.open(s.path, { now: 2000 });
  assert.deepStrictEqual(reopened.load().retained.map((m) => m.topic), ["new"]);
  reopened.close();
});

/** What a power cut would leave of `store` now: its files copied while it is open, reopened. */
function crashCopy(store: SqliteStore, to: string): SqliteStore {
  Deno.copyFileSync(store.path, to);
  try {
    Deno.copyFileSync(`${store.path}-wal`, `${to}-wal`);
  } catch {
    // No WAL.
  }
  return SqliteStore.open(to);
}

Deno.test("SqliteStore saves QoS 1 delivery progress without a commit of its own, in order", async () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  const rows = (name: string) => {
    const copy = crashCopy(store, `${s.dir}/${name}.db`);
    const result = copy.load().deliveries.map((d) => [d.seq, d.state, d.packetId]);
    copy.close();
    return result;
  };
  store.putDelivery(delivery("c", 1, message("t", "one")));
  store.putDelivery(delivery("c", 2, message("t", "two")));
  store.commit();
  // Into flight, then completed: progress, which a connection's flush need not wait for.
  store.putDelivery(delivery("c", 1, message("t", "one"), { packetId: 7, state: "publish" }));
  store.deleteDelivery("c", 2);
  assert.equal(store.dirty, false);
  assert.deepStrictEqual(rows("now"), [[1, "queued", 0], [2, "queued", 0]]);
  // A new queued message is saved at the commit; the progress may wait (redelivery is allowed).
  store.putDelivery(delivery("c", 3, message("t", "three")));
  assert.equal(store.dirty, true);
  store.commit();
  assert.deepStrictEqual(rows("queued"), [[1, "queued", 0], [2, "queued", 0], [3, "queued", 0]]);
  // A new message sent straight into flight takes the progress of its client's earlier
  // messages with it: none of them may be left queued behind it.
  store.putDelivery(delivery("c", 3, message("t", "three"), { packetId: 8, state: "publish" }));
  store.putDelivery(delivery("c", 4, message("t", "four"), { packetId: 9, state: "publish" }));
  store.commit();
  assert.deepStrictEqual(rows("inflight"), [[1, "publish", 7], [3, "publish", 8], [
    4,
    "publish",
    9,
  ]]);
  // Without a new message, progress is saved within LAZY_SAVE_MS all the same.
  store.deleteDelivery("c", 1);
  store.deleteDelivery("c", 3);
  let n = 0;
  await waitUntil(
    () => rows(`later-${n++}`).map(([seq]) => seq).join() === "4",
    `progress saved within ${LAZY_SAVE_MS} ms`,
    10_000,
    LAZY_SAVE_MS,
  );
  store.close();
});

Deno.test("SqliteStore never writes a message removed before the commit", () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  store.putDelivery(delivery("c", 1, message("t", "acknowledged at once")));
  store.putDelivery(delivery("c", 1, message("t", "acknowledged at once"), { packetId: 1 }));
  store.putDelivery(delivery("c", 2, message("t", "kept")));
  assert.equal(store.pendingDeliveries, 2);
  store.deleteDelivery("c", 1);
  assert.equal(store.pendingDeliveries, 1);
  store.commit();
  assert.equal(store.pendingDeliveries, 0);
  const copy = crashCopy(store, `${s.dir}/copy.db`);
  assert.deepStrictEqual(copy.load().deliveries.map((d) => d.seq), [2]);
  copy.close();
  store.close();
});

Deno.test("SqliteStore removes a session's saved, new and completed deliveries with it", () => {
  using s = scratch();
  let store = SqliteStore.open(s.path);
  for (const seq of [1, 2, 3]) store.putDelivery(delivery("c", seq, message("t", `${seq}`)));
  store.putDelivery(delivery("other", 1, message("t", "stays")));
  store.commit();
  store.deleteDelivery("c", 2); // completed, removal not saved yet
  store.putDelivery(delivery("c", 4, message("t", "new")));
  store.deleteSession("c");
  store.putDelivery(delivery("c", 1, message("t", "new session")));
  store.commit();
  store.discard();
  store = SqliteStore.open(s.path);
  assert.deepStrictEqual(
    store.load().deliveries.map((
      d,
    ) => [d.clientId, d.seq, new TextDecoder().decode(d.message.payload)]),
    [["c", 1, "new session"], ["other", 1, "stays"]],
  );
  store.close();
});

Deno.test("SqliteStore commits made while an fsync is in flight after it, durable together", async () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  store.putDelivery(delivery("c", 1, message("t", "one")));
  store.commit();
  const first = store.whenDurable(store.commitCount);
  assert.ok(first, "an fsync is started");
  // Recorded while that fsync runs: counted, but COMMITted once it is done, with what follows.
  store.putDelivery(delivery("c", 2, message("t", "two")));
  store.commit();
  assert.equal(store.dirty, false);
  const count = store.commitCount;
  let copy = crashCopy(store, `${s.dir}/during.db`);
  assert.deepStrictEqual(copy.load().deliveries.map((d) => d.seq), [1]);
  copy.close();
  await first;
  await store.whenDurable(count);
  copy = crashCopy(store, `${s.dir}/after.db`);
  assert.deepStrictEqual(copy.load().deliveries.map((d) => d.seq), [1, 2]);
  copy.close();
  store.close();
});

Deno.test("SqliteStore saves a QoS 2 delivery's packet id and PUBREL state at once", () => {
  using s = scratch();
  const store = SqliteStore.open(s.path);
  const msg = message("t", "exactly once", { qos: 2 });
  store.putDelivery(delivery("c", 1, msg));
  store.commit();
  store.putDelivery(delivery("c", 1, msg, { packetId: 9, state: "publish" }));
  assert.equal(store.dirty, true, "a QoS 2 PUBLISH must not leave before its packet id is saved");
  store.commit();
  store.putDelivery(delivery("c", 1, msg, { packetId: 9, state: "pubrel" }));
  assert.equal(store.dirty, true, "nor a PUBREL before its state is");
  store.commit();
  const copy = crashCopy(store, `${s.dir}/copy.db`);
  assert.deepStrictEqual(copy.load().deliveries.map((d) => [d.state, d.packetId]), [["pubrel", 9]]);
  copy.close();
  store.close();
});
