/**
 * `dask-ts/bag` against Python `dask.bag`: every case of
 * `test/fixtures/bag/expected.json` (written by `make_fixtures.py` with
 * Python Dask 2022.12) is rebuilt with the TypeScript API, computed on the
 * `sync` scheduler and on an embedded cluster of two workers, and compared
 * with Python's result.
 *
 * The fixture describes each computation as data: an input (a sequence, a
 * range, text files, zipped bags) and a chain of `dask.bag` method calls
 * whose function arguments are Python source strings. `LAMBDAS` gives each
 * of those sources a TypeScript function with the same meaning, and
 * `applyOp` maps Dask's method names and keyword arguments to the TS API.
 * Both refuse what they do not know, and `CASES` must list exactly the
 * fixture's case names, so a new fixture (or a new lambda, method or
 * keyword) fails here until it is mapped and reviewed.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as db from "../../src/bag.js";
import type { Delayed } from "../../src/index.js";
import type { Scheduler } from "../../src/scheduler/types.js";
import { syncAndEmbedded } from "../helpers/schedulers.js";

/** The repository root (this file runs as dist/test/bag/dask-parity.test.js). */
const root = fileURLToPath(new URL("../../../", import.meta.url));

// ---------------------------------------------------------------- the fixture

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface InputSpec {
  readonly from_sequence?: Json[] | string;
  readonly npartitions?: number;
  readonly partition_size?: number;
  readonly range?: number;
  readonly read_text?: string;
  readonly zip?: InputSpec[];
}

interface Step {
  readonly op: string;
  readonly args?: Json[];
  readonly kwargs?: Record<string, Json>;
}

interface Case {
  readonly input: InputSpec;
  readonly ops: Step[];
  readonly compare: "exact" | "sorted" | "approx" | "groups";
  readonly partitions?: boolean;
  readonly result: Json;
}

const expected = JSON.parse(readFileSync(`${root}test/fixtures/bag/expected.json`, "utf8")) as Record<string, Case>;

// ---------------------------------------------------------------- Python lambdas in TypeScript

interface Person {
  id: number;
  name: string;
  age: number;
  city: string;
  tags: string[];
  score: number;
  nickname?: string;
}

/**
 * Each Python function source of the fixture and a TypeScript function with
 * the same meaning. They are self-contained arrow functions (no outer
 * variables), because the embedded cluster ships functions to its worker
 * threads by source text. Python keyword parameters with defaults
 * (`c=0`, `other=None`) become trailing positional parameters: `applyOp`
 * passes keyword arguments positionally, in the lambda's parameter order.
 */
const LAMBDAS: Record<string, (...args: never[]) => unknown> = {
  "lambda x: x * 2": (x: number) => x * 2,
  "lambda x: (x, x % 3)": (x: number) => [x, x % 3],
  "lambda p: p['age'] + 1": (p: Person) => p.age + 1,
  "lambda x, y, k, c=0: x * k + y + c": (x: number, y: number, k: number, c = 0) => x * k + y + c,
  "lambda x, other=None: x - other": (x: number, other: number) => x - other,
  "lambda x: x % 3 == 0": (x: number) => x % 3 === 0,
  "lambda p: p['age'] >= 60": (p: Person) => p.age >= 60,
  "lambda part: [sum(part)]": (part: number[]) => [part.reduce((a, b) => a + b, 0)],
  "lambda part, k: [x + k for x in part if x > 90]": (part: number[], k: number) => part.filter((x) => x > 90).map((x) => x + k),
  "lambda a, b: a * b + 1": (a: number, b: number) => a * b + 1,
  "lambda a, b, c=0: b - a + c": (a: number, b: number, c = 0) => b - a + c,
  "lambda part: max(part)": (part: number[]) => Math.max(...part),
  "lambda maxes: max(maxes)": (maxes: number[]) => Math.max(...maxes),
  "lambda part: len(part)": (part: unknown[]) => part.length,
  "lambda counts: list(counts)": (counts: number[]) => [...counts],
  "lambda part: sum(part)": (part: number[]) => part.reduce((a, b) => a + b, 0),
  "lambda sums: sum(sums)": (sums: number[]) => sums.reduce((a, b) => a + b, 0),
  "lambda part: [min(part), max(part)]": (part: number[]) => [Math.min(...part), Math.max(...part)],
  "lambda ms: functools.reduce(lambda a, b: [min(a[0], b[0]), max(a[1], b[1])], ms)": (ms: [number, number][]) =>
    ms.reduce((a, b) => [Math.min(a[0], b[0]), Math.max(a[1], b[1])]),
  // Python's `+` adds numbers and concatenates lists; fold_collect_list combines lists with it.
  "lambda a, b: a + b": (a: number | unknown[], b: number | unknown[]) => (Array.isArray(a) && Array.isArray(b) ? [...a, ...b] : (a as number) + (b as number)),
  "lambda a, b: a if a >= b else b": (a: number, b: number) => (a >= b ? a : b),
  "lambda acc, x: acc + x": (acc: number, x: number) => acc + x,
  "lambda acc, w: acc + len(w)": (acc: number, w: string) => acc + w.length,
  // Python reads this as `(acc + [x]) if x > 97 else acc`.
  "lambda acc, x: acc + [x] if x > 97 else acc": (acc: number[], x: number) => (x > 97 ? [...acc, x] : acc),
  "lambda x: x % 5": (x: number) => x % 5,
  "lambda p: p['city']": (p: Person) => p.city,
  "lambda acc, p: acc + p['age']": (acc: number, p: Person) => acc + p.age,
  "lambda acc, p: acc + 1": (acc: number) => acc + 1,
  "lambda acc, p: max(acc, p['score'])": (acc: number, p: Person) => Math.max(acc, p.score),
  "lambda a, b: max(a, b)": (a: number, b: number) => Math.max(a, b),
  "lambda x: -x": (x: number) => -x,
  "lambda p: p['id']": (p: Person) => p.id,
  "lambda kv: kv[1]": (kv: [unknown, number]) => kv[1],
  "lambda x: x > 50": (x: number) => x > 50,
  "lambda x: x > 99": (x: number) => x > 99,
  "lambda x: x > 100": (x: number) => x > 100,
  "lambda x: x >= 0": (x: number) => x >= 0,
  "lambda x: x > 0": (x: number) => x > 0,
  "lambda x: x % 7": (x: number) => x % 7,
  "lambda w: len(w)": (w: string) => w.length,
  "lambda t: t[0]": (t: [number, string]) => t[0],
  "lambda w: w[0]": (w: string) => w[0],
  "json.loads": JSON.parse,
  "lambda x: x * x": (x: number) => x * x,
};

/**
 * `b.str.NAME()` of Dask: the TS bag has no `.str` accessor, so these are
 * the TS way of doing the same, a `map` with the string method.
 */
const STR_METHODS: Record<string, (s: string) => unknown> = {
  upper: (s: string) => s.toUpperCase(),
  strip: (s: string) => s.trim(),
  // Python's split() with no separator: runs of whitespace, no empty strings.
  split: (s: string) => s.split(/\s+/).filter((w) => w !== ""),
};

/** The parameter names of a Python lambda source (none for other functions, e.g. `json.loads`). */
function lambdaParams(src: string): string[] {
  const m = /^lambda ([^:]*):/.exec(src);
  return m === null ? [] : m[1]!.split(",").map((p) => p.split("=")[0]!.trim());
}

// ---------------------------------------------------------------- building the TS computation

/** What a chain of ops has built so far: a bag, an item (a reduction), or the list `take` returns. */
type Built = { kind: "bag"; bag: db.Bag<unknown> } | { kind: "item"; item: Delayed<unknown> } | { kind: "take"; run: (s: Scheduler | "sync") => Promise<unknown[]> };

/**
 * The TS bag for a fixture input. `read_text` inputs keep their line endings
 * as Dask does; `keepEndings = false` reads them the dask-ts default way.
 */
function makeBag(spec: InputSpec, keepEndings = true): db.Bag<unknown> {
  const keys = Object.keys(spec).sort().join(",");
  if (spec.from_sequence !== undefined) {
    assert.ok(["from_sequence", "from_sequence,npartitions", "from_sequence,partition_size"].includes(keys), `input ${keys}`);
    const seq = typeof spec.from_sequence === "string" ? (JSON.parse(readFileSync(root + spec.from_sequence, "utf8")) as Json[]) : spec.from_sequence;
    return db.fromSequence(seq, {
      ...(spec.npartitions === undefined ? {} : { npartitions: spec.npartitions }),
      ...(spec.partition_size === undefined ? {} : { partitionSize: spec.partition_size }),
    });
  }
  if (spec.range !== undefined) {
    assert.equal(keys, "npartitions,range");
    return db.range(spec.range, { npartitions: spec.npartitions! });
  }
  if (spec.read_text !== undefined) {
    assert.equal(keys, "read_text");
    // Dask keeps each line's "\n"; dask-ts drops it unless asked (docs/bag.md, "Differences from Python Dask").
    return db.readText(root + spec.read_text, { keepEndings });
  }
  if (spec.zip !== undefined) {
    assert.equal(keys, "zip");
    // db.zip(a, b) of Dask: tuples of the zipped elements; in TS, db.map over the bags.
    return db.map((...xs: unknown[]) => xs, ...spec.zip.map((s) => makeBag(s, keepEndings)));
  }
  throw new Error(`unknown input ${JSON.stringify(spec)}`);
}

/** A fixture argument as a TS value: a lambda, another bag, or the value itself. */
function resolve(arg: Json | undefined): unknown {
  if (arg !== null && typeof arg === "object" && !Array.isArray(arg)) {
    const keys = Object.keys(arg);
    if (keys.length === 1 && keys[0] === "fn") {
      const fn = LAMBDAS[arg.fn as string];
      assert.ok(fn !== undefined, `no TypeScript function for the Python source ${JSON.stringify(arg.fn)}: add it to LAMBDAS`);
      return fn;
    }
    if (keys.length === 1 && keys[0] === "bag") return makeBag(arg.bag as InputSpec);
  }
  return arg;
}

/** The step's positional arguments, resolved, and its keyword arguments (which must be among `allowed`). */
function argsOf(step: Step, allowed: readonly string[]): { args: unknown[]; kw: Record<string, unknown> } {
  const kwargs = step.kwargs ?? {};
  for (const k of Object.keys(kwargs)) assert.ok(allowed.includes(k), `${step.op}: keyword ${k} is not mapped to the TS API`);
  return { args: (step.args ?? []).map(resolve), kw: Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [k, resolve(v)])) };
}

/**
 * The extra arguments of `map`-like calls: Dask's positional arguments, then
 * its keyword arguments in the order of the lambda's parameters. They must
 * be the lambda's last parameters, so no default in between is skipped.
 */
function extraArgs(step: Step): { fn: unknown; extra: unknown[] } {
  const { args, kw } = argsOf(step, Object.keys(step.kwargs ?? {}));
  const src = (step.args![0] as { fn: string }).fn;
  const params = lambdaParams(src);
  const names = Object.keys(kw).sort((a, b) => params.indexOf(a) - params.indexOf(b));
  names.forEach((n, i) => assert.equal(params.indexOf(n), params.length - names.length + i, `${step.op}: keyword ${n} of ${src} is not a trailing parameter`));
  return { fn: args[0], extra: [...args.slice(1), ...names.map((n) => kw[n])] };
}

function applyOp(built: Built, step: Step): Built {
  assert.equal(built.kind, "bag", `${step.op} after a ${built.kind}`);
  const b = (built as { bag: db.Bag<unknown> }).bag;
  const bag = (x: db.Bag<unknown>): Built => ({ kind: "bag", bag: x });
  const item = (x: Delayed<unknown>): Built => ({ kind: "item", item: x });
  if (step.op.startsWith("str.")) {
    argsOf(step, []);
    assert.equal(step.args, undefined);
    const f = STR_METHODS[step.op.slice(4)];
    assert.ok(f !== undefined, `no TypeScript counterpart of ${step.op}`);
    return bag(b.map(f as never));
  }
  switch (step.op) {
    case "partition_lengths":
      return bag(b.mapPartitions((xs) => [xs.length]));
    case "map": {
      const { fn, extra } = extraArgs(step);
      return bag(b.map(fn as never, ...(extra as never[])));
    }
    case "map_partitions": {
      const { fn, extra } = extraArgs(step);
      return bag(b.mapPartitions(fn as never, ...(extra as never[])));
    }
    case "starmap": {
      const { fn, extra } = extraArgs(step);
      return bag(b.starmap(fn as never, ...extra));
    }
    case "filter":
    case "remove": {
      const { args } = argsOf(step, []);
      return bag(b[step.op](args[0] as never));
    }
    case "pluck": {
      const { args, kw } = argsOf(step, ["default"]);
      return bag("default" in kw ? b.pluck(args[0] as never, kw.default) : b.pluck(args[0] as never));
    }
    case "flatten":
      argsOf(step, []);
      return bag(b.flatten() as db.Bag<unknown>);
    case "reduction": {
      const { args, kw } = argsOf(step, ["split_every"]);
      return item(b.reduction(args[0] as never, args[1] as never, kw.split_every === undefined ? {} : { splitEvery: kw.split_every as number }));
    }
    case "fold": {
      // fold(binop, combine=None, initial=no_default): `initial` only when given, as "no initial" differs from any value.
      const { args, kw } = argsOf(step, ["combine", "initial"]);
      const combine = args[1] ?? kw.combine;
      const initial = args.length > 2 ? { initial: args[2] } : "initial" in kw ? { initial: kw.initial } : {};
      return item(b.fold(args[0] as never, combine as never, initial));
    }
    case "foldby": {
      // foldby(key, binop, initial=no_default, combine=None, combine_initial=no_default)
      const names = ["key", "binop", "initial", "combine", "combine_initial"];
      const { args, kw } = argsOf(step, names);
      const a: Record<string, unknown> = { ...kw };
      args.forEach((v, i) => (a[names[i]!] = v));
      const options = {
        ...("initial" in a ? { initial: a.initial } : {}),
        ...(a.combine === undefined ? {} : { combine: a.combine as never }),
        ...("combine_initial" in a ? { combineInitial: a.combine_initial } : {}),
      };
      return bag(b.foldby(a.key as never, a.binop as never, options) as db.Bag<unknown>);
    }
    case "frequencies": {
      const { kw } = argsOf(step, ["sort"]);
      return bag(b.frequencies(kw.sort === undefined ? {} : { sort: kw.sort as boolean }) as db.Bag<unknown>);
    }
    case "topk": {
      const { args, kw } = argsOf(step, ["key"]);
      return bag(b.topk(args[0] as number, (args[1] ?? kw.key) as never));
    }
    case "distinct": {
      const { args, kw } = argsOf(step, ["key"]);
      return bag(b.distinct((args[0] ?? kw.key) as never));
    }
    case "count":
    case "sum":
    case "min":
    case "max":
    case "mean":
    case "any":
    case "all":
      argsOf(step, []);
      assert.equal(step.args, undefined);
      return item(b[step.op]() as Delayed<unknown>);
    case "var":
    case "std": {
      const { kw } = argsOf(step, ["ddof"]);
      return item(b[step.op](kw.ddof === undefined ? {} : { ddof: kw.ddof as number }));
    }
    case "groupby": {
      const { args, kw } = argsOf(step, ["shuffle", "npartitions"]);
      const options = {
        ...(kw.shuffle === undefined ? {} : { shuffle: kw.shuffle as "tasks" | "disk" }),
        ...(kw.npartitions === undefined ? {} : { npartitions: kw.npartitions as number }),
      };
      return bag(b.groupby(args[0] as never, options) as db.Bag<unknown>);
    }
    case "join": {
      const { args } = argsOf(step, []);
      return bag(b.join(args[0] as unknown[], args[1] as never, args[2] as never) as db.Bag<unknown>);
    }
    case "repartition": {
      const { args } = argsOf(step, []);
      return bag(b.repartition(args[0] as number));
    }
    case "take": {
      const { args, kw } = argsOf(step, ["npartitions"]);
      const np = kw.npartitions === undefined ? {} : { npartitions: kw.npartitions as number };
      return { kind: "take", run: (scheduler) => b.take(args[0] as number, { ...np, scheduler }) };
    }
    default:
      throw new Error(`the Dask method ${step.op} is not mapped to the TS API`);
  }
}

function build(c: Case): Built {
  return c.ops.reduce(applyOp, { kind: "bag", bag: makeBag(c.input) } as Built);
}

async function run(c: Case, scheduler: Scheduler | "sync"): Promise<unknown> {
  const built = build(c);
  const opts = { scheduler };
  let value: unknown;
  if (built.kind === "take") value = await built.run(scheduler);
  else if (built.kind === "item") value = await built.item.compute(opts);
  else value = await built.bag.compute(opts);
  value = normalize(c, value);
  if (c.partitions === true) {
    assert.equal(built.kind, "bag");
    const lengths = await (built as { bag: db.Bag<unknown> }).bag.mapPartitions((xs) => [xs.length]).compute(opts);
    return { values: value, partition_lengths: lengths };
  }
  return value;
}

// ---------------------------------------------------------------- comparing

/** Python's ordering of the fixture's values: numbers by value, strings by code point, lists item by item. */
function pyCompare(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") {
    const x = [...a].map((ch) => ch.codePointAt(0)!);
    const y = [...b].map((ch) => ch.codePointAt(0)!);
    return pyCompare(x, y);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = pyCompare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  throw new Error(`cannot order ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
}

/** The TS result put in the form the fixture stored (see make_fixtures.py, `compare`). */
function normalize(c: Case, value: unknown): unknown {
  switch (c.compare) {
    case "sorted":
      return [...(value as unknown[])].sort(pyCompare);
    case "groups":
      return (value as [unknown, unknown[]][]).map(([k, vs]) => [k, [...vs].sort(pyCompare)]).sort((p, q) => pyCompare(p[0], q[0]));
    default:
      return value;
  }
}

function check(c: Case, actual: unknown): void {
  if (c.compare === "approx") {
    const [a, e] = [actual as number, c.result as number];
    assert.equal(typeof a, "number");
    assert.ok(Math.abs(a - e) <= 1e-12 * Math.max(Math.abs(a), Math.abs(e)), `${a} is not within 1e-12 (relative) of ${e}`);
    return;
  }
  assert.deepEqual(actual, c.result);
}

// ---------------------------------------------------------------- the cases

/**
 * Every case of expected.json, by name. A value is a `todo` (a dask-ts bug:
 * the case still runs, and shows up in the report); `null` means the result
 * must equal Python's.
 */
const CASES: Record<string, { todo: string } | null> = {
  from_sequence_npartitions_4: null,
  from_sequence_npartitions_7: null,
  from_sequence_npartitions_uneven: null,
  from_sequence_npartitions_fewer_made: null,
  from_sequence_npartitions_more_than_items: null,
  from_sequence_partition_size_32: null,
  from_sequence_partition_size_1: null,
  from_sequence_default_under_100: null,
  from_sequence_default_300: null,
  from_sequence_empty: null,
  from_sequence_dicts: null,
  map_double: null,
  map_to_pair: null,
  map_dict_field: null,
  map_zip_extra_args: null,
  map_kwarg_bag: null,
  zip_two_bags: null,
  filter_multiple_of_3: null,
  remove_multiple_of_3: null,
  filter_dicts: null,
  pluck_key: null,
  pluck_index: null,
  pluck_default_missing_key: null,
  pluck_default_short_list: null,
  pluck_list_of_keys: null,
  pluck_list_of_indices: null,
  flatten_nested: null,
  flatten_plucked: null,
  map_partitions_sum: null,
  map_partitions_extra_arg: null,
  starmap: null,
  starmap_kwargs: null,
  str_upper: null,
  reduction_max: null,
  reduction_aggregate_sees_partitions: null,
  reduction_split_every_2: null,
  reduction_min_max_pair: null,
  fold_binop_only: null,
  fold_max_binop_only: null,
  fold_initial_no_combine: null,
  fold_combine_initial: null,
  fold_collect_list: null,
  foldby_no_initial: null,
  foldby_initial: null,
  foldby_combine_initial: null,
  foldby_key_string: null,
  frequencies_unsorted: null,
  frequencies_sorted: null,
  frequencies_ints: null,
  topk_plain: null,
  topk_key_negate: null,
  topk_key_dict_field: null,
  topk_index_key: null,
  topk_pairs_by_count: null,
  distinct_ints: null,
  distinct_key_callable: null,
  distinct_key_string: null,
  count: null,
  count_after_filter: null,
  sum: null,
  min: null,
  max: null,
  min_strings: null,
  mean: null,
  mean_floats: null,
  var_ddof0: null,
  var_ddof1: null,
  std_ddof0: null,
  std_ddof1: null,
  std_floats_ddof1: null,
  any_true: null,
  any_false: null,
  all_true: null,
  all_false: null,
  all_truthiness_has_zero: null,
  any_truthiness: null,
  any_empty: null,
  all_empty: null,
  groupby_mod_7: null,
  groupby_len: null,
  join_list: null,
  join_list_same_key: null,
  repartition_fewer: null,
  repartition_more: null,
  take_first_partition: null,
  take_two_partitions: null,
  take_all_partitions: null,
  read_text_lines: null,
  read_text_strip_split: null,
  read_text_jsonl_names_topk: null,
  range_20_3: null,
  range_10_4: null,
  range_map_sum: null,
};

describe("the Dask fixture is covered", () => {
  it("expected.json holds exactly the cases listed here", () => {
    assert.deepEqual(Object.keys(expected).sort(), Object.keys(CASES).sort());
  });

  it("every Python function of the fixture has a TypeScript counterpart, and none is unused", () => {
    const sources = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === "object") {
        const keys = Object.keys(v);
        if (keys.length === 1 && keys[0] === "fn") sources.add((v as { fn: string }).fn);
        else Object.values(v).forEach(walk);
      }
    };
    for (const c of Object.values(expected)) walk([c.input, c.ops]);
    assert.deepEqual([...sources].sort(), Object.keys(LAMBDAS).sort());
  });

  it("every case builds a TS computation without running it", () => {
    for (const [name, c] of Object.entries(expected)) assert.doesNotThrow(() => build(c), `case ${name}`);
  });
});

const { targets } = syncAndEmbedded();


for (const [label, sched] of targets) {
  describe(`dask.bag parity on ${label}`, () => {
    for (const [name, c] of Object.entries(expected)) {
      const note = CASES[name];
      it(name, note === null || note === undefined ? {} : { todo: note.todo }, async () => {
        check(c, await run(c, sched()));
      });
    }

    // The documented difference (docs/bag.md, "Differences from Python Dask"): by default
    // readText drops each line's ending, which Dask keeps; keepEndings: true (used above) matches Dask.
    it("read_text_lines without keepEndings: Python's lines minus their \"\\n\"", async () => {
      const c = expected.read_text_lines!;
      const { values } = c.result as { values: string[] };
      const lines = await makeBag(c.input, false).compute({ scheduler: sched() });
      assert.deepEqual(lines, values.map((l) => l.replace(/\n$/, "")));
    });
  });
}
