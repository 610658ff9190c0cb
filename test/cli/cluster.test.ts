// `dask-ts scheduler` and `dask-ts worker` as real processes on loopback:
// addresses printed, workers registering (with and without a nanny), the
// nanny restarting a killed worker, clean shutdown on signals, and clear
// errors for bad arguments and an unreachable scheduler.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { Client } from "../../src/client/client.js";
import { listen } from "../../src/comm/tcp.js";
import type { SchedulerToWorker, WorkerToScheduler } from "../../src/scheduler/protocol.js";
import { parseMemoryLimit, parseResources } from "../../src/cli/worker.js";
import { Nanny } from "../../src/worker/nanny.js";
import { CLI, CliProcess, killAll, processExists } from "../helpers/cli.js";

after(killAll);

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });

/** A scheduler on a free loopback port, and its address as printed. */
async function scheduler(): Promise<{ proc: CliProcess; address: string }> {
  const proc = new CliProcess(["scheduler", "--port", "0"]);
  const m = await proc.line(/^scheduler at (tcp:\/\/127\.0\.0\.1:(\d+))$/);
  assert.equal(proc.lines.stdout[0], m[0], "the address is the first line");
  assert.notEqual(Number(m[2]), 0, "the real port, not 0");
  return { proc, address: m[1]! };
}

/** The pid of the worker process a nanny started last for `name`. */
async function childPid(nanny: CliProcess, name: string, from = 0): Promise<number> {
  const m = await nanny.line(new RegExp(`started worker ${name} \\(pid (\\d+)\\)`), { stream: "stderr", from });
  return Number(m[1]);
}

test("a cluster from the command line: scheduler, two nannied workers, a Client; a killed worker is restarted; SIGTERM to the scheduler stops everything", async () => {
  const s = await scheduler();
  const nanny = new CliProcess(["worker", s.address, "--nworkers", "2", "--name", "n"]);
  const solo = new CliProcess(["worker", s.address, "--no-nanny", "--name", "solo"]);
  const client = await Client.connect(s.address, { setAsDefault: false });
  try {
    const first = await nanny.line(/^worker n-0 at (tcp:\/\/\S+)$/);
    await nanny.line(/^worker n-1 at tcp:\/\/\S+$/);
    await solo.line(/^worker solo at tcp:\/\/\S+$/);
    await client.waitForWorkers(3);
    await s.proc.line(/worker n-0 registered at/, { stream: "stderr" });
    assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
    assert.deepEqual(await client.gather(client.map((x: number) => x * 10, [1, 2, 3, 4, 5, 6])), [10, 20, 30, 40, 50, 60]);

    // SIGKILL one worker process: its nanny starts a new one, which registers afresh.
    const pid = await childPid(nanny, "n-0");
    const seen = nanny.lines.stdout.length;
    const seenErr = nanny.lines.stderr.length;
    process.kill(pid, "SIGKILL");
    await nanny.line(new RegExp(`worker n-0 \\(pid ${pid}\\) was killed by SIGKILL; restarting it`), { stream: "stderr" });
    await s.proc.line(new RegExp(`worker n-0 at ${first[1]!.replace(/[.]/g, "\\.")} removed`), { stream: "stderr" });
    const again = await nanny.line(/^worker n-0 at (tcp:\/\/\S+)$/, { from: seen });
    assert.notEqual(again[1], first[1], "a fresh registration, at a new address");
    const newPid = await childPid(nanny, "n-0", seenErr);
    assert.notEqual(newPid, pid);
    await client.waitForWorkers(3);
    assert.deepEqual(await client.gather(client.map((x: number) => x - 1, [1, 2, 3, 4, 5, 6])), [0, 1, 2, 3, 4, 5]);
    assert.equal(client.workers, 3, "the count went back up (the gather's reply comes after every count before it)");

    // SIGTERM to the scheduler: it tells the workers to leave; every process exits 0.
    const children = [newPid, await childPid(nanny, "n-1")];
    s.proc.kill("SIGTERM");
    assert.deepEqual(await s.proc.exit(10_000), { code: 0, signal: null }, s.proc.output);
    assert.deepEqual(await nanny.exit(10_000), { code: 0, signal: null }, nanny.output);
    assert.deepEqual(await solo.exit(10_000), { code: 0, signal: null }, solo.output);
    for (const c of children) assert.equal(processExists(c), false, `worker process ${c} has exited`);
    assert.match(nanny.lines.stderr.join("\n"), /stopped: the scheduler went away or told it to leave/);
  } finally {
    await client.close();
  }
});

test("SIGINT to a nanny stops its worker processes and exits 0; the scheduler sees them leave", async () => {
  const s = await scheduler();
  const nanny = new CliProcess(["worker", s.address, "--nworkers", "2", "--name", "i"]);
  await nanny.line(/^worker i-0 at/);
  await nanny.line(/^worker i-1 at/);
  // The workers print their address as they send their registration: wait until the scheduler has it.
  await s.proc.line(/worker i-0 registered/, { stream: "stderr" });
  await s.proc.line(/worker i-1 registered/, { stream: "stderr" });
  const children = [await childPid(nanny, "i-0"), await childPid(nanny, "i-1")];
  nanny.kill("SIGINT");
  assert.deepEqual(await nanny.exit(10_000), { code: 0, signal: null }, nanny.output);
  for (const c of children) assert.equal(processExists(c), false, `worker process ${c} has exited`);
  await s.proc.line(/worker i-0 at .* removed/, { stream: "stderr" });
  await s.proc.line(/worker i-1 at .* removed/, { stream: "stderr" });
  s.proc.kill("SIGINT");
  assert.equal((await s.proc.exit(10_000)).code, 0);
});

test("the nanny gives up on a worker that keeps dying, after its restart limit, saying so", async () => {
  const s = await scheduler();
  const lines: string[] = [];
  const nanny = Nanny.start({ scheduler: s.address, name: "fragile", maxRestarts: 1, backoffMs: 10, log: (l) => lines.push(l) });
  try {
    await s.proc.line(/worker fragile registered/, { stream: "stderr" });
    const seen = s.proc.lines.stderr.length;
    process.kill(nanny.pid!, "SIGKILL");
    await s.proc.line(/worker fragile registered/, { stream: "stderr", from: seen }); // restarted once
    process.kill(nanny.pid!, "SIGKILL"); // and dead again: over the limit
    const outcome = await nanny.finished;
    assert.equal(outcome.kind, "gave-up");
    assert.match((outcome as { message: string }).message, /worker fragile \(pid \d+\) was killed by SIGKILL, after 1 restarts in the last 60 s; giving up/);
    assert.match(lines.join("\n"), /restarting it in 0.01 s \(restart 1 of at most 1 in 60 s\)/);
  } finally {
    await nanny.close();
    s.proc.kill("SIGTERM");
    await s.proc.exit();
  }
});

test("a --no-nanny worker registers with its threads, memory limit and resources, and exits 0 when the scheduler closes", async () => {
  // A stand-in scheduler that records what the worker says when it registers.
  const listener = await listen<SchedulerToWorker, WorkerToScheduler>({ port: 0, role: "scheduler" });
  const registered = new Promise<WorkerToScheduler>((resolve) => listener.onConnection((comm) => comm.onMessages((msgs) => resolve(msgs[0]!))));
  const w = new CliProcess(["worker", listener.address, "--no-nanny", "--name", "r", "--nthreads", "2", "--memory-limit", "512MiB", "--resources", "GPU=1, MEM=2e9"]);
  try {
    const reg = await registered;
    assert.equal(reg.op, "register-worker");
    assert.deepEqual(reg.op === "register-worker" && { name: reg.name, nthreads: reg.nthreads, memoryLimitMb: reg.memoryLimitMb, resources: reg.resources }, {
      name: "r",
      nthreads: 2,
      memoryLimitMb: 512,
      resources: { GPU: 1, MEM: 2e9 },
    });
    await w.line(/^worker r at tcp:\/\/127\.0\.0\.1:\d+$/);
  } finally {
    await listener.close();
  }
  assert.deepEqual(await w.exit(10_000), { code: 0, signal: null }, w.output);
});

test("--host 0.0.0.0: the scheduler prints an address with this machine's name", async () => {
  const proc = new CliProcess(["scheduler", "--host", "0.0.0.0", "--port", "0"]);
  const m = await proc.line(/^scheduler at tcp:\/\/(.+):(\d+)$/);
  assert.equal(m[1], hostname());
  assert.notEqual(Number(m[2]), 0);
  proc.kill("SIGTERM");
  assert.equal((await proc.exit(10_000)).code, 0);
});

test("an unreachable scheduler: the worker exits non-zero within the connect timeout, naming the address (with and without a nanny)", async () => {
  for (const extra of [[], ["--no-nanny"]]) {
    const started = Date.now();
    const w = new CliProcess(["worker", "tcp://127.0.0.1:1", "--connect-timeout", "1s", ...extra]);
    const { code } = await w.exit(15_000);
    assert.equal(code, 1, w.output);
    assert.ok(Date.now() - started < 10_000, "gave up soon after the timeout");
    assert.match(w.lines.stderr.join("\n"), /could not reach the scheduler at tcp:\/\/127\.0\.0\.1:1 within 1 s/);
    if (extra.length === 0) assert.match(w.lines.stderr.join("\n"), /not restarting it/);
  }
});

test("bad flags, addresses, sizes and numbers are usage errors (exit 2) that say what is wrong", () => {
  const cases: [string[], RegExp][] = [
    [["worker"], /the scheduler's address is missing/],
    [["worker", "tcp://nohost"], /Invalid address "tcp:\/\/nohost": no port after the host/],
    [["worker", "udp://h:1"], /the scheme udp:\/\/ is not supported/],
    [["worker", "tcp://h:1", "tcp://h:2"], /unexpected argument "tcp:\/\/h:2"/],
    [["worker", "tcp://h:1", "--nworkers", "two"], /--nworkers must be a whole number from 1 to 1024, not "two"/],
    [["worker", "tcp://h:1", "--nthreads", "0"], /--nthreads must be a whole number/],
    [["worker", "tcp://h:1", "--memory-limit", "lots"], /--memory-limit must be a size such as 4GiB/],
    [["worker", "tcp://h:1", "--resources", "GPU"], /--resources takes NAME=NUMBER pairs/],
    [["worker", "tcp://h:1", "--connect-timeout", "soon"], /--connect-timeout must be a positive duration/],
    [["worker", "tcp://h:1", "--nanny"], /unknown flag --nanny/],
    [["worker", "tcp://h:1", "--name"], /--name needs a value/],
    [["scheduler", "--port", "99999"], /--port must be a whole number from 0 to 65535/],
    [["scheduler", "--host", "not a host"], /--host "not a host" is not an IP address or a host name/],
    [["scheduler", "extra"], /unexpected argument "extra"/],
    [["scheduler", "--no-workers-timeout", "soon"], /--no-workers-timeout must be a positive duration/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, new RegExp(`dask-ts ${args[0]} --help`));
  }
});

test("every command has --help, and the command list names them", () => {
  for (const cmd of ["scheduler", "worker"]) {
    const r = run(cmd, "--help");
    assert.equal(r.status, 0);
    assert.match(r.stdout, new RegExp(`^Usage: dask-ts ${cmd}`));
  }
  assert.match(run("worker", "--help").stdout, /--memory-limit SIZE[\s\S]*--resources[\s\S]*--no-nanny[\s\S]*--connect-timeout[\s\S]*--local-directory DIR/);
  assert.match(run("--help").stdout, /scheduler .*\n.*worker /);
});

test("sizes and resources parse as the flags document", () => {
  assert.equal(parseMemoryLimit("4GiB"), 4096);
  assert.equal(parseMemoryLimit("512MB"), 488);
  assert.equal(parseMemoryLimit("2G"), 1907);
  assert.throws(() => parseMemoryLimit("100kB"), /less than 1 MiB/);
  assert.deepEqual(parseResources("GPU=1,MEM=2"), { GPU: 1, MEM: 2 });
  assert.deepEqual(parseResources(" GPU=0.5  MEM=2e9 "), { GPU: 0.5, MEM: 2e9 });
  assert.throws(() => parseResources("GPU=1,GPU=2"), /names GPU twice/);
  assert.throws(() => parseResources("GPU=-1"), /NAME=NUMBER/);
});
