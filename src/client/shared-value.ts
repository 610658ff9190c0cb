/**
 * Values that go into the scheduler's stores (queues, variables, datasets)
 * may contain futures. A `Future` cannot cross the wire (it is a handle on
 * a client), so each is replaced by its key and its place is recorded
 * (`pack`); the receiving client puts futures of its own back in those
 * places (`unpack`). Futures are found inside arrays, plain objects, other
 * objects' own properties and `Map` values — wherever the wire codec
 * descends. A future used as a `Map` key or inside a `Set` is refused.
 *
 * @module
 */
import { InvalidArgumentError } from "../core/errors.js";
import type { Key } from "../core/graph.js";
import { followPath, type PathStep, type SharedValue } from "../scheduler/coordination.js";
import { Future } from "./future.js";

/** As deep as the wire codec goes; deeper values are refused when sent. */
const MAX_DEPTH = 1000;

function isLeaf(v: unknown): boolean {
  return (
    typeof v !== "object" ||
    v === null ||
    ArrayBuffer.isView(v) ||
    v instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer === "function" && v instanceof SharedArrayBuffer) ||
    v instanceof Date ||
    v instanceof RegExp ||
    v instanceof Error
  );
}

/**
 * Replace every future in `value` by its key, without changing `value`
 * (only the containers on the way to a future are copied). `check` vets
 * each future (it must belong to the sending client).
 */
export function packShared(value: unknown, check: (f: Future) => void): SharedValue {
  const futures: PathStep[][] = [];
  const path: PathStep[] = [];
  const walk = (v: unknown, depth: number): unknown => {
    if (v instanceof Future) {
      check(v);
      futures.push([...path]);
      return v.key;
    }
    if (isLeaf(v) || depth >= MAX_DEPTH) return v;
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const w = walk(v[i], depth + 1);
        path.pop();
        if (w !== v[i] && out === undefined) out = v.slice();
        if (out !== undefined) out[i] = w;
      }
      return out ?? v;
    }
    if (v instanceof Map) {
      let out: Map<unknown, unknown> | undefined;
      let i = 0;
      for (const [k, x] of v) {
        refuseInside(k, "a Map key", depth + 1);
        path.push([i]);
        const w = walk(x, depth + 1);
        path.pop();
        if (w !== x) (out ??= new Map(v)).set(k, w);
        i++;
      }
      return out ?? v;
    }
    if (v instanceof Set) {
      for (const x of v) refuseInside(x, "a Set", depth + 1);
      return v;
    }
    // Plain objects and other objects alike: the wire carries their own enumerable properties.
    let out: Record<string, unknown> | undefined;
    const rec = v as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      path.push(k);
      const w = walk(rec[k], depth + 1);
      path.pop();
      if (w !== rec[k] && out === undefined) out = { ...rec };
      if (out !== undefined) out[k] = w;
    }
    return out ?? v;
  };
  const packed = walk(value, 0);
  return { value: packed, futures };
}

/** Futures cannot be restored inside Sets or as Map keys (their identity is the point there). */
function refuseInside(v: unknown, where: string, depth: number): void {
  if (v instanceof Future) throw new InvalidArgumentError("value", `A Future (${v.key}) inside ${where} cannot be shared: put futures in arrays, objects or Map values.`);
  if (isLeaf(v) || depth >= MAX_DEPTH) return;
  if (v instanceof Map) {
    for (const [k, x] of v) {
      refuseInside(k, where, depth + 1);
      refuseInside(x, where, depth + 1);
    }
  } else if (Array.isArray(v) || v instanceof Set) for (const x of v) refuseInside(x, where, depth + 1);
  else for (const x of Object.values(v as object)) refuseInside(x, where, depth + 1);
}

/**
 * The keys in a shared value and a function that puts a future (made by
 * `make`) back at each of their places. Call `make` for every key before
 * asking the scheduler for their status.
 */
export function unpackShared(sv: SharedValue, make: (key: Key) => Future): unknown {
  let root = sv.value;
  for (const path of sv.futures) {
    const at = followPath(root, path);
    if (!at.found || typeof at.value !== "string") throw new InvalidArgumentError("value", `The scheduler sent a value with no future's key at ${JSON.stringify(path)}.`);
    const f = make(at.value);
    if (path.length === 0) root = f;
    else if (at.parent instanceof Map) {
      const i = (at.step as readonly [number])[0];
      const k = [...at.parent.keys()][i];
      at.parent.set(k, f);
    } else (at.parent as Record<string | number, unknown>)[at.step as string | number] = f;
  }
  return root;
}
