/**
 * `dask-ts scheduler`: start a network scheduler, print its address as the
 * first line on stdout (scripts read it), log workers and clients coming and
 * going on stderr, and on Ctrl-C or SIGTERM tell the workers to leave and
 * exit 0.
 *
 * @module
 */
import { hostname } from "node:os";
import { formatAddress, parseAddress } from "../comm/tcp.js";
import { SchedulerServer } from "../scheduler/server.js";
import { type Command, checkHost, onShutdownSignal, parseDuration, parseFlags, parseInteger, stderrLog } from "./command.js";

const HELP = `Usage: dask-ts scheduler [--host HOST] [--port PORT] [--no-workers-timeout TIME]

Start the scheduler of a network cluster. The first line on stdout is its
address, "scheduler at tcp://HOST:PORT": start workers with
"dask-ts worker tcp://HOST:PORT" and connect clients with
Client.connect("tcp://HOST:PORT"). Workers and clients coming and going are
logged on stderr. Ctrl-C (SIGINT) or SIGTERM tells the workers to leave,
closes every connection and exits 0.

Options:
  --host HOST   interface to listen on (default 127.0.0.1: this machine only;
                0.0.0.0 for every interface, and then the address printed
                uses this machine's host name)
  --port PORT   port to listen on (default 8786; 0 picks a free one)
  --no-workers-timeout TIME
                fail a task (NoValidWorkerError) that has waited this long,
                such as 60s or 5m, with no worker that could ever run it:
                none connected, or none allowed or offering its resources
                (default: wait as long as it takes)`;

/** Interfaces that mean "every interface": the address to print names this machine instead. */
const EVERY_INTERFACE = new Set(["0.0.0.0", "::"]);

export const schedulerCommand: Command = {
  name: "scheduler",
  summary: "start a network scheduler (prints its tcp:// address)",
  help: HELP,
  async run(args) {
    const flags = parseFlags(args, { host: "string", port: "string", "no-workers-timeout": "string" });
    const host = checkHost((flags.get("host") as string | undefined) ?? "127.0.0.1", "host");
    const port = parseInteger((flags.get("port") as string | undefined) ?? "8786", "port", 0, 65535);
    const noWorkers = flags.get("no-workers-timeout") as string | undefined;
    const noWorkersTimeoutMs = noWorkers === undefined ? undefined : parseDuration(noWorkers, "no-workers-timeout");
    const log = stderrLog("scheduler");
    // Handlers first: a script may signal as soon as it has read the address.
    let requested!: () => void;
    const stopRequested = new Promise<void>((resolve) => (requested = resolve));
    const removeHandlers = onShutdownSignal(() => requested(), log);
    let server: SchedulerServer;
    try {
      server = await SchedulerServer.start({ host, port, log, ...(noWorkersTimeoutMs === undefined ? {} : { noWorkersTimeoutMs }) });
    } catch (err) {
      removeHandlers();
      throw new Error(`cannot listen on ${formatAddress(host, port)}: ${(err as Error).message}`, { cause: err });
    }
    const bound = parseAddress(server.address).port;
    const shown = EVERY_INTERFACE.has(host) ? formatAddress(hostname(), bound) : server.address;
    console.log(`scheduler at ${shown}`);
    if (shown !== server.address) log(`listening on ${server.address}`);
    await stopRequested;
    await server.close();
    removeHandlers();
    log("closed");
    return 0;
  },
};
