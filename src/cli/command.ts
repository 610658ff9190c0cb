/**
 * What a `dask-ts` subcommand looks like, and the shared helpers for parsing
 * its flags.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { formatAddress, parseAddress } from "../comm/tcp.js";

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

/** Flags and positional arguments of a command line. */
export interface ParsedArgs {
  readonly flags: Map<string, string | true>;
  readonly positionals: string[];
}

/**
 * Parse `--flag value` / `--flag=value` / boolean `--flag` arguments against
 * the flags a command knows, and the positional arguments between them;
 * an unknown flag or a missing value is a usage error.
 */
export function parseArgs(args: readonly string[], known: Readonly<Record<string, "string" | "boolean">>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const kind = known[name];
    if (kind === undefined) throw new CliUsageError(`unknown flag --${name}`);
    if (kind === "boolean") {
      if (eq >= 0) throw new CliUsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined || value.startsWith("--")) throw new CliUsageError(`--${name} needs a value`);
      flags.set(name, value);
    }
  }
  return { flags, positionals };
}

/** {@link parseArgs} for a command that takes no positional arguments. */
export function parseFlags(args: readonly string[], known: Readonly<Record<string, "string" | "boolean">>): Map<string, string | true> {
  const { flags, positionals } = parseArgs(args, known);
  if (positionals.length > 0) throw new CliUsageError(`unexpected argument "${positionals[0]}"`);
  return flags;
}

/**
 * Check a host flag's value (an IP address or a host name) as the TCP layer
 * would, with a message about the flag rather than about an address.
 */
export function checkHost(host: string, flag: string): string {
  try {
    parseAddress(formatAddress(host, 0));
  } catch {
    throw new CliUsageError(`--${flag} ${JSON.stringify(host)} is not an IP address or a host name`);
  }
  return host;
}

/** A whole number from `min` to `max`, or a usage error naming the flag. */
export function parseInteger(text: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new CliUsageError(`--${flag} must be a whole number ${range}, not ${JSON.stringify(text)}`);
  }
  return n;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, "": 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** A positive duration such as `30s`, `500ms`, `2m` or `1.5` (seconds), in milliseconds; else a usage error naming the flag. */
export function parseDuration(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m === null ? undefined : DURATION_UNITS[m[2]!.toLowerCase()];
  const ms = m === null || unit === undefined ? Number.NaN : Number(m[1]) * unit;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new CliUsageError(`--${flag} must be a positive duration such as 30s, 500ms or 2m, not ${JSON.stringify(text)}`);
  return ms;
}

/**
 * A logger for a long-running command: each line goes to stderr with the
 * time and who speaks (`2026-01-01T12:00:00.000Z scheduler: worker w-0 registered`).
 */
export function stderrLog(who: string): (line: string) => void {
  return (line) => process.stderr.write(`${new Date().toISOString()} ${who}: ${line}\n`);
}

/**
 * Call `stop` on the first SIGINT (Ctrl-C) or SIGTERM; a second one exits at
 * once with code 1, for when stopping cleanly hangs. Returns a function that
 * removes the handlers.
 */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => void, log: (line: string) => void): () => void {
  let received = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (received) {
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    received = true;
    log(`${signal}: shutting down`);
    stop(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
