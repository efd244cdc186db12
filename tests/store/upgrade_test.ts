/**
 * Upgrades: a store written by an earlier schema version opens in this one with its data. The
 * fixture is generated here from version 1's DDL, frozen as it shipped (not imported from the
 * store, which moves on), rather than kept as a binary blob; likewise for version 2. When the
 * schema gains version 3, these keep proving that older files still open; add a
 * `writeVersion3Fixture` then.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { APPLICATION_ID, SCHEMA_VERSION, SqliteStore } from "../../broker/store/sqlite_store.ts";

/** Schema version 1 exactly as midge 0.1 creates it. Never edit: it is what is on disks. */
const SCHEMA_V1 = `
  PRAGMA application_id = 1835623527;
  CREATE TABLE schema_version (version INTEGER NOT NULL);
  INSERT INTO schema_version (version) VALUES (1);
  CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY, protocol_version INTEGER NOT NULL,
    expiry_interval INTEGER NOT NULL, disconnected_at INTEGER NOT NULL, username TEXT
  ) WITHOUT ROWID;
  CREATE TABLE subscriptions (
    client_id TEXT NOT NULL, topic_filter TEXT NOT NULL, filter TEXT NOT NULL, share_group TEXT,
    qos INTEGER NOT NULL, no_local INTEGER NOT NULL, retain_as_published INTEGER NOT NULL,
    retain_handling INTEGER NOT NULL, identifier INTEGER NOT NULL,
    PRIMARY KEY (client_id, topic_filter)
  ) WITHOUT ROWID;
  CREATE TABLE retained (
    topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    properties TEXT, expires_at INTEGER NOT NULL, origin TEXT NOT NULL
  );
  CREATE TABLE deliveries (
    client_id TEXT NOT NULL, seq INTEGER NOT NULL, packet_id INTEGER NOT NULL,
    state TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, identifiers TEXT,
    topic TEXT NOT NULL, payload BLOB NOT NULL, message_qos INTEGER NOT NULL,
    message_retain INTEGER NOT NULL, properties TEXT, expires_at INTEGER NOT NULL,
    origin TEXT NOT NULL, PRIMARY KEY (client_id, seq)
  );
  CREATE TABLE incoming_qos2 (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)
  ) WITHOUT ROWID;
  CREATE TABLE wills (
    client_id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
    retain INTEGER NOT NULL, properties TEXT, publish_at INTEGER NOT NULL
  );
`;

/** Writes a version 1 store with one of everything, as midge 0.1 would have left it. */
function writeVersion1Fixture(path: string): void {
  using db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(SCHEMA_V1);
  const bytes = (text: string) => new TextEncoder().encode(text);
  db.prepare("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)")
    .run("sensor-1", 4, 0xffffffff, 1_700_000_000_000, "alice");
  db.prepare("INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run("sensor-1", "$share/g/cmd/#", "cmd/#", "g", 1, 0, 1, 2, 42);
  db.prepare("INSERT INTO retained VALUES (?, ?, ?, ?, ?, ?, ?)").run(
    "status/sensor-1",
    bytes("online"),
    1,
    1,
    '{"userProperties":[["b","1"],["a","2"]],"correlationData":{"$base64":"AAH/"}}',
    0,
    "sensor-1",
  );
  db.prepare("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run(
      "sensor-1",
      7,
      3,
      "publish",
      1,
      0,
      "[42]",
      "cmd/reboot",
      bytes("now"),
      2,
      0,
      null,
      0,
      "ops",
    );
  db.prepare("INSERT INTO incoming_qos2 VALUES (?, ?)").run("sensor-1", 9);
  db.prepare("INSERT INTO wills VALUES (?, ?, ?, ?, ?, ?, ?)")
    .run("sensor-1", "status/sensor-1", bytes("offline"), 1, 1, '{"willDelayInterval":5}', 123);
}

/** Opens a store written by `write` and checks it holds the fixture's data, migrated. */
function checkFixture(write: (path: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "midge-upgrade-" });
  try {
    const path = `${dir}/midge.db`;
    assert.equal(APPLICATION_ID, 1835623527, "the application id is on disks; never change it");
    write(path);
    const errors: string[] = [];
    const store = SqliteStore.open(path, {
      log: { error: (line) => void errors.push(line), warn: (line) => void errors.push(line) },
    });
    assert.deepStrictEqual(errors, []);
    assert.equal(store.movedAside, undefined);
    const snapshot = store.load();
    const bytes = (text: string) => new TextEncoder().encode(text);
    assert.deepStrictEqual(snapshot, {
      sessions: [{
        clientId: "sensor-1",
        protocolVersion: 4,
        expiryInterval: 0xffffffff,
        disconnectedAt: 1_700_000_000_000,
        username: "alice",
      }],
      subscriptions: [{
        clientId: "sensor-1",
        subscription: {
          topicFilter: "$share/g/cmd/#",
          filter: "cmd/#",
          group: "g",
          qos: 1,
          noLocal: false,
          retainAsPublished: true,
          retainHandling: 2,
          identifier: 42,
        },
      }],
      retained: [{
        topic: "status/sensor-1",
        payload: bytes("online"),
        qos: 1,
        retain: true,
        properties: {
          userProperties: [["b", "1"], ["a", "2"]],
          correlationData: new Uint8Array([0, 1, 255]),
        },
        expiresAt: 0,
        origin: "sensor-1",
      }],
      deliveries: [{
        clientId: "sensor-1",
        seq: 7,
        packetId: 3,
        state: "publish",
        qos: 1,
        retain: false,
        identifiers: [42],
        message: {
          topic: "cmd/reboot",
          payload: bytes("now"),
          qos: 2,
          retain: false,
          properties: undefined,
          expiresAt: 0,
          origin: "ops",
        },
      }],
      incomingQos2: [{ clientId: "sensor-1", packetId: 9 }],
      wills: [{
        clientId: "sensor-1",
        will: {
          topic: "status/sensor-1",
          payload: bytes("offline"),
          qos: 1,
          retain: true,
          properties: { willDelayInterval: 5 },
        },
        publishAt: 123,
      }],
    });
    store.close();
    using db = new DatabaseSync(path);
    assert.equal(
      db.prepare("SELECT version FROM schema_version").get()?.version,
      SCHEMA_VERSION,
      "the file is migrated to the current version",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("SqliteStore.open() reads a store written with schema version 1", () => {
  checkFixture(writeVersion1Fixture);
});

/** Schema version 2's deliveries table exactly as migration 2 leaves it. Never edit. */
const DELIVERIES_V2 = `
  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY, client_id TEXT NOT NULL, seq INTEGER NOT NULL,
    packet_id INTEGER NOT NULL, flags INTEGER NOT NULL, topic TEXT NOT NULL,
    payload BLOB NOT NULL, origin TEXT NOT NULL, identifiers TEXT, properties TEXT,
    expires_at INTEGER NOT NULL
  );
`;

/** Writes a version 2 store with one of everything, as the store with migration 2 leaves it. */
function writeVersion2Fixture(path: string): void {
  writeVersion1Fixture(path);
  using db = new DatabaseSync(path);
  db.exec("DROP TABLE deliveries");
  db.exec(DELIVERIES_V2);
  db.exec("UPDATE schema_version SET version = 2");
  // State publish (1), QoS 1 (1 << 2), message QoS 2 (2 << 5).
  db.prepare("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    .run(
      1,
      "sensor-1",
      7,
      3,
      1 | 1 << 2 | 2 << 5,
      "cmd/reboot",
      new TextEncoder().encode("now"),
      "ops",
      "[42]",
      null,
      0,
    );
}

Deno.test("SqliteStore.open() reads a store written with schema version 2", () => {
  checkFixture(writeVersion2Fixture);
});

Deno.test("SqliteStore.open() removes a version 1 delivery it cannot migrate, keeping the rest", () => {
  const dir = Deno.makeTempDirSync({ prefix: "midge-upgrade-" });
  try {
    const path = `${dir}/midge.db`;
    writeVersion1Fixture(path);
    {
      using db = new DatabaseSync(path);
      db.prepare("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .run("sensor-1", 8, 0, "sideways", 1, 0, null, "t", new Uint8Array(1), 1, 0, null, 0, "x");
    }
    const warnings: string[] = [];
    const store = SqliteStore.open(path, {
      log: { error: (line) => void warnings.push(line), warn: (line) => void warnings.push(line) },
    });
    assert.deepStrictEqual(store.load().deliveries.map((d) => d.seq), [7]);
    assert.match(
      warnings[0] ?? "",
      /1 damaged row\(s\) skipped and removed \(queued message: unknown state 3\)/,
    );
    store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
