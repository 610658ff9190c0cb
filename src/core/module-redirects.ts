/**
 * Where a module is loaded from when it is not where its reference says.
 *
 * A module uploaded through the client (`client.uploadModule`) is stored on
 * each worker under a URL of its own, while tasks still name it by the URL
 * `registerModule(import.meta.url, ...)` recorded on the client. A redirect
 * maps that original URL — a module's, or a directory's (ending in `/`) for
 * every module under it — to the stored copy. The newest redirect that
 * covers a URL wins: uploading again stores a new copy under a new
 * (content-hashed) URL, which takes over from the old one.
 *
 * @example
 * ```ts
 * const redirects = new ModuleRedirects();
 * redirects.set("file:///home/me/app/", "file:///tmp/w/ab12/");
 * redirects.resolve("file:///home/me/app/lib/tasks.js"); // "file:///tmp/w/ab12/lib/tasks.js"
 * ```
 * @module
 */

/**
 * A list of redirects, newest last.
 *
 * @example
 * ```ts
 * const r = new ModuleRedirects();
 * r.set("file:///app/tasks.js", "file:///tmp/w/cd34/tasks.js");
 * r.resolve("file:///app/tasks.js"); // "file:///tmp/w/cd34/tasks.js"
 * ```
 */
export class ModuleRedirects {
  private entries: { readonly from: string; readonly to: string }[] = [];

  /** Load what is under `from` from `to`, replacing an earlier redirect of the same `from`. */
  set(from: string, to: string): void {
    this.entries = this.entries.filter((e) => e.from !== from);
    this.entries.push({ from, to });
  }

  /** Where to load `specifier` from: itself, unless a redirect covers it. */
  resolve(specifier: string): string {
    if (this.entries.length === 0 || !specifier.startsWith("file:")) return specifier;
    // A query or hash stays on the redirected URL; only the path before it is matched.
    const cut = specifier.search(/[?#]/);
    const path = cut < 0 ? specifier : specifier.slice(0, cut);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const { from, to } = this.entries[i]!;
      if (path === from || (from.endsWith("/") && path.startsWith(from))) return to + specifier.slice(from.length);
    }
    return specifier;
  }
}
