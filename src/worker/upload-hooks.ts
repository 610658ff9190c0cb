/**
 * Module resolution hooks for uploaded modules, registered with
 * `module.register` on each thread that imports them (see `uploads.ts`).
 *
 * An uploaded module is stored in the worker's local directory, where there
 * is no `node_modules`, so a bare import in it (`"acorn"`, `"dask-ts"`)
 * would find nothing. These hooks resolve such an import as if it were made
 * from the worker's working directory — where `dask-ts worker` was started,
 * next to the project's packages — and, failing that, from dask-ts's own
 * location. `dask-ts` itself is looked up beside dask-ts first, so an
 * uploaded module shares the worker's copy of the library. Relative imports
 * between uploaded files, `#` imports, `node:` builtins and URLs resolve as
 * usual, and nothing outside the uploads directory is touched.
 *
 * @example
 * ```ts
 * register(new URL("./upload-hooks.js", import.meta.url), { data: { root: "file:///tmp/dask-ts-worker-h-1-x/uploads/", cwd: "file:///srv/app/" } });
 * ```
 * @module
 */
import type { InitializeHook, ResolveHook } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * What the hooks are registered with: the uploads directory and the worker's
 * working directory, as URLs ending in `/`.
 *
 * @example
 * ```ts
 * const data: UploadHookData = { root: "file:///tmp/dask-ts-worker-h-1-x/uploads/", cwd: "file:///srv/app/" };
 * ```
 */
export interface UploadHookData {
  readonly root: string;
  readonly cwd: string;
}

let data: UploadHookData | undefined;

/**
 * Take the directories from `module.register`'s `data`.
 *
 * @example
 * ```ts
 * initialize({ root: "file:///tmp/w/uploads/", cwd: "file:///srv/app/" });
 * ```
 */
export const initialize: InitializeHook<UploadHookData> = (d) => {
  data = d;
};

/** A package name (with or without a subpath): not relative, absolute, `#`-prefixed or a URL. */
const BARE = /^(?![./#]|[a-zA-Z][a-zA-Z\d+.-]*:)/;

/**
 * Resolve bare imports of uploaded modules from the working directory, then
 * from dask-ts's own location; leave everything else to the next hook.
 *
 * @example
 * ```ts
 * // import "acorn" in file:///tmp/w/uploads/ab12/tasks.js resolves as if imported from file:///srv/app/
 * ```
 */
export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const parent = context.parentURL;
  if (data === undefined || parent === undefined || !parent.startsWith(data.root) || !BARE.test(specifier)) return nextResolve(specifier, context);
  const library = import.meta.url;
  const bases = specifier === "dask-ts" || specifier.startsWith("dask-ts/") ? [library, data.cwd] : [data.cwd, library];
  for (const base of bases) {
    try {
      return await nextResolve(specifier, { ...context, parentURL: base });
    } catch (err) {
      if ((err as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    }
  }
  const err = new Error(
    `Cannot find package '${specifier}' imported from ${fileURLToPath(parent)} (an uploaded module). ` +
      `Uploaded modules import the packages installed where the worker runs: install it in the worker's working directory (${fileURLToPath(data.cwd)}) or beside dask-ts.`,
  );
  throw Object.assign(err, { code: "ERR_MODULE_NOT_FOUND" });
};
