/**
 * The thin shell that turns the pure {@link SchedulerState} into a running
 * scheduler: it feeds stimuli in, routes the returned messages to worker
 * links and client handlers, and answers data requests. It knows nothing
 * about how a link carries messages, so the embedded cluster (MessagePorts)
 * and the network scheduler (TCP) use it alike.
 *
 * It also keeps the clock the machine does not have: a `balance` stimulus
 * every `workStealingIntervalMs` for work stealing.
 *
 * Observability: every stimulus is published on the `dask-ts:scheduler:stimulus`
 * diagnostics channel when anyone subscribes.
 *
 * @module
 */
import diagnostics_channel from "node:diagnostics_channel";
import { MissingKeyError } from "../core/errors.js";
import type { Key } from "../core/graph.js";
import { reportStimulusId, type ToClientMsg, type ToWorkerMsg, type WorkerReportMsg } from "./messages.js";
import { SchedulerState, type SchedulerConfig, type SchedulerEvent, type SchedulerInstruction } from "./state.js";

/**
 * Published for every stimulus the scheduler handles.
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * diagnostics_channel.subscribe("dask-ts:scheduler:stimulus", (ev) => console.log(ev));
 * ```
 */
export const stimulusChannel = diagnostics_channel.channel("dask-ts:scheduler:stimulus");

/** How the shell reaches one worker. */
export interface WorkerLink {
  send(msg: ToWorkerMsg): void;
  /** Ask the worker for the values of keys it holds; keys it does not hold are absent from the answer. */
  getData(keys: readonly Key[]): Promise<ReadonlyMap<Key, unknown>>;
}

/** Receives the scheduler's messages for one client. */
export type ClientHandler = (msg: ToClientMsg) => void;

export class SchedulerShell {
  readonly state: SchedulerState;
  private readonly links = new Map<string, WorkerLink>();
  private readonly clients = new Map<string, ClientHandler>();
  private seq = 0;
  private readonly balancer: NodeJS.Timeout | undefined;

  constructor(config: SchedulerConfig = {}) {
    this.state = new SchedulerState(config);
    if (config.workStealing !== false) {
      // Unref'd: balancing never keeps a program alive.
      this.balancer = setInterval(() => {
        if (this.state.workers.size > 1) this.stimulus({ type: "balance", stimulusId: this.stimulusId("balance") });
      }, config.workStealingIntervalMs ?? 100);
      this.balancer.unref();
    }
  }

  /** Stop the timers (the balance rounds). */
  close(): void {
    clearInterval(this.balancer);
  }

  /** A fresh stimulus id with a readable prefix. */
  stimulusId(prefix: string): string {
    return `${prefix}-${this.seq++}`;
  }

  /** Feed one stimulus and deliver what it produces. */
  stimulus(ev: SchedulerEvent): void {
    this.stimuli([ev]);
  }

  /** Feed several stimuli, in order, and deliver what they produce. */
  stimuli(evs: readonly SchedulerEvent[]): void {
    if (stimulusChannel.hasSubscribers) for (const ev of evs) stimulusChannel.publish(ev);
    this.deliver(this.state.handleBatch(evs));
  }

  private deliver(out: readonly SchedulerInstruction[]): void {
    for (const ins of out) {
      if (ins.to === "worker") this.links.get(ins.worker)?.send(ins.msg);
      else this.clients.get(ins.client)?.(ins.msg);
    }
  }

  /** A worker joined. */
  addWorker(address: string, nthreads: number, link: WorkerLink, resources?: Readonly<Record<string, number>>): void {
    this.links.set(address, link);
    this.stimulus({ type: "add-worker", address, nthreads, ...(resources === undefined ? {} : { resources }), stimulusId: this.stimulusId("add-worker") });
  }

  /** A worker left (`expected`: retired on purpose) or died. */
  removeWorker(address: string, expected: boolean): void {
    if (!this.links.delete(address)) return;
    this.stimulus({ type: "remove-worker", address, expected, stimulusId: this.stimulusId("remove-worker") });
  }

  /** Messages a worker sent, in order. */
  fromWorker(address: string, msgs: readonly WorkerReportMsg[]): void {
    if (!this.links.has(address) || msgs.length === 0) return;
    if (stimulusChannel.hasSubscribers) {
      this.stimuli(msgs.map((msg) => ({ type: "worker-message", worker: address, msg, stimulusId: reportStimulusId(msg) })));
      return;
    }
    // The hot path: thousands of results per batch, no event object each.
    this.deliver(this.state.handleWorkerMessages(address, msgs));
  }

  /** Register a client's message handler. */
  addClient(id: string, handler: ClientHandler): void {
    this.clients.set(id, handler);
    this.stimulus({ type: "add-client", client: id, stimulusId: this.stimulusId("add-client") });
  }

  /** A client left: everything it wanted is released. */
  removeClient(id: string): void {
    if (!this.clients.delete(id)) return;
    this.stimulus({ type: "remove-client", client: id, stimulusId: this.stimulusId("remove-client") });
  }

  /** Fetch the values of keys in memory from the workers that hold them. */
  async gather(keys: readonly Key[]): Promise<Map<Key, unknown>> {
    const byWorker = new Map<string, Key[]>();
    for (const k of keys) {
      const ts = this.state.tasks.get(k);
      const holder = ts === undefined ? undefined : [...ts.whoHas][0];
      if (holder === undefined) throw new MissingKeyError(k);
      let list = byWorker.get(holder.address);
      if (list === undefined) byWorker.set(holder.address, (list = []));
      list.push(k);
    }
    const out = new Map<Key, unknown>();
    await Promise.all(
      [...byWorker].map(async ([address, ks]) => {
        const link = this.links.get(address);
        if (link === undefined) throw new MissingKeyError(ks[0]!);
        const values = await link.getData(ks);
        for (const k of ks) {
          if (!values.has(k)) throw new MissingKeyError(k);
          out.set(k, values.get(k));
        }
      }),
    );
    return out;
  }

}
