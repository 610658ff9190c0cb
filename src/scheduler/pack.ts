/**
 * Column packing of message batches. Structured clone pays per object, and
 * a `compute-task` or `task-finished` message is several small objects; a
 * batch of thousands of them costs more to clone than the tasks take to run.
 * Runs of such messages are packed into one record of parallel columns
 * (typed arrays for numbers) before sending. Compute-tasks are unpacked on
 * arrival, so the worker machine keeps its plain message shape; a run of
 * task-finished messages becomes one `tasks-finished` message, which the
 * scheduler machine takes in as it is.
 *
 * Only messages without per-task maps are packed (compute-task without
 * dependencies, task-finished without a delivered value). A compute-task
 * with many inputs travels alone, but a long list of references among its
 * arguments (a sum over 10,000 results) is sent as indices into its input
 * keys, not as an object per reference. Everything else passes through
 * untouched, in order.
 *
 * @example
 * ```ts
 * port.postMessage(packBatch(msgs));
 * const msgs = unpackBatch(received);
 * ```
 * @module
 */
import type { Expr, FnRef, Key } from "../core/graph.js";
import type { ComputeTaskMsg, TaskFinishedMsg, TasksFinishedMsg } from "./messages.js";

const PACKED_COMPUTE = "packed:compute-task";
const PACKED_WIDE = "packed:compute-wide";
const MIN_RUN = 8;
/** Shortest list of references worth sending as indices. */
const MIN_REFS = 16;

interface PackedCompute {
  readonly op: typeof PACKED_COMPUTE;
  readonly keys: string[];
  readonly fns: FnRef[];
  readonly fnOf: Uint32Array;
  /** The argument list, or — when `single[i]` — the value of the one literal argument. */
  readonly args: unknown[];
  readonly single: Uint8Array;
  readonly priority: Float64Array;
  readonly runIds: Float64Array;
  readonly deliver: Uint8Array;
  readonly stimulusIds: string[];
}


interface PackedWide {
  readonly op: typeof PACKED_WIDE;
  /** The message, its arguments encoded (see {@link encodeExpr}). */
  readonly msg: ComputeTaskMsg;
}

/** On the wire only: an array of references, as indices into the task's input keys. */
interface RefList {
  readonly k: "refs";
  readonly at: Int32Array;
}

type Msg = { readonly op: string };

/**
 * Arguments with their long reference lists encoded, or undefined when there
 * are none. Plain loops, no callbacks: this runs once per wide task, mostly
 * before the JIT has compiled it.
 */
function encodeArgs(args: readonly Expr[], keys: readonly Key[]): (Expr | RefList)[] | undefined {
  let out: (Expr | RefList)[] | undefined;
  let index: Map<Key, number> | undefined;
  for (let a = 0; a < args.length; a++) {
    const e = args[a]!;
    if (e.k !== "a" || e.items.length < MIN_REFS) continue;
    const items = e.items;
    const at = new Int32Array(items.length);
    // References mostly come in the order of the inputs (both follow the arguments).
    let next = 0;
    let i = 0;
    for (; i < items.length; i++) {
      const item = items[i]!;
      if (item.k !== "r") break;
      let j = next;
      if (keys[j] !== item.key) {
        if (index === undefined) {
          index = new Map();
          for (let k = 0; k < keys.length; k++) index.set(keys[k]!, k);
        }
        j = index.get(item.key) ?? -1;
        if (j < 0) break;
      }
      at[i] = j;
      next = j + 1;
    }
    if (i === items.length) (out ??= args.slice())[a] = { k: "refs", at };
  }
  return out;
}

function decodeArgs(args: readonly (Expr | RefList)[], keys: readonly Key[]): Expr[] {
  // One reference object per input, shared by every list that names it.
  const refs: (Expr | undefined)[] = new Array<Expr | undefined>(keys.length);
  const out = new Array<Expr>(args.length);
  for (let a = 0; a < args.length; a++) {
    const e = args[a]!;
    if (e.k !== "refs") {
      out[a] = e;
      continue;
    }
    const items = new Array<Expr>(e.at.length);
    for (let i = 0; i < items.length; i++) {
      const j = e.at[i]!;
      items[i] = refs[j] ??= { k: "r", key: keys[j]! };
    }
    out[a] = { k: "a", items };
  }
  return out;
}

function packWide(m: ComputeTaskMsg): PackedWide | ComputeTaskMsg {
  const args = m.inputs === undefined ? undefined : encodeArgs(m.args, m.inputs.keys);
  return args === undefined ? m : { op: PACKED_WIDE, msg: { ...m, args: args as Expr[] } };
}

function packable(m: Msg): "compute" | "finished" | undefined {
  if (m.op === "compute-task" && (m as ComputeTaskMsg).inputs === undefined && (m as ComputeTaskMsg).transfer !== true) return "compute";
  if (m.op === "task-finished" && !(m as TaskFinishedMsg).delivered) return "finished";
  return undefined;
}

function packCompute(run: readonly ComputeTaskMsg[]): PackedCompute {
  const n = run.length;
  const fns: FnRef[] = [];
  const fnIndex = new Map<FnRef, number>();
  const out: PackedCompute = {
    op: PACKED_COMPUTE,
    keys: new Array<string>(n),
    fns,
    fnOf: new Uint32Array(n),
    args: new Array<unknown>(n),
    single: new Uint8Array(n),
    priority: new Float64Array(3 * n),
    runIds: new Float64Array(n),
    deliver: new Uint8Array(n),
    stimulusIds: new Array<string>(n),
  };
  for (let i = 0; i < n; i++) {
    const m = run[i]!;
    out.keys[i] = m.key;
    let f = fnIndex.get(m.fn);
    if (f === undefined) {
      f = fns.length;
      fns.push(m.fn);
      fnIndex.set(m.fn, f);
    }
    out.fnOf[i] = f;
    const a = m.args;
    if (a.length === 1 && a[0]!.k === "v") {
      out.single[i] = 1;
      out.args[i] = (a[0] as { v: unknown }).v;
    } else out.args[i] = a;
    out.priority[3 * i] = m.priority[0];
    out.priority[3 * i + 1] = m.priority[1];
    out.priority[3 * i + 2] = m.priority[2];
    out.runIds[i] = m.runId;
    out.deliver[i] = m.deliver ? 1 : 0;
    out.stimulusIds[i] = m.stimulusId;
  }
  return out;
}

function packFinished(run: readonly TaskFinishedMsg[]): TasksFinishedMsg {
  const n = run.length;
  const out = {
    op: "tasks-finished" as const,
    keys: new Array<string>(n),
    runIds: new Float64Array(n),
    nbytes: new Float64Array(n),
    durations: new Float64Array(n),
    stimulusIds: new Array<string>(n),
  };
  for (let i = 0; i < n; i++) {
    const m = run[i]!;
    out.keys[i] = m.key;
    out.runIds[i] = m.runId;
    out.nbytes[i] = m.nbytes;
    out.durations[i] = m.duration;
    out.stimulusIds[i] = m.stimulusId;
  }
  return out;
}

/** Replace runs of packable messages by packed records (short runs stay as they are). */
export function packBatch<T extends Msg>(msgs: readonly T[]): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  while (i < msgs.length) {
    const kind = packable(msgs[i]!);
    let j = i + 1;
    if (kind !== undefined) while (j < msgs.length && packable(msgs[j]!) === kind) j++;
    if (kind === undefined || j - i < MIN_RUN) {
      for (let k = i; k < j; k++) {
        const m = msgs[k]!;
        out.push(m.op === "compute-task" ? packWide(m as unknown as ComputeTaskMsg) : m);
      }
    } else if (kind === "compute") {
      out.push(packCompute(msgs.slice(i, j) as unknown as ComputeTaskMsg[]));
    } else {
      out.push(packFinished(msgs.slice(i, j) as unknown as TaskFinishedMsg[]));
    }
    i = j;
  }
  return out;
}

/** The codec to hand a transport that carries scheduler ↔ worker batches. */
export const packCodec = {
  encode: (batch: readonly unknown[]): unknown[] => packBatch(batch as readonly Msg[]),
  decode: (batch: readonly unknown[]): unknown[] => unpackBatch(batch),
};

/**
 * Undo {@link packBatch}. `canonical`, when given, maps the input keys of a
 * wide task to the receiver's own copies of those strings: a map lookup with
 * the very string it holds compares pointers, with an equal copy it compares
 * characters (and a worker looks each input up several times).
 */
export function unpackBatch<T>(msgs: readonly unknown[], canonical?: (key: Key) => Key): T[] {
  let packed = false;
  for (const m of msgs) {
    const op = (m as Msg).op;
    if (op === PACKED_COMPUTE || op === PACKED_WIDE) {
      packed = true;
      break;
    }
  }
  if (!packed) return msgs as T[];
  const out: unknown[] = [];
  for (const m of msgs) {
    const op = (m as Msg).op;
    if (op === PACKED_COMPUTE) {
      const p = m as PackedCompute;
      for (let i = 0; i < p.keys.length; i++) {
        const msg: ComputeTaskMsg = {
          op: "compute-task",
          key: p.keys[i]!,
          fn: p.fns[p.fnOf[i]!]!,
          args: p.single[i] === 1 ? [{ k: "v", v: p.args[i] }] : (p.args[i] as readonly Expr[]),
          priority: [p.priority[3 * i]!, p.priority[3 * i + 1]!, p.priority[3 * i + 2]!],
          runId: p.runIds[i]!,
          deliver: p.deliver[i] === 1,
          stimulusId: p.stimulusIds[i]!,
        };
        out.push(msg);
      }
    } else if (op === PACKED_WIDE) {
      const msg = (m as PackedWide).msg;
      const inputs = msg.inputs!;
      let keys = inputs.keys;
      if (canonical !== undefined) {
        const own = new Array<Key>(keys.length);
        for (let i = 0; i < own.length; i++) own[i] = canonical(keys[i]!);
        keys = own;
      }
      out.push({ ...msg, args: decodeArgs(msg.args, keys), inputs: { ...inputs, keys } });
    } else out.push(m);
  }
  return out as T[];
}
