// registerModule with a package name: workers import the package by its specifier.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "acorn";
import { delayed, registerModule } from "../../src/index.js";
import { LocalCluster } from "../../src/distributed.js";

let cluster: LocalCluster;
before(async () => {
  cluster = await LocalCluster.start({ workers: 1 });
});
after(() => cluster.close());

test("a function of an installed package, registered by package name, runs on a worker", async () => {
  registerModule("acorn", { parse });
  const ast = delayed(parse);
  assert.deepEqual(ast.fnRef, { kind: "module", specifier: "acorn", exportName: "parse" });
  const program = await ast("const answer = 6 * 7", { ecmaVersion: 2022 }).compute({ scheduler: cluster });
  const body = (program as unknown as { type: string; body: { type: string }[] });
  assert.equal(body.type, "Program");
  assert.equal(body.body[0]!.type, "VariableDeclaration");
});
