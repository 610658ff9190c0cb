// Real `dask-ts` processes for the command-line and cluster tests: spawn the
// compiled CLI, wait (bounded) for lines on its stdout or stderr and for its
// exit, and kill whatever is still running when the tests are done.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The compiled `dask-ts` command. */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

const running = new Set<CliProcess>();
const strays = new Set<number>();

type Stream = "stdout" | "stderr";

interface Waiter {
  readonly stream: Stream;
  readonly pattern: RegExp;
  from: number;
  readonly resolve: (m: RegExpMatchArray) => void;
}

/** A `dask-ts` process whose output lines are kept and can be waited for. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly lines: Record<Stream, string[]> = { stdout: [], stderr: [] };
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Waiter[] = [];

  constructor(readonly args: readonly string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
      }),
    );
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: this.child[stream]! }).on("line", (line) => {
        this.lines[stream].push(line);
        // Worker processes a nanny starts: killed at the end too, should a test fail before they exit.
        const pid = /started worker .* \(pid (\d+)\)/.exec(line);
        if (pid !== null) strays.add(Number(pid[1]));
        this.check();
      });
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything it printed so far, for assertion messages. */
  get output(): string {
    return `$ dask-ts ${this.args.join(" ")}\n--- stdout\n${this.lines.stdout.join("\n")}\n--- stderr\n${this.lines.stderr.join("\n")}`;
  }

  /**
   * The first line of `stream` at index `from` or later that matches;
   * rejects (with the output so far) after `timeoutMs` or if the process
   * exits first.
   */
  line(pattern: RegExp, options: { stream?: Stream; from?: number; timeoutMs?: number } = {}): Promise<RegExpMatchArray> {
    const stream = options.stream ?? "stdout";
    const waited = new Promise<RegExpMatchArray>((resolve) => {
      this.waiters.push({ stream, pattern, from: options.from ?? 0, resolve });
      this.check();
    });
    const ended = this.exited.then(async ({ code, signal }) => {
      await new Promise((r) => setTimeout(r, 50)); // lines still in the pipe
      throw new Error(`the process exited (${signal ?? code}) before printing ${pattern} on ${stream}\n${this.output}`);
    });
    return within(Promise.race([waited, ended]), options.timeoutMs ?? 15_000, () => `no line ${pattern} on ${stream}\n${this.output}`);
  }

  /** How the process ends, within `timeoutMs`. */
  exit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return within(this.exited, timeoutMs, () => `the process did not exit\n${this.output}`);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      const lines = this.lines[w.stream];
      for (; w.from < lines.length; w.from++) {
        const m = w.pattern.exec(lines[w.from]!);
        if (m !== null) {
          w.resolve(m);
          return false;
        }
      }
      return true;
    });
  }
}

/** `promise`, or a rejection with `message()` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`after ${ms} ms: ${message()}`)), ms);
    }),
  ]);
}

/** Whether a process with this pid exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGKILL every process the tests started that is still running (for `after`). */
export function killAll(): void {
  for (const p of running) p.kill("SIGKILL");
  for (const pid of strays) {
    if (processExists(pid)) process.kill(pid, "SIGKILL");
  }
  strays.clear();
}
