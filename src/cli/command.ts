/**
 * What a `dask-ts` subcommand looks like, and the shared helpers for parsing
 * its flags.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** The package version, read from package.json. */
export const VERSION: string = (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** A subcommand of `dask-ts`. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(args: readonly string[]): Promise<number>;
}

/** Bad flags or arguments: reported with a pointer to `--help`, exit code 2. */
export class CliUsageError extends Error {
  override readonly name = "CliUsageError";
}

/**
 * Parse `--flag value` / `--flag=value` / boolean `--flag` arguments against
 * the flags a command knows; anything else is a usage error.
 */
export function parseFlags(args: readonly string[], known: Readonly<Record<string, "string" | "boolean">>): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) throw new CliUsageError(`unexpected argument "${a}"`);
    const eq = a.indexOf("=");
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const kind = known[name];
    if (kind === undefined) throw new CliUsageError(`unknown flag --${name}`);
    if (kind === "boolean") {
      if (eq >= 0) throw new CliUsageError(`--${name} takes no value`);
      out.set(name, true);
    } else {
      const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined || value.startsWith("--")) throw new CliUsageError(`--${name} needs a value`);
      out.set(name, value);
    }
  }
  return out;
}
