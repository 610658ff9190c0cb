// The dask-ts command: help, version, a subcommand, and clear usage errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 });
const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string; bin: Record<string, string> };

test("--help lists the commands and exits 0", () => {
  const r = run("--help");
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Usage: dask-ts <command>/);
  assert.match(r.stdout, /info/);
});

test("no arguments prints usage and exits 2", () => {
  const r = run();
  assert.equal(r.status, 2);
  assert.match(r.stdout, /Usage:/);
});

test("--version prints the package version", () => {
  const r = run("--version");
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), pkg.version);
  assert.equal(pkg.bin["dask-ts"], "./dist/src/cli/main.js");
});

test("info --json reports cores and versions", () => {
  const r = run("info", "--json");
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { node: string; cores: number; daskTs: string };
  assert.equal(info.node, process.versions.node);
  assert.ok(info.cores >= 1);
  assert.equal(info.daskTs, pkg.version);
});

test("an unknown command and an unknown flag are usage errors (exit 2) with a pointer to --help", () => {
  const a = run("frobnicate");
  assert.equal(a.status, 2);
  assert.match(a.stderr, /unknown command "frobnicate".*--help/);
  const b = run("info", "--bogus");
  assert.equal(b.status, 2);
  assert.match(b.stderr, /unknown flag --bogus/);
  assert.match(b.stderr, /dask-ts info --help/);
});
