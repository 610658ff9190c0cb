// The README's quick-start snippets run as written (through tsx, importing
// the package by its own name, as a user would).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(new URL("README.md", `file://${root}`), "utf8");
const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 5));
const blocks = [...quickStart.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

test("the quick start has runnable snippets", () => {
  assert.ok(blocks.length >= 2, "expected at least two ts blocks under Quick start");
});

blocks.forEach((code, i) => {
  test(`README quick-start snippet ${i + 1} runs`, () => {
    // Inside the package directory, so `import "dask-ts"` resolves to this package.
    const dir = new URL("dist/readme-snippets/", `file://${root}`);
    mkdirSync(dir, { recursive: true });
    const file = fileURLToPath(new URL(`snippet-${i + 1}.ts`, dir));
    writeFileSync(file, code);
    const r = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: root, encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 0, `snippet ${i + 1} failed:\n${r.stderr}`);
    if (i === 0) assert.equal(r.stdout, "5\n");
    else assert.match(r.stdout, /best: \d+(\.\d+)?, mean: \d+(\.\d+)?/);
  });
});
