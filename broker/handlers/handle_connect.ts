/**
 * CONNECT (section 3.1): checks, session take-over or resumption, CONNACK, redelivery.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";
import { validateTopicName } from "../../codec/topic.ts";
import type { ConnectPacket, Properties } from "../../codec/types.ts";
import type { Connection } from "../connection.ts";
import { ConnectResult } from "../metrics/broker_metrics.ts";
import { ProtocolError } from "../protocol_error.ts";
import { Session, SESSION_NEVER_EXPIRES } from "../session.ts";

/** Mosquitto's protocol numbers in its connect log line: p1 = 3.1, p2 = 3.1.1, p5 = 5.0. */
const PROTOCOL_LOG_NUMBER = { 3: 1, 4: 2, 5: 5 } as const;

/**
 * Handles the first packet of a connection. Returns a promise while the password is being checked
 * (the connection reads no further packet until it settles).
 */
export function handleConnect(connection: Connection, packet: ConnectPacket): void | Promise<void> {
  const broker = connection.broker;
  const options = broker.options;
  const settings = connection.listener.settings;
  const version = packet.protocolVersion;
  connection.version = version;

  let clientId = packet.clientId;
  let assigned = false;
  if (clientId === "") {
    // [MQTT-3.1.3-8] (3.1.1: clean session 0 with an empty id → 0x02); MQTT 3.1 requires an id;
    // Mosquitto 2.0 also refuses v5 clients that want a persistent session with no id.
    if (version === 3 || !packet.clean || !settings.allowZeroLengthClientId) {
      connection.clientId = "<empty>";
      throw new ProtocolError(
        ReasonCode.ClientIdentifierNotValid,
        "Client identifier is empty and the server cannot assign one to this client",
      );
    }
    clientId = settings.autoIdPrefix + crypto.randomUUID();
    assigned = true;
  }
  if (settings.clientIdPrefix !== undefined && !clientId.startsWith(settings.clientIdPrefix)) {
    // Mosquitto's clientid_prefixes: checked on the id as sent or assigned; "not authorised".
    connection.clientId = clientId;
    throw new ProtocolError(
      ReasonCode.NotAuthorized,
      `Client identifier does not start with "${settings.clientIdPrefix}"`,
    );
  }
  connection.clientId = clientId;
  if (options.memoryLimit > 0 && memoryInUse() > options.memoryLimit) {
    // memory_limit: refuse new clients rather than grow past it.
    throw new ProtocolError(ReasonCode.ServerBusy, "Server memory limit reached");
  }

  // use_identity_as_username / use_subject_as_username: the TLS certificate is the credential,
  // and the user name and password in CONNECT are ignored (Mosquitto 2.0's handle_connect.c).
  const tls = settings.tls;
  const fromCertificate = tls !== undefined &&
    (tls.useIdentityAsUsername || tls.useSubjectAsUsername);
  let username = packet.username;
  if (fromCertificate) {
    const certificate = connection.transport.peerCertificate;
    username = tls.useIdentityAsUsername ? certificate?.commonName : certificate?.subject;
    if (username === undefined) {
      throw new ProtocolError(
        ReasonCode.BadUserNameOrPassword,
        certificate === undefined
          ? "No client certificate to take the user name from"
          : "The client certificate has no common name",
      );
    }
  }
  connection.username = username;
  if (settings.useUsernameAsClientId) {
    if (username === undefined) {
      throw new ProtocolError(
        ReasonCode.NotAuthorized,
        "use_username_as_clientid is set and the client sent no user name",
      );
    }
    clientId = username;
    connection.clientId = clientId;
  }

  const verdict = fromCertificate ? 0 : settings.security.authenticate(connection, packet.password);
  if (typeof verdict === "number") return acceptConnect(connection, packet, verdict, assigned);
  return verdict.then((refused) => {
    // The client may have gone, or timed out, while its password was being checked.
    if (connection.state === "new") acceptConnect(connection, packet, refused, assigned);
  });
}

/** Sampled `rss`, refreshed at most every 100 ms: `Deno.memoryUsage()` is not free. */
let memorySample = { at: 0, rss: 0 };

/** Resident memory of the process, as `memory_limit` counts it (sampled every 100 ms). */
export function memoryInUse(): number {
  const now = Date.now();
  if (now - memorySample.at > 100) memorySample = { at: now, rss: Deno.memoryUsage().rss };
  return memorySample.rss;
}

/** The rest of CONNECT once the client's credentials have been checked (`refused` 0 = good). */
function acceptConnect(
  connection: Connection,
  packet: ConnectPacket,
  refused: number,
  assigned: boolean,
): void {
  const broker = connection.broker;
  const options = broker.options;
  const settings = connection.listener.settings;
  const version = packet.protocolVersion;
  const props = packet.properties;
  const clientId = connection.clientId;
  if (refused !== 0) {
    // The password is never logged; the address is, for fail2ban-style tooling.
    broker.log.info(
      `Client ${clientId} from ${connection.peer} disconnected, ${
        refused === ReasonCode.BadUserNameOrPassword
          ? "bad user name or password"
          : "not authorised"
      }.`,
    );
    throw new ProtocolError(
      refused,
      refused === ReasonCode.BadUserNameOrPassword ? "Bad user name or password" : "Not authorized",
      { logged: true },
    );
  }
  if (props?.authenticationMethod !== undefined) {
    // No enhanced authentication methods are supported [MQTT-4.12.0-1].
    throw new ProtocolError(
      ReasonCode.BadAuthenticationMethod,
      `Authentication method "${props.authenticationMethod}" is not supported`,
    );
  }
  if (packet.will) {
    try {
      validateTopicName(packet.will.topic);
    } catch {
      throw new ProtocolError(
        ReasonCode.TopicNameInvalid,
        `Will topic "${packet.will.topic}" is not a valid topic name`,
      );
    }
    if (packet.will.qos > options.maxQos) {
      throw new ProtocolError(ReasonCode.QoSNotSupported, "Will QoS is not supported");
    }
    if (packet.will.retain && !options.retainAvailable) {
      throw new ProtocolError(ReasonCode.RetainNotSupported, "Retained wills are not supported");
    }
  }

  if (version === 5) {
    connection.clientReceiveMaximum = props?.receiveMaximum ?? 65535;
    if (props?.maximumPacketSize !== undefined) {
      connection.clientMaximumPacketSize = props.maximumPacketSize;
    }
    connection.clientTopicAliasMaximum = props?.topicAliasMaximum ?? 0;
    connection.requestProblemInformation = props?.requestProblemInformation !== 0;
  }

  let keepalive = packet.keepalive;
  let serverKeepAlive: number | undefined;
  if (version === 5 && (keepalive === 0 || keepalive > options.maxKeepalive)) {
    // [MQTT-3.2.2-21]: the server may impose its own keep alive on v5 clients.
    if (keepalive > options.maxKeepalive || options.maxKeepalive < 65535) {
      keepalive = options.maxKeepalive;
      serverKeepAlive = keepalive;
    }
  } else if (
    keepalive > options.maxKeepalive || keepalive === 0 && options.maxKeepalive < 65535
  ) {
    // 3.1.1 cannot tell the client; Mosquitto refuses it.
    throw new ProtocolError(ReasonCode.ClientIdentifierNotValid, "Keep alive is too long");
  }
  connection.keepalive = keepalive;
  // Mosquitto honours the bridge bit only below MQTT 5, where No Local does the same job.
  connection.isBridge = packet.bridge === true && version !== 5;
  // A will its client may not publish is dropped (Mosquitto checks the ACL before sending it).
  connection.will = packet.will && settings.security.canWrite(connection, packet.will.topic)
    ? packet.will
    : undefined;

  const expiry = version === 5
    ? props?.sessionExpiryInterval ?? 0
    : packet.clean
    ? 0
    : SESSION_NEVER_EXPIRES;

  let session = broker.sessions.get(clientId);
  if (session?.connection) {
    // [MQTT-3.1.4-3]: take over. The old connection's will goes only if its session ends now.
    const old = session.connection;
    const sessionEnds = packet.clean || session.expiryInterval === 0;
    const oldWill = sessionEnds ? old.will : undefined;
    old.publishWillOnClose = false;
    session.connection = undefined;
    broker.clientsConnected--;
    broker.log.info(`Client ${clientId} already connected, closing old connection.`);
    old.disconnect(ReasonCode.SessionTakenOver, "Another client connected with this client id");
    if (oldWill) broker.publishWill(clientId, oldWill);
  }
  if (session && (packet.clean || session.expiryInterval === 0)) {
    session.pendingWill = undefined;
    broker.endSession(session);
    session = undefined;
  }
  const sessionPresent = session !== undefined;
  if (!session) {
    session = new Session(clientId, version, expiry);
    broker.sessions.set(clientId, session);
  }
  // A reconnect before the will delay has passed cancels the will [MQTT-3.1.3-9].
  if (session.pendingWill) broker.store?.deleteWill(clientId);
  session.pendingWill = undefined;
  session.protocolVersion = version;
  // A persisted session resumed with expiry 0 ends at this disconnection: its stored rows must
  // not come back at a restart while this connection lives.
  if (session.expiryInterval > 0 && expiry === 0) broker.store?.deleteSession(clientId);
  session.expiryInterval = expiry;
  session.disconnectedAt = 0;
  session.identity = { clientId, username: connection.username, peer: connection.peer };
  session.security = settings.security;
  session.listenerKey = connection.listener.key;
  session.connection = connection;
  connection.session = session;
  broker.persistSession(session);
  connection.state = "connected";
  connection.connectedAt = Date.now();
  // Raises the maximum too: one count feeds $SYS clients/maximum and midge_clients_maximum.
  broker.clientsConnected++;
  broker.metrics.connects[ConnectResult.Accepted]!++;

  const ack: Properties = {};
  if (version === 5) {
    // Mosquitto 2.0's CONNACK: so that existing clients see no difference.
    if (options.receiveMaximum < 65535) ack.receiveMaximum = options.receiveMaximum;
    if (settings.topicAliasMaximum > 0) ack.topicAliasMaximum = settings.topicAliasMaximum;
    if (options.maxQos < 2) ack.maximumQoS = options.maxQos;
    if (!options.retainAvailable) ack.retainAvailable = 0;
    if (options.maxPacketSize > 0) ack.maximumPacketSize = options.maxPacketSize;
    if (assigned) ack.assignedClientIdentifier = clientId;
    if (serverKeepAlive !== undefined) ack.serverKeepAlive = serverKeepAlive;
  }
  connection.send({
    type: "connack",
    sessionPresent,
    reasonCode: 0,
    ...(Object.keys(ack).length > 0 ? { properties: ack } : {}),
  });
  if (options.connectionMessages) {
    broker.log.info(
      `New client connected from ${connection.peer} as ${clientId} (p${
        PROTOCOL_LOG_NUMBER[version]
      }, c${packet.clean ? 1 : 0}, k${packet.keepalive}${
        connection.username !== undefined ? `, u'${connection.username}'` : ""
      }).`,
    );
  }
  if (sessionPresent) broker.resumeSession(session);
}
