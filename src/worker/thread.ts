/**
 * The entry point of a worker thread in the embedded cluster: the shell around
 * {@link WorkerState}. It holds the data, runs tasks, answers peers' and the
 * scheduler's requests for data, and fetches inputs from peers over direct
 * `MessagePort`s. Everything it decides comes from the state machine.
 *
 * Tasks run back to back in one tight loop; every few milliseconds the loop
 * yields to the event loop so requests from peers and the scheduler are
 * answered while a long batch runs, and results stream back as they finish.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { InvalidArgumentError, serializeError } from "../core/errors.js";
import { failedTaskKey, preloadModule, prepareTask, redirectModules, runTask } from "../core/execute.js";
import type { Key, TaskNode } from "../core/graph.js";
import { InprocComm } from "../comm/inproc.js";
import { buffersOf, transferables } from "../serialize/transfer.js";
import { sizeof } from "../serialize/sizeof.js";
import type { ToWorkerMsg } from "../scheduler/messages.js";
import { packCodec, unpackBatch } from "../scheduler/pack.js";
import { WorkerState, type WorkerEvent, type WorkerInstruction, type WorkerTask } from "./state.js";
import type { ThreadInit, ToThreadMsg, FromThreadMsg, PeerMsg } from "./thread-protocol.js";
import { hookUploads, type StoredUpload } from "./uploads.js";
import "../ops/index.js";

const init = workerData as ThreadInit;
const state = new WorkerState(init.address, init.nthreads, init.validate);
const data = new Map<Key, unknown>();
const peers = new Map<string, InprocComm<PeerMsg, PeerMsg>>();
const pendingGathers = new Map<number, { peer: string; keys: Key[] }>();
let nextRequest = 1;
const runQueue: { key: Key; runId: number }[] = [];
let runHead = 0;
let pumping = false;
let stimulus = 0;

// A wide task's input keys are mapped to this worker's own copies of the strings (see unpackBatch).
const canonicalKey = (key: Key): Key => state.tasks.get(key)?.key ?? key;
const codec = { encode: packCodec.encode, decode: (batch: readonly unknown[]) => unpackBatch(batch, canonicalKey) };

const toScheduler = new InprocComm<FromThreadMsg, ToThreadMsg>(parentPort!, onSchedulerMessages, codec, (msg, err) => {
  // A held value asked for by the caller that cannot be cloned: answer with what can go.
  if (msg.op === "data") {
    toScheduler.send(splitUnsendable(msg));
    return;
  }
  // A delivered result that cannot be cloned (a function, a symbol inside it) fails its task clearly.
  if (msg.op === "task-finished") {
    const error = new InvalidArgumentError(
      "result",
      `The result of task ${msg.key} cannot be sent back from the worker thread: ${err.message}. Return structured-cloneable data (plain objects, arrays, typed arrays, Maps, Sets), or run with { scheduler: "sync" }.`,
    );
    toScheduler.send({ op: "task-erred", key: msg.key, runId: msg.runId, error: serializeError(error), stimulusId: msg.stimulusId });
  }
});

function onSchedulerMessages(msgs: ToThreadMsg[]): void {
  for (const msg of msgs) {
    switch (msg.op) {
      case "compute-task":
      case "free-keys":
      case "put-data":
      case "steal-request":
        handleSchedulerMsg(msg);
        break;
      case "get-data":
        toScheduler.send(...answerGetData(msg.id, msg.keys));
        break;
      case "add-peer":
        addPeer(msg.address, msg.port);
        break;
      case "remove-peer":
        removePeer(msg.address);
        break;
      case "use-upload":
        useUpload(msg.id, msg.upload);
        break;
      case "snapshot":
        toScheduler.send({ op: "snapshot", id: msg.id, tasks: [...state.tasks.values()].map((t) => [t.key, t.state] as const), data: [...data.keys()] });
        break;
    }
  }
  kick();
}

/**
 * From now on, load the uploaded module (or directory) from its stored copy;
 * then import the module, so an upload that cannot load says so at once
 * (tasks that use it meanwhile share the same import).
 */
function useUpload(id: number, upload: StoredUpload): void {
  hookUploads(upload.root);
  redirectModules(upload.from, upload.to);
  preloadModule(upload.module).then(
    () => toScheduler.send({ op: "ran", id }),
    (err: unknown) => toScheduler.send({ op: "ran", id, error: serializeError(err) }),
  );
}

function handleSchedulerMsg(msg: ToWorkerMsg): void {
  let ev: WorkerEvent;
  switch (msg.op) {
    case "compute-task":
      ev = { type: "compute-task", msg, stimulusId: msg.stimulusId };
      break;
    case "free-keys":
      ev = { type: "free-keys", keys: msg.keys, stimulusId: msg.stimulusId };
      break;
    case "steal-request":
      ev = { type: "steal-request", key: msg.key, runId: msg.runId, stimulusId: msg.stimulusId };
      break;
    case "put-data":
      data.set(msg.key, msg.value);
      ev = { type: "put-data", key: msg.key, nbytes: msg.nbytes, stimulusId: msg.stimulusId };
      break;
  }
  apply(state.handle(ev));
}

function answerGetData(id: number, keys: readonly Key[]): [PeerMsg & FromThreadMsg] {
  const held: Key[] = [];
  const values: unknown[] = [];
  for (const k of keys) {
    // One lookup per key (undefined is a value too, rarely): the keys are the asker's copies, compared by content.
    const v = data.get(k);
    if (v === undefined && !data.has(k)) continue;
    held.push(k);
    values.push(v);
  }
  return [{ op: "data", id, keys: held, values }];
}

function addPeer(address: string, port: MessagePort): void {
  const comm = new InprocComm<PeerMsg, PeerMsg>(
    port,
    (msgs) => {
      for (const m of msgs) {
        if (m.op === "get-data") comm.send(...answerGetData(m.id, m.keys));
        else gatherReply(m.id, m.keys, m.values, m.unsendable);
      }
      kick();
    },
    undefined,
    // A value that cannot be cloned: answer with the others and say which could not go.
    (msg) => {
      if (msg.op === "data") comm.send(splitUnsendable(msg));
    },
  );
  peers.set(address, comm);
}

function splitUnsendable(msg: Extract<PeerMsg, { op: "data" }>): Extract<PeerMsg, { op: "data" }> {
  const keys: Key[] = [];
  const values: unknown[] = [];
  const bad: Key[] = [];
  const errors: ReturnType<typeof serializeError>[] = [];
  msg.keys.forEach((k, i) => {
    try {
      structuredClone(msg.values[i]);
      keys.push(k);
      values.push(msg.values[i]);
    } catch (err) {
      bad.push(k);
      errors.push(
        serializeError(
          new InvalidArgumentError(
            "result",
            `The result of task ${k} cannot be sent to another thread: ${(err as Error).message}. Return structured-cloneable data (plain objects, arrays, typed arrays, Maps, Sets).`,
          ),
        ),
      );
    }
  });
  return { op: "data", id: msg.id, keys, values, unsendable: { keys: bad, errors } };
}

function removePeer(address: string): void {
  const comm = peers.get(address);
  peers.delete(address);
  comm?.close();
  for (const [id, g] of pendingGathers) {
    if (g.peer !== address) continue;
    pendingGathers.delete(id);
    apply(state.handle({ type: "gather-dep-failure", peer: address, keys: g.keys, stimulusId: `peer-lost-${stimulus++}` }));
  }
}

function gatherReply(id: number, keys: readonly Key[], values: readonly unknown[], unsendable?: Extract<PeerMsg, { op: "data" }>["unsendable"]): void {
  const g = pendingGathers.get(id);
  if (g === undefined) return;
  pendingGathers.delete(id);
  const received = new Map<Key, number>();
  // The reply lists the held keys among those asked for, in order: store the values under this
  // worker's own key strings (the ones asked with), so later lookups compare pointers, not characters.
  let j = 0;
  for (let i = 0; i < keys.length; i++) {
    const v = values[i];
    while (j < g.keys.length && g.keys[j] !== keys[i]) j++;
    const key = j < g.keys.length ? g.keys[j++]! : keys[i]!;
    data.set(key, v);
    received.set(key, sizeof(v));
  }
  const failed = unsendable === undefined ? undefined : new Map(unsendable.keys.map((k, i) => [k, unsendable.errors[i]!] as const));
  apply(
    state.handle({
      type: "gather-dep-success",
      peer: g.peer,
      received,
      requested: g.keys,
      ...(failed === undefined ? {} : { unsendable: failed }),
      stimulusId: `gather-${id}`,
    }),
  );
}

function apply(instructions: WorkerInstruction[]): void {
  for (const ins of instructions) {
    switch (ins.type) {
      case "execute":
        runQueue.push(ins);
        break;
      case "send":
        // A delivered result of a `transfer: true` task moves instead of being copied.
        if (ins.msg.op === "task-finished" && ins.msg.delivered && transferResult) {
          toScheduler.send(ins.msg, transferables(ins.msg.value, inputBuffers));
        } else toScheduler.send(ins.msg);
        break;
      case "gather-dep": {
        const comm = peers.get(ins.peer);
        if (comm === undefined) {
          // Not (or no longer) connected: the scheduler will learn the peer is gone.
          queueMicrotask(() => {
            apply(state.handle({ type: "gather-dep-failure", peer: ins.peer, keys: ins.keys, stimulusId: ins.stimulusId }));
            kick();
          });
          break;
        }
        const id = nextRequest++;
        pendingGathers.set(id, { peer: ins.peer, keys: [...ins.keys] });
        comm.send({ op: "get-data", id, keys: ins.keys });
        break;
      }
      case "release-data":
        for (const k of ins.keys) data.delete(k);
        break;
    }
  }
}

// While a delivered result is sent: whether its buffers may move, and those that must not
// (buffers of its inputs, literal arguments and captured values are copied).
let inputBuffers = new Set<ArrayBufferLike>();
let transferResult = false;

/**
 * The buffers a `transfer: true` task must not give away: those reachable
 * from its inputs, literal arguments and captured values (moving one would
 * detach it here). Walked without depth limits: this runs only on opt-in.
 */
function keepBuffers(ts: WorkerTask): Set<ArrayBufferLike> {
  const keep = new Set<ArrayBufferLike>();
  for (const d of ts.dependencies) buffersOf(data.get(d.key), keep);
  for (const a of ts.run?.args ?? []) if (a.k === "v") buffersOf(a.v, keep);
  const fn = ts.run?.fn;
  if (fn?.kind === "source" && fn.captures !== undefined) for (const v of Object.values(fn.captures)) buffersOf(v, keep);
  return keep;
}

const getValue = (key: Key): unknown => {
  const v = data.get(key);
  if (v === undefined && !data.has(key)) throw new Error(`internal: input ${key} is not on worker ${init.address}`);
  return v;
};

// Run queued tasks on the next turn of the event loop, so that every message already
// waiting (a whole batch from the scheduler) is taken in first and results go back in
// large batches: per-message costs on the scheduler's thread outweigh the added turn.
function kick(): void {
  if (!pumping && runHead < runQueue.length) {
    pumping = true;
    setImmediate(pump);
  }
}

function pump(): void {
  const start = performance.now();
  while (runHead < runQueue.length) {
    const { key, runId } = runQueue[runHead++]!;
    const ts = state.tasks.get(key);
    if (ts === undefined || ts.run === undefined || ts.state !== "executing" || ts.execRunId !== runId) {
      // Cancelled before it started: report it done so its slot is freed.
      if (ts?.state === "cancelled" && ts.execRunId === runId) {
        apply(state.handle({ type: "execute-success", key, runId, nbytes: 0, duration: 0, stimulusId: `cancelled-${stimulus++}` }));
      }
      continue;
    }
    const node = ts.run;
    const prep = prepareTask(node);
    if (prep !== undefined) {
      // The first use of a module on this thread: run once it is imported, then carry on with the queue.
      prep.then(
        () => runOne(key, runId, node),
        (err: unknown) => finish(key, runId, 0, undefined, err),
      ).finally(() => {
        kick();
        toScheduler.flush();
      });
      continue;
    }
    runOne(key, runId, node);
    if (performance.now() - start > 5) break;
  }
  toScheduler.flush();
  if (runHead < runQueue.length) {
    // A long batch: let messages from peers and the scheduler in, then carry on.
    setImmediate(pump);
    return;
  }
  runQueue.length = 0;
  runHead = 0;
  pumping = false;
}

function runOne(key: Key, runId: number, node: TaskNode): void {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = runTask(node, getValue);
  } catch (err) {
    finish(key, runId, t0, undefined, err);
    return;
  }
  if (typeof result === "object" && result !== null && typeof (result as { then?: unknown }).then === "function") {
    (result as Promise<unknown>).then(
      (v) => {
        finish(key, runId, t0, v, undefined, true);
        kick();
        toScheduler.flush();
      },
      (err: unknown) => {
        finish(key, runId, t0, undefined, err);
        kick();
        toScheduler.flush();
      },
    );
    return;
  }
  finish(key, runId, t0, result, undefined, true);
}

function finish(key: Key, runId: number, t0: number, value: unknown, err: unknown, ok = false): void {
  const duration = (performance.now() - t0) / 1000;
  const sid = `exec-${stimulus++}`;
  if (!ok) {
    const taskKey = failedTaskKey(err);
    const error = taskKey === undefined ? serializeError(err) : { ...serializeError(err), taskKey };
    apply(state.handle({ type: "execute-failure", key, runId, error, stimulusId: sid }));
    return;
  }
  const ts = state.tasks.get(key);
  if (ts?.state === "executing" && ts.wanted && ts.deliver) {
    // Results are copied unless the task declared it keeps no reference to them: whether a
    // function kept one (a cache on itself, module state) cannot be known from outside.
    transferResult = ts.run?.transfer === true;
    inputBuffers = transferResult ? keepBuffers(ts) : new Set();
    apply(state.handle({ type: "execute-success", key, runId, nbytes: sizeof(value), duration, value, stimulusId: sid }));
    inputBuffers = new Set();
    transferResult = false;
    return;
  }
  if (ts?.state === "executing") data.set(key, value);
  apply(state.handle({ type: "execute-success", key, runId, nbytes: sizeof(value), duration, stimulusId: sid }));
}

toScheduler.send({ op: "ready", address: init.address });
