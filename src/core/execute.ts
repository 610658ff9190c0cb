/**
 * Running one task: find its function from the reference, evaluate the
 * argument expressions against the values of its dependencies, call it.
 * Shared by the `sync` scheduler and every worker, so all schedulers run a
 * task the same way.
 *
 * Resolved functions are cached: a graph of a million `inc` calls compiles or
 * imports `inc` once per thread. Module references are imported on first use,
 * from where the thread's {@link redirectModules} says (an uploaded module's
 * stored copy) or else from their specifier; a `.ts` module that fails to
 * load (worker threads do not inherit `node --import tsx`; Node's own type
 * stripping does not resolve like tsx) gets tsx's loader registered, found
 * from the module's own location, the working directory or dask-ts's own,
 * then one retry.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { getOp } from "./functions.js";
import { InvalidArgumentError, ModuleResolutionError } from "./errors.js";
import type { Expr, FnRef, Key, TaskNode } from "./graph.js";
import { ModuleRedirects } from "./module-redirects.js";

/** A resolved task function. */
export type TaskFunction = (...args: unknown[]) => unknown;

let byRefObject = new WeakMap<FnRef, TaskFunction>();
const byText = new Map<string, TaskFunction>();
const redirects = new ModuleRedirects();

/**
 * On this thread, load the modules under `from` (a module URL, or a
 * directory URL ending in `/`) from `to` instead — the copy of an uploaded
 * module. Functions already resolved from modules are looked up again, so a
 * new upload of a module is used from the next task on.
 *
 * @example
 * ```ts
 * redirectModules("file:///home/me/app/", "file:///tmp/dask-ts-worker-1-x/uploads/ab12/");
 * ```
 */
export function redirectModules(from: string, to: string): void {
  redirects.set(from, to);
  byRefObject = new WeakMap();
  for (const k of byText.keys()) if (k.startsWith("m:")) byText.delete(k);
}
const factories = new Map<string, (...values: unknown[]) => TaskFunction>();

// esbuild (used by tsx) writes `__name(fn, "name")` into function bodies; give rebuilt functions an equivalent.
const nameHelper = (fn: unknown, name: string): unknown => {
  try {
    Object.defineProperty(fn, "name", { value: name, configurable: true });
  } catch {
    // frozen or odd values: the name is cosmetic
  }
  return fn;
};

function compileSource(ref: Extract<FnRef, { kind: "source" }>): TaskFunction {
  const names = ref.captures === undefined ? [] : Object.keys(ref.captures);
  const cacheKey = names.length === 0 ? ref.source : `${names.join(",")}\u0000${ref.source}`;
  let factory = factories.get(cacheKey);
  if (factory === undefined) {
    // Bounded: a program that generates functions must not grow every worker forever.
    if (factories.size >= 10_000) factories.clear();
    // new Function, not eval: the source sees only globals and the names bound here.
    factory = new Function("__name", ...names, `"use strict";\nreturn (${ref.source});`) as (...values: unknown[]) => TaskFunction;
    factories.set(cacheKey, factory);
  }
  const values = names.map((n) => ref.captures![n]);
  return factory(nameHelper, ...values);
}

/** The global path each function made by `resolveGlobal` stands for (a method comes back bound, so not `===` the global). */
const resolvedGlobals = new WeakMap<object, string>();

/**
 * The path (`"JSON.parse"`) of the global method that `fn` was resolved
 * from by a `{ kind: "global" }` reference, or undefined. A method comes
 * back bound to its owner, so it is not `===` the global itself; kernels use
 * this to recognise library functions they can run faster.
 *
 * @example
 * ```ts
 * resolvedGlobalPath(resolveFunction({ kind: "global", path: "JSON.parse" })); // "JSON.parse"
 * resolvedGlobalPath(JSON.parse);                                                 // undefined
 * ```
 */
export function resolvedGlobalPath(fn: unknown): string | undefined {
  if (typeof fn !== "function") return undefined;
  return resolvedGlobals.get(fn);
}

function resolveGlobal(path: string): TaskFunction {
  let obj: unknown = globalThis;
  let owner: unknown = undefined;
  for (const part of path.split(".")) {
    owner = obj;
    obj = (obj as Record<string, unknown> | undefined)?.[part];
  }
  if (typeof obj !== "function") throw new InvalidArgumentError("fn", `Global function ${path} does not exist on this thread.`);
  // Keep `this` for methods such as JSON.parse that do not need it but must not break if they did.
  const fn = owner === globalThis ? (obj as TaskFunction) : (obj as TaskFunction).bind(owner);
  if (owner !== globalThis) resolvedGlobals.set(fn, path);
  return fn;
}

/**
 * The URL of tsx's ESM registration API, found from `base` like an import
 * from there would. (`require.resolve` would pick tsx's CommonJS build.)
 */
function resolveTsxEsmApi(base: string): string {
  const pkgPath = createRequire(base).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports?: Record<string, unknown> };
  const entry = pkg.exports?.["./esm/api"];
  const target =
    typeof entry === "string" ? entry : ((entry as { import?: { default?: string } | string } | undefined)?.import as { default?: string } | string | undefined);
  const rel = typeof target === "string" ? target : target?.default;
  if (rel === undefined) throw new Error("tsx has no ESM API export");
  return pathToFileURL(join(dirname(pkgPath), rel)).href;
}

/**
 * tsx's ESM API, found from the module's own location, else the working
 * directory, else dask-ts's own (an uploaded module's copy sits in a
 * directory with no packages of its own).
 */
function findTsxEsmApi(specifier: string): string | undefined {
  const bases = [pathToFileURL(join(process.cwd(), "/")).href, import.meta.url];
  if (specifier.startsWith("file:")) bases.unshift(specifier);
  for (const base of bases) {
    try {
      return resolveTsxEsmApi(base);
    } catch {
      // not installed there: try the next place
    }
  }
  return undefined;
}

let tsLoader: Promise<void> | undefined;
/** Register tsx's loader on this thread, once. */
function ensureTsLoader(specifier: string, cause: unknown): Promise<void> {
  tsLoader ??= (async () => {
    const api = findTsxEsmApi(specifier);
    if (api === undefined) {
      throw new ModuleResolutionError(
        specifier,
        "",
        "it is a TypeScript module and this thread has no TypeScript loader; install tsx (npm i -D tsx) or compile the module to JavaScript",
        cause,
      );
    }
    const mod = (await import(api)) as { register: () => unknown };
    mod.register();
  })();
  tsLoader.catch(() => (tsLoader = undefined));
  return tsLoader;
}

const LOADER_ERRORS = new Set([
  "ERR_UNKNOWN_FILE_EXTENSION",
  "ERR_MODULE_NOT_FOUND",
  "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX",
  "ERR_INVALID_TYPESCRIPT_SYNTAX",
  "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING",
]);

async function loadModule(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    // A TypeScript module this thread could not load: without a loader (Node 20), or with
    // Node's own type stripping, which lacks tsx's resolution (`./x.js` → `x.ts`). Use tsx.
    // Only failures before the module ran (loading, resolving, parsing): retrying one that
    // threw while evaluating would run its top-level code twice.
    if (!/\.[cm]?tsx?$/.test(specifier) || !(LOADER_ERRORS.has((err as { code?: string }).code ?? "") || err instanceof SyntaxError)) throw err;
    try {
      await ensureTsLoader(specifier, err);
    } catch (loaderErr) {
      throw (err as { code?: string }).code === "ERR_UNKNOWN_FILE_EXTENSION" ? loaderErr : err;
    }
    // Node caches the failed import under its URL: ask again under a fresh one. The failed
    // attempt never ran the module, so nothing runs twice.
    const sep = specifier.includes("?") ? "&" : "?";
    return (await import(`${specifier}${sep}dask-ts-loader=tsx`)) as Record<string, unknown>;
  }
}

// One import per module, however many tasks ask for it at once; keyed by where it is
// loaded from, so a module uploaded again (a new copy) is imported afresh.
const modules = new Map<string, Promise<Record<string, unknown>>>();
function importModule(specifier: string): Promise<Record<string, unknown>> {
  const target = redirects.resolve(specifier);
  let p = modules.get(target);
  if (p === undefined) {
    p = loadModule(target);
    modules.set(target, p);
    p.catch(() => modules.delete(target));
  }
  return p;
}

/**
 * Import a module as a task that uses it would (redirects and the
 * TypeScript loader included), so that a module that cannot load says so
 * now; rejects with the import's own error.
 *
 * @example
 * ```ts
 * await preloadModule("file:///home/me/app/tasks.js");
 * ```
 */
export async function preloadModule(specifier: string): Promise<void> {
  await importModule(specifier);
}

async function resolveModule(specifier: string, exportName: string): Promise<TaskFunction> {
  let ns: Record<string, unknown>;
  try {
    ns = await importModule(specifier);
  } catch (err) {
    if (err instanceof ModuleResolutionError) throw new ModuleResolutionError(specifier, exportName, err.message.replace(/^.*?: /, ""), err.cause);
    throw new ModuleResolutionError(specifier, exportName, `the import failed (${(err as Error).message})`, err);
  }
  const fn = ns[exportName] ?? (ns["default"] as Record<string, unknown> | undefined)?.[exportName];
  if (typeof fn !== "function") {
    throw new ModuleResolutionError(
      specifier,
      exportName,
      `the module has no exported function of that name. Export it (export function ${exportName} ...) under the name passed to registerModule.`,
    );
  }
  return fn as TaskFunction;
}

function textKey(ref: FnRef): string | undefined {
  switch (ref.kind) {
    case "op":
      return `op:${ref.name}`;
    case "module":
      return `m:${ref.specifier}#${ref.exportName}`;
    case "global":
      return `g:${ref.path}`;
    default:
      return undefined;
  }
}

/**
 * The function a reference names. Returns a Promise only the first time a
 * module reference is seen on this thread.
 */
export function resolveFunction(ref: FnRef): TaskFunction | Promise<TaskFunction> {
  const hit = byRefObject.get(ref);
  if (hit !== undefined) return hit;
  const tk = textKey(ref);
  if (tk !== undefined) {
    const cached = byText.get(tk);
    if (cached !== undefined) {
      byRefObject.set(ref, cached);
      return cached;
    }
  }
  let fn: TaskFunction;
  switch (ref.kind) {
    case "local":
      return ref.fn as TaskFunction;
    case "op": {
      const op = getOp(ref.name);
      if (op === undefined) throw new InvalidArgumentError("fn", `Unknown operation "${ref.name}". Is the module that defines it imported on this thread?`);
      fn = op as TaskFunction;
      break;
    }
    case "global":
      fn = resolveGlobal(ref.path);
      break;
    case "source":
      fn = compileSource(ref);
      break;
    case "module":
      return resolveModule(ref.specifier, ref.exportName).then((f) => {
        byText.set(tk!, f);
        byRefObject.set(ref, f);
        return f;
      });
  }
  if (tk !== undefined) byText.set(tk, fn);
  byRefObject.set(ref, fn);
  return fn;
}

/** Module references in a task, nested tasks included, that this thread has not imported yet (the list is made on the first). */
function collectUnresolved(fn: FnRef, args: readonly Expr[], out: Promise<unknown>[] | undefined): Promise<unknown>[] | undefined {
  if (fn.kind === "module" && !byRefObject.has(fn)) {
    const r = resolveFunction(fn);
    if (r instanceof Promise) (out ??= []).push(r);
  }
  for (const a of args) out = collectExpr(a, out);
  return out;
}
function collectExpr(e: Expr, out: Promise<unknown>[] | undefined): Promise<unknown>[] | undefined {
  if (e.k === "t") return collectUnresolved(e.fn, e.args, out);
  if (e.k === "f") return collectUnresolved(e.fn, [], out);
  if (e.k === "a") for (const i of e.items) out = collectExpr(i, out);
  else if (e.k === "o") for (const [, i] of e.entries) out = collectExpr(i, out);
  return out;
}

/** Import any modules a task needs; undefined (no Promise, no allocation) when there are none. */
export function prepareTask(node: TaskNode): Promise<unknown> | undefined {
  const pending = collectUnresolved(node.fn, node.args, undefined);
  return pending === undefined ? undefined : Promise.all(pending);
}

const failedKeys = new WeakMap<object, Key>();

/** The key of the fused (inner) call that threw `err`, when it was not the task itself. */
export function failedTaskKey(err: unknown): Key | undefined {
  return typeof err === "object" && err !== null ? failedKeys.get(err) : undefined;
}

/** Evaluate an argument expression; `get` returns the value of a dependency. */
export function evalExpr(e: Expr, get: (key: Key) => unknown): unknown {
  switch (e.k) {
    case "v":
      return e.v;
    case "r":
      return get(e.key);
    case "a":
      return e.items.map((i) => evalExpr(i, get));
    case "o": {
      const out: Record<string, unknown> = {};
      for (const [k, i] of e.entries) out[k] = evalExpr(i, get);
      return out;
    }
    case "t":
      if (e.key === undefined) return callTask(e.fn, e.args, get);
      try {
        return callTask(e.fn, e.args, get);
      } catch (err) {
        // Innermost first: a fused call that threw is named by its own key.
        if (typeof err === "object" && err !== null && !failedKeys.has(err)) failedKeys.set(err, e.key);
        throw err;
      }
    case "f": {
      const fn = resolveFunction(e.fn);
      if (fn instanceof Promise) throw new Error(`internal: module ${(e.fn as { specifier?: string }).specifier} was not prepared`);
      return fn;
    }
  }
}

/** True for Promises and other thenables (an async task's result). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

function callTask(ref: FnRef, args: readonly Expr[], get: (key: Key) => unknown): unknown {
  const fn = resolveFunction(ref);
  if (fn instanceof Promise) throw new Error(`internal: module ${(ref as { specifier?: string }).specifier} was not prepared`);
  if (args.length === 1) {
    const a = evalExpr(args[0]!, get);
    // A fused async step hands its Promise to the next step: wait for it instead.
    return args[0]!.k === "t" && isThenable(a) ? Promise.resolve(a).then((v) => fn(v)) : fn(a);
  }
  const values = args.map((a) => evalExpr(a, get));
  for (let i = 0; i < args.length; i++) {
    if (args[i]!.k === "t" && isThenable(values[i])) return Promise.all(values).then((vs) => fn(...vs));
  }
  return fn(...values);
}

/**
 * Run a task whose modules are prepared (see {@link prepareTask}). Returns the
 * function's result, which may be a Promise for async functions. A nested
 * task (from fusion) that returns a Promise is awaited when it is a direct
 * argument, which is the only place fusion puts one.
 */
export function runTask(node: TaskNode, get: (key: Key) => unknown): unknown {
  return callTask(node.fn, node.args, get);
}
