/**
 * The durable {@linkcode Store}: one SQLite file through `node:sqlite` (built into Deno and into
 * `deno compile`d binaries), in WAL mode. A COMMIT writes the WAL (`synchronous=NORMAL`: safe
 * against a process crash on return); {@linkcode SqliteStore.whenDurable} then fsyncs the WAL
 * asynchronously, and connections hold acknowledgements until it has, so nothing acknowledged is
 * lost to a power cut either, while the event loop keeps serving (and grouping commits) during
 * the fsync.
 *
 * Changes the broker records go into an open transaction (BEGIN at the first change after a
 * commit), committed by {@linkcode SqliteStore.commit}, which a connection calls before it writes
 * anything (so a PUBACK, PUBREC or SUBACK leaves only after what it acknowledges is durable), and
 * at the latest by a microtask queued at the first change. Everything recorded while one batch
 * of socket reads is handled shares one commit and one fsync: group commit. While an fsync is in
 * flight, a commit waits for it to end (acknowledgements wait for it anyway) and is then made
 * together with everything recorded meanwhile, and fsynced by the next one; fsyncs start at most
 * every {@linkcode SYNC_GAP_MS} while acknowledgements keep coming. Only a change that must be
 * saved before the next packet leaves, not just before the next acknowledgement (a QoS 2
 * delivery's packet id or PUBREL state, for exactly-once), is committed at once.
 *
 * Per message to a persistent subscriber the store writes one row and later deletes it, and
 * little else:
 * - A new message's row waits in memory until the commit, written then with the other new rows
 *   many to an INSERT; one removed before that (delivered and acknowledged already) is never
 *   written at all.
 * - Its progress — a QoS 0/1 message moving from the queue into flight, or any delivery
 *   completed (deleted) — waits in memory and is saved at most {@linkcode LAZY_SAVE_MS} later
 *   (written, not fsynced; the next fsync covers it), removals of consecutive rows as one range.
 *   If it is lost, the message is only delivered again after a restart, which QoS 1 allows (and
 *   a completed QoS 2 flow then gets a PUBREL, answered with PUBCOMP). A move into flight that is
 *   completed before it is saved is never written. Kept progress goes into the file before any
 *   change that would otherwise put a message in flight there while an older one of the same
 *   client is still queued (a new message sent straight into flight, a QoS 2 transition), so a
 *   restart never resends out of order.
 * - Rows are keyed by an id the store assigns in the order messages are recorded (the table's
 *   rowid, its only B-tree), state and QoS flags share one integer column.
 *
 * Start-up never fails on a damaged file: {@linkcode SqliteStore.open} checks it (`PRAGMA
 * quick_check`, the schema, every row) and moves a file it cannot trust aside to `<file>.bad`,
 * with its `-wal` and `-shm`, then starts empty. A torn WAL needs no help: SQLite ignores frames
 * after the last intact commit. Only a file that is locked by another process or cannot be
 * opened at all stops the broker, since moving it would not help.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Properties, ProtocolVersion, QoS, Will } from "../../codec/types.ts";
import type { Message } from "../message.ts";
import type { SessionSubscription } from "../session.ts";
import type { Store, StoredDelivery, StoredSession, StoreSnapshot } from "./store.ts";

/** Where a store reports what it recovered from; a LogTape `Logger` fits. */
export interface StoreLog {
  /** Data was lost or could not be saved. */
  error(message: string): void;
  /** Something was repaired without losing data that matters. */
  warn(message: string): void;
}

/** Options of {@linkcode SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Receives the loud lines about a file moved aside, rows skipped or a failed commit. */
  log?: StoreLog;
  /** `Date.now()` for purging expired retained messages at open (tests). */
  now?: number;
}

/** Longest a delivery's progress (see the module notes) waits in memory before it is saved. */
export const LAZY_SAVE_MS = 200;

/**
 * Shortest time from the start of one fsync of the WAL to the start of the next, while
 * acknowledgements wait for one. On a fast disk an fsync takes a fraction of a millisecond, and
 * starting the next at once would spend much of a CPU core on thousands of tiny commits and
 * fsyncs a second; this groups a few milliseconds' worth of messages into each, for at most that
 * much more latency under load. (On an SD card an fsync takes longer than this anyway.) A lone
 * acknowledgement never waits for it.
 */
export const SYNC_GAP_MS = 2;

/** Delivery rows per multi-row INSERT at a commit (11 parameters each). */
const INSERT_BATCH = 32;

/** The columns of a delivery row, as the INSERTs at a commit list them. */
const DELIVERY_COLUMNS = "id, client_id, seq, packet_id, flags, topic, payload, origin, " +
  "identifiers, properties, expires_at";
/** One row's placeholders in those INSERTs. */
const DELIVERY_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/** `PRAGMA application_id` of a midge store: "midg". */
export const APPLICATION_ID = 0x6d696467;

/**
 * Schema migrations: entry `i` takes a store from version `i` to `i + 1`, so the current version
 * is their count. A new version appends a step (ALTER TABLE, or a copy into a new table) and
 * never edits an old one: files written by every earlier version keep opening.
 */
const MIGRATIONS: readonly ((db: DatabaseSync) => void)[] = [
  // Version 1.
  (db) =>
    db.exec(`
      PRAGMA application_id = ${APPLICATION_ID};
      CREATE TABLE schema_version (version INTEGER NOT NULL);
      INSERT INTO schema_version (version) VALUES (0);
      CREATE TABLE sessions (
        client_id TEXT PRIMARY KEY,
        protocol_version INTEGER NOT NULL,
        expiry_interval INTEGER NOT NULL,
        disconnected_at INTEGER NOT NULL,
        username TEXT
      ) WITHOUT ROWID;
      CREATE TABLE subscriptions (
        client_id TEXT NOT NULL,
        topic_filter TEXT NOT NULL,
        filter TEXT NOT NULL,
        share_group TEXT,
        qos INTEGER NOT NULL,
        no_local INTEGER NOT NULL,
        retain_as_published INTEGER NOT NULL,
        retain_handling INTEGER NOT NULL,
        identifier INTEGER NOT NULL,
        PRIMARY KEY (client_id, topic_filter)
      ) WITHOUT ROWID;
      CREATE TABLE retained (
        topic TEXT PRIMARY KEY,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        properties TEXT,
        expires_at INTEGER NOT NULL,
        origin TEXT NOT NULL
      );
      CREATE TABLE deliveries (
        client_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        packet_id INTEGER NOT NULL,
        state TEXT NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        identifiers TEXT,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        message_qos INTEGER NOT NULL,
        message_retain INTEGER NOT NULL,
        properties TEXT,
        expires_at INTEGER NOT NULL,
        origin TEXT NOT NULL,
        PRIMARY KEY (client_id, seq)
      );
      CREATE TABLE incoming_qos2 (
        client_id TEXT NOT NULL,
        packet_id INTEGER NOT NULL,
        PRIMARY KEY (client_id, packet_id)
      ) WITHOUT ROWID;
      CREATE TABLE wills (
        client_id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        qos INTEGER NOT NULL,
        retain INTEGER NOT NULL,
        properties TEXT,
        publish_at INTEGER NOT NULL
      );
    `),
  // Version 2: deliveries keyed by a row id the store assigns in the order messages are
  // recorded, with no other index (one B-tree to write per message instead of two), and state,
  // QoS and RETAIN packed into one integer (see deliveryFlags()). Rows come across in order,
  // so their ids keep it; a row with a value the flags cannot hold gets state 3, which
  // start-up reports and removes as damaged.
  (db) =>
    db.exec(`
      CREATE TABLE deliveries_v2 (
        id INTEGER PRIMARY KEY,
        client_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        packet_id INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        origin TEXT NOT NULL,
        identifiers TEXT,
        properties TEXT,
        expires_at INTEGER NOT NULL
      );
      INSERT INTO deliveries_v2
        (client_id, seq, packet_id, flags, topic, payload, origin, identifiers, properties,
         expires_at)
        SELECT client_id, seq, packet_id,
          CASE WHEN state IN ('queued', 'publish', 'pubrel') AND qos IN (0, 1, 2)
              AND retain IN (0, 1) AND message_qos IN (0, 1, 2) AND message_retain IN (0, 1)
            THEN (CASE state WHEN 'queued' THEN 0 WHEN 'publish' THEN 1 ELSE 2 END)
              | (qos << 2) | (retain << 4) | (message_qos << 5) | (message_retain << 7)
            ELSE 3 END,
          topic, payload, origin, identifiers, properties, expires_at
        FROM deliveries ORDER BY client_id, seq;
      DROP TABLE deliveries;
      ALTER TABLE deliveries_v2 RENAME TO deliveries;
    `),
];

/** The schema version this midge writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** SQLite's file header; anything else (e.g. a Mosquitto `mosquitto.db`) is not ours. */
const SQLITE_MAGIC = "SQLite format 3\0";
/** Mosquitto's persistence file starts with 0x00 0xB5 0x00 "mosquitto db". */
const MOSQUITTO_MAGIC = "\x00\xb5\x00mosquitto db";

/** A file that must be moved aside, with why. */
class DamagedStoreError extends Error {}

/**
 * A store on one SQLite file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SqliteStore } from "./sqlite_store.ts";
 *
 * const dir = Deno.makeTempDirSync();
 * const store = SqliteStore.open(`${dir}/midge.db`);
 * store.putRetained({
 *   topic: "home/door",
 *   payload: new TextEncoder().encode("open"),
 *   qos: 1,
 *   retain: true,
 *   properties: undefined,
 *   expiresAt: 0,
 *   origin: "door-sensor",
 * });
 * store.close();
 * const reopened = SqliteStore.open(`${dir}/midge.db`);
 * assert.equal(reopened.load().retained[0]?.topic, "home/door");
 * reopened.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class SqliteStore implements Store {
  /** The database file. */
  readonly path: string;
  /** Where a damaged file found by {@linkcode open} was moved, if one was. */
  readonly movedAside: string | undefined;
  readonly #db: DatabaseSync;
  readonly #log: StoreLog | undefined;
  readonly #sql: Statements;
  #inTransaction = false;
  #commitQueued = false;
  #closed = false;
  #failing = false;
  /** What open() read and checked, handed to the first load() if nothing changed since. */
  #preloaded: StoreSnapshot | undefined;
  /**
   * Delivery progress not saved yet (see the module notes): rows moved into flight, by client
   * id and row id, holding the delivery to save, and the ids of completed rows to delete.
   */
  #lazyUpdates = new Map<string, Map<number, StoredDelivery>>();
  #lazyDeletes: number[] = [];
  /** New delivery rows by row id, written at the next commit if still there (module notes). */
  #pending = new Map<number, StoredDelivery>();
  /** The row id the next new delivery gets: ids grow in the order messages are recorded. */
  #nextId = 1;
  /** Multi-row INSERT statements by row count, prepared when first needed. */
  readonly #inserts: StatementSync[] = [];
  /** Reused parameter array for the multi-row INSERTs. */
  readonly #params: (string | number | null | Uint8Array)[] = [];
  /** Commits counted by commit() (the numbers whenDurable() takes). */
  #commits = 0;
  /** The last of those actually COMMITted. */
  #committed = 0;
  /** Changes recorded since the last commit() call. */
  #changed = false;
  /** A change recorded that must be committed before the next packet leaves. */
  #urgent = false;
  /** Commits known to be fsynced. */
  #synced = 0;
  /** An fsync is in flight, or the next one waits out SYNC_GAP_MS: commits wait for it. */
  #syncing = false;
  #syncWaiters: { count: number; resolve: () => void }[] = [];
  #wal: Deno.FsFile | undefined;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  /** `performance.now()` when the last fsync started. */
  #syncStarted = 0;
  /**
   * The delivery rows each client has, saved or pending: seq → row id. A put knows from it
   * whether it adds a message (saved at the next commit) or moves one that is there (delivery
   * progress), and rows are found by id, the table's only key.
   */
  readonly #rows = new Map<string, Map<number, number>>();

  private constructor(
    path: string,
    db: DatabaseSync,
    sql: Statements,
    preloaded: StoreSnapshot,
    rowIds: readonly number[],
    log: StoreLog | undefined,
    movedAside: string | undefined,
  ) {
    this.path = path;
    this.#db = db;
    this.#sql = sql;
    this.#preloaded = preloaded;
    this.#log = log;
    this.movedAside = movedAside;
    preloaded.deliveries.forEach(({ clientId, seq }, i) => {
      const id = rowIds[i]!;
      this.#rowsOf(clientId).set(seq, id);
      if (id >= this.#nextId) this.#nextId = id + 1;
    });
  }

  /**
   * Opens (or creates) the store at `path`, migrating an older schema. A file that is damaged,
   * not a midge store, or from a newer schema is moved to `<path>.bad` (or `.bad.1`, ...) with
   * an error logged, and an empty store is created in its place. Throws only when the file is
   * locked by another process or cannot be opened or created at all.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const log = options.log;
    const now = options.now ?? Date.now();
    try {
      return SqliteStore.#openChecked(path, log, now, undefined);
    } catch (error) {
      if (!(error instanceof DamagedStoreError)) throw error;
      const movedTo = moveAside(path);
      log?.error(
        `Error: Persistence file ${path} is unusable (${error.message}); moved it to ${movedTo} ` +
          "and starting with no saved sessions, queued or retained messages.",
      );
      return SqliteStore.#openChecked(path, log, now, movedTo);
    }
  }

  static #openChecked(
    path: string,
    log: StoreLog | undefined,
    now: number,
    movedAside: string | undefined,
  ): SqliteStore {
    checkHeader(path);
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
    } catch (error) {
      throw classify(path, error);
    }
    try {
      // One process at a time: a second broker on the same file gets "database is locked".
      // Exclusive WAL also needs no -shm file.
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
      if (mode !== "wal") throw new DamagedStoreError(`cannot use WAL mode (got ${String(mode)})`);
      // NORMAL: a COMMIT is written to the WAL but not fsynced; whenDurable() fsyncs the WAL
      // asynchronously, so the event loop keeps serving (and grouping commits) during the fsync
      // while acknowledgements wait for it.
      db.exec("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 8388608");
      const check = db.prepare("PRAGMA quick_check").all();
      const verdict = check.map((row) => String(row.quick_check)).join("; ")
        .replace(/\s*\n\s*/g, "; ");
      if (verdict !== "ok") throw new DamagedStoreError(`quick_check: ${verdict.slice(0, 200)}`);
      migrate(db);
      let sql: Statements;
      try {
        sql = prepareStatements(db);
      } catch (error) {
        throw new DamagedStoreError(`unexpected schema: ${describe(error)}`);
      }
      // Expired retained messages would only be dropped at the next match; do not keep them.
      sql.purgeRetained.run(now);
      const { snapshot, rowIds, problems, removals } = readSnapshot(sql);
      if (problems.length > 0) {
        log?.warn(
          `Warning: Persistence file ${path}: ${problems.length} damaged row(s) skipped and ` +
            `removed (${problems.slice(0, 3).join("; ")}).`,
        );
        for (const remove of removals) remove();
      }
      return new SqliteStore(path, db, sql, snapshot, rowIds, log, movedAside);
    } catch (error) {
      try {
        db.close();
      } catch {
        // Closing a connection that failed half-way may fail as well; the file is what matters.
      }
      throw classify(path, error);
    }
  }

  /** True while changes recorded since the last {@linkcode commit} wait for one. */
  get dirty(): boolean {
    return this.#changed;
  }

  /** Delivery rows waiting for the next commit (for tests). */
  get pendingDeliveries(): number {
    return this.#pending.size;
  }

  /** Reads everything back, sessions and deliveries in order. */
  load(): StoreSnapshot {
    const preloaded = this.#preloaded;
    this.#preloaded = undefined;
    if (preloaded) return preloaded;
    this.#writePending();
    this.#saveLazy();
    return readSnapshot(this.#sql).snapshot;
  }

  putSession(session: StoredSession): void {
    this.#run(
      this.#sql.putSession,
      session.clientId,
      session.protocolVersion,
      session.expiryInterval,
      session.disconnectedAt,
      session.username ?? null,
    );
  }

  deleteSession(clientId: string): void {
    // Its rows go now, those with a removal not saved yet included (a new session of this
    // client starts its seqs at 1 again, and must not find the old messages after a crash).
    const ids = this.#lazyDeletes;
    this.#lazyDeletes = [];
    for (const id of this.#rows.get(clientId)?.values() ?? []) {
      if (!this.#pending.delete(id)) ids.push(id);
    }
    this.#rows.delete(clientId);
    this.#lazyUpdates.delete(clientId);
    const sql = this.#sql;
    for (
      const statement of [
        sql.deleteSession,
        sql.deleteSubscriptions,
        sql.deleteIncomingQos2s,
        sql.deleteWill,
      ]
    ) {
      this.#run(statement, clientId);
    }
    if (ids.length > 0) this.#deleteRows(ids);
  }

  putSubscription(clientId: string, subscription: SessionSubscription): void {
    this.#run(
      this.#sql.putSubscription,
      clientId,
      subscription.topicFilter,
      subscription.filter,
      subscription.group ?? null,
      subscription.qos,
      subscription.noLocal ? 1 : 0,
      subscription.retainAsPublished ? 1 : 0,
      subscription.retainHandling,
      subscription.identifier,
    );
  }

  deleteSubscription(clientId: string, topicFilter: string): void {
    this.#run(this.#sql.deleteSubscription, clientId, topicFilter);
  }

  putRetained(message: Message): void {
    if (message.payload.length === 0) {
      this.deleteRetained(message.topic);
      return;
    }
    this.#run(
      this.#sql.putRetained,
      message.topic,
      message.payload,
      message.qos,
      message.retain ? 1 : 0,
      encodeProperties(message.properties),
      message.expiresAt,
      message.origin,
    );
  }

  deleteRetained(topic: string): void {
    this.#run(this.#sql.deleteRetained, topic);
  }

  putDelivery(delivery: StoredDelivery): void {
    if (this.#closed) return;
    const { clientId, seq } = delivery;
    const rows = this.#rowsOf(clientId);
    const id = rows.get(seq);
    if (id === undefined) {
      // A new message: kept until the commit, which a PUBACK or PUBREC for it waits for.
      const id = this.#nextId++;
      rows.set(seq, id);
      this.#pending.set(id, delivery);
      // A QoS 2 message's packet id must be saved before its PUBLISH leaves, for exactly-once.
      if (delivery.qos === 2 && delivery.state !== "queued") this.#urgent = true;
      this.#touch();
      return;
    }
    // The same message changing state (a seq is never reused for another message while its
    // row exists): only its packet id and state change.
    if (this.#pending.has(id)) {
      this.#pending.set(id, delivery);
      if (delivery.qos === 2) this.#urgent = true;
      this.#touch();
      return;
    }
    if (delivery.qos < 2) {
      let updates = this.#lazyUpdates.get(clientId);
      if (!updates) this.#lazyUpdates.set(clientId, updates = new Map());
      updates.set(id, delivery);
      this.#deferLazy();
      return;
    }
    // Saved before the packet leaves, with all the progress kept so far (see #writePending).
    this.#urgent = true;
    this.#run(this.#sql.updateDelivery, delivery.packetId, deliveryFlags(delivery), id);
    this.#applyLazy();
  }

  deleteDelivery(clientId: string, seq: number): void {
    const rows = this.#rows.get(clientId);
    const id = rows?.get(seq);
    if (id === undefined || this.#closed) return; // no such row
    rows!.delete(seq);
    if (rows!.size === 0) this.#rows.delete(clientId);
    // Never written: nothing to delete either.
    if (this.#pending.delete(id)) return;
    this.#lazyUpdates.get(clientId)?.delete(id);
    this.#lazyDeletes.push(id);
    this.#deferLazy();
  }

  putIncomingQos2(clientId: string, packetId: number): void {
    this.#run(this.#sql.putIncomingQos2, clientId, packetId);
  }

  deleteIncomingQos2(clientId: string, packetId: number): void {
    this.#run(this.#sql.deleteIncomingQos2, clientId, packetId);
  }

  putWill(clientId: string, will: Will, publishAt: number): void {
    this.#run(
      this.#sql.putWill,
      clientId,
      will.topic,
      will.payload,
      will.qos,
      will.retain ? 1 : 0,
      encodeProperties(will.properties),
      publishAt,
    );
  }

  deleteWill(clientId: string): void {
    this.#run(this.#sql.deleteWill, clientId);
  }

  /**
   * Commits what was recorded since the last call. Normally at once (safe against a process
   * crash on return); while an fsync of the WAL is in flight and nothing recorded needs saving
   * before the next packet leaves (see the module notes), the COMMIT follows that fsync instead,
   * together with whatever else is recorded meanwhile, and {@linkcode whenDurable} for this
   * commit's count resolves once it is committed and fsynced. A failure (disk full, I/O error)
   * is logged, not thrown, so the broker keeps serving; the transaction stays open to be retried
   * at the next commit when SQLite kept it.
   */
  commit(): void {
    if (!this.#changed || this.#closed) return;
    this.#changed = false;
    this.#commits++;
    if (this.#syncing && !this.#urgent) return; // #syncDone() commits it
    this.#commitNow();
  }

  /** Writes the new delivery rows and COMMITs: every commit counted so far is then saved. */
  #commitNow(): void {
    this.#committed = this.#commits;
    this.#urgent = false;
    if (this.#pending.size > 0) this.#writePending();
    if (!this.#inTransaction) return;
    try {
      this.#sql.commit.run();
      this.#inTransaction = false;
      if (this.#failing) {
        this.#failing = false;
        this.#log?.warn(`Persistence file ${this.path} is being saved again.`);
      }
    } catch (error) {
      this.#inTransaction = this.#db.isTransaction;
      if (this.#inTransaction) this.#changed = true;
      this.#fail("save", error);
    }
  }

  /** Commits counted so far (see {@linkcode commit}). */
  get commitCount(): number {
    return this.#commits;
  }

  /**
   * Resolves when the first `count` commits are fsynced. One fdatasync of the WAL covers every
   * commit made before it started; waiters for later commits get the next one.
   */
  whenDurable(count: number): Promise<void> | undefined {
    if (this.#synced >= count || this.#closed) return undefined;
    const promise = new Promise<void>((resolve) => this.#syncWaiters.push({ count, resolve }));
    this.#startSync();
    return promise;
  }

  #startSync(): void {
    if (this.#syncing || this.#closed) return;
    // A commit that waited for the previous fsync is made now, for this one to cover.
    if (this.#committed < this.#commits) this.#commitNow();
    this.#syncing = true;
    this.#syncStarted = performance.now();
    const target = this.#committed;
    let wal: Deno.FsFile;
    try {
      wal = this.#wal ??= Deno.openSync(`${this.path}-wal`, { read: true });
    } catch (error) {
      // No WAL file to sync (nothing written yet, or it was checkpointed away): nothing pending.
      this.#syncDone(target, error instanceof Deno.errors.NotFound ? undefined : error);
      return;
    }
    wal.syncData().then(() => this.#syncDone(target), (error) => this.#syncDone(target, error));
  }

  #syncAfterGap = (): void => {
    this.#syncTimer = undefined;
    this.#syncing = false;
    this.#startSync();
  };

  #syncDone(target: number, error?: unknown): void {
    this.#syncing = false;
    if (error !== undefined) this.#fail("save", error);
    // A failed fsync cannot be retried meaningfully (Linux drops the dirty pages): report it
    // once and release the waiters rather than stall every client.
    if (target > this.#synced) this.#synced = target;
    const waiting = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const waiter of waiting) {
      if (waiter.count <= this.#synced) waiter.resolve();
      else this.#syncWaiters.push(waiter);
    }
    if (this.#syncWaiters.length > 0) {
      const wait = this.#syncStarted + SYNC_GAP_MS - performance.now();
      if (wait >= 0.5) {
        this.#syncing = true;
        this.#syncTimer = setTimeout(this.#syncAfterGap, wait);
      } else {
        this.#startSync();
      }
    } else if (this.#committed < this.#commits) this.#commitNow();
  }

  /** Commits everything, delivery progress included, and closes the file. Further changes are ignored. */
  close(): void {
    if (this.#closed) return;
    this.#commits++;
    this.#commitNow();
    this.#saveLazy();
    this.#closed = true;
    try {
      // What is committed is made durable before the file goes (db.close() checkpoints too).
      this.#wal?.syncDataSync();
      this.#wal?.close();
    } catch {
      // The checkpoint in db.close() syncs the database file anyway.
    }
    this.#wal = undefined;
    for (const waiter of this.#syncWaiters.splice(0)) waiter.resolve();
    if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
    if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
    try {
      this.#db.close();
    } catch (error) {
      this.#fail("close", error);
    }
  }

  /**
   * Rolls back what is not committed and closes the file without saving: what a crash or a power
   * cut leaves behind (for tests of exactly that).
   */
  discard(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inTransaction = false;
    this.#lazyUpdates.clear();
    this.#lazyDeletes = [];
    if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
    this.#pending.clear();
    if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
    this.#db.close();
  }

  #run(statement: StatementSync, ...params: (string | number | null | Uint8Array)[]): void {
    if (this.#closed) return;
    try {
      if (!this.#inTransaction) this.#begin();
      statement.run(...params);
      this.#touch();
    } catch (error) {
      // A statement that failed may have ended the transaction (SQLITE_FULL, SQLITE_IOERR).
      this.#inTransaction = this.#db.isOpen && this.#db.isTransaction;
      this.#fail("save", error);
    }
  }

  #begin(): void {
    this.#sql.begin.run();
    this.#inTransaction = true;
    this.#preloaded = undefined;
  }

  /** Notes a change: the preloaded snapshot is stale, and a commit is due within the tick. */
  #touch(): void {
    this.#changed = true;
    this.#preloaded = undefined;
    if (!this.#commitQueued) {
      this.#commitQueued = true;
      queueMicrotask(this.#autoCommit);
    }
  }

  /**
   * Writes the new delivery rows still there into the transaction, many rows per INSERT. A new
   * row already in flight goes with all the delivery progress kept so far: the file must never
   * hold a message in flight while an older one of the same client is still queued there (moved
   * into flight or even completed since), or a restart would resend them out of order.
   */
  #writePending(): void {
    if (this.#pending.size === 0 || this.#closed) return;
    const pending = this.#pending;
    this.#pending = new Map();
    const params = this.#params;
    try {
      if (!this.#inTransaction) this.#begin();
      let rows = 0;
      let ordered = false;
      for (const [id, delivery] of pending) {
        const message = delivery.message;
        params.push(
          id,
          delivery.clientId,
          delivery.seq,
          delivery.packetId,
          deliveryFlags(delivery),
          message.topic,
          message.payload,
          message.origin,
          delivery.identifiers.length > 0 ? JSON.stringify(delivery.identifiers) : null,
          message.properties === undefined ? null : encodeProperties(message.properties),
          message.expiresAt,
        );
        if (++rows === INSERT_BATCH) {
          this.#insert(rows).run(...params);
          params.length = 0;
          rows = 0;
        }
        if (delivery.state !== "queued" && !ordered) {
          ordered = true;
          this.#applyLazy();
        }
      }
      if (rows > 0) this.#insert(rows).run(...params);
    } catch (error) {
      this.#inTransaction = this.#db.isOpen && this.#db.isTransaction;
      this.#fail("save", error);
    } finally {
      params.length = 0;
    }
  }

  /** The INSERT of `rows` delivery rows. */
  #insert(rows: number): StatementSync {
    return this.#inserts[rows] ??= this.#db.prepare(
      `INSERT INTO deliveries (${DELIVERY_COLUMNS}) VALUES ` +
        Array(rows).fill(DELIVERY_ROW).join(", "),
    );
  }

  #rowsOf(clientId: string): Map<number, number> {
    let rows = this.#rows.get(clientId);
    if (!rows) this.#rows.set(clientId, rows = new Map());
    return rows;
  }

  /** Notes delivery progress kept in memory: saved within LAZY_SAVE_MS. */
  #deferLazy(): void {
    this.#preloaded = undefined;
    if (this.#lazyTimer === undefined && !this.#closed) {
      const timer = setTimeout(this.#lazyTimeout, LAZY_SAVE_MS);
      this.#lazyTimer = timer;
      // Under @types/node (pulled in by npm packages) setTimeout is typed as returning an object.
      Deno.unrefTimer(timer as unknown as number);
    }
  }

  #lazyTimeout = (): void => {
    this.#lazyTimer = undefined;
    this.#saveLazy();
  };

  /** Runs the kept delivery changes inside the (opened if need be) transaction, forgets them. */
  #applyLazy(): void {
    if (this.#lazyUpdates.size === 0 && this.#lazyDeletes.length === 0) return;
    const sql = this.#sql;
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const all = this.#lazyUpdates;
    this.#lazyUpdates = new Map();
    for (const updates of all.values()) {
      for (const [id, delivery] of updates) {
        this.#run(sql.updateDelivery, delivery.packetId, deliveryFlags(delivery), id);
      }
    }
    const deletes = this.#lazyDeletes;
    this.#lazyDeletes = [];
    if (deletes.length > 0) this.#deleteRows(deletes);
  }

  /** Deletes delivery rows by id; runs of consecutive ids, the usual case, go as one range each. */
  #deleteRows(ids: number[]): void {
    for (let i = 1; i < ids.length; i++) {
      if (ids[i]! < ids[i - 1]!) {
        ids.sort((a, b) => a - b);
        break;
      }
    }
    const sql = this.#sql;
    for (let i = 0; i < ids.length;) {
      const first = ids[i]!;
      let last = first;
      while (++i < ids.length && ids[i] === last + 1) last++;
      if (last === first) this.#run(sql.deleteDelivery, first);
      else this.#run(sql.deleteDeliveryRange, first, last);
    }
  }

  /**
   * Saves the kept delivery changes: into the open transaction if there is one, else in a
   * transaction of their own committed without an fsync (`synchronous=NORMAL`; safe against a
   * process crash, and made durable against a power cut by the next fsync of the WAL).
   */
  #saveLazy(): void {
    if (this.#lazyUpdates.size === 0 && this.#lazyDeletes.length === 0 || this.#closed) return;
    if (this.#inTransaction) {
      this.#applyLazy();
      return;
    }
    const sql = this.#sql;
    try {
      this.#applyLazy();
      sql.commit.run();
      this.#inTransaction = false;
    } catch (error) {
      if (this.#db.isTransaction) sql.rollback.run();
      this.#inTransaction = false;
      this.#fail("save", error);
    }
  }

  /** Commits what no outgoing packet made the connection commit, still within the tick. */
  #autoCommit = (): void => {
    this.#commitQueued = false;
    if (!this.#closed) this.commit();
  };

  #fail(what: "save" | "close", error: unknown): void {
    // One line per run of failures, not one per message: a full disk fails everything.
    if (this.#failing) return;
    this.#failing = true;
    this.#log?.error(
      `Error: Cannot ${what} persistence file ${this.path}: ${describe(error)}. Messages ` +
        "acknowledged from now on may be lost if the broker stops before it can save again.",
    );
  }
}

/** The prepared statements of a store. */
interface Statements {
  begin: StatementSync;
  commit: StatementSync;
  rollback: StatementSync;
  updateDelivery: StatementSync;
  putSession: StatementSync;
  deleteSession: StatementSync;
  putSubscription: StatementSync;
  deleteSubscription: StatementSync;
  deleteSubscriptions: StatementSync;
  putRetained: StatementSync;
  deleteRetained: StatementSync;
  purgeRetained: StatementSync;
  deleteDelivery: StatementSync;
  deleteDeliveryRange: StatementSync;
  putIncomingQos2: StatementSync;
  deleteIncomingQos2: StatementSync;
  deleteIncomingQos2s: StatementSync;
  putWill: StatementSync;
  deleteWill: StatementSync;
  loadSessions: StatementSync;
  loadSubscriptions: StatementSync;
  loadRetained: StatementSync;
  loadDeliveries: StatementSync;
  loadIncomingQos2: StatementSync;
  loadWills: StatementSync;
}

/** Prepares every statement; one naming a missing table or column fails here (bad schema). */
function prepareStatements(db: DatabaseSync): Statements {
  const p = (sql: string) => db.prepare(sql);
  return {
    begin: p("BEGIN"),
    commit: p("COMMIT"),
    rollback: p("ROLLBACK"),
    putSession: p(
      `INSERT OR REPLACE INTO sessions
        (client_id, protocol_version, expiry_interval, disconnected_at, username)
        VALUES (?, ?, ?, ?, ?)`,
    ),
    deleteSession: p("DELETE FROM sessions WHERE client_id = ?"),
    putSubscription: p(
      `INSERT OR REPLACE INTO subscriptions
        (client_id, topic_filter, filter, share_group, qos, no_local, retain_as_published,
         retain_handling, identifier)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteSubscription: p("DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?"),
    deleteSubscriptions: p("DELETE FROM subscriptions WHERE client_id = ?"),
    putRetained: p(
      `INSERT OR REPLACE INTO retained
        (topic, payload, qos, retain, properties, expires_at, origin)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteRetained: p("DELETE FROM retained WHERE topic = ?"),
    purgeRetained: p("DELETE FROM retained WHERE expires_at > 0 AND expires_at <= ?"),
    updateDelivery: p("UPDATE deliveries SET packet_id = ?, flags = ? WHERE id = ?"),
    deleteDelivery: p("DELETE FROM deliveries WHERE id = ?"),
    deleteDeliveryRange: p("DELETE FROM deliveries WHERE id BETWEEN ? AND ?"),
    putIncomingQos2: p(
      "INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?)",
    ),
    deleteIncomingQos2: p("DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?"),
    deleteIncomingQos2s: p("DELETE FROM incoming_qos2 WHERE client_id = ?"),
    putWill: p(
      `INSERT OR REPLACE INTO wills
        (client_id, topic, payload, qos, retain, properties, publish_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteWill: p("DELETE FROM wills WHERE client_id = ?"),
    loadSessions: p(
      `SELECT client_id, protocol_version, expiry_interval, disconnected_at, username
        FROM sessions ORDER BY client_id`,
    ),
    loadSubscriptions: p(
      `SELECT client_id, topic_filter, filter, share_group, qos, no_local, retain_as_published,
        retain_handling, identifier FROM subscriptions ORDER BY client_id, topic_filter`,
    ),
    loadRetained: p(
      "SELECT topic, payload, qos, retain, properties, expires_at, origin FROM retained",
    ),
    loadDeliveries: p(
      `SELECT id, client_id, seq, packet_id, flags, topic, payload, origin, identifiers,
        properties, expires_at FROM deliveries ORDER BY client_id, seq, id`,
    ),
    loadIncomingQos2: p(
      "SELECT client_id, packet_id FROM incoming_qos2 ORDER BY client_id, packet_id",
    ),
    loadWills: p(
      "SELECT client_id, topic, payload, qos, retain, properties, publish_at FROM wills",
    ),
  };
}

/** Brings the schema to {@linkcode SCHEMA_VERSION} in one transaction. */
function migrate(db: DatabaseSync): void {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all()
    .map((row) => String(row.name));
  const appId = Number(db.prepare("PRAGMA application_id").get()?.application_id ?? 0);
  let version = 0;
  if (tables.length > 0) {
    if (appId !== APPLICATION_ID) {
      throw new DamagedStoreError(
        `not a midge store (application id ${appId}, tables ${tables.slice(0, 5).join(", ")})`,
      );
    }
    if (!tables.includes("schema_version")) throw new DamagedStoreError("no schema_version table");
    const rows = db.prepare("SELECT version FROM schema_version").all();
    const value = rows[0]?.version;
    if (rows.length !== 1 || typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new DamagedStoreError("unreadable schema_version");
    }
    version = value;
  }
  if (version > SCHEMA_VERSION) {
    throw new DamagedStoreError(
      `written by a newer midge (schema version ${version}, this one reads up to ${SCHEMA_VERSION})`,
    );
  }
  if (version === SCHEMA_VERSION) return;
  db.exec("BEGIN");
  try {
    for (let next = version; next < SCHEMA_VERSION; next++) MIGRATIONS[next]!(db);
    db.prepare("UPDATE schema_version SET version = ?").run(SCHEMA_VERSION);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * Reads and decodes every row. Rows that do not decode are not fatal: they come back as
 * `problems`, each with a way to remove it in `removals`.
 */
function readSnapshot(sql: Statements): {
  snapshot: StoreSnapshot;
  /** The row id of each of `snapshot.deliveries`. */
  rowIds: number[];
  problems: string[];
  removals: (() => void)[];
} {
  const rowIds: number[] = [];
  const problems: string[] = [];
  const removals: (() => void)[] = [];
  const snapshot: StoreSnapshot = {
    sessions: [],
    subscriptions: [],
    retained: [],
    deliveries: [],
    incomingQos2: [],
    wills: [],
  };
  const each = (
    statement: StatementSync,
    what: string,
    decode: (row: Row) => void,
    remove: (row: Row) => void,
  ) => {
    for (const row of statement.iterate() as Iterable<Row>) {
      try {
        decode(row);
      } catch (error) {
        problems.push(`${what}: ${describe(error)}`);
        removals.push(() => remove(row));
      }
    }
  };
  each(sql.loadSessions, "session", (row) => {
    const protocolVersion = integer(row.protocol_version, 3, 5) as ProtocolVersion;
    snapshot.sessions.push({
      clientId: text(row.client_id),
      protocolVersion,
      expiryInterval: integer(row.expiry_interval, 0, 0xffffffff),
      disconnectedAt: integer(row.disconnected_at),
      username: row.username === null ? undefined : text(row.username),
    });
  }, (row) => sql.deleteSession.run(row.client_id ?? null));
  each(sql.loadSubscriptions, "subscription", (row) => {
    snapshot.subscriptions.push({
      clientId: text(row.client_id),
      subscription: {
        topicFilter: text(row.topic_filter),
        filter: text(row.filter),
        group: row.share_group === null ? undefined : text(row.share_group),
        qos: integer(row.qos, 0, 2) as QoS,
        noLocal: flag(row.no_local),
        retainAsPublished: flag(row.retain_as_published),
        retainHandling: integer(row.retain_handling, 0, 2) as 0 | 1 | 2,
        identifier: integer(row.identifier, 0, 268435455),
      },
    });
  }, (row) => sql.deleteSubscription.run(row.client_id ?? null, row.topic_filter ?? null));
  each(sql.loadRetained, "retained message", (row) => {
    snapshot.retained.push(decodeMessage(row, row.qos, row.retain));
  }, (row) => sql.deleteRetained.run(row.topic ?? null));
  each(sql.loadDeliveries, "queued message", (row) => {
    const id = integer(row.id, 1);
    const flags = integer(row.flags, 0, 255);
    const state = STATES[flags & 3];
    if (state === undefined) throw new Error(`unknown state ${flags & 3}`);
    const qos = (flags >> 2) & 3;
    const messageQos = (flags >> 5) & 3;
    if (qos > 2 || messageQos > 2) throw new Error(`QoS out of range in flags ${flags}`);
    const identifiers: unknown = row.identifiers === null ? [] : JSON.parse(text(row.identifiers));
    if (!Array.isArray(identifiers) || !identifiers.every((id) => Number.isInteger(id))) {
      throw new Error("unreadable subscription identifiers");
    }
    const delivery: StoredDelivery = {
      clientId: text(row.client_id),
      seq: integer(row.seq),
      packetId: integer(row.packet_id, 0, 65535),
      state,
      qos: qos as QoS,
      retain: (flags & 0x10) !== 0,
      identifiers: identifiers as number[],
      message: decodeMessage(row, messageQos, (flags & 0x80) !== 0 ? 1 : 0),
    };
    // Two rows of one client with one seq: the later message replaced the earlier, whose
    // removal was not saved yet. Keep the later one.
    const previous = snapshot.deliveries.length - 1;
    const last = snapshot.deliveries[previous];
    if (last?.clientId === delivery.clientId && last.seq === delivery.seq) {
      const stale = rowIds[previous]!;
      snapshot.deliveries[previous] = delivery;
      rowIds[previous] = id;
      removals.push(() => sql.deleteDelivery.run(stale));
      return;
    }
    snapshot.deliveries.push(delivery);
    rowIds.push(id);
  }, (row) => sql.deleteDelivery.run(row.id ?? null));
  each(sql.loadIncomingQos2, "QoS 2 packet id", (row) => {
    snapshot.incomingQos2.push({
      clientId: text(row.client_id),
      packetId: integer(row.packet_id, 1, 65535),
    });
  }, (row) => sql.deleteIncomingQos2.run(row.client_id ?? null, row.packet_id ?? null));
  each(sql.loadWills, "will", (row) => {
    const will: Will = {
      topic: text(row.topic),
      payload: blob(row.payload),
      qos: integer(row.qos, 0, 2) as QoS,
      retain: flag(row.retain),
    };
    const properties = decodeProperties(row.properties);
    if (properties !== undefined) will.properties = properties;
    snapshot.wills.push({
      clientId: text(row.client_id),
      will,
      publishAt: integer(row.publish_at),
    });
  }, (row) => sql.deleteWill.run(row.client_id ?? null));
  return { snapshot, rowIds, problems, removals };
}

type Row = Record<string, string | number | bigint | Uint8Array | null | undefined>;

/** Delivery states by their code in the low two bits of the flags. */
const STATES: readonly StoredDelivery["state"][] = ["queued", "publish", "pubrel"];
const STATE_CODES: Record<StoredDelivery["state"], number> = { queued: 0, publish: 1, pubrel: 2 };

/**
 * A delivery's state, QoS and RETAIN and its message's QoS and RETAIN in one integer: bits 0–1
 * the state (queued 0, publish 1, pubrel 2), 2–3 the QoS, 4 RETAIN, 5–6 the message's QoS, 7
 * the message's RETAIN.
 */
function deliveryFlags(delivery: StoredDelivery): number {
  return STATE_CODES[delivery.state] | delivery.qos << 2 | (delivery.retain ? 0x10 : 0) |
    delivery.message.qos << 5 | (delivery.message.retain ? 0x80 : 0);
}

function decodeMessage(row: Row, qos: Row[string], retain: Row[string]): Message {
  return {
    topic: text(row.topic),
    payload: blob(row.payload),
    qos: integer(qos, 0, 2) as QoS,
    retain: flag(retain),
    properties: decodeProperties(row.properties),
    expiresAt: integer(row.expires_at),
    origin: text(row.origin),
  };
}

function text(value: Row[string]): string {
  if (typeof value !== "string") throw new Error(`expected text, got ${typeof value}`);
  return value;
}

function integer(value: Row[string], min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function flag(value: Row[string]): boolean {
  return integer(value, 0, 1) === 1;
}

function blob(value: Row[string]): Uint8Array {
  // SQLite hands back an empty BLOB as NULL in some versions.
  if (value === null) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw new Error(`expected bytes, got ${typeof value}`);
  return value;
}

/** Binary property values (correlation data, authentication data) in JSON. */
const BINARY_TAG = "$base64";

/**
 * v5 properties as JSON: binary values become `{"$base64": "..."}`; user properties stay an
 * array of pairs, so their order and duplicates survive [MQTT-3.3.2-18].
 */
export function encodeProperties(properties: Properties | undefined): string | null {
  if (properties === undefined) return null;
  return JSON.stringify(
    properties,
    (_key, value) => value instanceof Uint8Array ? { [BINARY_TAG]: value.toBase64() } : value,
  );
}

/** The inverse of {@linkcode encodeProperties}. */
export function decodeProperties(value: Row[string]): Properties | undefined {
  if (value === null || value === undefined) return undefined;
  const parsed: unknown = JSON.parse(text(value), (_key, item) => {
    if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      const encoded = (item as Record<string, unknown>)[BINARY_TAG];
      if (typeof encoded === "string") return Uint8Array.fromBase64(encoded);
    }
    return item;
  });
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("unreadable properties");
  }
  return parsed as Properties;
}

/** Refuses a file that is plainly not SQLite before SQLite is asked to open it. */
function checkHeader(path: string): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return; // Missing (it will be created) or unreadable (SQLite will say why).
  }
  try {
    const header = new Uint8Array(16);
    const read = file.readSync(header) ?? 0;
    if (read === 0) return; // An empty file is an empty database.
    const start = String.fromCharCode(...header.subarray(0, read));
    if (read >= MOSQUITTO_MAGIC.length && start.startsWith(MOSQUITTO_MAGIC)) {
      throw new DamagedStoreError("it is a Mosquitto persistence file, which midge cannot read");
    }
    if (read < 16 || start !== SQLITE_MAGIC) {
      throw new DamagedStoreError("it is not a SQLite database");
    }
  } finally {
    file.close();
  }
}

/**
 * Sorts an open failure: damage (move the file aside) or a problem moving would not solve — the
 * file locked by another broker, or a directory that does not exist or cannot be written.
 */
function classify(path: string, error: unknown): Error {
  if (error instanceof DamagedStoreError) return error;
  const message = describe(error);
  if (/database is locked|database table is locked|busy/i.test(message)) {
    return new Error(
      `Cannot open persistence file ${path}: it is in use by another process (${message})`,
    );
  }
  if (/unable to open database file|permission denied|readonly|read-only/i.test(message)) {
    return new Error(`Cannot open persistence file ${path}: ${message}`);
  }
  return new DamagedStoreError(message);
}

/**
 * Renames `path` (with `-wal` and `-shm`) to the first free `<path>.bad`, `<path>.bad.1`, ...
 * keeping the WAL next to its database so that the `sqlite3` tool can still read what is left.
 */
function moveAside(path: string): string {
  let target = `${path}.bad`;
  for (let n = 1; exists(target); n++) target = `${path}.bad.${n}`;
  for (const suffix of ["-wal", "-shm", "-journal"]) {
    if (exists(path + suffix)) Deno.renameSync(path + suffix, target + suffix);
  }
  if (exists(path)) Deno.renameSync(path, target);
  return target;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
