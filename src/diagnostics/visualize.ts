/**
 * Draw task graphs the way `dask.visualize` does.
 *
 * Policy:
 * - **Shapes.** Every key is a box (data); every task is also an ellipse
 *   labelled with its function's name. Edges run dependency box → task
 *   ellipse → output box. Literal nodes are boxes only; an alias is a box with
 *   an edge from its target's box. Keys referred to but missing from the graph
 *   (held elsewhere, e.g. by a scheduler) are dashed boxes.
 * - **Direction.** `rankdir` defaults to `"BT"`, Dask's default: inputs at the
 *   bottom, results at the top.
 * - **Labels.** Box labels drop the `-<32 hex>` token of a key so it stays
 *   readable; the full key is the node's tooltip (shown on hover in SVG).
 *   DOT node IDs are indices (`k0`, `f0`), never key text, and the output
 *   depends only on the graph (including its insertion order) and options.
 * - **Rendering.** DOT is built here as text. SVG comes from Graphviz compiled
 *   to WebAssembly (`@viz-js/viz`), loaded on first use and kept for the life
 *   of the process; PNG is the SVG rasterised by resvg (`@resvg/resvg-js`),
 *   imported only when a PNG is asked for. No system Graphviz is needed.
 * - **Files.** The extension of `filename` (`.dot`, `.svg`, `.png`) picks the
 *   format unless `format` is given. Directories are never created.
 * - **Size.** Graphs of more than `maxNodes` (default 5,000) nodes are refused:
 *   Graphviz slows to minutes and the picture is unreadable long before that.
 * - **Errors.** Everything that can go wrong is a {@link VisualizeError}
 *   (`DASK_ERR_VISUALIZE`) whose message says what to do.
 *
 * @example
 * ```ts
 * import { visualizeGraph } from "dask-ts/diagnostics";
 * await visualizeGraph(graph, { filename: "graph.svg" });
 * ```
 * @module
 */
import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Viz } from "@viz-js/viz";
import type { ResvgRenderOptions } from "@resvg/resvg-js";
import { VisualizeError } from "../core/errors.js";
import type { FnRef, Graph, Key } from "../core/graph.js";
import { fnRefName } from "../core/functions.js";

/**
 * Options of {@link visualizeGraph}; {@link toDot} uses `rankdir` and `color`.
 *
 * @example
 * ```ts
 * const options: VisualizeOptions = { filename: "g.png", rankdir: "LR", color: new Map([["x", "tomato"]]) };
 * ```
 */
export interface VisualizeOptions {
  /**
   * Write to this file; its extension picks the format: `.dot`, `.svg` or
   * `.png` (any case). Its directory must exist. Without it nothing is written.
   */
  filename?: string;
  /** Use this format instead of the one the extension names (and render it even without a filename). */
  format?: "dot" | "svg" | "png";
  /**
   * Direction of the drawing. Default `"BT"` like Dask: dependencies at the
   * bottom, results at the top. `"TB"` flips it; `"LR"` / `"RL"` run sideways,
   * which suits long chains.
   */
  rankdir?: "TB" | "BT" | "LR" | "RL";
  /**
   * Fill colours by key, as CSS colours (names, `#rgb[a]`, `#rrggbb[aa]`,
   * `rgb()`, `hsl()`), for example to show task states. The key's box and its
   * task's ellipse are filled. Keys not in the graph are ignored.
   */
  color?: ReadonlyMap<string, string>;
  /**
   * Refuse graphs with more nodes than this (default 5,000): drawing them is
   * slow and unreadable. Raise it to draw a big graph anyway (`Infinity` for no limit).
   */
  maxNodes?: number;
}

/**
 * What {@link visualizeGraph} produced.
 *
 * @example
 * ```ts
 * const { dot, svg, filename } = await visualizeGraph(graph, { filename: "g.svg" });
 * ```
 */
export interface VisualizeResult {
  /** The graph in Graphviz DOT; always present. */
  dot: string;
  /** The SVG drawing, when SVG or PNG was asked for. */
  svg?: string;
  /** The PNG image, when PNG was asked for. */
  png?: Uint8Array;
  /** The absolute path of the file written, when `filename` was given. */
  filename?: string;
}

const DEFAULT_MAX_NODES = 5000;
const FORMATS: readonly string[] = ["dot", "svg", "png"];
const RANKDIRS: readonly string[] = ["TB", "BT", "LR", "RL"];
/** Labels longer than this many characters are cut; the tooltip keeps the full text. */
const MAX_LABEL = 40;
/**
 * Graphviz has built-in metrics for DejaVu Sans, which is wide: laying out
 * with it leaves room for whatever narrower font a viewer substitutes.
 */
const FONT = "DejaVu Sans";
/** Browsers without DejaVu get a similar sans font rather than their serif default. */
const SVG_FONT_FAMILY = "DejaVu Sans,Verdana,Bitstream Vera Sans,sans-serif";
/** A PNG bigger than this is scaled down: ~100 MB of RGBA while rendering. */
const MAX_PNG_PIXELS = 25_000_000;
/** Many PNG decoders refuse images longer than this on a side. */
const MAX_PNG_SIDE = 32_000;

/**
 * The graph as Graphviz DOT text, drawn like `dask.visualize`: each task an
 * ellipse labelled with its function (op name, module export, global path or
 * source function name), each key a box labelled with the key minus its hash
 * token, edges dependency → task → key. Same graph and options, same text.
 *
 * @throws VisualizeError for an unknown `rankdir` or a colour that is not a CSS colour.
 * @example
 * ```ts
 * import { task, ref, type GraphNode } from "dask-ts";
 * const graph = new Map<string, GraphNode>([
 *   ["x", { kind: "literal", value: 1 }],
 *   ["y", task({ kind: "global", path: "Math.sqrt" }, [ref("x")])],
 * ]);
 * console.log(toDot(graph, { rankdir: "LR" })); // digraph dask { graph [rankdir="LR"]; ... }
 * ```
 */
export function toDot(graph: Graph, options: Pick<VisualizeOptions, "rankdir" | "color"> = {}): string {
  const rankdir = options.rankdir ?? "BT";
  if (!RANKDIRS.includes(rankdir)) {
    throw new VisualizeError(`Unknown rankdir ${JSON.stringify(rankdir)}: use "TB", "BT", "LR" or "RL".`);
  }

  // IDs are indices so that no key text can break the DOT syntax.
  const ids = new Map<Key, number>();
  for (const key of graph.keys()) ids.set(key, ids.size);
  const external: Key[] = [];
  const idOf = (key: Key): string => {
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
      external.push(key);
    }
    return `k${id}`;
  };

  const fills = new Map<Key, string>();
  if (options.color !== undefined) {
    for (const [key, css] of options.color) if (graph.has(key)) fills.set(key, cssToGraphviz(css, key));
  }

  const nodes: string[] = [];
  const edges: string[] = [];
  for (const [key, node] of graph) {
    const kid = idOf(key);
    const fill = fills.get(key);
    const filled: [string, string][] = fill === undefined ? [] : [["style", "filled"], ["fillcolor", fill]];
    nodes.push(`  ${kid} ${attrs([["shape", "box"], ["label", keyLabel(key)], ["tooltip", key], ...filled])};`);
    if (node.kind === "task") {
      const fid = `f${ids.get(key)!}`;
      nodes.push(`  ${fid} ${attrs([["shape", "ellipse"], ["label", shorten(fnLabel(node.fn))], ["tooltip", fnTooltip(node.fn)], ...filled])};`);
      // A hand-built node may list a dependency twice; Dask draws one edge.
      for (const dep of new Set(node.deps)) edges.push(`  ${idOf(dep)} -> ${fid};`);
      edges.push(`  ${fid} -> ${kid};`);
    } else if (node.kind === "alias") {
      edges.push(`  ${idOf(node.target)} -> ${kid};`);
    }
  }
  for (const key of external) {
    nodes.push(`  ${idOf(key)} ${attrs([["shape", "box"], ["style", "dashed"], ["label", keyLabel(key)], ["tooltip", `${key} (not in this graph)`]])};`);
  }

  return [
    "digraph dask {",
    `  graph ${attrs([["rankdir", rankdir]])};`,
    `  node ${attrs([["fontname", FONT], ["fontsize", "12"]])};`,
    ...nodes,
    ...edges,
    "}",
    "",
  ].join("\n");
}

/**
 * Draw a graph. Always returns its DOT text; also renders SVG or PNG when
 * `format` or the extension of `filename` asks for it, and writes the file
 * when `filename` is given.
 *
 * @throws VisualizeError when the graph has more than `maxNodes` nodes, the
 *   format or extension is not `dot` / `svg` / `png`, the file's directory does
 *   not exist or cannot be written, or Graphviz / resvg cannot be loaded.
 * @example
 * ```ts
 * const { dot } = await visualizeGraph(graph);                        // DOT only
 * await visualizeGraph(graph, { filename: "graph.png" });             // writes a PNG
 * const { svg } = await visualizeGraph(graph, { format: "svg", rankdir: "LR" });
 * ```
 */
export async function visualizeGraph(graph: Graph, options: VisualizeOptions = {}): Promise<VisualizeResult> {
  const maxNodes = options.maxNodes ?? DEFAULT_MAX_NODES;
  if (!(maxNodes === Infinity || (Number.isInteger(maxNodes) && maxNodes >= 0))) {
    throw new VisualizeError(`maxNodes must be a whole number of nodes or Infinity, not ${String(maxNodes)}.`);
  }
  const format = resolveFormat(options.filename, options.format);
  if (graph.size > maxNodes) {
    throw new VisualizeError(
      `Refusing to draw a graph of ${graph.size} nodes: the limit is ${maxNodes} (option maxNodes), because ` +
        `Graphviz gets very slow and the drawing unreadable at this size. Visualize a smaller piece instead ` +
        `(one partition, or only the keys you care about), or pass { maxNodes: ${graph.size} } to draw it anyway.`,
    );
  }
  let target: string | undefined;
  if (options.filename !== undefined) {
    target = path.resolve(options.filename);
    // Check before rendering, which can take a while, rather than fail after it.
    await checkDirectory(target);
  }

  const result: VisualizeResult = { dot: toDot(graph, options) };
  if (format === "svg" || format === "png") result.svg = await renderSvg(result.dot, graph.size);
  if (format === "png") result.png = await renderPng(result.svg!);

  if (target !== undefined) {
    const data = format === "png" ? result.png! : format === "svg" ? result.svg! : result.dot;
    await writeOut(target, data);
    result.filename = target;
  }
  return result;
}

// ---------------------------------------------------------------------------
// Formats and files

function resolveFormat(filename: string | undefined, format: string | undefined): "dot" | "svg" | "png" | undefined {
  if (filename !== undefined && (typeof filename !== "string" || filename === "")) {
    throw new VisualizeError(`filename must be a non-empty path ending in .dot, .svg or .png, not ${JSON.stringify(filename)}.`);
  }
  if (format !== undefined) {
    if (!FORMATS.includes(format)) {
      throw new VisualizeError(`Unknown format ${JSON.stringify(format)}: use "dot", "svg" or "png".`);
    }
    return format as "dot" | "svg" | "png";
  }
  if (filename === undefined) return undefined;
  const ext = path.extname(filename).toLowerCase();
  if (ext === "") {
    throw new VisualizeError(
      `Cannot tell which format to write to "${filename}": it has no extension. ` +
        `End the name with .dot, .svg or .png, or pass { format: "dot" | "svg" | "png" }.`,
    );
  }
  const fromExt = ext.slice(1);
  if (!FORMATS.includes(fromExt)) {
    throw new VisualizeError(
      `Cannot write "${filename}": unknown extension "${ext}". The supported extensions are .dot, .svg and .png ` +
        `(or pass { format: "dot" | "svg" | "png" } to choose the format yourself).`,
    );
  }
  return fromExt as "dot" | "svg" | "png";
}

async function checkDirectory(target: string): Promise<void> {
  const dir = path.dirname(target);
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    if (errnoCode(err) === "ENOENT") {
      throw new VisualizeError(
        `Cannot write ${target}: the directory ${dir} does not exist. Create it first (visualize does not create directories) or choose another path.`,
        err,
      );
    }
    if (errnoCode(err) === "ENOTDIR") isDir = false;
    else throw new VisualizeError(`Cannot write ${target}: cannot read the directory ${dir} (${messageOf(err)}).`, err);
  }
  if (!isDir) throw new VisualizeError(`Cannot write ${target}: ${dir} is not a directory. Choose a path inside an existing directory.`);
}

async function writeOut(target: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFile(target, data);
  } catch (err) {
    const code = errnoCode(err);
    const hint =
      code === "ENOENT"
        ? `the directory ${path.dirname(target)} does not exist; create it first`
        : code === "EISDIR"
          ? "it is a directory; give a file name ending in .dot, .svg or .png"
          : code === "EACCES" || code === "EPERM" || code === "EROFS"
            ? "permission denied; choose a location you can write to"
            : messageOf(err);
    throw new VisualizeError(`Cannot write ${target}: ${hint}.`, err);
  }
}

// ---------------------------------------------------------------------------
// Rendering

// One Graphviz instance per process: compiling the WebAssembly takes ~100 ms.
let vizPromise: Promise<Viz> | undefined;

function loadViz(): Promise<Viz> {
  vizPromise ??= import("@viz-js/viz")
    .then((mod) => mod.instance())
    .catch((err: unknown) => {
      vizPromise = undefined; // let a later call retry, e.g. after a reinstall
      throw new VisualizeError(
        `Could not load Graphviz (the WebAssembly package @viz-js/viz): ${messageOf(err)}. ` +
          `Reinstall dask-ts's dependencies, or write format "dot" and render it with another tool.`,
        err,
      );
    });
  return vizPromise;
}

async function renderSvg(dot: string, nodeCount: number): Promise<string> {
  const viz = await loadViz();
  let output: string | undefined;
  let problems: string;
  try {
    const res = viz.render(dot, { format: "svg" });
    output = res.status === "success" ? res.output : undefined;
    problems = res.errors.filter((e) => e.level === "error").map((e) => e.message.trim()).join("; ");
  } catch (err) {
    problems = messageOf(err);
  }
  if (output === undefined) {
    throw new VisualizeError(
      `Graphviz could not draw the graph (${nodeCount} nodes): ${problems || "no reason given"}. ` +
        `Try a smaller piece of the graph, or write format "dot" and render it with another tool.`,
    );
  }
  return output.replaceAll(`font-family="${FONT}"`, `font-family="${SVG_FONT_FAMILY}"`);
}

type ResvgModule = typeof import("@resvg/resvg-js");
// resvg is a native addon: load it only when someone asks for a PNG.
let resvgPromise: Promise<ResvgModule> | undefined;

function loadResvg(): Promise<ResvgModule> {
  resvgPromise ??= import("@resvg/resvg-js").catch((err: unknown) => {
    resvgPromise = undefined;
    throw new VisualizeError(
      `Could not load resvg (the package @resvg/resvg-js, needed for PNG): ${messageOf(err)}. ` +
        `Write .svg instead, or reinstall dask-ts's dependencies for this platform.`,
      err,
    );
  });
  return resvgPromise;
}

async function renderPng(svg: string): Promise<Uint8Array> {
  const resvg = await loadResvg();
  const options: ResvgRenderOptions = {
    background: "white",
    fitTo: pngFit(svg),
    font: {
      loadSystemFonts: true,
      // When DejaVu is missing, resvg moves on to any installed font, so text still shows.
      defaultFontFamily: FONT,
      sansSerifFamily: FONT,
    },
  };
  try {
    const image = await resvg.renderAsync(svg, options);
    return new Uint8Array(image.asPng());
  } catch (err) {
    throw new VisualizeError(`Could not turn the SVG into a PNG: ${messageOf(err)}. Write .svg instead.`, err);
  }
}

/** Scale down only drawings too big to rasterise sensibly; keep others at 96 dpi. */
function pngFit(svg: string): NonNullable<ResvgRenderOptions["fitTo"]> {
  const open = /<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const width = svgLength(/\swidth="([^"]*)"/.exec(open)?.[1]);
  const height = svgLength(/\sheight="([^"]*)"/.exec(open)?.[1]);
  if (width === undefined || height === undefined) return { mode: "original" };
  const scale = Math.min(1, Math.sqrt(MAX_PNG_PIXELS / (width * height)), MAX_PNG_SIDE / Math.max(width, height));
  return scale < 1 ? { mode: "width", value: Math.max(1, Math.floor(width * scale)) } : { mode: "original" };
}

/** An SVG length in pixels (Graphviz writes points). */
function svgLength(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^\s*([\d.]+)\s*(pt|px)?\s*$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]) * (m[2] === "pt" ? 96 / 72 : 1);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

// ---------------------------------------------------------------------------
// Labels and DOT syntax

/** `"inc-3f2a…(32 hex)"` → `"inc"`; keys made only of a token are kept whole. */
function keyLabel(key: Key): string {
  const stripped = key.replace(/-[0-9a-f]{32}(?![0-9a-zA-Z])/g, "");
  return shorten(stripped === "" ? key : stripped);
}

function shorten(text: string): string {
  const chars = Array.from(text);
  return chars.length <= MAX_LABEL ? text : `${chars.slice(0, MAX_LABEL - 3).join("")}...`;
}

function fnLabel(fn: FnRef): string {
  switch (fn.kind) {
    case "op":
      return fn.name;
    case "module":
      // `default` says nothing; the module's file name does.
      return fn.exportName === "default" ? `${moduleBaseName(fn.specifier)}.default` : fn.exportName;
    case "global":
      return fn.path;
    case "source":
    case "local":
      return fnRefName(fn);
  }
}

function fnTooltip(fn: FnRef): string {
  switch (fn.kind) {
    case "op":
      return `op ${fn.name}`;
    case "module":
      return `${fn.exportName} from ${fn.specifier}`;
    case "global":
      return fn.path;
    case "source":
      return `function ${fnLabel(fn)} (source)`;
    case "local":
      return `function ${fnLabel(fn)} (runs on this thread only)`;
  }
}

function moduleBaseName(specifier: string): string {
  const last = specifier.replace(/[?#].*$/, "").split("/").filter((s) => s !== "").pop() ?? specifier;
  return last.replace(/\.[cm]?[jt]sx?$/, "") || specifier;
}

/** `[a="…", b="…"]` with every value quoted and escaped. */
function attrs(pairs: readonly (readonly [string, string])[]): string {
  return `[${pairs.map(([k, v]) => `${k}=${dotString(v)}`).join(", ")}]`;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A DOT double-quoted string showing `text` literally. Backslashes start
 * Graphviz escapes (`\n`, `\N`, `\l`…), `&` starts an entity (`&alpha;`), and
 * raw control characters make invalid SVG, so all are escaped; a newline
 * becomes a line break.
 */
function dotString(text: string): string {
  const clean = String(text).replace(LONE_SURROGATE, "\uFFFD").replace(/\r\n?/g, "\n");
  const body = clean.replace(/[\\"&\n\t\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case "\\":
        return "\\\\";
      case '"':
        return '\\"';
      case "&":
        return "&amp;";
      case "\n":
        return "\\n";
      case "\t":
        return " ";
      default:
        return `\\\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
  return `"${body}"`;
}

// ---------------------------------------------------------------------------
// Colours

// CSS named colours (CSS Color 4). Graphviz's own names follow X11, which
// differs from CSS for gray, green, maroon and purple, so names become hex here.
const CSS_NAMES = new Map(
  (
    "aliceblue:f0f8ff antiquewhite:faebd7 aqua:00ffff aquamarine:7fffd4 azure:f0ffff beige:f5f5dc bisque:ffe4c4 " +
    "black:000000 blanchedalmond:ffebcd blue:0000ff blueviolet:8a2be2 brown:a52a2a burlywood:deb887 " +
    "cadetblue:5f9ea0 chartreuse:7fff00 chocolate:d2691e coral:ff7f50 cornflowerblue:6495ed cornsilk:fff8dc " +
    "crimson:dc143c cyan:00ffff darkblue:00008b darkcyan:008b8b darkgoldenrod:b8860b darkgray:a9a9a9 " +
    "darkgreen:006400 darkgrey:a9a9a9 darkkhaki:bdb76b darkmagenta:8b008b darkolivegreen:556b2f darkorange:ff8c00 " +
    "darkorchid:9932cc darkred:8b0000 darksalmon:e9967a darkseagreen:8fbc8f darkslateblue:483d8b " +
    "darkslategray:2f4f4f darkslategrey:2f4f4f darkturquoise:00ced1 darkviolet:9400d3 deeppink:ff1493 " +
    "deepskyblue:00bfff dimgray:696969 dimgrey:696969 dodgerblue:1e90ff firebrick:b22222 floralwhite:fffaf0 " +
    "forestgreen:228b22 fuchsia:ff00ff gainsboro:dcdcdc ghostwhite:f8f8ff gold:ffd700 goldenrod:daa520 gray:808080 " +
    "green:008000 greenyellow:adff2f grey:808080 honeydew:f0fff0 hotpink:ff69b4 indianred:cd5c5c indigo:4b0082 " +
    "ivory:fffff0 khaki:f0e68c lavender:e6e6fa lavenderblush:fff0f5 lawngreen:7cfc00 lemonchiffon:fffacd " +
    "lightblue:add8e6 lightcoral:f08080 lightcyan:e0ffff lightgoldenrodyellow:fafad2 lightgray:d3d3d3 " +
    "lightgreen:90ee90 lightgrey:d3d3d3 lightpink:ffb6c1 lightsalmon:ffa07a lightseagreen:20b2aa " +
    "lightskyblue:87cefa lightslategray:778899 lightslategrey:778899 lightsteelblue:b0c4de lightyellow:ffffe0 " +
    "lime:00ff00 limegreen:32cd32 linen:faf0e6 magenta:ff00ff maroon:800000 mediumaquamarine:66cdaa " +
    "mediumblue:0000cd mediumorchid:ba55d3 mediumpurple:9370db mediumseagreen:3cb371 mediumslateblue:7b68ee " +
    "mediumspringgreen:00fa9a mediumturquoise:48d1cc mediumvioletred:c71585 midnightblue:191970 mintcream:f5fffa " +
    "mistyrose:ffe4e1 moccasin:ffe4b5 navajowhite:ffdead navy:000080 oldlace:fdf5e6 olive:808000 olivedrab:6b8e23 " +
    "orange:ffa500 orangered:ff4500 orchid:da70d6 palegoldenrod:eee8aa palegreen:98fb98 paleturquoise:afeeee " +
    "palevioletred:db7093 papayawhip:ffefd5 peachpuff:ffdab9 peru:cd853f pink:ffc0cb plum:dda0dd powderblue:b0e0e6 " +
    "purple:800080 rebeccapurple:663399 red:ff0000 rosybrown:bc8f8f royalblue:4169e1 saddlebrown:8b4513 " +
    "salmon:fa8072 sandybrown:f4a460 seagreen:2e8b57 seashell:fff5ee sienna:a0522d silver:c0c0c0 skyblue:87ceeb " +
    "slateblue:6a5acd slategray:708090 slategrey:708090 snow:fffafa springgreen:00ff7f steelblue:4682b4 tan:d2b48c " +
    "teal:008080 thistle:d8bfd8 tomato:ff6347 turquoise:40e0d0 violet:ee82ee wheat:f5deb3 white:ffffff " +
    "whitesmoke:f5f5f5 yellow:ffff00 yellowgreen:9acd32"
  )
    .split(" ")
    .map((pair) => pair.split(":") as [string, string]),
);

/** A CSS colour as a Graphviz colour (`#rrggbb` or `#rrggbbaa`). */
function cssToGraphviz(css: string, key: Key): string {
  const text = typeof css === "string" ? css.trim().toLowerCase() : "";
  if (text === "transparent") return "#ffffff00";
  const named = CSS_NAMES.get(text);
  if (named !== undefined) return `#${named}`;
  let hex = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/.exec(text)?.[1];
  if (hex !== undefined) {
    if (hex.length <= 4) hex = [...hex].map((c) => c + c).join("");
    return hex.endsWith("ff") && hex.length === 8 ? `#${hex.slice(0, 6)}` : `#${hex}`;
  }
  const fn = /^(rgba?|hsla?)\(([^()]*)\)$/.exec(text);
  const parts = fn === null ? [] : fn[2]!.split(/[\s,/]+/).filter((p) => p !== "");
  if (fn !== null && (parts.length === 3 || parts.length === 4)) {
    const alpha = parts.length === 4 ? cssNumber(parts[3]!, 1) : 1;
    let rgb: number[] | undefined;
    if (fn[1]!.startsWith("rgb")) {
      const channels = parts.slice(0, 3).map((p) => cssNumber(p, 255));
      if (channels.every((c) => c !== undefined)) rgb = channels.map((c) => clamp(c!, 0, 255));
    } else {
      const h = cssHue(parts[0]!);
      const s = cssNumber(parts[1]!, 1, true);
      const l = cssNumber(parts[2]!, 1, true);
      if (h !== undefined && s !== undefined && l !== undefined) rgb = hslToRgb(h, clamp(s, 0, 1), clamp(l, 0, 1));
    }
    if (rgb !== undefined && alpha !== undefined) {
      const a = clamp(alpha, 0, 1);
      const byte = (n: number): string => Math.round(n).toString(16).padStart(2, "0");
      return `#${rgb.map(byte).join("")}${a < 1 ? byte(a * 255) : ""}`;
    }
  }
  throw new VisualizeError(
    `The colour ${JSON.stringify(css)} given for key "${key}" is not a CSS colour. ` +
      `Use a colour name ("tomato"), hex ("#ff6347"), rgb(255, 99, 71) or hsl(9, 100%, 64%).`,
  );
}

/** A CSS number or percentage; a percentage is a fraction of `full`. hsl's s and l read plain numbers as percentages. */
function cssNumber(text: string, full: number, plainIsPercent = false): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(%?)$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  if (m[2] === "%") return (n / 100) * full;
  return plainIsPercent ? (n / 100) * full : n;
}

function cssHue(text: string): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(deg|turn|rad|grad)?$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const deg = m[2] === "turn" ? n * 360 : m[2] === "rad" ? (n * 180) / Math.PI : m[2] === "grad" ? n * 0.9 : n;
  return ((deg % 360) + 360) % 360;
}

function hslToRgb(h: number, s: number, l: number): number[] {
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    const a = s * Math.min(l, 1 - l);
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}

function errnoCode(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
