/**
 * The one error the configuration reader throws. Like Mosquitto, midge refuses to start on a
 * configuration it does not understand, and says where: file, line and option.
 *
 * @module
 */

/** Where a {@linkcode ConfigError} happened; any part may be unknown. */
export interface ConfigErrorOptions {
  /** The file being read. */
  file?: string;
  /** The 1-based line within `file`. */
  line?: number;
  /** The option on that line. */
  option?: string;
  /** The underlying error, e.g. a failed file read. */
  cause?: unknown;
}

/**
 * A configuration file that cannot be used, e.g.
 * `Cannot parse option "max_inflight_messages" at /etc/mosquitto/mosquitto.conf:12: expected an
 * integer, got "ten"`.
 */
export class ConfigError extends Error {
  /** The file being read, when known. */
  readonly file?: string;
  /** The 1-based line within `file`, when known. */
  readonly line?: number;
  /** The option on that line, when known. */
  readonly option?: string;

  /** Creates an error with a message a person can act on and where it happened. */
  constructor(message: string, options: ConfigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConfigError";
    this.file = options.file;
    this.line = options.line;
    this.option = options.option;
  }
}
