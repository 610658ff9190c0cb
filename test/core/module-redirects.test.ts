// Where module references load from once modules are uploaded: the newest
// redirect covering a URL wins; queries stay; other specifiers are untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ModuleRedirects } from "../../src/core/module-redirects.js";

test("a module's redirect, and a directory's for everything under it", () => {
  const r = new ModuleRedirects();
  r.set("file:///app/tasks.js", "file:///w/aa/tasks.js");
  r.set("file:///lib/", "file:///w/bb/");
  assert.equal(r.resolve("file:///app/tasks.js"), "file:///w/aa/tasks.js");
  assert.equal(r.resolve("file:///app/tasks.js?v=1"), "file:///w/aa/tasks.js?v=1");
  assert.equal(r.resolve("file:///app/tasks.jsx"), "file:///app/tasks.jsx");
  assert.equal(r.resolve("file:///lib/a/b.js#x"), "file:///w/bb/a/b.js#x");
  assert.equal(r.resolve("file:///library/b.js"), "file:///library/b.js");
  assert.equal(r.resolve("lodash-es"), "lodash-es");
});

test("the newest redirect covering a URL wins; setting a `from` again replaces it", () => {
  const r = new ModuleRedirects();
  r.set("file:///app/tasks.js", "file:///w/aa/tasks.js");
  r.set("file:///app/", "file:///w/bb/");
  assert.equal(r.resolve("file:///app/tasks.js"), "file:///w/bb/tasks.js");
  r.set("file:///app/tasks.js", "file:///w/cc/tasks.js");
  assert.equal(r.resolve("file:///app/tasks.js"), "file:///w/cc/tasks.js");
  assert.equal(r.resolve("file:///app/other.js"), "file:///w/bb/other.js");
});
