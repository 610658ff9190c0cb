/**
 * The nanny: a supervisor that runs one network worker as a child process
 * (`node <the dask-ts command> worker ADDRESS --no-nanny --name NAME ...`,
 * with this process's Node flags and loaders, so a program started under
 * tsx has workers that load .ts modules) and restarts it when it dies.
 *
 * The child's exit code says why it stopped ({@link WORKER_EXIT}):
 * - 0: it was asked to (a signal) — not restarted;
 * - `schedulerGone`: the scheduler went away or told it to leave — the
 *   nanny stops too (its outcome is `scheduler-gone`);
 * - `startFailed` (or 2, a usage error): it could not start, for instance
 *   the scheduler could not be reached within the connect timeout —
 *   restarting would fail the same way, so the nanny stops (`start-failed`);
 * - `restart`: the scheduler removed it while it ran (it stopped answering,
 *   a blocked event loop) — restarted like a crash, so it registers afresh;
 * - `outOfMemory`: its task thread ran out of its memory limit — restarted
 *   like a crash (Dask's `worker-restart-memory`), the log saying why;
 * - `requested`: a client asked for every worker to restart
 *   (`client.restart()`) — restarted at once, not counted as a failure;
 * - anything else (a crash, its task thread dying or running out of memory,
 *   SIGKILL): restarted after a backoff that starts at `backoffMs` and
 *   doubles with each restart in the last `restartWindowMs`, up to
 *   `maxBackoffMs`; after `maxRestarts` restarts in that window the nanny
 *   gives up (`gave-up`).
 *
 * A child under a nanny knows it by the {@link NANNY_ENV} variable, which
 * holds the nanny's pid: it uses the exit codes above, and stops by itself
 * if the nanny dies (its parent changes).
 *
 * @example
 * ```ts
 * const nanny = Nanny.start({ scheduler: "tcp://10.0.0.5:8786", name: "w-0" });
 * const outcome = await nanny.finished; // { kind: "scheduler-gone" } when the scheduler shuts down
 * ```
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { inheritedExecArgv } from "./spawn.js";

/**
 * Exit codes of a worker process run under a nanny (other than 0, asked to
 * stop, and 2, a usage error). Codes Node uses itself (1 for an uncaught
 * error, 3–14, 128 + signal) mean a crash.
 *
 * @example
 * ```ts
 * process.exitCode = WORKER_EXIT.schedulerGone;
 * ```
 */
export const WORKER_EXIT = { stopped: 0, schedulerGone: 20, startFailed: 21, restart: 22, outOfMemory: 23, requested: 24 } as const;

/** The environment variable that tells a worker process it runs under a nanny; its value is the nanny's pid. */
export const NANNY_ENV = "DASK_TS_NANNY";

/** How often a worker process under a nanny tells it that its event loop is alive. */
export const WORKER_ALIVE_MS = 1000;

/**
 * Options of {@link Nanny.start}.
 *
 * @example
 * ```ts
 * const opts: NannyOptions = { scheduler: "tcp://127.0.0.1:8786", name: "w-0", workerArgs: ["--nthreads", "2"] };
 * ```
 */
export interface NannyOptions {
  /** The scheduler's address. */
  readonly scheduler: string;
  /** The worker's name; it keeps it across restarts. */
  readonly name: string;
  /** More `dask-ts worker` flags for the child (`--nthreads 2`, `--memory-limit 4096MiB`, ...). */
  readonly workerArgs?: readonly string[];
  /** Restarts allowed within `restartWindowMs` before giving up. Default 5. */
  readonly maxRestarts?: number;
  /** Default 60,000 ms. */
  readonly restartWindowMs?: number;
  /** Delay before the first restart in the window; doubles with each further one. Default 500 ms. */
  readonly backoffMs?: number;
  /** Default 8,000 ms. */
  readonly maxBackoffMs?: number;
  /** How long a child asked to stop (SIGTERM) gets before SIGKILL. Default 10,000 ms. */
  readonly stopTimeoutMs?: number;
  /**
   * Kill, and so restart, a worker process whose event loop has not said it
   * is alive for this long (something it runs outside its task thread, such
   * as a `client.run` function, never returns). Default 60,000 ms.
   */
  readonly livenessTimeoutMs?: number;
  /** Told about starts, deaths and restarts. */
  readonly log?: (line: string) => void;
}

/**
 * How a nanny ended: stopped (closed, or its worker was stopped by a signal),
 * the scheduler went away, its worker could not start, or it restarted its
 * worker too often and gave up.
 *
 * @example
 * ```ts
 * const outcome: NannyOutcome = await nanny.finished;
 * if (outcome.kind === "gave-up") console.error(outcome.message);
 * ```
 */
export type NannyOutcome =
  | { readonly kind: "stopped" | "scheduler-gone" }
  | { readonly kind: "start-failed" | "gave-up"; readonly message: string };

/** The `dask-ts` command of this package. */
const CLI_PATH = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/**
 * A supervisor that keeps one worker process running.
 *
 * @example
 * ```ts
 * const nanny = Nanny.start({ scheduler: address, name: "w-0" });
 * await nanny.close(); // SIGTERM to the worker, wait for it to exit
 * ```
 */
export class Nanny {
  /** Resolves once the nanny has stopped and its worker process has exited. */
  readonly finished: Promise<NannyOutcome>;
  private finish!: (outcome: NannyOutcome) => void;
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  /** When the child last said it was alive (over the IPC channel), and the timer that checks it. */
  private lastAlive = 0;
  private watchdog: NodeJS.Timeout | undefined;
  /** When each restart in the current window happened. */
  private restarts: number[] = [];
  private closing = false;
  private done = false;
  private readonly log: (line: string) => void;

  private constructor(private readonly options: NannyOptions) {
    this.finished = new Promise((resolve) => (this.finish = resolve));
    this.log = options.log ?? (() => undefined);
  }

  /**
   * Start the worker process and supervise it.
   *
   * @example
   * ```ts
   * const nanny = Nanny.start({ scheduler: "tcp://127.0.0.1:8786", name: "w-0" });
   * ```
   */
  static start(options: NannyOptions): Nanny {
    const nanny = new Nanny(options);
    nanny.spawnChild();
    return nanny;
  }

  /** The worker process's pid, while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The worker's name. */
  get name(): string {
    return this.options.name;
  }

  private spawnChild(): void {
    const { scheduler, name } = this.options;
    const args = [...inheritedExecArgv(), CLI_PATH, "worker", scheduler, "--no-nanny", "--name", name, ...(this.options.workerArgs ?? [])];
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, [NANNY_ENV]: String(process.pid) },
    });
    this.child = child;
    this.watch(child);
    // "error" also reports a failed kill of a running child; only a child that never started ends here.
    child.on("error", (err) => {
      if (child.pid === undefined) this.exited(child, null, null, err);
    });
    child.once("exit", (code, signal) => this.exited(child, code, signal));
    if (child.pid !== undefined) this.log(`started worker ${name} (pid ${child.pid})`);
  }

  /**
   * The child's event loop says it is alive every second (see WORKER_ALIVE_MS); one that stops
   * saying so is stuck, and a stuck worker is no use to anyone: kill it, so it restarts like a crash.
   */
  private watch(child: ChildProcess): void {
    const timeout = this.options.livenessTimeoutMs ?? 60_000;
    this.lastAlive = Date.now();
    child.on("message", () => (this.lastAlive = Date.now()));
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      const silent = Date.now() - this.lastAlive;
      if (this.child !== child || this.closing || silent <= timeout) return;
      clearInterval(this.watchdog);
      this.log(`worker ${this.options.name} (pid ${child.pid}) has not responded for ${Math.round(silent / 1000)} s; killing it`);
      child.kill("SIGKILL");
    }, Math.min(1000, Math.max(50, timeout / 4)));
    this.watchdog.unref();
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    clearTimeout(this.killTimer);
    clearInterval(this.watchdog);
    const { name } = this.options;
    const pid = child.pid === undefined ? "" : ` (pid ${child.pid})`;
    if (error !== undefined) return this.end({ kind: "start-failed", message: `could not start a process for worker ${name}: ${error.message}` });
    if (this.closing || code === WORKER_EXIT.stopped) {
      this.log(`worker ${name}${pid} stopped`);
      return this.end({ kind: "stopped" });
    }
    if (code === WORKER_EXIT.schedulerGone) {
      this.log(`worker ${name}${pid} stopped: the scheduler went away or told it to leave`);
      return this.end({ kind: "scheduler-gone" });
    }
    if (code === WORKER_EXIT.startFailed || code === 2) {
      return this.end({ kind: "start-failed", message: `worker ${name} could not start (exit code ${code}); not restarting it` });
    }
    if (code === WORKER_EXIT.requested) {
      // Asked for (client.restart()), not a failure: at once, and not counted against the restart limit.
      this.log(`worker ${name}${pid} restarting, as the scheduler asked`);
      this.spawnChild();
      return;
    }
    const how =
      signal !== null
        ? `was killed by ${signal}`
        : code === WORKER_EXIT.restart
          ? "was removed by the scheduler (it stopped answering)"
          : code === WORKER_EXIT.outOfMemory
            ? "ran out of memory (its --memory-limit)"
            : `exited with code ${code}`;
    const window = this.options.restartWindowMs ?? 60_000;
    const max = this.options.maxRestarts ?? 5;
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < window);
    if (this.restarts.length >= max) {
      const message = `worker ${name}${pid} ${how}, after ${this.restarts.length} restarts in the last ${window / 1000} s; giving up`;
      return this.end({ kind: "gave-up", message });
    }
    const delay = Math.min((this.options.backoffMs ?? 500) * 2 ** this.restarts.length, this.options.maxBackoffMs ?? 8_000);
    this.restarts.push(now);
    this.log(`worker ${name}${pid} ${how}; restarting it in ${delay / 1000} s (restart ${this.restarts.length} of at most ${max} in ${window / 1000} s)`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.spawnChild();
    }, delay);
  }

  private end(outcome: NannyOutcome): void {
    if (this.done) return;
    this.done = true;
    this.finish(outcome);
  }

  /**
   * Stop: SIGTERM to the worker process (SIGKILL if it has not exited after
   * `stopTimeoutMs`), and resolve with the outcome once it has exited.
   *
   * @example
   * ```ts
   * await nanny.close();
   * ```
   */
  close(): Promise<NannyOutcome> {
    if (!this.closing && !this.done) {
      this.closing = true;
      clearTimeout(this.restartTimer);
      const child = this.child;
      if (child === undefined) this.end({ kind: "stopped" });
      else {
        child.kill("SIGTERM");
        this.killTimer = setTimeout(() => {
          this.log(`worker ${this.options.name} (pid ${child.pid}) did not stop within ${(this.options.stopTimeoutMs ?? 10_000) / 1000} s; killing it`);
          child.kill("SIGKILL");
        }, this.options.stopTimeoutMs ?? 10_000);
      }
    }
    return this.finished;
  }
}
