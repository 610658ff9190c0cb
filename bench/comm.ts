/**
 * `comm` suite: what the TCP wire costs, over loopback, with both ends in
 * this process (so one core does the encoding, the kernel copy and the
 * decoding; a real cluster splits that between two processes).
 *
 * | id | what one run does | reported as |
 * |---|---|---|
 * | comm-task-messages-100k | 100,000 `compute-task`-shaped messages sent in one turn, counted on arrival | µs per message, messages/s |
 * | comm-task-messages-100k-packed | the same messages packed into columns first (`scheduler/pack.ts`), unpacked on arrival | µs per message, messages/s |
 * | comm-rpc-roundtrip-1k | 1,000 requests one after another, each awaiting its reply | µs per round trip |
 * | comm-buffer-64mib | a 64 MiB Float64Array, sent 4 times, each acknowledged | MB/s |
 *
 * There is no Python counterpart: Dask's comm layer is not timed here.
 * @module
 */
import { Rpc } from "../src/comm/rpc.js";
import { connect, listen, type TcpComm, type TcpListener } from "../src/comm/tcp.js";
import type { FnRef } from "../src/core/graph.js";
import { packBatch, unpackBatch } from "../src/scheduler/pack.js";
import type { ComputeTaskMsg } from "../src/scheduler/messages.js";
import { fmtInt, measure, median, type BenchRecord, type BenchSuite, type SuiteContext } from "./harness.js";

const N_MESSAGES = 100_000;
const N_RPC = 1_000;
const BUFFER_BYTES = 64 * 2 ** 20;
const BUFFER_SENDS = 4;

const inc: FnRef = { kind: "source", source: "(x) => x + 1", name: "inc" };

/** Messages the scheduler really sends for `inc(i)` tasks. */
function taskMessages(n: number): ComputeTaskMsg[] {
  const out: ComputeTaskMsg[] = new Array<ComputeTaskMsg>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      op: "compute-task",
      key: `inc-0f3a9c1be2d84c57-${i}`,
      fn: inc,
      args: [{ k: "v", v: i }],
      priority: [0, 1, i],
      runId: i + 1,
      deliver: false,
      stimulusId: "update-graph-1700000000.123",
    };
  }
  return out;
}

interface Bench {
  readonly name: string;
  readonly nTasks?: number;
  readonly expected: number;
  readonly note: string;
  readonly once: (ends: Ends) => Promise<number>;
}

/** A connected pair: `client` sends, `server` is what the listener handed over. */
interface Ends {
  readonly client: TcpComm;
  readonly server: TcpComm;
}

/** Send `batch` from client to server in one turn; resolves with the count the server saw once it has all of them. */
function oneWay(ends: Ends, messages: readonly unknown[], expected: number, unpack: boolean): Promise<number> {
  return new Promise((resolve) => {
    let seen = 0;
    ends.server.onMessages((batch) => {
      seen += unpack ? unpackBatch(batch).length : batch.length;
      if (seen >= expected) ends.server.send({ op: "ack", seen });
    });
    ends.client.onMessages((batch) => resolve((batch[0] as { seen: number }).seen));
    for (const m of messages) ends.client.send(m);
  });
}

const BENCHES: readonly Bench[] = [
  {
    name: "comm-task-messages-100k",
    nTasks: N_MESSAGES,
    expected: N_MESSAGES,
    note: "comm-task-messages-100k: µs/task here is µs per message (encode, loopback, decode), both ends in one process.",
    once: (ends) => oneWay(ends, taskMessages(N_MESSAGES), N_MESSAGES, false),
  },
  {
    name: "comm-task-messages-100k-packed",
    nTasks: N_MESSAGES,
    expected: N_MESSAGES,
    note: "comm-task-messages-100k-packed: the same messages through packBatch/unpackBatch (pack time included).",
    once: (ends) => oneWay(ends, packBatch(taskMessages(N_MESSAGES)), N_MESSAGES, true),
  },
  {
    name: "comm-rpc-roundtrip-1k",
    nTasks: N_RPC,
    expected: N_RPC,
    note: "comm-rpc-roundtrip-1k: µs/task here is µs per request/reply round trip, one at a time.",
    once: async (ends) => {
      new Rpc(ends.server, { ping: (x) => x });
      const rpc = new Rpc(ends.client);
      let n = 0;
      for (let i = 0; i < N_RPC; i++) n += (await rpc.request("ping", 1)) as number;
      return n;
    },
  },
  {
    name: "comm-buffer-64mib",
    expected: BUFFER_SENDS * BUFFER_BYTES,
    note: "comm-buffer-64mib: MB/s in the summary below; each send waits for the receiver's acknowledgement.",
    once: async (ends) => {
      const data = new Float64Array(BUFFER_BYTES / 8).fill(1);
      let received = 0;
      ends.server.onMessages((batch) => {
        for (const m of batch) received += (m as { data: Float64Array }).data.byteLength;
        ends.server.send({ op: "ack" });
      });
      for (let i = 0; i < BUFFER_SENDS; i++) {
        await new Promise<void>((resolve) => {
          ends.client.onMessages(() => resolve());
          ends.client.send({ op: "data", i, data });
        });
      }
      return received;
    },
  },
];

async function connectPair(listener: TcpListener): Promise<Ends> {
  const server = new Promise<TcpComm>((resolve) => listener.onConnection(resolve));
  const client = await connect(listener.address);
  return { client, server: await server };
}

async function run(ctx: SuiteContext): Promise<BenchRecord[]> {
  const records: BenchRecord[] = [];
  const listener = await listen({ port: 0 });
  try {
    for (const b of BENCHES) {
      if (!ctx.selects(b.name, "tcp")) continue;
      // A fresh connection per run, so handlers from the previous run are gone.
      records.push(
        await measure(
          {
            suite: "comm",
            name: b.name,
            scheduler: "tcp",
            repeats: ctx.repeats ?? (ctx.quick ? 3 : 5),
            warmup: ctx.warmup ?? 1,
            ...(b.nTasks === undefined ? {} : { nTasks: b.nTasks }),
            expected: b.expected,
            note: b.note,
            once: async () => {
              const ends = await connectPair(listener);
              try {
                const t0 = performance.now();
                const value = await b.once(ends);
                return { seconds: (performance.now() - t0) / 1e3, buildSeconds: 0, value };
              } finally {
                await ends.client.close();
              }
            },
          },
          ctx.log,
        ),
      );
    }
  } finally {
    await listener.close();
  }
  return records;
}

function summary(records: readonly BenchRecord[]): string[] {
  const lines: string[] = [];
  for (const r of records) {
    if (!r.ok || r.seconds_median === null) continue;
    if (r.name.startsWith("comm-task-messages")) {
      lines.push(`- ${r.name}: ${fmtInt(Math.round(N_MESSAGES / r.seconds_median))} messages/s`);
    } else if (r.name === "comm-buffer-64mib") {
      const mbs = r.seconds_all.map((s) => (BUFFER_SENDS * BUFFER_BYTES) / s / 1e6);
      lines.push(`- ${r.name}: ${Math.round(median(mbs))} MB/s (runs: ${mbs.map((x) => Math.round(x)).join(", ")})`);
    }
  }
  return lines;
}

export const suite: BenchSuite = {
  name: "comm",
  description: "the TCP wire over loopback: small task messages per second, 64 MiB buffers in MB/s, rpc round trips",
  ids: () => BENCHES.map((b) => `${b.name}@tcp`),
  run,
  summary,
};
