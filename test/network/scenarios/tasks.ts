/**
 * Task functions and helpers shared by the scenario tests. The functions
 * are self-contained (they use only their arguments), so they travel to
 * worker processes as source text; tasks that must signal the test do it
 * through files in a scratch directory, since they run in other processes.
 */
import { after, before } from "node:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const inc = (x: number): number => x + 1;
export const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export const slowInc = async (x: number, ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return x + 1;
};

export const slowAdd = async (a: number, b: number, ms: number): Promise<number> => {
  await new Promise((r) => setTimeout(r, ms));
  return a + b;
};

/** For `client.run`: the worker process with this pid exits at once (Python's `os._exit`). */
export const exitIfPid = (pid: number): number => {
  if (process.pid === pid) process.exit(1);
  return process.pid;
};

/** For `client.run`: the worker process with this pid blocks its event loop for `ms` (it answers nobody meanwhile). */
export const blockIfPid = (pid: number, ms: number): number => {
  if (process.pid === pid) {
    const end = Date.now() + ms;
    while (Date.now() < end);
  }
  return process.pid;
};

/** Appends `tag` to the file `log`, waits `ms`, returns x: a task the test can see run. */
export const logged = async (x: number, tag: string, log: string, ms: number): Promise<number> => {
  (await import("node:fs")).appendFileSync(log, `${tag}\n`);
  await new Promise((r) => setTimeout(r, ms));
  return x;
};

/** The lines tasks wrote to `file` so far. */
export const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : []);

/** A temporary directory for this test file, removed after it; call at the top level. Returns `path(name)` inside it. */
export function scratchDir(prefix: string): (name: string) => string {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), `dask-ts-${prefix}-`));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return (name) => join(dir, name);
}
