// Runs every compiled test file with node's own test runner. The files are
// listed explicitly because `node --test <directory>` only searches the
// directory on Node 20; Node 22 and later take the argument as one file.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = process.argv[2] ?? "dist/test";
const files = readdirSync(root, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".test.js"))
  .map((f) => join(root, f))
  .sort();
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
