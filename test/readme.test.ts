// The README's quick-start snippets run as written (through tsx, importing
// the package by its own name, as a user would).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CliProcess, killAll } from "./helpers/cli.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(new URL("README.md", `file://${root}`), "utf8");
function section(title: string): string {
  const start = readme.indexOf(`## ${title}`);
  assert.ok(start >= 0, `README has a "${title}" section`);
  return readme.slice(start, readme.indexOf("\n## ", start + 5));
}
const blocks = [...section("Quick start").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const bagBlocks = [...section("Bags").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test("the quick start has runnable snippets", () => {
  assert.ok(blocks.length >= 2, "expected at least two ts blocks under Quick start");
});

/** Run a snippet as a user would: a .ts file inside the package directory, so `import "dask-ts"` resolves here. */
function runSnippet(name: string, code: string): string {
  const dir = new URL("dist/readme-snippets/", `file://${root}`);
  mkdirSync(dir, { recursive: true });
  const file = fileURLToPath(new URL(`${name}.ts`, dir));
  writeFileSync(file, code);
  const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `${name} failed:\n${r.stderr}`);
  return r.stdout;
}

blocks.forEach((code, i) => {
  test(`README quick-start snippet ${i + 1} runs`, () => {
    const out = runSnippet(`snippet-${i + 1}`, code);
    if (i === 0) assert.equal(out, "5\n");
    else assert.match(out, /best: \d+(\.\d+)?, mean: \d+(\.\d+)?/);
  });
});

test("README bag snippet runs and prints what its comment says", () => {
  assert.equal(bagBlocks.length, 1);
  assert.equal(runSnippet("bag", bagBlocks[0]!), "180 7\n");
});

test("README network-cluster snippet runs against a scheduler and a worker started with the commands it shows", async () => {
  const [code] = [...section("Network cluster").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(code !== undefined && code.includes("tcp://HOST:8786"));
  const scheduler = new CliProcess(["scheduler", "--port", "0"]);
  try {
    const address = (await scheduler.line(/^scheduler at (tcp:\/\/\S+)$/))[1]!;
    const worker = new CliProcess(["worker", address]);
    await worker.line(/^worker .* at tcp:/);
    assert.equal(runSnippet("network", code.replaceAll("tcp://HOST:8786", address)), "2\n[ 2, 3, 4 ]\n");
  } finally {
    killAll();
  }
});
