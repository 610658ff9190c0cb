// Every public export has a doc comment with an example, where it is declared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../../src/", import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

// name -> the doc comment right above its declaration (any file under src/)
const docs = new Map<string, string>();
for (const file of files(src)) {
  const text = readFileSync(file, "utf8");
  const re = /(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)\s*export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|class|const|let|interface|type|abstract class)\s+([A-Za-z_$][\w$]*)/g;
  for (const m of text.matchAll(re)) if (!docs.has(m[2]!)) docs.set(m[2]!, m[1]!);
}

const entries = ["index.ts", "distributed.ts", "diagnostics.ts"];
for (const entry of entries) {
  test(`every export of src/${entry} has a doc comment with an @example`, () => {
    const text = readFileSync(join(src, entry), "utf8");
    const names = [...text.matchAll(/export\s*(?:type\s*)?\{([^}]*)\}/g)].flatMap((m) =>
      m[1]!
        .split(",")
        .map((s) => s.trim().replace(/^type\s+/, ""))
        .filter(Boolean)
        .map((s) => s.split(/\s+as\s+/).pop()!),
    );
    assert.ok(names.length > 0);
    const missing = names.filter((n) => !(docs.get(n) ?? "").includes("@example"));
    assert.deepEqual(missing, [], `exports without an @example in their doc comment: ${missing.join(", ")}`);
  });
}
