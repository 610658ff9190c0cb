// Whatever flags the user's program was started with, worker threads start:
// V8 flags (which workers refuse) are dropped, and main-script flags (-e,
// --input-type) are not passed on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const index = new URL("../../src/index.js", import.meta.url).href;
const program = `import { delayed } from ${JSON.stringify(index)}; console.log(await delayed((x) => x * 2)(21).compute());`;
const run = (flags: string[]) =>
  spawnSync(process.execPath, [...flags, "--input-type=module", "-e", program], { encoding: "utf8", timeout: 60_000, cwd: fileURLToPath(new URL("../../../", import.meta.url)) });

test("V8 flags on the command line do not stop worker threads (-e program)", () => {
  const r = run(["--max-old-space-size=2048", "--max-semi-space-size=16"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "42\n");
});

test("a program run with only main-script flags computes on worker threads", () => {
  const r = run([]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "42\n");
});
