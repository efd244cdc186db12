/**
 * The security policy of a listener: who may connect (authentication) and which topics a client
 * may publish to, subscribe to and receive (authorisation). The broker core asks these questions;
 * `password_file` / `acl_file` implementations answer them. Without `per_listener_settings` all
 * listeners share one policy, as in Mosquitto.
 *
 * @module
 */

import { ReasonCode } from "../../codec/reason_code.ts";

/** Who a client is, as far as security is concerned. */
export interface ClientIdentity {
  readonly clientId: string;
  /** User name from CONNECT (or a TLS certificate); undefined for anonymous clients. */
  readonly username: string | undefined;
  /** `address:port` of the client, for log lines. */
  readonly peer: string;
}

/**
 * Answers the broker's security questions. The topic checks run on the hot path and must be fast
 * and synchronous; `authenticate` may return a promise (password hashing runs on WebCrypto), and
 * the connection reads no further packet until it settles.
 */
export interface SecurityPolicy {
  /**
   * Decides whether a client may connect: 0 to accept, or an MQTT 5 CONNACK reason code
   * (0x86 Bad user name or password, 0x87 Not authorized), mapped to 4/5 for MQTT 3.1.1.
   */
  authenticate(
    identity: ClientIdentity,
    password: Uint8Array | undefined,
  ): number | Promise<number>;
  /** May the client publish to `topic`? (Mosquitto's MOSQ_ACL_WRITE.) */
  canWrite(identity: ClientIdentity, topic: string): boolean;
  /** May the client receive a message published to `topic`? (MOSQ_ACL_READ.) */
  canRead(identity: ClientIdentity, topic: string): boolean;
  /** May the client subscribe to `filter`? (MOSQ_ACL_SUBSCRIBE.) */
  canSubscribe(identity: ClientIdentity, filter: string): boolean;
  /** True when `canRead` may refuse something, so the hot path can skip the call. */
  readonly restrictsRead: boolean;
}

/**
 * Mosquitto 2.0 with neither password file nor ACL: anonymous clients per `allow_anonymous`;
 * a client with a user name cannot be checked, so it is refused unless anonymous access is on
 * (then its name is simply accepted). Every topic is open.
 */
export class OpenSecurity implements SecurityPolicy {
  readonly allowAnonymous: boolean;
  readonly restrictsRead = false;

  /** Creates the policy. */
  constructor(allowAnonymous: boolean) {
    this.allowAnonymous = allowAnonymous;
  }

  authenticate(_identity: ClientIdentity, _password: Uint8Array | undefined): number {
    return this.allowAnonymous ? 0 : ReasonCode.NotAuthorized;
  }

  canWrite(): boolean {
    return true;
  }

  canRead(): boolean {
    return true;
  }

  canSubscribe(): boolean {
    return true;
  }
}
