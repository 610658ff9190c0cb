/**
 * Free-variable analysis of a function's source text.
 *
 * dask-ts ships a task's function to worker threads as its source text
 * (`fn.toString()`) and rebuilds it there with `new Function`. Anything the
 * function read from its enclosing scope is lost on that trip, so before
 * shipping we parse the text with acorn and list the identifiers it uses but
 * does not declare. The caller drops known globals (`Math`, `console`, …) and
 * refuses to ship a function that still has names left: a closure.
 *
 * The analysis is purely syntactic: nothing is evaluated.
 *
 * @example
 * ```ts
 * const y = 2;
 * analyzeFunctionSource(((x: number) => Math.max(x, y)).toString());
 * // → { expression: "(x) => Math.max(x, y)", freeVariables: ["Math", "y"] }
 * ```
 * @module
 */

import { parse } from "acorn";
import type {
  AnyNode,
  ArrowFunctionExpression,
  Class,
  ClassExpression,
  Expression,
  Function as FunctionNode,
  FunctionExpression,
  Pattern,
  Program,
  Property,
} from "acorn";

/** What analysis of a function's source text found. */
export interface FunctionSource {
  /**
   * A JavaScript *expression* that evaluates to the function, e.g.
   * `"(x) => x + 1"` or `"function inc(x) { return x + 1 }"`. Method
   * shorthand (`inc(x) {…}`, `async inc() {…}`, `*gen() {…}`, `get x() {…}`)
   * is rewritten as the equivalent function expression; class sources stay
   * class expressions.
   */
  readonly expression: string;
  /**
   * Identifiers read (or written) by the function that are not declared
   * inside it, sorted, without duplicates. Includes globals like `Math` or
   * `console`; the caller filters those.
   */
  readonly freeVariables: readonly string[];
}

/**
 * Analyse a function's source text.
 *
 * Returns undefined when the text is not JavaScript source (e.g.
 * `"function max() { [native code] }"`) or is nothing acorn can parse as a
 * function. A method that uses `super` also gives undefined: it has no
 * equivalent function expression, since `super` needs the method's object.
 *
 * @example
 * ```ts
 * const scale = 3;
 * const fn = (x: number) => x * scale;
 * analyzeFunctionSource(fn.toString())?.freeVariables; // → ["scale"]
 *
 * const obj = { inc(x: number) { return x + 1; } };
 * analyzeFunctionSource(obj.inc.toString())?.expression;
 * // → "function inc(x) { return x + 1; }"
 *
 * analyzeFunctionSource(Math.max.toString()); // → undefined
 * ```
 */
export function analyzeFunctionSource(source: string): FunctionSource | undefined {
  const parsed = parseFunctionExpression(source) ?? parseMethodAsFunction(source);
  if (parsed === undefined) return undefined;
  return { expression: parsed.text, freeVariables: freeVariablesOf(parsed.node) };
}

// ---------------------------------------------------------------------------
// Parsing

type FunctionLike = FunctionExpression | ArrowFunctionExpression | ClassExpression;

interface ParsedFunction {
  readonly node: FunctionLike;
  /** The exact text of `node`: no surrounding whitespace or comments. */
  readonly text: string;
}

/**
 * Parses `text` as a program made of one expression statement and returns
 * that expression. Sloppy script first (functions from CommonJS may use
 * `with`), then module (only modules allow `import.meta`).
 */
function parseSoleExpression(text: string): Expression | undefined {
  for (const sourceType of ["script", "module"] as const) {
    let statements: Program["body"];
    try {
      statements = parse(text, { ecmaVersion: "latest", sourceType }).body;
    } catch {
      continue;
    }
    const [only] = statements;
    return statements.length === 1 && only?.type === "ExpressionStatement" ? only.expression : undefined;
  }
  return undefined;
}

/**
 * `function …`, `async (…) => …`, `class …`: wrapping in parentheses makes a
 * declaration-looking text parse as an expression. The newline keeps a
 * trailing `// comment` from swallowing the closing parenthesis, and taking
 * `parse` of a whole program (not `parseExpressionAt`) rejects trailing text.
 */
function parseFunctionExpression(source: string): ParsedFunction | undefined {
  const wrapped = `(${source}\n)`;
  const node = parseSoleExpression(wrapped);
  if (
    node?.type !== "FunctionExpression" &&
    node?.type !== "ArrowFunctionExpression" &&
    node?.type !== "ClassExpression"
  ) {
    return undefined;
  }
  return { node, text: wrapped.slice(node.start, node.end) };
}

/**
 * `inc(x) {…}`, `async *gen() {…}`, `get x() {…}`: what `toString()` gives
 * for a method. Parsed as the only member of an object literal, then rebuilt
 * as `function inc(x) {…}` from the method's own parameter-and-body text.
 */
function parseMethodAsFunction(source: string): ParsedFunction | undefined {
  const wrapped = `({${source}\n})`;
  const object = parseSoleExpression(wrapped);
  if (object?.type !== "ObjectExpression" || object.properties.length !== 1) return undefined;
  const [member] = object.properties;
  if (member?.type !== "Property" || (!member.method && member.kind === "init")) return undefined;
  const method = member.value;
  if (method.type !== "FunctionExpression") return undefined;

  const head = `${method.async ? "async " : ""}function${method.generator ? "*" : ""} `;
  const rest = wrapped.slice(method.start, method.end); // "(x) { … }"
  // Unlike a named function expression, a method does not bind its own name:
  // in `inc() { return inc }` the inner `inc` is the outer one. Keep the name
  // only when the body does not use it, so naming changes nothing.
  const name = methodName(member);
  const candidates = [`${head}${rest}`];
  if (name !== undefined && !freeVariablesOf(method).includes(name)) {
    candidates.unshift(`${head}${name}${rest}`);
  }
  // Re-parsing checks the rewrite: a name may be reserved (`delete() {}`)
  // and `super` is a syntax error outside methods.
  for (const candidate of candidates) {
    const parsed = parseFunctionExpression(candidate);
    if (parsed !== undefined) return parsed;
  }
  return undefined;
}

function methodName(member: Property): string | undefined {
  return !member.computed && member.key.type === "Identifier" ? member.key.name : undefined;
}

// ---------------------------------------------------------------------------
// Scopes

/**
 * One lexical scope. `isVarScope` marks function bodies and static blocks,
 * which is where `var` declarations land.
 */
class Scope {
  readonly names = new Set<string>();
  constructor(
    readonly parent: Scope | undefined,
    readonly isVarScope: boolean,
  ) {}

  /** The nearest scope a `var` in this scope hoists to. */
  varScope(): Scope {
    let scope: Scope = this;
    while (!scope.isVarScope && scope.parent !== undefined) scope = scope.parent;
    return scope;
  }

  declares(name: string): boolean {
    for (let scope: Scope | undefined = this; scope !== undefined; scope = scope.parent) {
      if (scope.names.has(name)) return true;
    }
    return false;
  }
}

/**
 * Walks the tree once, declaring names into scopes and recording every
 * identifier reference with the scope it appears in. References are resolved
 * only after the walk, when every scope is complete; that handles hoisting
 * (`var`, function declarations, use before `let`) without a separate pass.
 */
function freeVariablesOf(root: FunctionLike): string[] {
  const references: Array<readonly [string, Scope]> = [];
  const outside = new Scope(undefined, true);

  const visit = (node: AnyNode, scope: Scope): void => {
    switch (node.type) {
      case "Identifier":
        references.push([node.name, scope]);
        return;
      // Leaves that name no variable: `this`, `super`, `new.target`,
      // `import.meta`, `#private`, literals (regex and BigInt included).
      case "ThisExpression":
      case "Super":
      case "MetaProperty":
      case "PrivateIdentifier":
      case "Literal":
      case "TemplateElement":
      case "EmptyStatement":
      case "DebuggerStatement":
      case "BreakStatement": // labels are not variables
      case "ContinueStatement":
        return;
      case "LabeledStatement":
        visit(node.body, scope);
        return;
      case "MemberExpression": // `a.b` reads `a` only; `a[b]` reads both
        visit(node.object, scope);
        if (node.computed) visit(node.property, scope);
        return;
      case "Property": // object literals and object patterns alike
        // `{ b: 1 }` names no variable; shorthand `{ b }` has `b` as its value.
        if (node.computed) visit(node.key, scope);
        visit(node.value, scope);
        return;
      case "FunctionExpression":
      case "ArrowFunctionExpression":
      case "FunctionDeclaration":
        visitFunction(node, scope);
        return;
      case "ClassExpression":
      case "ClassDeclaration":
        visitClass(node, scope);
        return;
      case "BlockStatement":
        visitAll(node.body, new Scope(scope, false));
        return;
      case "StaticBlock":
        visitAll(node.body, new Scope(scope, true));
        return;
      case "VariableDeclaration": {
        const target = node.kind === "var" ? scope.varScope() : scope;
        for (const declarator of node.declarations) {
          declare(declarator.id, target, scope);
          if (declarator.init) visit(declarator.init, scope);
        }
        return;
      }
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement": {
        // `let`/`const` in the head belong to a scope around the whole loop.
        visitChildren(node, new Scope(scope, false));
        return;
      }
      case "SwitchStatement": {
        visit(node.discriminant, scope);
        const cases = new Scope(scope, false);
        for (const switchCase of node.cases) visitChildren(switchCase, cases);
        return;
      }
      case "CatchClause": {
        const catchScope = new Scope(scope, false);
        if (node.param) declare(node.param, catchScope, catchScope);
        visit(node.body, catchScope);
        return;
      }
      default:
        // Every other node (expressions, patterns in assignments, plain
        // statements) just evaluates its children in the same scope. A node
        // type newer than this walker lands here too and its identifiers
        // count as reads: over-reporting is the safe side for a closure check.
        visitChildren(node, scope);
    }
  };

  const visitAll = (nodes: readonly AnyNode[], scope: Scope): void => {
    for (const node of nodes) visit(node, scope);
  };

  const visitChildren = (node: AnyNode, scope: Scope): void => {
    for (const value of Object.values(node) as unknown[]) {
      if (Array.isArray(value)) {
        for (const item of value as unknown[]) if (isNode(item)) visit(item, scope);
      } else if (isNode(value)) {
        visit(value, scope);
      }
    }
  };

  /** Binds the names in a declaration pattern; defaults and computed keys are reads. */
  const declare = (pattern: Pattern, target: Scope, scope: Scope): void => {
    switch (pattern.type) {
      case "Identifier":
        target.names.add(pattern.name);
        return;
      case "AssignmentPattern":
        declare(pattern.left, target, scope);
        visit(pattern.right, scope);
        return;
      case "RestElement":
        declare(pattern.argument, target, scope);
        return;
      case "ArrayPattern":
        for (const element of pattern.elements) if (element) declare(element, target, scope);
        return;
      case "ObjectPattern":
        for (const property of pattern.properties) {
          if (property.type === "RestElement") {
            declare(property.argument, target, scope);
          } else {
            if (property.computed) visit(property.key, scope);
            declare(property.value, target, scope);
          }
        }
        return;
      case "MemberExpression": // only in assignment targets; declares nothing
        visit(pattern, scope);
        return;
    }
  };

  const visitFunction = (node: FunctionNode, scope: Scope): void => {
    // A declaration's name belongs to the enclosing block (strict-mode rule);
    // a named expression's name is visible only inside it.
    if (node.type === "FunctionDeclaration" && node.id) scope.names.add(node.id.name);
    const params = new Scope(scope, false);
    if (node.type === "FunctionExpression" && node.id) params.names.add(node.id.name);
    for (const param of node.params) declare(param, params, params);
    // Body declarations get their own scope: a parameter default such as
    // `(a = b) => { var b }` reads the *outer* `b`.
    const body = new Scope(params, true);
    if (node.body.type === "BlockStatement") visitAll(node.body.body, body);
    else visit(node.body, body);
  };

  const visitClass = (node: Class, scope: Scope): void => {
    if (node.type === "ClassDeclaration" && node.id) scope.names.add(node.id.name);
    const inner = new Scope(scope, false);
    if (node.id) inner.names.add(node.id.name);
    if (node.superClass) visit(node.superClass, inner);
    for (const member of node.body.body) {
      if (member.type === "StaticBlock") {
        visit(member, inner);
        continue;
      }
      // Method names and field keys name no variable unless computed.
      if (member.computed) visit(member.key, inner);
      if (member.value) visit(member.value, inner);
    }
  };

  visit(root, outside);

  const free = new Set<string>();
  for (const [name, scope] of references) {
    // `arguments` is never reported: inside a non-arrow function it is that
    // function's own, and an arrow reading its parent's is not a closure over
    // a variable the caller could supply.
    if (name !== "arguments" && !scope.declares(name)) free.add(name);
  }
  return [...free].sort();
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}
