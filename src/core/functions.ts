/**
 * Functions travel by reference (DESIGN principle 3). Given a live function,
 * {@link fnRefOf} decides how another thread or machine will find it, in this
 * order:
 *
 * 1. a library operation registered with {@link defineOp}, by stable name;
 * 2. an export of a module, declared with {@link registerModule};
 * 3. a well-known global such as `JSON.parse` or `Math.sqrt`, by path;
 * 4. its source text, if it reads nothing from its enclosing scope except the
 *    values bound explicitly as `captures`.
 *
 * Anything else (a closure, a bound or native function) becomes a `local`
 * reference that records why it cannot travel. Only the `sync` scheduler runs
 * those; every other scheduler calls {@link assertShippable} before anything
 * runs, so the user gets a {@link ClosureError} naming the variables instead
 * of a `ReferenceError` deep inside a worker.
 *
 * @example
 * ```ts
 * import { registerModule, delayed } from "dask-ts";
 * import { parse } from "./lib.js";
 * export function score(line: string) { return parse(line).length; }
 * registerModule(import.meta.url, { score }); // workers import this module to find `score`
 * ```
 * @module
 */
import { analyzeFunctionSource } from "./free-variables.js";
import { ClosureError, FunctionNotShippableError, InvalidArgumentError } from "./errors.js";
import type { Expr, FnRef, Graph } from "./graph.js";

// Any function type; `never[]` parameters accept every signature without `any`.
type AnyFn = (...args: never[]) => unknown;

const opsByName = new Map<string, AnyFn>();
const opNames = new WeakMap<AnyFn, string>();
const cheapOps = new Set<string>();

/**
 * Register a library operation under a stable name, so workers find it by
 * name. Names are namespaced (`"dask.add"`, `"bag.map"`). `cheap` marks
 * operations that optimization may inline into their dependents.
 *
 * @example
 * ```ts
 * export const clamp01 = defineOp("mylib.clamp01", (x: number) => Math.min(1, Math.max(0, x)), { cheap: true });
 * ```
 */
export function defineOp<F extends AnyFn>(name: string, fn: F, options: OpOptions = {}): F {
  const existing = opsByName.get(name);
  if (existing !== undefined && existing !== fn) {
    throw new InvalidArgumentError("name", `Operation "${name}" is already defined. Choose another name.`);
  }
  opsByName.set(name, fn);
  opNames.set(fn, name);
  if (options.cheap === true) cheapOps.add(name);
  if (options.fuse !== undefined) fuseRules.set(name, options.fuse);
  return fn;
}

/**
 * Options of {@link defineOp}.
 *
 * @example
 * ```ts
 * const opts: OpOptions = { cheap: true };
 * ```
 */
export interface OpOptions {
  /** Optimization may inline the operation into its dependents. */
  readonly cheap?: boolean;
  /**
   * A rewrite applied when linear-chain fusion puts a call of another task
   * inside a call of this operation: given the fused arguments (the inner
   * call appears as a nested `t` expression), return simpler arguments that
   * do the same work — for instance one pipeline instead of two nested ones —
   * or `undefined` to keep the nesting.
   */
  readonly fuse?: (args: readonly Expr[]) => readonly Expr[] | undefined;
}

const fuseRules = new Map<string, NonNullable<OpOptions["fuse"]>>();

/** The fusion rewrite registered for an operation, if any. */
export function getFuseRule(name: string): OpOptions["fuse"] {
  return fuseRules.get(name);
}

/** The function registered under an operation name, if any. */
export function getOp(name: string): AnyFn | undefined {
  return opsByName.get(name);
}

/** True for operations registered as cheap (candidates for inlining). */
export function isCheapOp(name: string): boolean {
  return cheapOps.has(name);
}

const moduleRefs = new WeakMap<AnyFn, { specifier: string; exportName: string }>();

/**
 * Declare that the given functions are exports of a module, so workers load
 * them by importing that module. Call it in the module that exports them,
 * with `import.meta.url` — or with a package specifier for functions of an
 * installed package. The functions may use the module's imports and any
 * module-level state; they are looked up by the property names given here,
 * which must match the export names.
 *
 * Works for TypeScript modules when the program runs under a TS loader such
 * as `tsx`: workers load the same loader for `.ts` files.
 *
 * @example
 * ```ts
 * // tasks.ts
 * import { registerModule } from "dask-ts";
 * import { createHash } from "node:crypto";
 * export function digest(s: string) { return createHash("sha1").update(s).digest("hex"); }
 * registerModule(import.meta.url, { digest });
 * ```
 */
export function registerModule(specifier: string | URL, exports: Readonly<Record<string, AnyFn>>): void {
  const spec = String(specifier);
  if (spec.length === 0) throw new InvalidArgumentError("specifier", "registerModule needs a module URL (import.meta.url) or a package name.");
  for (const [exportName, fn] of Object.entries(exports)) {
    if (typeof fn !== "function") {
      throw new InvalidArgumentError("exports", `registerModule: "${exportName}" is not a function (got ${typeof fn}).`);
    }
    moduleRefs.set(fn, { specifier: spec, exportName });
    refCache.delete(fn);
  }
}

// Globals a shipped function may read freely: everything the global object
// has on this thread (workers see the same built-ins), plus what the language
// binds implicitly.
let allowedGlobals: Set<string> | undefined;
function isAllowedGlobal(name: string): boolean {
  if (allowedGlobals === undefined) {
    allowedGlobals = new Set(Object.getOwnPropertyNames(globalThis));
    for (const n of ["undefined", "NaN", "Infinity", "arguments", "globalThis"]) allowedGlobals.add(n);
  }
  return allowedGlobals.has(name);
}

// Helpers that TypeScript tooling (esbuild's keepNames, as used by tsx) writes
// into function bodies; the worker supplies equivalents when it rebuilds a function.
const TOOLING_HELPERS = new Set(["__name"]);

let globalPaths: Map<AnyFn, string> | undefined;
const GLOBAL_NAMESPACES = ["Math", "JSON", "Number", "String", "Object", "Array", "Date", "BigInt", "Reflect", "Symbol", "Promise", "Atomics"] as const;
function globalPathOf(fn: AnyFn): string | undefined {
  if (globalPaths === undefined) {
    globalPaths = new Map();
    const g = globalThis as unknown as Record<string, unknown>;
    for (const ns of GLOBAL_NAMESPACES) {
      const obj = g[ns];
      if (obj === undefined || obj === null) continue;
      for (const prop of Object.getOwnPropertyNames(obj)) {
        const desc = Object.getOwnPropertyDescriptor(obj, prop);
        if (desc !== undefined && typeof desc.value === "function" && !globalPaths.has(desc.value as AnyFn)) {
          globalPaths.set(desc.value as AnyFn, `${ns}.${prop}`);
        }
      }
    }
    for (const name of Object.getOwnPropertyNames(globalThis)) {
      const desc = Object.getOwnPropertyDescriptor(globalThis, name);
      if (desc !== undefined && typeof desc.value === "function" && !globalPaths.has(desc.value as AnyFn)) {
        globalPaths.set(desc.value as AnyFn, name);
      }
    }
  }
  return globalPaths.get(fn);
}

function nameOf(fn: AnyFn): string {
  return fn.name === "" ? "<anonymous>" : fn.name;
}

const refCache = new WeakMap<AnyFn, FnRef>();

/**
 * How another thread will find `fn` (see the module comment for the order of
 * preference). With `captures`, the function's source is shipped with those
 * values bound to the names it reads.
 *
 * @example
 * ```ts
 * fnRefOf(Math.sqrt);                                  // { kind: "global", path: "Math.sqrt" }
 * fnRefOf((x: number) => x * k, { k: 3 });             // { kind: "source", captures: { k: 3 }, ... }
 * ```
 */
export function fnRefOf(fn: AnyFn, captures?: Readonly<Record<string, unknown>>): FnRef {
  if (typeof fn !== "function") throw new InvalidArgumentError("fn", `Expected a function, got ${typeof fn}.`);
  if (captures === undefined) {
    const cached = refCache.get(fn);
    if (cached !== undefined) return cached;
  }
  const ref = computeRef(fn, captures);
  if (captures === undefined) refCache.set(fn, ref);
  return ref;
}

function computeRef(fn: AnyFn, captures: Readonly<Record<string, unknown>> | undefined): FnRef {
  if (captures === undefined) {
    const op = opNames.get(fn);
    if (op !== undefined) return { kind: "op", name: op };
    const mod = moduleRefs.get(fn);
    if (mod !== undefined) return { kind: "module", specifier: mod.specifier, exportName: mod.exportName };
    const path = globalPathOf(fn);
    if (path !== undefined) return { kind: "global", path };
  }
  const name = nameOf(fn);
  const analysed = analyzeFunctionSource(Function.prototype.toString.call(fn));
  if (analysed === undefined) {
    return { kind: "local", fn, name, freeVariables: [], reason: "it is a bound or native function with no source text" };
  }
  const bound = captures === undefined ? undefined : new Set(Object.keys(captures));
  const free = analysed.freeVariables.filter((v) => !(bound?.has(v) ?? false) && !isAllowedGlobal(v) && !TOOLING_HELPERS.has(v));
  if (free.length > 0) return { kind: "local", fn, name, freeVariables: free };
  return captures === undefined ? { kind: "source", source: analysed.expression, name } : { kind: "source", source: analysed.expression, name, captures };
}

/**
 * Throw if a function reference cannot leave this thread.
 *
 * @throws ClosureError naming the outer variables a closure reads.
 * @throws FunctionNotShippableError for bound or native functions.
 */
export function assertRefShippable(ref: FnRef): void {
  if (ref.kind !== "local") return;
  if (ref.reason !== undefined) throw new FunctionNotShippableError(ref.name, ref.reason);
  throw new ClosureError(ref.name, ref.freeVariables);
}

function assertExprShippable(e: Expr): void {
  switch (e.k) {
    case "a":
      for (const i of e.items) assertExprShippable(i);
      return;
    case "o":
      for (const [, i] of e.entries) assertExprShippable(i);
      return;
    case "t":
      assertRefShippable(e.fn);
      for (const i of e.args) assertExprShippable(i);
      return;
    case "f":
      assertRefShippable(e.fn);
      return;
    default:
      return;
  }
}

/**
 * Check every function in a graph before a scheduler ships it.
 *
 * @example
 * ```ts
 * assertShippable(graph); // throws ClosureError if any task is a closure
 * ```
 */
export function assertShippable(graph: Graph): void {
  for (const node of graph.values()) {
    if (node.kind !== "task") continue;
    assertRefShippable(node.fn);
    for (const a of node.args) assertExprShippable(a);
  }
}

/** A short, human name for a function reference (used in keys and diagrams). */
export function fnRefName(ref: FnRef): string {
  switch (ref.kind) {
    case "op":
      return ref.name.slice(ref.name.lastIndexOf(".") + 1);
    case "module":
      return ref.exportName;
    case "global":
      return ref.path.slice(ref.path.lastIndexOf(".") + 1);
    case "source":
    case "local":
      return ref.name === "<anonymous>" || ref.name === "" ? "lambda" : ref.name;
  }
}
