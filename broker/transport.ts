/**
 * The only thing the broker core knows about a network connection. Listeners (`listeners/`) adapt
 * TCP, TLS and WebSocket connections to it; tests adapt an in-memory pipe.
 *
 * @module
 */

/** Receives what a transport reads. */
export interface TransportSink {
  /**
   * Bytes read from the peer. The core may keep views into `chunk` (it is never reused by the
   * transport), so a transport must hand over a fresh buffer each time.
   */
  onData(chunk: Uint8Array): void;
  /** The peer closed, the socket failed, or `close()` was called. Called exactly once. */
  onClose(error?: unknown): void;
}

/** The verified certificate a client presented over TLS (`require_certificate true`). */
export interface PeerCertificate {
  /** The first common name (CN) of the subject; `use_identity_as_username` takes it. */
  readonly commonName: string | undefined;
  /** The subject in RFC 2253 form, e.g. `CN=alice,O=house`; `use_subject_as_username` takes it. */
  readonly subject: string;
}

/** A bidirectional byte stream to one client. */
export interface Transport {
  /** Peer address for log lines, e.g. `127.0.0.1` or `::1`. */
  readonly remoteAddress: string;
  /** Peer port, 0 when unknown. */
  readonly remotePort: number;
  /** The client's verified TLS certificate, on TLS listeners that request one. */
  readonly peerCertificate?: PeerCertificate;
  /** Starts reading; `sink` gets every chunk and then one `onClose`. Called once. */
  start(sink: TransportSink): void;
  /**
   * Writes all of `bytes`. The core never calls it again before the returned promise settles, so
   * a transport needs no queue of its own. Rejects (or resolves) when the connection is gone.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; pending and later writes are dropped. Idempotent. */
  close(): void;
}
