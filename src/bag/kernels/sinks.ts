/**
 * The ends of partition pipelines, and how their partial results combine.
 *
 * Every aggregation of a bag is a tree reduction: each partition's pipeline
 * ends in a *sink* that folds the elements into a small partial result as
 * they stream past (a count, a frequency table, the current top k), and
 * `combine` merges groups of partials level by level until one is left,
 * which `finish` turns into the answer. Partials are plain arrays and
 * numbers, so they cross threads and sockets cheaply.
 *
 * A user `reduction(perpartition, aggregate)` follows Dask: `perpartition`
 * gets the partition's elements as an array, `aggregate` gets an array of
 * results at every level, and empty partitions are skipped (except the last,
 * so there is always one result).
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.js";
import type { Push } from "./stages.js";
import { hashKey, ValueMap } from "./keys.js";

type Fn = (...args: never[]) => unknown;
type KeySpec = Fn | string | number | undefined;

/** What a partition pipeline ends in (functions already resolved). */
export type SinkSpec =
  | { readonly kind: "list" }
  | { readonly kind: "count" }
  | { readonly kind: "sum" }
  | { readonly kind: "min" }
  | { readonly kind: "max" }
  | { readonly kind: "any" }
  | { readonly kind: "all" }
  | { readonly kind: "moments"; readonly stat: "mean" | "var" | "std"; readonly ddof: number }
  | { readonly kind: "frequencies"; readonly sort: boolean }
  | { readonly kind: "topk"; readonly k: number; readonly key: KeySpec }
  | { readonly kind: "distinct"; readonly key: KeySpec }
  | { readonly kind: "fold"; readonly binop: Fn; readonly combine: Fn; readonly hasInitial: boolean; readonly initial?: unknown }
  | {
      readonly kind: "foldby";
      readonly key: KeySpec;
      readonly binop: Fn;
      readonly hasInitial: boolean;
      readonly initial?: unknown;
      readonly combine: Fn;
      readonly hasCombineInitial: boolean;
      readonly combineInitial?: unknown;
    }
  | { readonly kind: "reduction"; readonly perpartition: Fn; readonly aggregate: Fn }
  | { readonly kind: "take"; readonly n: number }
  | { readonly kind: "split"; readonly key: KeySpec; readonly n: number };

/**
 * The partial result of `frequencies`: the distinct values in first-seen
 * order and their counts, as two columns (an array of pairs costs several
 * times more to send between threads). The root of the tree turns it into
 * `[value, count]` pairs.
 */
export type FrequenciesPartial = readonly [values: readonly unknown[], counts: readonly number[]];

/** A sink: receives elements, then yields the partition's partial result. */
export interface Sink extends Push {
  /** Set when the sink needs no more elements (take). */
  readonly done?: boolean;
  result(): unknown;
}

/** The partial of a partition that a user reduction skips. */
const NO_RESULT = "dask-ts.bag.no-result";
function isNoResult(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[NO_RESULT] === true;
}

/** The function that extracts a key: a callable, a field name or an index, or the element itself. */
export function keyFunction(key: KeySpec): (x: unknown) => unknown {
  if (key === undefined) return (x) => x;
  if (typeof key === "function") return key as (x: unknown) => unknown;
  return (x) => (x === null || x === undefined ? undefined : (x as Record<string | number, unknown>)[key]);
}

/** Python-like ordering: numbers, strings, booleans, bigints by value; arrays element by element. */
export function compareValues(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compareValues(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if ((a as number) < (b as number)) return -1;
  if ((a as number) > (b as number)) return 1;
  return 0;
}

/**
 * The k largest items by key, largest first; among equal keys the earlier
 * item wins, so the result is the head of a stable descending sort.
 */
function topkOf(items: readonly unknown[], k: number, key: (x: unknown) => unknown): unknown[] {
  const decorated = items.map((x, i) => [key(x), i, x] as const);
  decorated.sort((p, q) => compareValues(q[0], p[0]) || p[1] - q[1]);
  return decorated.slice(0, k).map((d) => d[2]);
}

function listSink(): Sink {
  const out: unknown[] = [];
  return { push: (x) => void out.push(x), end: () => undefined, result: () => out };
}

function makeTopk(k: number, keySpec: KeySpec): Sink {
  const key = keyFunction(keySpec);
  // Keep a buffer of up to 2k and cut it back to k: linear time, no heap bookkeeping per element.
  let buf: unknown[] = [];
  return {
    push: (x) => {
      buf.push(x);
      if (buf.length >= 2 * k + 64) buf = topkOf(buf, k, key);
    },
    end: () => undefined,
    result: () => topkOf(buf, k, key),
  };
}

/** The sink for one partition of `spec`. */
export function makeSink(spec: SinkSpec): Sink {
  switch (spec.kind) {
    case "list":
      return listSink();
    case "count": {
      let n = 0;
      return { push: () => void n++, end: () => undefined, result: () => n };
    }
    case "sum": {
      let s = 0;
      return { push: (x) => void (s += x as number), end: () => undefined, result: () => s };
    }
    case "min":
    case "max": {
      const sign = spec.kind === "min" ? -1 : 1;
      let n = 0;
      let best: unknown;
      return {
        push: (x) => {
          if (n++ === 0 || compareValues(x, best) * sign > 0) best = x;
        },
        end: () => undefined,
        result: () => [n, best],
      };
    }
    case "any": {
      let v = false;
      return { push: (x) => void (v ||= Boolean(x)), end: () => undefined, result: () => v };
    }
    case "all": {
      let v = true;
      return { push: (x) => void (v &&= Boolean(x)), end: () => undefined, result: () => v };
    }
    case "moments": {
      let n = 0;
      let s = 0;
      let ss = 0;
      return {
        push: (x) => {
          const v = x as number;
          n++;
          s += v;
          ss += v * v;
        },
        end: () => undefined,
        result: () => [n, s, ss],
      };
    }
    case "frequencies": {
      const m = new ValueMap<number>();
      const zero = (): number => 0;
      const partial: () => FrequenciesPartial = () => [m.keys, m.values];
      return { push: (x) => void m.values[m.slot(x, zero)]!++, end: () => undefined, result: partial };
    }
    case "topk":
      return makeTopk(spec.k, spec.key);
    case "distinct": {
      const key = keyFunction(spec.key);
      const seen = new ValueMap<unknown>();
      return { push: (x) => void seen.slot(key(x), () => x), end: () => undefined, result: () => seen.values };
    }
    case "fold": {
      const binop = spec.binop as (a: unknown, b: unknown) => unknown;
      let has = spec.hasInitial;
      let acc = spec.initial;
      return {
        push: (x) => {
          if (has) acc = binop(acc, x);
          else {
            acc = x;
            has = true;
          }
        },
        end: () => undefined,
        result: () => (has ? acc : { [NO_RESULT]: true }),
      };
    }
    case "foldby": {
      const key = keyFunction(spec.key);
      const binop = spec.binop as (a: unknown, b: unknown) => unknown;
      const m = new ValueMap<unknown>();
      const FRESH = m; // a marker no user value can be
      return {
        push: (x) => {
          const i = m.slot(key(x), () => (spec.hasInitial ? spec.initial : FRESH));
          const acc = m.values[i];
          m.values[i] = acc === FRESH ? x : binop(acc, x);
        },
        end: () => undefined,
        result: () => m.entries(),
      };
    }
    case "reduction": {
      const buf = listSink();
      return { ...buf, result: () => buf.result() };
    }
    case "take": {
      const out: unknown[] = [];
      const sink = {
        done: spec.n <= 0,
        push: (x: unknown) => {
          if (out.length < spec.n) out.push(x);
          if (out.length >= spec.n) sink.done = true;
        },
        end: () => undefined,
        result: () => out,
      };
      return sink;
    }
    case "split": {
      const key = keyFunction(spec.key);
      const n = spec.n;
      const parts: unknown[][] = Array.from({ length: n }, () => []);
      return { push: (x) => void parts[hashKey(key(x)) % n]!.push(x), end: () => undefined, result: () => parts };
    }
  }
}

/**
 * A user reduction's per-partition call: Dask skips empty partitions except
 * the last, so an aggregate never sees results of nothing but always sees one.
 */
export function finishReductionPartition(spec: SinkSpec & { kind: "reduction" }, items: unknown[], isLast: boolean): unknown {
  if (items.length === 0 && !isLast) return { [NO_RESULT]: true };
  return (spec.perpartition as (xs: unknown[]) => unknown)(items);
}

function mergePairs(partials: readonly unknown[], merge: (acc: unknown, v: unknown, fresh: boolean) => unknown): [unknown, unknown][] {
  const m = new ValueMap<unknown>();
  const FRESH = m;
  for (const p of partials) {
    for (const [k, v] of p as [unknown, unknown][]) {
      const i = m.slot(k, () => FRESH);
      const acc = m.values[i];
      m.values[i] = merge(acc === FRESH ? undefined : acc, v, acc === FRESH);
    }
  }
  return m.entries();
}

/**
 * Merge partial results of `spec` (one level of the tree); `final` marks the
 * root, where the answer is produced.
 */
export function combinePartials(spec: SinkSpec, partials: readonly unknown[], final: boolean): unknown {
  switch (spec.kind) {
    case "count":
    case "sum": {
      let s = 0;
      for (const p of partials) s += p as number;
      return s;
    }
    case "min":
    case "max": {
      const sign = spec.kind === "min" ? -1 : 1;
      let n = 0;
      let best: unknown;
      for (const p of partials) {
        const [pn, pv] = p as [number, unknown];
        if (pn === 0) continue;
        if (n === 0 || compareValues(pv, best) * sign > 0) best = pv;
        n += pn;
      }
      if (!final) return [n, best];
      if (n === 0) throw new InvalidArgumentError(spec.kind, `${spec.kind}() of an empty bag has no value.`);
      return best;
    }
    case "any":
      return partials.some(Boolean);
    case "all":
      return partials.every(Boolean);
    case "moments": {
      let n = 0;
      let s = 0;
      let ss = 0;
      for (const p of partials) {
        const [a, b, c] = p as [number, number, number];
        n += a;
        s += b;
        ss += c;
      }
      if (!final) return [n, s, ss];
      if (n - (spec.stat === "mean" ? 0 : spec.ddof) <= 0) {
        throw new InvalidArgumentError(spec.stat, `${spec.stat}() needs more elements than ${spec.stat === "mean" ? 0 : spec.ddof}; the bag has ${n}.`);
      }
      const mean = s / n;
      if (spec.stat === "mean") return mean;
      const variance = ((ss / n - mean * mean) * n) / (n - spec.ddof);
      return spec.stat === "var" ? variance : Math.sqrt(variance);
    }
    case "frequencies": {
      const m = new ValueMap<number>();
      const zero = (): number => 0;
      for (const p of partials) {
        const [keys, counts] = p as FrequenciesPartial;
        for (let i = 0; i < keys.length; i++) m.values[m.slot(keys[i], zero)]! += counts[i]!;
      }
      if (!final) return [m.keys, m.values] satisfies FrequenciesPartial;
      const merged = m.entries();
      if (spec.sort) {
        const idx = merged.map((p, i) => [p, i] as const);
        idx.sort((a, b) => (b[0][1] as number) - (a[0][1] as number) || a[1] - b[1]);
        return idx.map((x) => x[0]);
      }
      return merged;
    }
    case "topk": {
      const all: unknown[] = [];
      for (const p of partials) for (const x of p as unknown[]) all.push(x);
      return topkOf(all, spec.k, keyFunction(spec.key));
    }
    case "distinct": {
      const key = keyFunction(spec.key);
      const seen = new ValueMap<unknown>();
      for (const p of partials) for (const x of p as unknown[]) seen.slot(key(x), () => x);
      return seen.values;
    }
    case "fold": {
      const combine = spec.combine as (a: unknown, b: unknown) => unknown;
      let has = false;
      let acc: unknown;
      for (const p of partials) {
        if (isNoResult(p)) continue;
        acc = has ? combine(acc, p) : p;
        has = true;
      }
      if (has) return acc;
      if (!final) return { [NO_RESULT]: true };
      throw new InvalidArgumentError("initial", "fold() of an empty bag has no value: give an initial value.");
    }
    case "foldby": {
      const combine = spec.combine as (a: unknown, b: unknown) => unknown;
      return mergePairs(partials, (acc, v, fresh) => {
        if (!fresh) return combine(acc, v);
        return spec.hasCombineInitial ? combine(spec.combineInitial, v) : v;
      });
    }
    case "reduction": {
      const kept = partials.filter((p) => !isNoResult(p));
      if (kept.length === 0 && !final) return { [NO_RESULT]: true };
      return (spec.aggregate as (xs: unknown[]) => unknown)(kept);
    }
    case "list":
    case "take": {
      const out: unknown[] = [];
      for (const p of partials) for (const x of p as unknown[]) out.push(x);
      return out;
    }
    case "split":
      throw new InvalidArgumentError("sink", "split partials are not combined; they feed a shuffle.");
  }
}
