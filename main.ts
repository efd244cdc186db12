/**
 * The `midge` program, for `deno run` and `deno compile`: with no subcommand it runs the broker
 * (`midge -p 1883 -v`, flags as `mosquitto`); `midge pub`, `midge sub` and `midge healthcheck`
 * are the client tools.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { VERSION } from "./broker/version.ts";
import { healthcheckCommand } from "./cli/healthcheck.ts";
import { passwdCommand } from "./cli/passwd.ts";
import { pubCommand } from "./cli/pub.ts";
import { collectPort, parseSeconds, runServe } from "./cli/serve.ts";
import { subCommand } from "./cli/sub.ts";

/**
 * Builds the command line parser; `main.ts` runs it on `Deno.args`.
 *
 * @example
 * ```ts ignore
 * import { createProgram } from "./main.ts";
 * await createProgram().parseAsync(["-p", "1884"], { from: "user" });
 * ```
 */
export function createProgram() {
  return new Command("midge")
    .description("An MQTT 5.0/3.1.1/3.1 broker, a drop-in for Eclipse Mosquitto.")
    .version(VERSION, "--version", "print the version and exit")
    // Broker flags only before a subcommand, so `midge pub -p 1884` is pub's port.
    .enablePositionalOptions()
    .option(
      "-c, --config <file>",
      "load configuration from a mosquitto.conf file; repeat to give candidates in order of " +
        "preference (the first that exists is used)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      "--watch",
      "reload when the config file changes, or when a preferred candidate appears (the default " +
        "config is used until one exists)",
    )
    .option("--watch-interval <seconds>", "seconds between --watch checks", parseSeconds, 2)
    .option(
      "-p, --port <port>",
      "listen on this port on the loopback interface (default 1883; repeatable)",
      collectPort,
    )
    .option("-v, --verbose", "verbose mode: log every packet")
    .action(async (flags) => {
      Deno.exit(await runServe(flags));
    })
    .addCommand(pubCommand())
    .addCommand(subCommand())
    .addCommand(healthcheckCommand())
    .addCommand(passwdCommand());
}

if (import.meta.main) {
  try {
    // `deno task start -- -c FILE` passes the `--` through; commander would take it as an operand.
    const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
    await createProgram().parseAsync(args, { from: "user" });
  } catch (error) {
    // One line, no stack trace, as Mosquitto reports start-up failures.
    console.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
