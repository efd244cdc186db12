/**
 * The durable {@linkcode Store}: one SQLite file through `node:sqlite` (built into Deno and into
 * `deno compile`d binaries), in WAL mode. A COMMIT writes the WAL (`synchronous=NORMAL`: safe
 * against a process crash on return); {@linkcode SqliteStore.whenDurable} then fsyncs the WAL
 * asynchronously, and connections hold acknowledgements until it has, so nothing acknowledged is
 * lost to a power cut either, while the event loop keeps serving (and grouping commits) during
 * the fsync.
 *
 * Every change the broker records runs at once inside an open transaction (BEGIN at the first
 * change after a commit). The transaction is committed by {@linkcode SqliteStore.commit}, which a
 * connection calls before it writes anything (so a PUBACK, PUBREC or SUBACK leaves only after
 * what it acknowledges is durable), and at the latest by a microtask queued at the first change,
 * so changes no packet waits for are durable within the same tick too. Everything recorded while
 * one batch of socket reads is handled shares one commit and one fsync: group commit.
 *
 * One kind of change is not worth an fsync of its own: progress of a delivery to a subscriber —
 * a QoS 0/1 message moving from the queue into flight, or any delivery completed (deleted). If
 * one is lost, the message is only delivered again after a restart, which QoS 1 allows (and a
 * completed QoS 2 flow then gets a PUBREL, answered with PUBCOMP). Such changes, when no
 * transaction is open, wait in memory and are saved with the next transaction or at most
 * {@linkcode LAZY_SAVE_MS} later (written, not fsynced; the next fsync covers them). So a subscriber acknowledging messages costs no fsync, and what the broker
 * acknowledged to publishers never waits for those writes. QoS 2 deliveries moving into flight
 * or to PUBREL are saved at once: their packet ids must survive for exactly-once.
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

/** A delivery change kept in memory until it is saved: an in-flight transition or a removal. */
interface LazyChange {
  /** Packet id and state to set, or undefined to delete the row. */
  update: { packetId: number; state: StoredDelivery["state"] } | undefined;
}

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
  /** Delivery progress not saved yet, by client id and seq (see the module notes). */
  #lazy = new Map<string, Map<number, LazyChange>>();
  #commits = 0;
  #synced = 0;
  #syncing = false;
  #syncWaiters: { count: number; resolve: () => void }[] = [];
  #wal: Deno.FsFile | undefined;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The seqs of the delivery rows each client has, so that a put knows whether it adds a message
   * (saved at once) or moves one that is there (delivery progress).
   */
  readonly #rows = new Map<string, Set<number>>();

  private constructor(
    path: string,
    db: DatabaseSync,
    sql: Statements,
    preloaded: StoreSnapshot,
    log: StoreLog | undefined,
    movedAside: string | undefined,
  ) {
    this.path = path;
    this.#db = db;
    this.#sql = sql;
    this.#preloaded = preloaded;
    this.#log = log;
    this.movedAside = movedAside;
    for (const { clientId, seq } of preloaded.deliveries) this.#rowsOf(clientId).add(seq);
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
      const { snapshot, problems, removals } = readSnapshot(sql);
      if (problems.length > 0) {
        log?.warn(
          `Warning: Persistence file ${path}: ${problems.length} damaged row(s) skipped and ` +
            `removed (${problems.slice(0, 3).join("; ")}).`,
        );
        for (const remove of removals) remove();
      }
      return new SqliteStore(path, db, sql, snapshot, log, movedAside);
    } catch (error) {
      try {
        db.close();
      } catch {
        // Closing a connection that failed half-way may fail as well; the file is what matters.
      }
      throw classify(path, error);
    }
  }

  /** True while a transaction holds changes not yet committed. */
  get dirty(): boolean {
    return this.#inTransaction;
  }

  /** Reads everything back, sessions and deliveries in order. */
  load(): StoreSnapshot {
    const preloaded = this.#preloaded;
    this.#preloaded = undefined;
    if (preloaded) return preloaded;
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
    // Its rows go now; a new session of this client starts its seqs at 1 again.
    this.#lazy.delete(clientId);
    this.#rows.delete(clientId);
    const sql = this.#sql;
    for (
      const statement of [
        sql.deleteSession,
        sql.deleteSubscriptions,
        sql.deleteDeliveries,
        sql.deleteIncomingQos2s,
        sql.deleteWill,
      ]
    ) {
      this.#run(statement, clientId);
    }
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
    const { clientId, seq } = delivery;
    const rows = this.#rowsOf(clientId);
    if (rows.has(seq) && !this.#closed) {
      // The same message changing state (a seq is never reused for another message while its
      // row exists): only its packet id and state change.
      if (delivery.qos < 2 && !this.#inTransaction) {
        this.#deferLazy(clientId, seq, { packetId: delivery.packetId, state: delivery.state });
        return;
      }
      this.#run(this.#sql.updateDelivery, delivery.packetId, delivery.state, clientId, seq);
      return;
    }
    if (!this.#closed) rows.add(seq);
    const message = delivery.message;
    this.#run(
      this.#sql.putDelivery,
      delivery.clientId,
      delivery.seq,
      delivery.packetId,
      delivery.state,
      delivery.qos,
      delivery.retain ? 1 : 0,
      delivery.identifiers.length > 0 ? JSON.stringify(delivery.identifiers) : null,
      message.topic,
      message.payload,
      message.qos,
      message.retain ? 1 : 0,
      encodeProperties(message.properties),
      message.expiresAt,
      message.origin,
    );
  }

  deleteDelivery(clientId: string, seq: number): void {
    const rows = this.#rows.get(clientId);
    if (!rows?.delete(seq) || this.#closed) return; // no such row
    if (rows.size === 0) this.#rows.delete(clientId);
    if (!this.#inTransaction) {
      this.#deferLazy(clientId, seq, undefined);
      return;
    }
    this.#run(this.#sql.deleteDelivery, clientId, seq);
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
   * Commits the open transaction: durable on return (fsync of the WAL). A failure (disk full,
   * I/O error) is logged, not thrown, so the broker keeps serving; the transaction stays open to
   * be retried at the next commit when SQLite kept it.
   */
  commit(): void {
    if (!this.#inTransaction) return;
    try {
      this.#sql.commit.run();
      this.#inTransaction = false;
      this.#commits++;
      if (this.#failing) {
        this.#failing = false;
        this.#log?.warn(`Persistence file ${this.path} is being saved again.`);
      }
    } catch (error) {
      this.#inTransaction = this.#db.isTransaction;
      this.#fail("save", error);
    }
  }

  /** Commits made so far. */
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
    this.#syncing = true;
    const target = this.#commits;
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
    if (this.#syncWaiters.length > 0) this.#startSync();
  }

  /** Commits everything, delivery progress included, and closes the file. Further changes are ignored. */
  close(): void {
    if (this.#closed) return;
    this.commit();
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
    this.#lazy.clear();
    if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
    this.#db.close();
  }

  #run(statement: StatementSync, ...params: (string | number | null | Uint8Array)[]): void {
    if (this.#closed) return;
    try {
      if (!this.#inTransaction) this.#begin();
      statement.run(...params);
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
    if (!this.#commitQueued) {
      this.#commitQueued = true;
      queueMicrotask(this.#autoCommit);
    }
    // Progress recorded earlier goes first, so that the file never holds a later change without
    // an earlier one (a message in flight while an older one is still queued).
    this.#applyLazy();
  }

  #rowsOf(clientId: string): Set<number> {
    let rows = this.#rows.get(clientId);
    if (!rows) this.#rows.set(clientId, rows = new Set());
    return rows;
  }

  /** Keeps a delivery's progress in memory, replacing what was kept for the same row. */
  #deferLazy(clientId: string, seq: number, update: LazyChange["update"]): void {
    if (this.#closed) return;
    this.#preloaded = undefined;
    let forClient = this.#lazy.get(clientId);
    if (!forClient) this.#lazy.set(clientId, forClient = new Map());
    // The last change wins: an update then a removal is a removal.
    forClient.set(seq, { update });
    if (this.#lazyTimer === undefined) {
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

  /** Runs the kept delivery changes inside the open transaction and forgets them. */
  #applyLazy(): void {
    if (this.#lazy.size === 0) return;
    const lazy = this.#lazy;
    this.#lazy = new Map();
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const sql = this.#sql;
    for (const [clientId, changes] of lazy) {
      for (const [seq, { update }] of changes) {
        if (update) sql.updateDelivery.run(update.packetId, update.state, clientId, seq);
        else sql.deleteDelivery.run(clientId, seq);
      }
    }
  }

  /**
   * Saves the kept delivery changes: into the open transaction if there is one, else in a
   * transaction of their own committed without an fsync (`synchronous=NORMAL`; safe against a
   * process crash, and made durable against a power cut by the next fsync of the WAL).
   */
  #saveLazy(): void {
    if (this.#lazy.size === 0 || this.#closed) return;
    if (this.#inTransaction) {
      this.#applyLazy();
      return;
    }
    const sql = this.#sql;
    try {
      sql.begin.run();
      this.#applyLazy();
      sql.commit.run();
    } catch (error) {
      if (this.#db.isTransaction) sql.rollback.run();
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
  putDelivery: StatementSync;
  deleteDelivery: StatementSync;
  deleteDeliveries: StatementSync;
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
    // An upsert, not a REPLACE: a queued row becoming in flight keeps its place in the table.
    putDelivery: p(
      `INSERT INTO deliveries
        (client_id, seq, packet_id, state, qos, retain, identifiers, topic, payload, message_qos,
         message_retain, properties, expires_at, origin)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (client_id, seq) DO UPDATE SET
          packet_id = excluded.packet_id, state = excluded.state, qos = excluded.qos,
          retain = excluded.retain, identifiers = excluded.identifiers, topic = excluded.topic,
          payload = excluded.payload, message_qos = excluded.message_qos,
          message_retain = excluded.message_retain, properties = excluded.properties,
          expires_at = excluded.expires_at, origin = excluded.origin`,
    ),
    updateDelivery: p(
      "UPDATE deliveries SET packet_id = ?, state = ? WHERE client_id = ? AND seq = ?",
    ),
    deleteDelivery: p("DELETE FROM deliveries WHERE client_id = ? AND seq = ?"),
    deleteDeliveries: p("DELETE FROM deliveries WHERE client_id = ?"),
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
      `SELECT client_id, seq, packet_id, state, qos, retain, identifiers, topic, payload,
        message_qos, message_retain, properties, expires_at, origin
        FROM deliveries ORDER BY client_id, seq`,
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
function readSnapshot(
  sql: Statements,
): { snapshot: StoreSnapshot; problems: string[]; removals: (() => void)[] } {
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
    const state = text(row.state);
    if (state !== "queued" && state !== "publish" && state !== "pubrel") {
      throw new Error(`unknown state "${state}"`);
    }
    const identifiers: unknown = row.identifiers === null ? [] : JSON.parse(text(row.identifiers));
    if (!Array.isArray(identifiers) || !identifiers.every((id) => Number.isInteger(id))) {
      throw new Error("unreadable subscription identifiers");
    }
    snapshot.deliveries.push({
      clientId: text(row.client_id),
      seq: integer(row.seq),
      packetId: integer(row.packet_id, 0, 65535),
      state,
      qos: integer(row.qos, 0, 2) as QoS,
      retain: flag(row.retain),
      identifiers: identifiers as number[],
      message: decodeMessage(row, row.message_qos, row.message_retain),
    });
  }, (row) => sql.deleteDelivery.run(row.client_id ?? null, row.seq ?? null));
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
  return { snapshot, problems, removals };
}

type Row = Record<string, string | number | bigint | Uint8Array | null | undefined>;

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
