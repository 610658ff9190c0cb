/**
 * `dask-ts worker ADDRESS`: start network workers for a scheduler. By
 * default each worker is a child process under a {@link Nanny} in this
 * process, which restarts it when it dies; with `--no-nanny` the workers
 * run in this process (this is also what a nanny runs as its child).
 *
 * @module
 */
import { hostname } from "node:os";
import { parseBytes } from "../bag/io/blocks.js";
import { ConnectTimeoutError } from "../core/errors.js";
import { formatAddress, parseAddress } from "../comm/tcp.js";
import { NANNY_ENV, Nanny, WORKER_ALIVE_MS, WORKER_EXIT } from "../worker/nanny.js";
import { NetworkWorker } from "../worker/process.js";
import { type Command, CliUsageError, checkHost, onShutdownSignal, parseArgs, parseDuration, parseInteger, stderrLog } from "./command.js";

const HELP = `Usage: dask-ts worker ADDRESS [options]

Start workers for the scheduler at ADDRESS (tcp://HOST:PORT, as printed by
"dask-ts scheduler"). Each worker prints "worker NAME at tcp://HOST:PORT" on
stdout when it registers. Each runs in a process of its own under a nanny,
which restarts it if it dies (a crash, out of memory, killed) after a short
backoff — giving up after 5 restarts within a minute — and at once when a
client asks for fresh workers (client.restart()); it stops when the
scheduler goes away. Ctrl-C (SIGINT) or SIGTERM stops the workers and exits.

Options:
  --nworkers N            workers to start (default 1); names NAME-0 .. NAME-(N-1)
  --nthreads N            tasks each worker runs at once (default 1)
  --name NAME             the worker's name (default: this machine's name and the pid)
  --memory-limit SIZE     heap limit of each worker's task thread, such as 4GiB,
                          512MB or 2G (default: Node's own)
  --resources "A=1 B=2"   resources each worker offers: NAME=NUMBER pairs,
                          separated by commas or spaces
  --no-nanny              run the workers in this process, without restarts
  --host IFACE            interface the workers listen on for other workers
                          (default 127.0.0.1 when the scheduler is on loopback,
                          else 0.0.0.0)
  --contact-host NAME     the host name or address other workers use to reach
                          these (default: IFACE, or this machine's name when
                          IFACE is 0.0.0.0)
  --connect-timeout TIME  how long to keep trying to reach the scheduler, such
                          as 30s, 500ms or 2m (default 30s)
  --fetch-timeout TIME    a fetch from another worker fails when nothing at all
                          arrives from it for this long (progress resets the
                          clock), such as 30s or 2m (default 30s)
  --local-directory DIR   where each worker keeps its files (modules uploaded
                          by clients), in a directory of its own that it
                          removes when it stops (default: the system's
                          temporary directory)
  --validate              check the worker state machine's invariants after
                          every step (slow; for debugging)

Exit status: 0 when the workers stopped because the scheduler went away or
told them to leave, or on Ctrl-C; 1 when a worker could not start (the
scheduler could not be reached in time) or kept dying, or (with --no-nanny)
the scheduler removed it because it stopped answering; 2 for bad arguments.`;

const FLAGS = {
  nworkers: "string",
  nthreads: "string",
  name: "string",
  "memory-limit": "string",
  resources: "string",
  "no-nanny": "boolean",
  host: "string",
  "contact-host": "string",
  "connect-timeout": "string",
  "fetch-timeout": "string",
  "local-directory": "string",
  validate: "boolean",
} as const;

/** The workers to start, as the flags ask. */
interface WorkerPlan {
  readonly scheduler: string;
  readonly names: readonly string[];
  readonly nthreads: number;
  readonly memoryLimitMb: number | undefined;
  readonly resources: Readonly<Record<string, number>> | undefined;
  readonly host: string | undefined;
  readonly contactHost: string | undefined;
  readonly connectTimeoutMs: number;
  readonly fetchTimeoutMs: number | undefined;
  readonly localDirectory: string | undefined;
  readonly validate: boolean;
}

/** A memory size (`4GiB`, `512MB`, `2G`: SI or IEC units, as {@link parseBytes} reads them) in whole MiB. */
export function parseMemoryLimit(text: string): number {
  let bytes: number;
  try {
    bytes = parseBytes(text);
  } catch {
    throw new CliUsageError(`--memory-limit must be a size such as 4GiB, 512MB or 2G, not ${JSON.stringify(text)}`);
  }
  const mb = Math.floor(bytes / 2 ** 20);
  if (mb < 1) throw new CliUsageError(`--memory-limit ${JSON.stringify(text)} is less than 1 MiB`);
  return mb;
}

/** `NAME=NUMBER` pairs separated by commas or spaces (`"GPU=1,MEM=2e9"`). */
export function parseResources(text: string): Record<string, number> {
  const out = new Map<string, number>();
  for (const pair of text.split(/[\s,]+/).filter((p) => p !== "")) {
    const m = /^([A-Za-z_][\w.-]*)=(\d+(?:\.\d*)?(?:e[+-]?\d+)?)$/i.exec(pair);
    if (m === null) throw new CliUsageError(`--resources takes NAME=NUMBER pairs separated by commas or spaces, such as "GPU=1,MEM=2"; ${JSON.stringify(pair)} is not one`);
    if (out.has(m[1]!)) throw new CliUsageError(`--resources names ${m[1]} twice`);
    out.set(m[1]!, Number(m[2]));
  }
  if (out.size === 0) throw new CliUsageError(`--resources is empty; give NAME=NUMBER pairs, such as "GPU=1"`);
  return Object.fromEntries(out);
}

/** The scheduler's address, checked and written as `tcp://host:port`. */
function schedulerAddress(positionals: readonly string[]): string {
  if (positionals.length === 0) throw new CliUsageError("the scheduler's address is missing, as in: dask-ts worker tcp://127.0.0.1:8786");
  if (positionals.length > 1) throw new CliUsageError(`unexpected argument "${positionals[1]}" (only one scheduler address)`);
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseAddress(positionals[0]!));
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  if (port === 0) throw new CliUsageError(`the scheduler's address ${JSON.stringify(positionals[0])} has port 0, which cannot be connected to`);
  return formatAddress(host, port);
}

function plan(args: readonly string[]): { plan: WorkerPlan; nanny: boolean } {
  const { flags, positionals } = parseArgs(args, FLAGS);
  const text = (flag: keyof typeof FLAGS): string | undefined => flags.get(flag) as string | undefined;
  const scheduler = schedulerAddress(positionals);
  const nworkers = parseInteger(text("nworkers") ?? "1", "nworkers", 1, 1024);
  const name = text("name") ?? `${hostname()}-${process.pid}`;
  if (name.trim() === "") throw new CliUsageError("--name is empty");
  const memory = text("memory-limit");
  const resources = text("resources");
  const host = text("host");
  const contactHost = text("contact-host");
  const localDirectory = text("local-directory");
  if (localDirectory?.trim() === "") throw new CliUsageError("--local-directory is empty");
  return {
    nanny: !flags.has("no-nanny"),
    plan: {
      scheduler,
      names: nworkers === 1 ? [name] : Array.from({ length: nworkers }, (_, i) => `${name}-${i}`),
      nthreads: parseInteger(text("nthreads") ?? "1", "nthreads", 1, 1024),
      memoryLimitMb: memory === undefined ? undefined : parseMemoryLimit(memory),
      resources: resources === undefined ? undefined : parseResources(resources),
      host: host === undefined ? undefined : checkHost(host, "host"),
      contactHost: contactHost === undefined ? undefined : checkHost(contactHost, "contact-host"),
      connectTimeoutMs: parseDuration(text("connect-timeout") ?? "30s", "connect-timeout"),
      fetchTimeoutMs: text("fetch-timeout") === undefined ? undefined : parseDuration(text("fetch-timeout")!, "fetch-timeout"),
      localDirectory,
      validate: flags.has("validate"),
    },
  };
}

/** The flags that make a nanny's child worker the same as the plan asks (the name and address aside). */
function childArgs(p: WorkerPlan): string[] {
  const out = ["--nthreads", String(p.nthreads), "--connect-timeout", `${p.connectTimeoutMs}ms`];
  if (p.memoryLimitMb !== undefined) out.push("--memory-limit", `${p.memoryLimitMb}MiB`);
  if (p.resources !== undefined) out.push("--resources", Object.entries(p.resources).map(([k, v]) => `${k}=${v}`).join(","));
  if (p.host !== undefined) out.push("--host", p.host);
  if (p.contactHost !== undefined) out.push("--contact-host", p.contactHost);
  if (p.localDirectory !== undefined) out.push("--local-directory", p.localDirectory);
  if (p.fetchTimeoutMs !== undefined) out.push("--fetch-timeout", `${p.fetchTimeoutMs}ms`);
  if (p.validate) out.push("--validate");
  return out;
}

/** Why a worker could not start, in the command's terms. */
function startError(err: Error, p: WorkerPlan): string {
  if (!(err instanceof ConnectTimeoutError)) return err.message;
  return (
    `could not reach the scheduler at ${err.address} within ${p.connectTimeoutMs / 1000} s (${err.attempts} attempts; last error: ${err.lastError}). ` +
    "Check that it is running and reachable from here, or allow more time with --connect-timeout."
  );
}

/** Supervise one nanny per worker; stop them all when one ends for a reason that concerns them all. */
async function runNannies(p: WorkerPlan): Promise<number> {
  const log = stderrLog("nanny");
  const workerArgs = childArgs(p);
  const nannies: Nanny[] = [];
  const closeAll = (): void => nannies.forEach((n) => void n.close());
  const removeHandlers = onShutdownSignal(closeAll, log);
  for (const name of p.names) nannies.push(Nanny.start({ scheduler: p.scheduler, name, workerArgs, log }));
  let code = 0;
  await Promise.all(
    nannies.map(async (n) => {
      const outcome = await n.finished;
      if (outcome.kind === "start-failed" || outcome.kind === "gave-up") {
        console.error(`dask-ts worker: ${outcome.message}`);
        code = 1;
        closeAll();
      } else if (outcome.kind === "scheduler-gone") closeAll();
    }),
  );
  removeHandlers();
  return code;
}

/** Run the workers in this process: the `--no-nanny` mode, and what a nanny's child does. */
async function runWorkers(p: WorkerPlan): Promise<number> {
  const log = stderrLog(`worker process ${process.pid}`);
  const nannyPid = process.env[NANNY_ENV];
  delete process.env[NANNY_ENV]; // not inherited by the task threads or anything they start
  const underNanny = nannyPid !== undefined;
  const workers: NetworkWorker[] = [];
  let starting = true;
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    const closed = Promise.all(workers.map((w) => w.close()));
    // A worker still trying to reach the scheduler cannot be interrupted; nothing of it is registered yet.
    if (starting) void closed.then(() => process.exit(WORKER_EXIT.stopped));
  };
  const removeHandlers = onShutdownSignal(stop, log);
  const watch = underNanny
    ? setInterval(() => {
        if (process.ppid !== Number(nannyPid) && !stopping) {
          log("the nanny is gone; stopping");
          stop();
        }
      }, 1000).unref()
    : undefined;
  // Tell the nanny this event loop is alive: one that stops saying so is stuck, and gets restarted.
  const alive = underNanny && process.send !== undefined
    ? setInterval(() => {
        if (process.connected) process.send!("alive", undefined, {}, () => undefined);
      }, WORKER_ALIVE_MS).unref()
    : undefined;
  process.channel?.unref();

  const started = await Promise.allSettled(
    p.names.map((name) =>
      NetworkWorker.start({
        scheduler: p.scheduler,
        name,
        nthreads: p.nthreads,
        connectTimeoutMs: p.connectTimeoutMs,
        validate: p.validate,
        restartable: underNanny,
        log,
        ...(p.memoryLimitMb === undefined ? {} : { memoryLimitMb: p.memoryLimitMb }),
        ...(p.resources === undefined ? {} : { resources: p.resources }),
        ...(p.host === undefined ? {} : { host: p.host }),
        ...(p.contactHost === undefined ? {} : { contactHost: p.contactHost }),
        ...(p.localDirectory === undefined ? {} : { localDirectory: p.localDirectory }),
        ...(p.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: p.fetchTimeoutMs }),
      }).then((w) => {
        workers.push(w);
        console.log(`worker ${w.name} at ${w.address}`);
        if (stopping) void w.close();
        return w;
      }),
    ),
  );
  starting = false;
  const failed = started.flatMap((r, i) => (r.status === "rejected" ? [[p.names[i]!, r.reason as Error] as const] : []));
  if (failed.length > 0) {
    for (const [name, err] of failed) console.error(`dask-ts worker: worker ${name} could not start: ${startError(err, p)}`);
    await Promise.all(workers.map((w) => w.close()));
    clearInterval(watch);
    clearInterval(alive);
    removeHandlers();
    return underNanny ? WORKER_EXIT.startFailed : 1;
  }

  await Promise.all(workers.map((w) => w.finished));
  clearInterval(watch);
  clearInterval(alive);
  removeHandlers();
  const causes = workers.map((w) => w.stoppedBy);
  if (causes.includes("memory")) return underNanny ? WORKER_EXIT.outOfMemory : 1; // a nanny restarts it, saying why
  if (causes.includes("thread")) return 1; // a crash: a nanny restarts it
  // Removed while it ran (stuck): a nanny starts a fresh one; alone, fail so a supervisor may.
  if (causes.includes("restart") && !stopping) return underNanny ? WORKER_EXIT.restart : 1;
  // client.restart(): a nanny starts a fresh one at once; alone, the worker just leaves (as in Dask).
  if (causes.includes("requested") && !stopping) return underNanny ? WORKER_EXIT.requested : WORKER_EXIT.stopped;
  if (causes.includes("scheduler") && !stopping) return underNanny ? WORKER_EXIT.schedulerGone : 0;
  return WORKER_EXIT.stopped;
}

export const workerCommand: Command = {
  name: "worker",
  summary: "start workers for a network scheduler (each under a nanny)",
  help: HELP,
  async run(args) {
    const { plan: p, nanny } = plan(args);
    return nanny ? runNannies(p) : runWorkers(p);
  },
};
