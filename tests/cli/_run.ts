/**
 * A `midge`-like program with only the client tools, so that tests can spawn
 * `deno run -A tests/cli/_run.ts pub ...` while `main.ts` is wired separately.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { healthcheckCommand } from "../../cli/healthcheck.ts";
import { pubCommand } from "../../cli/pub.ts";
import { subCommand } from "../../cli/sub.ts";

// Positional options: options after `pub`/`sub` belong to the subcommand, so a root `-V`/`-h`
// could never take `midge pub -V 5 -h host` (main.ts needs the same setting).
const program = new Command("midge")
  .enablePositionalOptions()
  .addCommand(pubCommand())
  .addCommand(subCommand())
  .addCommand(healthcheckCommand());

await program.parseAsync(Deno.args, { from: "user" });
