/**
 * The error handlers throw to end a connection; `connection.ts` turns it into a CONNACK or a v5
 * DISCONNECT with `reasonCode` and closes the client, the one place that does.
 *
 * @module
 */

/** A client broke the protocol or a limit; the connection must end with `reasonCode`. */
export class ProtocolError extends Error {
  /** MQTT 5 reason code sent in DISCONNECT (or CONNACK before the session starts). */
  readonly reasonCode: number;
  /** True when the thrower already logged the reason in Mosquitto's words. */
  readonly logged: boolean;

  /** Creates an error with an MQTT 5 reason code and a message a person can act on. */
  constructor(reasonCode: number, message: string, options: { logged?: boolean } = {}) {
    super(message);
    this.name = "ProtocolError";
    this.reasonCode = reasonCode;
    this.logged = options.logged ?? false;
  }
}
