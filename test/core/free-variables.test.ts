import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { analyzeFunctionSource, type FunctionSource } from "../../src/core/free-variables.js";

// Names the test functions read from outside. `declare` emits nothing, so
// these are true globals-that-do-not-exist at run time; the functions that use
// them are only analysed, never called.
declare const ghost: { a: number; b?: { c: number } } | undefined;
declare const idx: "a";
declare let counter: number;
declare let key: string;
declare const tag: (strings: TemplateStringsArray, ...values: unknown[]) => string;
declare const named: unknown;
declare const shadowed: number;
declare function sideEffect(): number;

const outer = 10;
const outerObj = { a: 1 };
const fieldKey = "extra";
const tally = 5;
class Base {
  greet(): string {
    return "base";
  }
}

/** Analyses a function (or source text); fails the test if analysis gives up. */
function analysed(fn: object | string): FunctionSource {
  const result = analyzeFunctionSource(typeof fn === "string" ? fn : fn.toString());
  assert.ok(result, `expected analysable source: ${String(fn)}`);
  return result;
}

/** Free variables of a function (or of source text). */
function freeOf(fn: object | string): readonly string[] {
  return analysed(fn).freeVariables;
}

/** Rebuilds a function the way a worker does. */
function rebuild(expression: string): unknown {
  return new Function(`return ${expression}`)();
}

describe("analyzeFunctionSource: what counts as a function", () => {
  it("keeps an arrow function's text as the expression", () => {
    const fn = (x: number) => x + outer;
    assert.deepEqual(analyzeFunctionSource(fn.toString()), {
      expression: "(x) => x + outer",
      freeVariables: ["outer"],
    });
  });

  it("accepts function declarations' text, as an expression", () => {
    function inc(x: number): number {
      return x + 1;
    }
    const result = analysed(inc);
    assert.equal(result.expression, inc.toString());
    assert.deepEqual(result.freeVariables, []);
    const rebuilt = rebuild(result.expression) as typeof inc;
    assert.equal(rebuilt(41), 42);
  });

  it("keeps class sources as class expressions", () => {
    class Counter {
      n = 0;
      add(): number {
        return ++this.n;
      }
    }
    const result = analysed(Counter);
    assert.ok(result.expression.startsWith("class Counter"));
    assert.deepEqual(result.freeVariables, []);
    const Rebuilt = rebuild(result.expression) as typeof Counter;
    assert.equal(new Rebuilt().add(), 1);
  });

  it("returns undefined for native, bound and non-function text", () => {
    assert.equal(analyzeFunctionSource(Math.max.toString()), undefined);
    assert.equal(analyzeFunctionSource(freeOf.bind(null).toString()), undefined);
    assert.equal(analyzeFunctionSource("function max() { [native code] }"), undefined);
    assert.equal(analyzeFunctionSource(""), undefined);
    assert.equal(analyzeFunctionSource("42"), undefined);
    assert.equal(analyzeFunctionSource("x + 1"), undefined);
    assert.equal(analyzeFunctionSource("{ a: 1 }"), undefined);
    assert.equal(analyzeFunctionSource("function ("), undefined);
  });

  it("rejects text that smuggles more than one expression", () => {
    assert.equal(analyzeFunctionSource("function f() {}); steal(); (0"), undefined);
    assert.equal(analyzeFunctionSource("(x) => x) + (1"), undefined);
    assert.equal(analyzeFunctionSource("a() {}, b() {}"), undefined);
    assert.equal(analyzeFunctionSource("function f() {}\nsteal()"), undefined);
  });

  it("trims surrounding whitespace and comments from the expression", () => {
    const result = analysed("\n  /* lead */ (x) => x // trailing");
    assert.equal(result.expression, "(x) => x");
    assert.equal(rebuild(result.expression) instanceof Function, true);
  });

  it("accepts sloppy-mode code (with) and module-only code (import.meta)", () => {
    assert.deepEqual(freeOf("function (o) { with (o) { return y } }"), ["y"]);
    const fn = () => import.meta.url;
    assert.deepEqual(freeOf(fn), []);
  });

  it("lists TypeScript tooling helpers such as __name", () => {
    assert.deepEqual(freeOf('() => __name(function inner() { return 1 }, "inner")'), ["__name"]);
  });

  it("sorts and de-duplicates", () => {
    const fn = () => [sideEffect(), outer, Base, outer, sideEffect()];
    assert.deepEqual(freeOf(fn), ["Base", "outer", "sideEffect"]);
  });
});

describe("analyzeFunctionSource: method shorthand", () => {
  const obj = {
    inc(x: number) {
      return x + 1;
    },
    async twice(x: number) {
      return (await Promise.resolve(x)) * 2;
    },
    *count(n: number) {
      for (let i = 0; i < n; i++) yield i;
    },
    async *countAsync(n: number) {
      for (let i = 0; i < n; i++) yield await i;
    },
    get size() {
      return 3;
    },
    set size(_v: number) {},
    [Symbol.iterator]() {
      return [1, 2][Symbol.iterator]();
    },
    delete(x: number) {
      return -x;
    },
  };
  const descriptor = Object.getOwnPropertyDescriptor(obj, "size");

  it("turns a plain method into a named function expression", () => {
    const result = analysed(obj.inc.toString());
    assert.match(result.expression, /^function inc\(x\) \{/);
    assert.deepEqual(result.freeVariables, []);
    const inc = rebuild(result.expression) as (x: number) => number;
    assert.equal(inc(1), 2);
    assert.equal(inc.name, "inc");
  });

  it("keeps async and generator markers", async () => {
    const twice = analysed(obj.twice.toString());
    assert.match(twice.expression, /^async function twice\(x\)/);
    assert.equal(await (rebuild(twice.expression) as typeof obj.twice)(4), 8);

    const count = analysed(obj.count.toString());
    assert.match(count.expression, /^function\* count\(n\)/);
    assert.deepEqual([...(rebuild(count.expression) as typeof obj.count)(3)], [0, 1, 2]);

    const countAsync = analysed(obj.countAsync.toString());
    assert.match(countAsync.expression, /^async function\* countAsync\(n\)/);
    const seen: number[] = [];
    for await (const i of (rebuild(countAsync.expression) as typeof obj.countAsync)(2)) seen.push(i);
    assert.deepEqual(seen, [0, 1]);
  });

  it("turns getters and setters into functions", () => {
    const getter = analysed(String(descriptor?.get));
    assert.match(getter.expression, /^function size\(\)/);
    assert.equal((rebuild(getter.expression) as () => number)(), 3);

    const setter = analysed(String(descriptor?.set));
    assert.match(setter.expression, /^function size\(_v\)/);
    assert.equal(typeof rebuild(setter.expression), "function");
  });

  it("turns computed-key methods into anonymous functions", () => {
    const source = obj[Symbol.iterator].toString();
    assert.ok(source.startsWith("[Symbol.iterator]()"));
    const result = analysed(source);
    assert.match(result.expression, /^function \(\) \{/);
    // The key `Symbol.iterator` is not part of the function; only the body's reads count.
    assert.deepEqual(result.freeVariables, ["Symbol"]);
    const iter = rebuild(result.expression) as () => Iterator<number>;
    assert.equal(iter().next().value, 1);
  });

  it("drops a method name that is a reserved word", () => {
    const result = analysed(obj.delete.toString());
    assert.match(result.expression, /^function \(x\)/);
    assert.equal((rebuild(result.expression) as (x: number) => number)(2), -2);
  });

  it("does not bind a method's own name inside it", () => {
    // In a method, `fib` is the outer binding, so it is free; naming the
    // function expression `fib` would silently capture it instead.
    const result = analysed("fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) }");
    assert.deepEqual(result.freeVariables, ["fib"]);
    assert.match(result.expression, /^function \(n\)/);
  });

  it("gives up on methods that use super (no function-expression equivalent)", () => {
    class Derived extends Base {
      override greet(): string {
        return super.greet() + "!";
      }
    }
    assert.equal(analyzeFunctionSource(Derived.prototype.greet.toString()), undefined);
  });

  it("lists free variables of a method body", () => {
    const m = {
      scaled(x: number) {
        return x * outer;
      },
    };
    assert.deepEqual(freeOf(m.scaled), ["outer"]);
  });
});

describe("analyzeFunctionSource: scope rules", () => {
  it("binds parameters; defaults may read earlier parameters and outer names", () => {
    assert.deepEqual(freeOf((a: number, b = a) => a + b), []);
    assert.deepEqual(freeOf((a: number, b = outer) => a + b), ["outer"]);
    assert.deepEqual(freeOf((_a: number) => counter), ["counter"]);
  });

  it("evaluates parameter defaults outside the body's var scope", () => {
    assert.deepEqual(freeOf("function (a = hidden) { var hidden = 1; return a + hidden }"), ["hidden"]);
  });

  it("binds every name in destructuring patterns; their defaults are reads", () => {
    type Shape = { a: number; b: [number, ...number[]]; e: { f?: number }; g?: number; [k: string]: unknown };
    const fn = ({ a, b: [c, ...d], e: { f = outer }, g = a, ...rest }: Shape, [h, [i = idx]] = [1, [2]]) =>
      [a, c, d, f, g, rest, h, i];
    assert.deepEqual(freeOf(fn), ["idx", "outer"]);
    assert.deepEqual(freeOf("({ [k]: v }) => v"), ["k"]);
    assert.deepEqual(freeOf("(...args) => args"), []);
  });

  it("binds destructuring in variable declarations and leaves assignment patterns free", () => {
    const fn = () => {
      const { a, b: [c = outer] } = { a: 1, b: [] as number[] };
      let x: number;
      [x, counter] = [a, c];
      ({ a: key } = { a: "k" });
      return x;
    };
    assert.deepEqual(freeOf(fn), ["counter", "key", "outer"]);
  });

  it("hoists var to the function scope", () => {
    const fn = (flag: boolean) => {
      if (flag) {
        // eslint-disable-next-line no-var
        var v: number | undefined = 1;
      }
      return v;
    };
    assert.deepEqual(freeOf(fn), []);
    assert.deepEqual(freeOf("() => { w = 2; { var w } return w }"), []);
    // ...but not out of a nested function.
    assert.deepEqual(freeOf("() => { (function () { var z = 1 })(); return z }"), ["z"]);
  });

  it("scopes let, const and class to their block", () => {
    const fn = () => {
      {
        const shadowed = 1;
        let other = shadowed;
        class Local {}
        other += Number(new Local());
      }
      return shadowed;
    };
    assert.deepEqual(freeOf(fn), ["Number", "shadowed"]);
    assert.deepEqual(freeOf("() => { { let a = 1; class C {} } return [a, C] }"), ["C", "a"]);
    assert.deepEqual(freeOf("() => { { const a = 1; use(a) } }"), ["use"]);
  });

  it("hoists function declarations within their scope", () => {
    const fn = () => {
      return helper() + outer;
      function helper(): number {
        return 1;
      }
    };
    assert.deepEqual(freeOf(fn), ["outer"]);
    // A function declared in a nested block is bound there (strict-mode rule).
    assert.deepEqual(freeOf("() => { { function g() {} } return g }"), ["g"]);
  });

  it("binds a named function expression's name only inside it", () => {
    const fact = function factorial(n: number): number {
      return n <= 1 ? 1 : n * factorial(n - 1);
    };
    assert.deepEqual(freeOf(fact), []);
    const fn = () => {
      const g = function named(): number {
        return 1;
      };
      return [g, named];
    };
    assert.deepEqual(freeOf(fn), ["named"]);
  });

  it("handles arrow and nested functions", () => {
    const curried = (a: number) => (b: number) => (c: number) => a + b + c + outer;
    assert.deepEqual(freeOf(curried), ["outer"]);
    const nested = function (a: number) {
      function inner(b: number): number {
        return a + b + counter;
      }
      return inner(1);
    };
    assert.deepEqual(freeOf(nested), ["counter"]);
    // A nested function's parameters do not leak out.
    assert.deepEqual(freeOf("() => { (p) => p; return p }"), ["p"]);
  });

  it("binds catch parameters, plain and destructured, to the catch block", () => {
    const fn = () => {
      try {
        return sideEffect();
      } catch (e) {
        return e;
      }
    };
    assert.deepEqual(freeOf(fn), ["sideEffect"]);
    assert.deepEqual(freeOf("() => { try {} catch ({ message, cause: [c = dflt] }) { return message + c } }"), ["dflt"]);
    assert.deepEqual(freeOf("() => { try {} catch (e) {} return e }"), ["e"]);
    assert.deepEqual(freeOf("() => { try {} catch { } finally { done() } }"), ["done"]);
  });

  it("binds for-of, for-let and for-in heads to the loop", () => {
    const fn = (xs: number[]) => {
      let s = 0;
      for (const x of xs) s += x;
      for (let i = 0; i < 3; i++) s += i;
      for (const k in outerObj) s += k.length;
      for (key in outerObj) s += key.length;
      return s;
    };
    assert.deepEqual(freeOf(fn), ["key", "outerObj"]);
    assert.deepEqual(freeOf("() => { for (let i = 0; i < 1; i++) {} return i }"), ["i"]);
    assert.deepEqual(freeOf("() => { for (var i = 0; i < 1; i++) {} return i }"), []);
    assert.deepEqual(freeOf("async () => { for await (const chunk of stream) use(chunk) }"), ["stream", "use"]);
  });

  it("does not treat labels as variables", () => {
    const fn = (rows: number[][]) => {
      let found = -1;
      outer: for (const row of rows) {
        for (const cell of row) {
          if (cell < 0) continue outer;
          if (cell > 9) {
            found = cell;
            break outer;
          }
        }
      }
      return found;
    };
    // `outer` is a module constant here too, yet the label must not count.
    assert.deepEqual(freeOf(fn), []);
    assert.deepEqual(freeOf("() => { lbl: { break lbl } }"), []);
  });

  it("reads only the object of a member expression unless computed", () => {
    const fn = (o: Record<string, number>) => [ghost?.a, o[idx], ghost?.b?.c, o.missing, outerObj.a];
    assert.deepEqual(freeOf(fn), ["ghost", "idx", "outerObj"]);
    assert.deepEqual(freeOf("() => a?.[b]?.(c).d"), ["a", "b", "c"]);
  });

  it("handles object literal keys, shorthand and computed keys", () => {
    assert.deepEqual(freeOf(() => ({ b: 1, "c": 2, 3: 4 })), []);
    assert.deepEqual(freeOf(() => ({ outer })), ["outer"]);
    assert.deepEqual(freeOf(() => ({ [idx]: 1 })), ["idx"]);
    assert.deepEqual(freeOf(() => ({ m() { return counter; }, get g() { return 1; } })), ["counter"]);
    assert.deepEqual(freeOf(() => ({ ...outerObj })), ["outerObj"]);
  });

  it("handles class bodies, extends and the class's own name", () => {
    class Widget extends Base {
      static count = 0;
      field = outer;
      #secret = 1;
      [fieldKey] = 2;
      static {
        Widget.count = tally;
      }
      method(): number {
        return Widget.count + this.#secret + this.field;
      }
      get value(): number {
        return #secret in this ? this.#secret : 0;
      }
      set value(v: number) {
        this.#secret = v;
      }
      static create(): Widget {
        return new Widget();
      }
    }
    assert.deepEqual(freeOf(Widget), ["Base", "fieldKey", "outer", "tally"]);
    assert.deepEqual(freeOf("() => { class Inner {} return new Inner() }"), []);
    assert.deepEqual(freeOf("() => { const C = class Named {}; return Named }"), ["Named"]);
    assert.deepEqual(freeOf("() => { class K { static { var s = 1 } } return s }"), ["s"]);
  });

  it("never lists this, super, arguments, new.target or import.meta", () => {
    const fn = function (this: unknown) {
      return [this, arguments.length, new.target, import.meta.url];
    };
    assert.deepEqual(freeOf(fn), []);
    class Sub extends Base {
      constructor() {
        super();
      }
      override greet(): string {
        return super.greet();
      }
    }
    assert.deepEqual(freeOf(Sub), ["Base"]);
    // Arrows have no `arguments` of their own; we still never report it.
    assert.deepEqual(freeOf("() => arguments[0]"), []);
  });

  it("reads through template literals, tagged templates and spread", () => {
    assert.deepEqual(freeOf(() => `${outer} and ${idx}`), ["idx", "outer"]);
    assert.deepEqual(freeOf(() => tag`x${outer}`), ["outer", "tag"]);
    assert.deepEqual(freeOf((xs: number[]) => Math.max(...xs, ...[outer])), ["Math", "outer"]);
  });

  it("lists typeof of undeclared names, assignments and updates", () => {
    assert.deepEqual(freeOf(() => typeof ghost), ["ghost"]);
    const fn = () => {
      counter = 1;
      counter++;
      --counter;
      counter += 2;
    };
    assert.deepEqual(freeOf(fn), ["counter"]);
    assert.deepEqual(freeOf("() => { x = 1 }"), ["x"]);
    assert.deepEqual(freeOf("() => { let x; x = 1; x++ }"), []);
  });

  it("handles async/await and generators/yield", async () => {
    const fn = async (p: Promise<number>) => (await p) + (await Promise.resolve(outer));
    assert.deepEqual(freeOf(fn), ["Promise", "outer"]);
    const gen = function* (n: number) {
      yield n;
      yield* [outer];
    };
    assert.deepEqual(freeOf(gen), ["outer"]);
  });

  it("handles private fields, #x in obj, and static blocks", () => {
    class P {
      static #count = 0;
      static {
        P.#count = outer;
      }
      static has(o: object): boolean {
        return #count in o;
      }
    }
    assert.deepEqual(freeOf(P), ["outer"]);
  });

  it("handles with, sequence expressions, regex and BigInt literals", () => {
    assert.deepEqual(freeOf("function () { with (scope) { return prop } }"), ["prop", "scope"]);
    assert.deepEqual(freeOf(() => (sideEffect(), outer)), ["outer", "sideEffect"]);
    assert.deepEqual(freeOf(() => /a+b/g.test(String(10n + BigInt(outer)))), ["BigInt", "String", "outer"]);
  });

  it("handles switch, conditional, logical, new and optional call", () => {
    const fn = (n: number) => {
      switch (n) {
        case outer: {
          const local = 1;
          return local;
        }
        default:
          return n > 0 ? counter ?? 0 : new Base().greet?.().length;
      }
    };
    assert.deepEqual(freeOf(fn), ["Base", "counter", "outer"]);
    assert.deepEqual(freeOf("(n) => { switch (n) { case 1: let a = 1; default: return a } }"), []);
  });

  it("handles dynamic import", () => {
    assert.deepEqual(freeOf("async () => import(spec, opts)"), ["opts", "spec"]);
  });
});
