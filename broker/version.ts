/**
 * The midge version, printed in log lines such as `midge version 0.1.0 starting`.
 *
 * @module
 */

/** The midge version. */
export const VERSION = "0.1.0";
