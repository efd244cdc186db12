/**
 * MQTT over TLS: a `node:tls` server adapted to the core's {@link Transport}.
 *
 * `node:tls` rather than `Deno.listenTls` because only it can request and verify client
 * certificates in Deno 2.9 (`requestCert`), which Mosquitto's `require_certificate`,
 * `use_identity_as_username` and `use_subject_as_username` need, and because it can swap
 * certificates on a running server (`setSecureContext`), so a reload with renewed certificates
 * keeps every client connected. Deno's TLS is rustls: TLS 1.2 and 1.3 only, and certificate
 * revocation lists are not checked (so `crlfile` is refused by the config).
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import type { AddressInfo, Socket } from "node:net";
import tls from "node:tls";
import { getBrokerLogger } from "../log.ts";
import type { PeerCertificate, Transport, TransportSink } from "../transport.ts";
import { bindError, familyOf, type RunningListener, unmapIpv4 } from "./listener.ts";

/** What a TLS listener serves with, read from `certfile`, `keyfile`, `cafile` and friends. */
export interface TlsSettings {
  /** PEM certificate chain (`certfile`). */
  readonly cert: string;
  /** PEM private key (`keyfile`). */
  readonly key: string;
  /** PEM CA certificates that client certificates must chain to (`cafile`, `capath`). */
  readonly ca: readonly string[];
  /** Ask every client for a certificate and refuse those without a valid one. */
  readonly requireCertificate: boolean;
  /** Lowest protocol version accepted (`tls_version`: Mosquitto's value is a minimum). */
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
  /** `use_identity_as_username`: the certificate's CN is the user name. */
  readonly useIdentityAsUsername: boolean;
  /** `use_subject_as_username`: the certificate's subject is the user name. */
  readonly useSubjectAsUsername: boolean;
}

/** A client that has not finished its TLS handshake after this long is dropped. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Options for {@link listenTls}. */
export interface TlsListenOptions {
  /** Address to bind, e.g. `127.0.0.1`, `::` or `0.0.0.0`. */
  hostname: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Certificates and client certificate policy. */
  tls: TlsSettings;
  /** Receives each connection once its handshake is done; the callee must call `start()`. */
  onTransport: (transport: Transport) => void;
  /** Disable Nagle's algorithm on accepted sockets (default `true`). */
  noDelay?: boolean;
}

/** A bound TLS listener; {@link TlsRunningListener.reconfigure} swaps certificates in place. */
export interface TlsRunningListener extends RunningListener {
  /**
   * Serves new handshakes with `settings` and returns true, or returns false when only a new
   * listener can (a changed `require_certificate` or `tls_version`). Established connections
   * keep the session they negotiated.
   */
  reconfigure(settings: TlsSettings): boolean;
}

/** The `node:tls` secure context options for `settings`. */
function contextOptions(settings: TlsSettings): tls.SecureContextOptions {
  return {
    cert: settings.cert,
    key: settings.key,
    ...(settings.ca.length > 0 ? { ca: [...settings.ca] } : {}),
    minVersion: settings.minVersion,
  };
}

/**
 * Checks that certificate, key and CAs load and that the key belongs to the certificate,
 * throwing an Error that says which does not. The config code calls it so that a broken file
 * fails the (re)load rather than every handshake (Deno's `node:tls` only notices then).
 */
export function checkTlsSettings(settings: TlsSettings): void {
  const certificate = parseCertificate(settings.cert, "the certificate");
  let key: KeyObject;
  try {
    key = createPrivateKey(settings.key);
  } catch (error) {
    throw new Error(`the private key cannot be read (${describe(error)})`);
  }
  if (!certificate.checkPrivateKey(key)) {
    throw new Error("the private key does not belong to the certificate");
  }
  for (const pem of settings.ca) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
    if (blocks === null) throw new Error("a CA file holds no PEM certificate");
    for (const block of blocks) parseCertificate(block, "a CA certificate");
  }
}

function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${what} cannot be read (${describe(error)})`);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Binds a TLS listener and hands every client that completes its handshake to `onTransport`.
 * Rejects with `Deno.errors.AddrInUse` (or `AddrNotAvailable`) naming the address when binding
 * fails, as the TCP listener does.
 *
 * @example
 * ```ts ignore
 * const listener = await listenTls({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   tls: { cert, key, ca: [], requireCertificate: false, minVersion: "TLSv1.2",
 *     useIdentityAsUsername: false, useSubjectAsUsername: false },
 *   onTransport: (transport) => transport.start({ onData() {}, onClose() {} }),
 * });
 * await listener.close();
 * ```
 */
export async function listenTls(options: TlsListenOptions): Promise<TlsRunningListener> {
  const initial = options.tls;
  const noDelay = options.noDelay ?? true;
  /** Sockets still in their handshake, closed with the listener. */
  const handshaking = new Set<Socket>();
  let closed = false;

  const server = tls.createServer({
    ...contextOptions(initial),
    requestCert: initial.requireCertificate,
    rejectUnauthorized: initial.requireCertificate,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  }, (socket: tls.TLSSocket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    if (noDelay) socket.setNoDelay(true);
    const transport = new TlsTransport(socket, initial.requireCertificate);
    try {
      options.onTransport(transport);
    } catch {
      // One connection the broker failed to take on must not stop the listener.
      transport.close();
    }
  });
  server.on("connection", (socket: Socket) => {
    handshaking.add(socket);
    socket.once("close", () => handshaking.delete(socket));
    socket.once("secure", () => handshaking.delete(socket));
  });
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    // A failed handshake (no or an untrusted client certificate, a plain-text client, a
    // timeout) is logged with the address, as Mosquitto logs OpenSSL errors, and dropped.
    // After a failed handshake Deno's TLSSocket has lost the address; its TCP socket has it.
    const tcp = (socket as unknown as { _parent?: Socket })._parent;
    const address = unmapIpv4(socket.remoteAddress ?? tcp?.remoteAddress ?? "");
    const port = socket.remotePort ?? tcp?.remotePort ?? 0;
    getBrokerLogger().info(
      `Client connection from ${address}:${port} failed: TLS handshake: ${error.message}.`,
    );
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off("listening", onListening);
      reject(bindError(denoError(error), options.hostname, options.port));
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ host: options.hostname, port: options.port, ipv6Only: false });
  });
  server.on("error", () => {
    // Accept errors (e.g. EMFILE) must not crash the broker; node:net keeps listening.
  });

  const address = server.address() as AddressInfo;
  let current = initial;
  return {
    protocol: "mqtt",
    hostname: address.address,
    port: address.port,
    family: familyOf(address.address),
    close() {
      if (!closed) {
        closed = true;
        server.close();
        for (const socket of handshaking) socket.destroy();
        handshaking.clear();
      }
      return Promise.resolve();
    },
    reconfigure(settings: TlsSettings): boolean {
      if (
        settings.requireCertificate !== current.requireCertificate ||
        settings.minVersion !== current.minVersion
      ) {
        return false;
      }
      server.setSecureContext(contextOptions(settings));
      current = settings;
      return true;
    },
  };
}

/** Node's `EADDRINUSE`-style errors as the Deno error classes the broker tests for. */
function denoError(error: NodeJS.ErrnoException): Error {
  const message = error.message.replace(/^listen /, "");
  switch (error.code) {
    case "EADDRINUSE":
      return new Deno.errors.AddrInUse(message);
    case "EADDRNOTAVAIL":
      return new Deno.errors.AddrNotAvailable(message);
    case "EACCES":
      return new Deno.errors.PermissionDenied(message);
    default:
      return error;
  }
}

/**
 * The identity in a verified client certificate: the first CN, and the subject in RFC 2253 order
 * (most significant last, comma separated), as OpenSSL's `XN_FLAG_RFC2253` prints it for
 * Mosquitto.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerCertificateFromSubject } from "./tls.ts";
 * assert.deepEqual(peerCertificateFromSubject("CN=alice\nO=house"), {
 *   commonName: "alice",
 *   subject: "O=house,CN=alice",
 * });
 * ```
 */
export function peerCertificateFromSubject(subject: string): PeerCertificate {
  const parts = subject.split("\n").filter((part) => part !== "");
  const cn = parts.find((part) => part.startsWith("CN="));
  return {
    commonName: cn === undefined ? undefined : cn.slice(3),
    subject: parts.reverse().join(","),
  };
}

function peerCertificateOf(socket: tls.TLSSocket): PeerCertificate | undefined {
  const raw = socket.getPeerCertificate()?.raw as Buffer | undefined;
  if (raw === undefined || raw.length === 0) return undefined;
  try {
    return peerCertificateFromSubject(new X509Certificate(raw).subject);
  } catch {
    return undefined;
  }
}

/** One TLS connection as a {@link Transport}. */
export class TlsTransport implements Transport {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly peerCertificate: PeerCertificate | undefined;
  #socket: tls.TLSSocket;
  #sink: TransportSink | undefined;
  #closeReason: unknown;
  #finished = false;
  #closed = false;

  /** Wraps a socket whose handshake is done; `verified` says a client certificate was required. */
  constructor(socket: tls.TLSSocket, verified: boolean) {
    this.#socket = socket;
    this.remoteAddress = unmapIpv4(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
    // Only a certificate the handshake verified may name the user.
    this.peerCertificate = verified && socket.authorized ? peerCertificateOf(socket) : undefined;
    socket.on("error", (error: Error) => {
      this.#closeReason ??= error;
    });
    socket.on("close", () => this.#finish());
  }

  start(sink: TransportSink): void {
    if (this.#sink) throw new Error("Cannot start transport: already started");
    this.#sink = sink;
    if (this.#socket.destroyed) {
      this.#finish();
      return;
    }
    this.#socket.on("data", (data: Buffer) => {
      if (this.#closed) return;
      // The core keeps views of what it gets: copy a small chunk out of a large buffer so the
      // view does not pin the rest.
      const chunk = data.byteLength * 2 < data.buffer.byteLength
        ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      sink.onData(chunk);
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#socket.destroyed) return Promise.resolve();
    // Resolves once the bytes are handed to the socket (a reader that stops reading stalls
    // it, which is how the core notices a stuck client) or the socket has gone.
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off("close", done);
        resolve();
      };
      this.#socket.once("close", done);
      try {
        this.#socket.write(bytes, () => done());
      } catch (error) {
        this.#closeReason ??= error;
        this.close();
        done();
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
  }

  #finish(): void {
    if (this.#finished || !this.#sink) return;
    this.#finished = true;
    this.#closed = true;
    if (this.#closeReason === undefined) this.#sink.onClose();
    else this.#sink.onClose(this.#closeReason);
  }
}
