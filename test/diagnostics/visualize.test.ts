import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { toDot, visualizeGraph } from "../../src/diagnostics/visualize.js";
import { lit, opRef, ref, task, type FnRef, type Graph, type GraphNode } from "../../src/core/graph.js";
import { VisualizeError } from "../../src/core/errors.js";

const TOKEN_A = "0123456789abcdef0123456789abcdef";
const TOKEN_B = "fedcba9876543210fedcba9876543210";
const incFn: FnRef = { kind: "module", specifier: "file:///x.js", exportName: "inc" };
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** x (literal) → inc → add(x, inc) → alias `result`. */
function sampleGraph(): Graph {
  return new Map<string, GraphNode>([
    ["x", { kind: "literal", value: 1 }],
    [`inc-${TOKEN_A}`, task(incFn, [ref("x")])],
    [`add-${TOKEN_B}`, task(opRef("dask.add"), [ref("x"), ref(`inc-${TOKEN_A}`), lit(10)])],
    ["result", { kind: "alias", target: `add-${TOKEN_B}` }],
  ]);
}

/** Every `label="…"` value, in order. */
function labels(dot: string): string[] {
  return [...dot.matchAll(/label="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
}

function count(text: string, re: RegExp): number {
  return [...text.matchAll(re)].length;
}

function assertVisualizeError(pattern: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof VisualizeError, `expected a VisualizeError, got ${String(err)}`);
    assert.equal(err.code, "DASK_ERR_VISUALIZE");
    assert.match(err.message, pattern);
    return true;
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "dask-ts-viz-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("toDot draws tasks as ellipses, keys as boxes, and strips hash tokens from labels", () => {
  const dot = toDot(sampleGraph());
  assert.match(dot, /^digraph dask \{\n/);
  assert.match(dot, /\}\n$/);
  assert.match(dot, /rankdir="BT"/);
  // 4 keys → 4 boxes; 2 tasks → 2 ellipses.
  assert.equal(count(dot, /shape="box"/g), 4);
  assert.equal(count(dot, /shape="ellipse"/g), 2);
  assert.deepEqual(labels(dot).sort(), ["add", "dask.add", "inc", "inc", "result", "x"]);
  assert.ok(!labels(dot).some((l) => l.includes(TOKEN_A) || l.includes(TOKEN_B)), "labels keep no token");
  // Full keys survive as tooltips.
  assert.ok(dot.includes(`tooltip="inc-${TOKEN_A}"`));
  // inc: x→f, f→k (2); add: x→f, inc→f, f→k (3); alias: add→result (1).
  assert.equal(count(dot, /->/g), 6);
});

test("toDot edges run dependency box → task → output box", () => {
  const graph: Graph = new Map<string, GraphNode>([
    ["a", { kind: "literal", value: 1 }],
    ["b", task(opRef("dask.neg"), [ref("a")])],
  ]);
  const dot = toDot(graph);
  // Keys get ids in graph order: a = k0, b = k1; b's task is f1.
  assert.match(dot, /k0 \[shape="box", label="a"/);
  assert.match(dot, /f1 \[shape="ellipse", label="dask.neg"/);
  assert.deepEqual([...dot.matchAll(/^ {2}(\w+) -> (\w+);$/gm)].map((m) => `${m[1]}>${m[2]}`), ["k0>f1", "f1>k1"]);
});

test("toDot labels each kind of function reference", () => {
  const graph: Graph = new Map<string, GraphNode>([
    ["g", task({ kind: "global", path: "JSON.parse" }, [lit("1")])],
    ["s", task({ kind: "source", source: "function double(x) { return 2 * x; }", name: "double" }, [ref("g")])],
    ["l", task({ kind: "local", fn: () => 1, name: "", freeVariables: [] }, [])],
    ["d", task({ kind: "module", specifier: "file:///srv/lib/helpers.mjs", exportName: "default" }, [ref("s")])],
    ["m", task(incFn, [ref("d")])],
  ]);
  const ellipses = [...toDot(graph).matchAll(/shape="ellipse", label="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(ellipses, ["JSON.parse", "double", "lambda", "helpers.default", "inc"]);
});

test("toDot escapes quotes, backslashes, newlines, ampersands and control characters", () => {
  const key = 'say "hi"\\path\nnext & \u0007';
  const graph: Graph = new Map<string, GraphNode>([[key, { kind: "literal", value: 0 }]]);
  const dot = toDot(graph);
  assert.ok(dot.includes(String.raw`label="say \"hi\"\\path\nnext &amp; \\x07"`), dot);
  // The key never appears raw, and node ids are plain indices.
  assert.ok(!dot.includes(key));
  for (const line of dot.split("\n").filter((l) => l.includes("shape="))) assert.match(line, /^ {2}[kf]\d+ \[/);
});

test("toDot is deterministic and marks keys missing from the graph as dashed boxes", () => {
  const graph: Graph = new Map<string, GraphNode>([["y", task(opRef("dask.inc"), [ref("held-elsewhere")])]]);
  const dot = toDot(graph);
  assert.equal(dot, toDot(new Map<string, GraphNode>([["y", task(opRef("dask.inc"), [ref("held-elsewhere")])]])));
  assert.match(dot, /k1 \[shape="box", style="dashed", label="held-elsewhere"/);
  assert.match(dot, /k1 -> f0;/);
});

test("toDot shortens very long labels but keeps the full key as tooltip", () => {
  const key = "x".repeat(100);
  const dot = toDot(new Map<string, GraphNode>([[key, { kind: "literal", value: 0 }]]));
  assert.deepEqual(labels(dot), [`${"x".repeat(37)}...`]);
  assert.ok(dot.includes(`tooltip="${key}"`));
});

test("toDot honours rankdir and rejects unknown ones", () => {
  assert.match(toDot(sampleGraph(), { rankdir: "LR" }), /rankdir="LR"/);
  assert.throws(() => toDot(sampleGraph(), { rankdir: "XY" as "LR" }), assertVisualizeError(/"TB", "BT", "LR" or "RL"/));
});

test("toDot fills coloured keys and their tasks with CSS colours converted for Graphviz", () => {
  const color = new Map([
    [`inc-${TOKEN_A}`, "tomato"],
    ["x", "#abc"],
    ["result", "rgb(0, 128, 255, 50%)"],
    ["not-in-graph", "also not a colour, but ignored"],
  ]);
  const dot = toDot(sampleGraph(), { color });
  assert.equal(count(dot, /fillcolor="#ff6347"/g), 2, "box and ellipse of inc");
  assert.equal(count(dot, /fillcolor="#aabbcc"/g), 1);
  assert.equal(count(dot, /fillcolor="#0080ff80"/g), 1);
  assert.equal(count(dot, /style="filled"/g), 4);
  assert.match(toDot(sampleGraph(), { color: new Map([["x", "hsl(120, 100%, 25%)"]]) }), /fillcolor="#008000"/);
  assert.throws(
    () => toDot(sampleGraph(), { color: new Map([["x", "blurple"]]) }),
    assertVisualizeError(/"blurple" given for key "x" is not a CSS colour/),
  );
});

test("visualizeGraph without filename or format returns DOT only", async () => {
  const result = await visualizeGraph(sampleGraph());
  assert.equal(result.dot, toDot(sampleGraph()));
  assert.equal(result.svg, undefined);
  assert.equal(result.png, undefined);
  assert.equal(result.filename, undefined);
});

test("visualizeGraph renders SVG with the labels", async () => {
  const { svg } = await visualizeGraph(sampleGraph(), { format: "svg" });
  assert.ok(svg !== undefined);
  assert.ok(svg.startsWith("<svg") || svg.startsWith("<?xml"), svg.slice(0, 80));
  for (const label of [">x<", ">inc<", ">dask.add<", ">add<", ">result<"]) {
    assert.ok(svg.includes(label), `SVG contains ${label}`);
  }
  assert.equal(count(svg, /class="edge"/g), 6);
  assert.ok(svg.includes('font-family="DejaVu Sans,Verdana,Bitstream Vera Sans,sans-serif"'));
});

test("visualizeGraph renders escaped labels literally in SVG", async () => {
  const graph: Graph = new Map<string, GraphNode>([['a "quoted" \\ key & <tag>', { kind: "literal", value: 0 }]]);
  const { svg } = await visualizeGraph(graph, { format: "svg" });
  assert.ok(svg!.includes(">a &quot;quoted&quot; \\ key &amp; &lt;tag&gt;<"), svg);
});

test("visualizeGraph renders PNG", async () => {
  const { png, svg } = await visualizeGraph(sampleGraph(), { format: "png" });
  assert.ok(png instanceof Uint8Array);
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
  assert.ok(svg !== undefined, "the intermediate SVG is returned too");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.ok(view.getUint32(16) > 50 && view.getUint32(20) > 50, "IHDR has a real size");
});

test("visualizeGraph writes .dot, .svg and .png files chosen by extension", async () => {
  await withTempDir(async (dir) => {
    const dotFile = path.join(dir, "g.dot");
    const dotResult = await visualizeGraph(sampleGraph(), { filename: dotFile });
    assert.equal(dotResult.filename, dotFile);
    assert.equal(dotResult.svg, undefined);
    assert.equal(await readFile(dotFile, "utf8"), dotResult.dot);

    const svgFile = path.join(dir, "g.SVG");
    const svgResult = await visualizeGraph(sampleGraph(), { filename: svgFile });
    assert.equal(await readFile(svgFile, "utf8"), svgResult.svg);
    assert.equal(svgResult.png, undefined);

    const pngFile = path.join(dir, "g.png");
    const pngResult = await visualizeGraph(sampleGraph(), { filename: pngFile, rankdir: "LR" });
    const bytes = await readFile(pngFile);
    assert.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE);
    assert.deepEqual(new Uint8Array(bytes), pngResult.png);

    assert.deepEqual((await readdir(dir)).sort(), ["g.SVG", "g.dot", "g.png"]);
  });
});

test("visualizeGraph: format overrides the extension, and a relative filename is resolved", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "graph.txt");
    const result = await visualizeGraph(sampleGraph(), { filename: path.relative(process.cwd(), file), format: "dot" });
    assert.equal(result.filename, file);
    assert.equal(await readFile(file, "utf8"), result.dot);
  });
});

test("visualizeGraph rejects unknown extensions and formats, naming the supported ones", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      visualizeGraph(sampleGraph(), { filename: path.join(dir, "g.gif") }),
      assertVisualizeError(/unknown extension "\.gif".*\.dot, \.svg and \.png/),
    );
    await assert.rejects(
      visualizeGraph(sampleGraph(), { filename: path.join(dir, "graph") }),
      assertVisualizeError(/no extension.*\.dot, \.svg or \.png/),
    );
    await assert.rejects(
      visualizeGraph(sampleGraph(), { format: "jpeg" as "png" }),
      assertVisualizeError(/Unknown format "jpeg": use "dot", "svg" or "png"/),
    );
    await assert.rejects(visualizeGraph(sampleGraph(), { filename: "" }), assertVisualizeError(/non-empty path/));
    assert.deepEqual(await readdir(dir), [], "nothing written");
  });
});

test("visualizeGraph does not create a missing directory", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "no", "such");
    await assert.rejects(
      visualizeGraph(sampleGraph(), { filename: path.join(missing, "g.svg") }),
      assertVisualizeError(/directory .*no[/\\]such does not exist.*Create it first/),
    );
    await assert.rejects(stat(path.join(dir, "no")), { code: "ENOENT" });
  });
});

test("visualizeGraph refuses graphs over maxNodes, 5000 by default", async () => {
  const big: Graph = new Map();
  for (let i = 0; i < 5001; i++) big.set(`k${i}`, { kind: "literal", value: i });
  await assert.rejects(visualizeGraph(big), assertVisualizeError(/graph of 5001 nodes: the limit is 5000.*smaller piece.*maxNodes: 5001/));
  const ok = await visualizeGraph(big, { maxNodes: 5001 });
  assert.equal(count(ok.dot, /shape="box"/g), 5001);

  const four = sampleGraph();
  await assert.rejects(visualizeGraph(four, { maxNodes: 3, format: "svg" }), assertVisualizeError(/4 nodes: the limit is 3/));
  assert.ok((await visualizeGraph(four, { maxNodes: 4 })).dot.length > 0);
  await assert.rejects(visualizeGraph(four, { maxNodes: -1 }), assertVisualizeError(/maxNodes must be a whole number/));
  await assert.rejects(visualizeGraph(four, { maxNodes: Number.NaN }), assertVisualizeError(/maxNodes must be a whole number/));
});

test("visualizeGraph scales huge PNGs down instead of rendering them full size", async () => {
  // 1,200 side-by-side boxes lay out ~120,000 px wide at 96 dpi.
  const wide: Graph = new Map();
  for (let i = 0; i < 1200; i++) wide.set(`item-${i}`, { kind: "literal", value: i });
  const { png } = await visualizeGraph(wide, { format: "png" });
  const view = new DataView(png!.buffer, png!.byteOffset, png!.byteLength);
  const width = view.getUint32(16);
  assert.ok(width <= 32_000 && width > 1000, `PNG width ${width}`);
});

test("visualizeGraph renders several graphs concurrently", async () => {
  const results = await Promise.all([1, 2, 3].map((n) => visualizeGraph(new Map<string, GraphNode>([[`n${n}`, { kind: "literal", value: n }]]), { format: "svg" })));
  results.forEach((r, i) => assert.ok(r.svg!.includes(`>n${i + 1}<`)));
});
