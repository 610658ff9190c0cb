/**
 * Task graphs are plain data: a map from key to node, where a node is a task
 * (a function reference and argument expressions), a literal value, or an
 * alias of another key. Everything here survives structured clone and
 * msgpack, so a graph can be handed to a worker thread or sent over TCP as is.
 *
 * Arguments are expressions rather than raw values so that references to other
 * keys can sit anywhere inside arrays and plain objects without being confused
 * with user data: a user object that happens to look like a reference is a
 * literal (`{ k: "v" }`) and is never walked.
 *
 * @example
 * ```ts
 * import { task, lit, ref } from "dask-ts";
 * const graph = new Map([
 *   ["x", { kind: "literal", value: 1 }],
 *   ["y", task({ kind: "global", path: "Math.max" }, [ref("x"), lit(2)])],
 * ]);
 * ```
 * @module
 */
import { CycleError, MissingKeyError } from "./errors.js";
import { keepShape } from "./shapes.js";

/**
 * The name of a node in a graph, such as `"inc-3f2a…"`.
 *
 * @example
 * ```ts
 * const k: Key = "inc-3f2a9c0d1e4b5a6f7081920a3b4c5d6e";
 * ```
 */
export type Key = string;

/**
 * How a worker finds a task's function. Closures cannot be sent between
 * threads, so every function that leaves the calling thread is one of the
 * first four kinds; `local` holds a live function and only the `sync`
 * scheduler may run it.
 *
 * @example
 * ```ts
 * const f: FnRef = { kind: "module", specifier: import.meta.url, exportName: "score" };
 * ```
 */
export type FnRef =
  /** A library operation, by stable name (see `defineOp`). */
  | { readonly kind: "op"; readonly name: string }
  /** An export of a module: a file URL or a package specifier, and the export's name. */
  | { readonly kind: "module"; readonly specifier: string; readonly exportName: string }
  /** A well-known global function by its path, such as `"JSON.parse"`. */
  | { readonly kind: "global"; readonly path: string }
  /** The source text of a self-contained function, with explicitly bound outer values. */
  | { readonly kind: "source"; readonly source: string; readonly name: string; readonly captures?: Readonly<Record<string, unknown>> }
  /** A live function; runs only on the calling thread. `freeVariables` lists what it closes over. */
  | { readonly kind: "local"; readonly fn: (...args: never[]) => unknown; readonly name: string; readonly freeVariables: readonly string[]; readonly reason?: string };

/**
 * An argument expression. `v`: a literal value, never walked. `r`: the value of
 * another key. `a` / `o`: an array or plain object whose items are
 * expressions. `t`: a nested task run inline (the result of fusing or
 * inlining). `f`: a function passed as a value (resolved like a task's function).
 *
 * @example
 * ```ts
 * const e: Expr = { k: "a", items: [ref("x"), lit(2)] }; // [value of x, 2]
 * ```
 */
export type Expr =
  | { readonly k: "v"; readonly v: unknown }
  | { readonly k: "r"; readonly key: Key }
  | { readonly k: "a"; readonly items: readonly Expr[] }
  | { readonly k: "o"; readonly entries: readonly (readonly [string, Expr])[] }
  | { readonly k: "t"; readonly fn: FnRef; readonly args: readonly Expr[]; readonly key?: Key }
  | { readonly k: "f"; readonly fn: FnRef };

/**
 * A call of `fn` on the values of `args`. `deps` lists the keys the arguments refer to, without repeats.
 *
 * @example
 * ```ts
 * const t: TaskNode = task({ kind: "global", path: "Math.abs" }, [lit(-3)]);
 * ```
 */
export interface TaskNode {
  readonly kind: "task";
  readonly fn: FnRef;
  readonly args: readonly Expr[];
  readonly deps: readonly Key[];
  /** The function returns buffers it owns: move them to the caller instead of copying. */
  readonly transfer?: boolean;
}

/**
 * A value held in the graph itself.
 *
 * @example
 * ```ts
 * const n: LiteralNode = { kind: "literal", value: [1, 2, 3] };
 * ```
 */
export interface LiteralNode {
  readonly kind: "literal";
  readonly value: unknown;
}

/**
 * Another name for the value of `target`.
 *
 * @example
 * ```ts
 * const n: AliasNode = { kind: "alias", target: "result-1" };
 * ```
 */
export interface AliasNode {
  readonly kind: "alias";
  readonly target: Key;
}

/**
 * One entry of a graph.
 *
 * @example
 * ```ts
 * const node: GraphNode = { kind: "alias", target: "x" };
 * ```
 */
export type GraphNode = TaskNode | LiteralNode | AliasNode;

/**
 * A task graph: key → node. Insertion order is kept and used as a tie-breaker.
 *
 * @example
 * ```ts
 * const graph: Graph = new Map([["x", { kind: "literal", value: 1 }]]);
 * ```
 */
export type Graph = Map<Key, GraphNode>;

/**
 * A literal argument.
 *
 * @example
 * ```ts
 * task({ kind: "global", path: "Math.sqrt" }, [lit(16)]);
 * ```
 */
export function lit(v: unknown): Expr {
  return { k: "v", v };
}

/**
 * A reference to the value of another key.
 *
 * @example
 * ```ts
 * task({ kind: "global", path: "Math.max" }, [ref("a"), ref("b")]);
 * ```
 */
export function ref(key: Key): Expr {
  return { k: "r", key };
}

/**
 * Reference a library operation by its stable name.
 *
 * @example
 * ```ts
 * const getitem = opRef("dask.getitem");
 * ```
 */
export function opRef(name: string): FnRef {
  return { kind: "op", name };
}

/** Collect the keys an expression refers to into `out`. */
export function exprDeps(e: Expr, out: Set<Key>): void {
  switch (e.k) {
    case "v":
    case "f":
      return;
    case "r":
      out.add(e.key);
      return;
    case "a":
      for (const item of e.items) exprDeps(item, out);
      return;
    case "o":
      for (const [, item] of e.entries) exprDeps(item, out);
      return;
    case "t":
      for (const item of e.args) exprDeps(item, out);
      return;
  }
}

/**
 * The dependencies of a node that has none: one shared array rather than one
 * per task. Read-only by type; not frozen, because V8 iterates frozen arrays
 * on a slow path that allocates.
 */
export const NO_DEPS: readonly Key[] = [];

/**
 * Build a task node, computing its dependencies.
 *
 * @example
 * ```ts
 * const node = task(opRef("dask.getitem"), [ref("record"), lit("name")]);
 * ```
 */
export function task(fn: FnRef, args: readonly Expr[], options: { readonly transfer?: boolean } = {}): TaskNode {
  let deps: readonly Key[] = NO_DEPS;
  if (args.length !== 1 || args[0]!.k !== "v") {
    const set = new Set<Key>();
    for (const a of args) exprDeps(a, set);
    if (set.size > 0) deps = [...set];
  }
  return options.transfer === true ? { kind: "task", fn, args, deps, transfer: true } : { kind: "task", fn, args, deps };
}

// A graph's nodes and expressions all go when its computation is done: see shapes.ts.
keepShape(task(opRef("shape"), [lit(0), ref("")]));

/** The keys a node depends on. */
export function nodeDeps(node: GraphNode): readonly Key[] {
  if (node.kind === "task") return node.deps;
  if (node.kind === "alias") return [node.target];
  return NO_DEPS;
}

/** The nodes of `updated` in the insertion order of `original` (for passes that rewrite a copy). */
export function inOriginalOrder(original: Graph, updated: Graph): Graph {
  const ordered: Graph = new Map();
  for (const k of original.keys()) {
    const n = updated.get(k);
    if (n !== undefined) ordered.set(k, n);
  }
  return ordered;
}

/** True when some node satisfies `test` (a cheap scan before costlier passes). */
export function anyNode(graph: Graph, test: (node: GraphNode) => boolean): boolean {
  for (const n of graph.values()) if (test(n)) return true;
  return false;
}

/** Map each key to the keys that depend on it. */
export function dependents(graph: Graph): Map<Key, Key[]> {
  const out = new Map<Key, Key[]>();
  for (const key of graph.keys()) out.set(key, []);
  for (const [key, node] of graph) {
    for (const d of nodeDeps(node)) out.get(d)?.push(key);
  }
  return out;
}

/**
 * Check that every reference resolves (in the graph or in `external`, keys
 * already held elsewhere) and that there is no cycle.
 *
 * @throws MissingKeyError for a reference to nothing.
 * @throws CycleError for a cycle, naming its keys.
 *
 * @example
 * ```ts
 * validateGraph(graph); // throws MissingKeyError or CycleError
 * ```
 */
export function validateGraph(graph: Graph, external?: { has(key: Key): boolean }): void {
  for (const [key, node] of graph) {
    for (const d of nodeDeps(node)) {
      if (!graph.has(d) && !(external?.has(d) ?? false)) throw new MissingKeyError(d, key);
    }
  }
  // Iterative three-colour DFS: chains of a million tasks must not overflow the stack.
  const state = new Map<Key, 1 | 2>();
  for (const start of graph.keys()) {
    if (state.has(start)) continue;
    const stack: [Key, number][] = [[start, 0]];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const node = graph.get(top[0]);
      const deps = node === undefined ? [] : nodeDeps(node);
      if (top[1] < deps.length) {
        const d = deps[top[1]++]!;
        if (!graph.has(d)) continue;
        const s = state.get(d);
        if (s === 1) {
          const path = stack.map((f) => f[0]);
          throw new CycleError([...path.slice(path.indexOf(d)), d]);
        }
        if (s === undefined) {
          state.set(d, 1);
          stack.push([d, 0]);
        }
      } else {
        state.set(top[0], 2);
        stack.pop();
      }
    }
  }
}
