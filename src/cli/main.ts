#!/usr/bin/env node
/**
 * The `dask-ts` command. Each subcommand is a small module with its own
 * `--help`; this file only dispatches. Unknown commands and flags get a
 * clear message and exit code 2 (usage error); failures inside a command exit 1.
 *
 * @module
 */
import { infoCommand } from "./info.js";
import { schedulerCommand } from "./scheduler.js";
import { workerCommand } from "./worker.js";
import { type Command, CliUsageError, VERSION } from "./command.js";

const commands: readonly Command[] = [infoCommand, schedulerCommand, workerCommand];

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`);
  return [
    `dask-ts ${VERSION}: parallel computing for TypeScript`,
    "",
    "Usage: dask-ts <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  --help, -h     show this help (or a command's help: dask-ts <command> --help)",
    "  --version, -v  print the version",
  ].join("\n");
}

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    console.log(usage());
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-v") {
    console.log(VERSION);
    return 0;
  }
  const cmd = commands.find((c) => c.name === first);
  if (cmd === undefined) {
    console.error(`dask-ts: unknown command "${first}". Run "dask-ts --help" to see the commands.`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof CliUsageError) {
      console.error(`dask-ts ${cmd.name}: ${err.message}\nRun "dask-ts ${cmd.name} --help" for usage.`);
      return 2;
    }
    console.error(`dask-ts ${cmd.name}: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
