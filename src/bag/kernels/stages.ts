/**
 * Element-wise steps of a bag, run as one push pipeline per partition.
 *
 * Chained `map`/`filter`/`pluck`/`flatten` calls are separate tasks in the
 * graph (so computing two bags together shares their common steps), but when
 * the optimizer fuses a chain it merges their stage lists into one task (see
 * `run.ts`). At run time the stages are composed back to front into plain
 * closures, and each element is pushed through all of them before the next
 * is read: no step's output list is ever built, so a partition's
 * intermediate lists are not all held at once.
 *
 * @module
 */
import { InvalidArgumentError } from "../../core/errors.js";
import { ValueMap } from "./keys.js";
import { strFunction, type StrMethod } from "./strings.js";

type Fn = (...args: never[]) => unknown;

/** One element-wise step, as a task receives it (functions already resolved). */
export type Stage =
  | { readonly op: "map"; readonly fn: Fn; readonly args: readonly unknown[] }
  /** Zipped bags: `template` is the argument list, with the zipped values put at `holes`. */
  | { readonly op: "zipmap"; readonly fn: Fn; readonly template: readonly unknown[]; readonly holes: readonly number[] }
  | { readonly op: "starmap"; readonly fn: Fn; readonly args: readonly unknown[] }
  | { readonly op: "filter"; readonly fn: Fn; readonly keep: boolean }
  | { readonly op: "pluck"; readonly key: unknown; readonly hasDefault: boolean; readonly default?: unknown }
  | { readonly op: "flatten" }
  /**
   * A method of the `.str` namespace on string elements (see `strings.ts`):
   * `split` `[sep | null, maxsplit]`, `strip`/`lstrip`/`rstrip` `[chars | null]`,
   * `lower`, `upper`, `startsWith`/`endsWith`/`includes` `[text]`, `match` `[source, flags]`.
   */
  | { readonly op: "str"; readonly method: StrMethod; readonly args: readonly unknown[] }
  /** Pairs `[o, x]` for every `o` of `other` whose `onOther(o)` equals `onSelf(x)`. */
  | { readonly op: "join"; readonly other: Iterable<unknown>; readonly onSelf: Fn; readonly onOther: Fn }
  /** A whole-partition function: buffers the partition, calls `fn(items, ...args)`, and pushes what it returns. */
  | { readonly op: "partition"; readonly fn: Fn; readonly args: readonly unknown[] };

/** The receiving end of a pipeline step. `end` runs after the last element. */
export interface Push {
  push(x: unknown): void;
  end(): void | Promise<void>;
}

function call(fn: Fn, args: readonly unknown[]): unknown {
  return (fn as (...a: unknown[]) => unknown)(...args);
}

/**
 * `pluck`'s value for one element: the field or index `key` of `x` (own or
 * inherited, as `key in x`), else `dflt` when there is one, else an error.
 *
 * @example
 * ```ts
 * pluckOne({ a: 1 }, "a", false, undefined); // 1
 * pluckOne({}, "a", true, 0);                // 0
 * ```
 */
export function pluckOne(x: unknown, key: unknown, hasDefault: boolean, dflt: unknown): unknown {
  if (x !== null && x !== undefined && (typeof x === "object" || typeof x === "string")) {
    if (x instanceof Map) {
      if (x.has(key)) return x.get(key);
    } else if ((key as PropertyKey) in Object(x)) return (x as Record<PropertyKey, unknown>)[key as PropertyKey];
  }
  if (hasDefault) return dflt;
  throw new InvalidArgumentError(
    "key",
    `pluck: element ${describe(x)} has no ${typeof key === "number" ? "index" : "field"} ${JSON.stringify(key)}. Give a default: pluck(key, fallback).`,
  );
}

/** A short JSON-ish rendering of an element for error messages. */
export function describe(x: unknown): string {
  try {
    const s = JSON.stringify(x);
    return s === undefined ? String(x) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(x);
  }
}

function isIterable(x: unknown): x is Iterable<unknown> {
  return x !== null && x !== undefined && typeof (x as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
}

/**
 * The error of a `.str` stage given an element that is not a string.
 *
 * @example
 * ```ts
 * throw notAString("split", 42); // InvalidArgumentError: str.split needs string elements, got 42.
 * ```
 */
export function notAString(method: StrMethod, x: unknown): InvalidArgumentError {
  return new InvalidArgumentError("str", `str.${method} needs string elements, got ${describe(x)}.`);
}

/**
 * The Push that runs stage `s` on each element and hands the results to `next`.
 *
 * @example
 * ```ts
 * const out: unknown[] = [];
 * const p = stage({ op: "flatten" }, { push: (x) => void out.push(x), end: () => undefined });
 * p.push([1, 2]); // out: [1, 2]
 * ```
 */
export function stage(s: Stage, next: Push): Push {
  const push = next.push.bind(next);
  const end = next.end.bind(next);
  switch (s.op) {
    case "map": {
      const { fn, args } = s;
      if (args.length === 0) return { push: (x) => push((fn as (x: unknown) => unknown)(x)), end };
      return { push: (x) => push(call(fn, [x, ...args])), end };
    }
    case "zipmap": {
      const { fn, template, holes } = s;
      return {
        push: (x) => {
          const a = template.slice();
          const xs = x as readonly unknown[];
          for (let i = 0; i < holes.length; i++) a[holes[i]!] = xs[i];
          push(call(fn, a));
        },
        end,
      };
    }
    case "starmap": {
      const { fn, args } = s;
      return {
        push: (x) => {
          if (!isIterable(x)) throw new InvalidArgumentError("starmap", `starmap needs elements that are arrays of arguments, got ${describe(x)}.`);
          push(call(fn, args.length === 0 ? [...x] : [...x, ...args]));
        },
        end,
      };
    }
    case "filter": {
      const f = s.fn as (x: unknown) => unknown;
      return s.keep ? { push: (x) => void (f(x) ? push(x) : undefined), end } : { push: (x) => void (f(x) ? undefined : push(x)), end };
    }
    case "pluck": {
      const { key, hasDefault } = s;
      const dflt = s.default;
      if (Array.isArray(key)) {
        return { push: (x) => push(key.map((k) => pluckOne(x, k, hasDefault, dflt))), end };
      }
      return { push: (x) => push(pluckOne(x, key, hasDefault, dflt)), end };
    }
    case "flatten":
      return {
        push: (x) => {
          if (!isIterable(x) || typeof x === "string") {
            throw new InvalidArgumentError("flatten", `flatten needs elements that are arrays (or other iterables), got ${describe(x)}.`);
          }
          for (const y of x) push(y);
        },
        end,
      };
    case "str": {
      const { method } = s;
      const f = strFunction(method, s.args);
      return {
        push: (x) => {
          if (typeof x !== "string") throw notAString(method, x);
          push(f(x));
        },
        end,
      };
    }
    case "join": {
      const onSelf = s.onSelf as (x: unknown) => unknown;
      const onOther = s.onOther as (x: unknown) => unknown;
      // Built once per partition task: the other side is small by contract.
      const table = new ValueMap<unknown[]>();
      for (const o of s.other) table.values[table.slot(onOther(o), () => [])]!.push(o);
      return {
        push: (x) => {
          const i = table.indexOf(onSelf(x));
          if (i < 0) return;
          for (const o of table.values[i]!) push([o, x]);
        },
        end,
      };
    }
    case "partition": {
      const { fn, args } = s;
      const buf: unknown[] = [];
      return {
        push: (x) => void buf.push(x),
        end: () => {
          const out = call(fn, [buf, ...args]);
          const emit = (r: unknown): void | Promise<void> => {
            if (!isIterable(r) || typeof r === "string") {
              throw new InvalidArgumentError("mapPartitions", `mapPartitions functions must return an array (or other iterable), got ${describe(r)}.`);
            }
            for (const y of r) push(y);
            return end();
          };
          return out instanceof Promise ? out.then(emit) : emit(out);
        },
      };
    }
  }
}

/** Compose `stages` in front of `sink`: the returned Push feeds the first stage. */
export function compose(stages: readonly Stage[], sink: Push): Push {
  let p = sink;
  for (let i = stages.length - 1; i >= 0; i--) p = stage(stages[i]!, p);
  return p;
}
