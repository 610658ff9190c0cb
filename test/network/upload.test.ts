/**
 * `client.uploadModule` on a network cluster of worker processes on
 * loopback. The modules are written to a temporary "project" directory of
 * the client's and moved away after they are uploaded, so the workers can
 * only run them from their uploaded copies. The workers run in a working
 * directory of their own, whose `node_modules` holds a package the client's
 * project has in another version: that is how the tests tell where an
 * uploaded module's imports were resolved.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tsImport } from "tsx/esm/api";

import { Client, SchedulerServer } from "../../src/distributed.js";
import { delayed, registerModule } from "../../src/index.js";
import { InvalidArgumentError, UploadError, UploadSourceError, UploadTooLargeError } from "../../src/core/errors.js";
import { CliProcess, killAll } from "../helpers/cli.js";
import { killWorkers, startWorker, type WorkerProcess } from "../helpers/workers.js";

const repoRoot = realpathSync(fileURLToPath(new URL("../../../", import.meta.url)));

type Fn = (...args: never[]) => unknown;

let tmp: string;
/** The client's project: `package.json` with `"type": "module"`, and `node_modules` with dask-ts, acorn and upload-test-pkg. */
let project: string;
/** The workers' working directory, with its own upload-test-pkg. */
let workerCwd: string;
/** The workers' local directory. */
let local: string;
let server: SchedulerServer;
let client: Client;
let workers: WorkerProcess[];

/** Write a package that exports `where`, telling whose copy it is. */
function writePackage(dir: string, where: string): void {
  const pkg = join(dir, "node_modules", "upload-test-pkg");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "upload-test-pkg", type: "module", exports: "./index.js" }));
  writeFileSync(join(pkg, "index.js"), `export const where = ${JSON.stringify(where)};\n`);
}

before(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), "dask-ts-upload-test-")));
  project = join(tmp, "project");
  workerCwd = join(tmp, "worker-cwd");
  local = join(tmp, "local");
  mkdirSync(join(project, "node_modules"), { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(repoRoot, join(project, "node_modules", "dask-ts"));
  symlinkSync(join(repoRoot, "node_modules", "acorn"), join(project, "node_modules", "acorn"));
  writePackage(project, "client");
  writePackage(workerCwd, "worker");
  server = await SchedulerServer.start({ port: 0, scheduler: { validate: true } });
  workers = await Promise.all([
    startWorker(server.address, "w0", { cwd: workerCwd, localDirectory: local }),
    startWorker(server.address, "w1", { cwd: workerCwd, localDirectory: local, env: { UPLOAD_TEST_WORKER: "w1" } }),
  ]);
  client = await Client.connect(server.address, { setAsDefault: false });
  await client.waitForWorkers(2);
});

after(async () => {
  await client?.close();
  await server?.close();
  killWorkers();
  killAll();
  rmSync(tmp, { recursive: true, force: true });
});

/** Write the files of a module directory under the project. */
function writeModules(dir: string, files: Readonly<Record<string, string>>): string {
  const root = join(project, dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

/** Move a directory away, so that nothing can load modules from where it was. */
function moveAway(dir: string): void {
  renameSync(dir, `${dir}-gone-${readdirSync(project).length}`);
  assert.ok(!existsSync(dir));
}

async function importModule<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(path).href)) as T;
}

/**
 * A module `DIR/DIR.js` under the project with one function, `NAME(x) { return BODY; }`,
 * registered: imported here, uploaded and moved away, so workers can run only its copy.
 */
async function uploadedFunction(dir: string, name: string, body: string): Promise<(x: number) => number> {
  const root = writeModules(dir, {
    [`${dir}.js`]: ['import { registerModule } from "dask-ts";', `export function ${name}(x) { return ${body}; }`, `registerModule(import.meta.url, { ${name} });`].join("\n"),
  });
  const mod = await importModule<Record<string, (x: number) => number>>(join(root, `${dir}.js`));
  await client.uploadModule(join(root, `${dir}.js`));
  moveAway(root);
  return mod[name]!;
}

describe("uploading modules", () => {
  it("a module only the client can see runs on the workers, through submit, delayed compute and run", async () => {
    const dir = writeModules("solo", {
      "solo.js": [
        'import { createHash } from "node:crypto";',
        'import { registerModule } from "dask-ts";',
        'export function digest(s) { return createHash("sha256").update(s).digest("hex").slice(0, 16); }',
        "export function whereAmI() { return import.meta.url; }",
        "registerModule(import.meta.url, { digest, whereAmI });",
      ].join("\n"),
    });
    const mod = await importModule<{ digest: (s: string) => string; whereAmI: () => string }>(join(dir, "solo.js"));
    const up = await client.uploadModule(join(dir, "solo.js"));
    assert.equal(up.module, pathToFileURL(join(dir, "solo.js")).href);
    assert.equal(up.from, up.module);
    assert.equal(up.files, 1);
    assert.deepEqual([...up.workers].sort(), workers.map((w) => w.address).sort());
    moveAway(dir);

    assert.equal(await client.submit(mod.digest, "abc").result(), mod.digest("abc"));
    assert.equal(await delayed(mod.digest)("xyz").compute({ scheduler: client }), mod.digest("xyz"));
    const urls = Object.values(await client.run(mod.whereAmI));
    assert.equal(urls.length, 2);
    for (const url of urls) assert.ok(url.startsWith(pathToFileURL(local).href) && url.endsWith("/solo.js"), url);
  });

  it("a directory upload keeps relative imports; bare imports find dask-ts, and packages where the workers run", async () => {
    const dir = writeModules("analysis", {
      "main.js": [
        'import { parse } from "acorn";',
        'import { registerModule } from "dask-ts";',
        'import { where } from "upload-test-pkg";',
        'import { doubled } from "./lib/helper.js";',
        "export function analyse(src) { return { statements: parse(src, { ecmaVersion: 2022 }).body.length, doubled: doubled(src.length), where }; }",
        "registerModule(import.meta.url, { analyse });",
      ].join("\n"),
      "lib/helper.js": "export const doubled = (n) => 2 * n;\n",
      ".secret": "not uploaded",
      "node_modules/left-out/index.js": "export {};\n",
    });
    const mod = await importModule<{ analyse: (src: string) => unknown }>(join(dir, "main.js"));
    const up = await client.uploadModule(pathToFileURL(join(dir, "main.js")), { root: dir });
    assert.equal(up.from, `${pathToFileURL(dir).href}/`);
    assert.equal(up.files, 2, "main.js and lib/helper.js; dot entries and node_modules stay behind");
    moveAway(dir);

    const src = "let a = 1; f(a);";
    assert.deepEqual(mod.analyse(src), { statements: 2, doubled: 32, where: "client" });
    assert.deepEqual(await client.submit(mod.analyse, src).result(), { statements: 2, doubled: 32, where: "worker" });
    assert.deepEqual(Object.values(await client.run(mod.analyse, "x;")), [
      { statements: 1, doubled: 4, where: "worker" },
      { statements: 1, doubled: 4, where: "worker" },
    ]);
  });

  it("a TypeScript module (with a .js import of a .ts file) runs where the workers can load tsx", async () => {
    const dir = join(project, "ts");
    cpSync(join(repoRoot, "test", "fixtures", "tsx"), dir, { recursive: true });
    const url = pathToFileURL(join(dir, "tasks.ts")).href;
    const mod = (await tsImport(url, import.meta.url)) as { score: (r: { sensor: string; values: number[] }) => number; fingerprint: (s: string) => string };
    // tsImport loads it under a URL of its own: record the functions under the module's plain URL.
    registerModule(url, { score: mod.score as Fn, fingerprint: mod.fingerprint as Fn });
    await client.uploadModule(url, { root: dir });
    moveAway(dir);

    const reading = { sensor: "a", values: [1, 2, 3] };
    assert.equal(await client.submit(mod.score, reading).result(), mod.score(reading));
    assert.deepEqual(Object.values(await client.run(mod.fingerprint, "b")), [mod.fingerprint("b"), mod.fingerprint("b")]);
  });

  it("uploading a changed version again: tasks use the new one", async () => {
    const version = (n: number): Record<string, string> => ({
      "v.js": [
        'import { registerModule } from "dask-ts";',
        `export function version() { return ${n}; }`,
        "export function whereAmI() { return import.meta.url; }",
        "registerModule(import.meta.url, { version, whereAmI });",
      ].join("\n"),
    });
    const dir = writeModules("versioned", version(1));
    const mod = await importModule<{ version: () => number; whereAmI: () => string }>(join(dir, "v.js"));
    await client.uploadModule(join(dir, "v.js"));
    moveAway(dir);
    assert.equal(await client.submitWith({ pure: false }, mod.version).result(), 1);
    const before = await client.run(mod.whereAmI);

    writeModules("versioned", version(2));
    await client.uploadModule(join(dir, "v.js"));
    moveAway(dir);
    assert.equal(await client.submitWith({ pure: false }, mod.version).result(), 2);
    assert.equal(await delayed(mod.version, { pure: false })().compute({ scheduler: client }), 2);
    assert.deepEqual(Object.values(await client.run(mod.version)), [2, 2]);
    const after = await client.run(mod.whereAmI);
    for (const [address, url] of Object.entries(after)) assert.notEqual(url, before[address], "a new copy, under a new URL");
  });
});

describe("workers that join later", () => {
  it("a worker that joins after an upload gets it before any task, and removes its copies when it stops", async () => {
    const triple = await uploadedFunction("late", "triple", "3 * x");
    // Only the new worker offers LATE, so the task waits for it and is sent to it with the upload, in one batch.
    const result = client.submitWith({ resources: { LATE: 1 } }, triple, 14).result();
    const late = new CliProcess(["worker", server.address, "--no-nanny", "--name", "late", "--resources", "LATE=1", "--local-directory", local]);
    assert.equal(await result, 42);
    const own = (): string[] => readdirSync(local).filter((n) => n.includes(`-${late.pid}-`));
    assert.equal(own().length, 1, "its directory is in the local directory");
    late.kill("SIGTERM");
    assert.equal((await late.exit()).code, 0);
    assert.deepEqual(own(), [], "and is removed when it stops");
  });

  it("a `dask-ts worker` whose process a nanny restarts gets the uploads again; the killed one's files are removed", async () => {
    const negate = await uploadedFunction("restart", "negate", "-x");
    const nanny = new CliProcess(["worker", server.address, "--name", "nannied", "--local-directory", local]);
    const [, firstPid] = await nanny.line(/started worker nannied \(pid (\d+)\)/, { stream: "stderr" });
    const [, firstAddress] = await nanny.line(/^worker nannied at (tcp:\S+)/);
    assert.equal(await client.submitWith({ workers: [firstAddress!] }, negate, 1).result(), -1);
    const seen = { stdout: nanny.lines.stdout.length, stderr: nanny.lines.stderr.length };
    process.kill(Number(firstPid), "SIGKILL");
    const [, secondPid] = await nanny.line(/started worker nannied \(pid (\d+)\)/, { stream: "stderr", from: seen.stderr });
    const [, secondAddress] = await nanny.line(/^worker nannied at (tcp:\S+)/, { from: seen.stdout });
    assert.notEqual(secondPid, firstPid);
    assert.equal(await client.submitWith({ workers: [secondAddress!] }, negate, 2).result(), -2);
    assert.deepEqual(
      readdirSync(local).filter((n) => n.includes(`-${firstPid}-`)),
      [],
      "the killed worker's directory was removed by the one that replaced it",
    );
    nanny.kill("SIGTERM");
    assert.equal((await nanny.exit()).code, 0);
    assert.deepEqual(readdirSync(local).filter((n) => n.includes(`-${secondPid}-`)), []);
  });
});

describe("uploads that cannot be made", () => {
  it("a path that does not exist, a directory for a module, a file for a root, a module outside its root, a URL of another scheme", async () => {
    const dir = writeModules("bad", { "m.js": "export const x = 1;\n", "sub/n.js": "export const y = 2;\n" });
    const reason = (r: string) => (err: unknown) => err instanceof UploadSourceError && err.code === "DASK_ERR_UPLOAD_SOURCE" && err.reason === r;
    await assert.rejects(client.uploadModule(join(dir, "missing.js")), reason("ENOENT"));
    await assert.rejects(client.uploadModule(pathToFileURL(join(dir, "missing.js"))), /does not exist/);
    await assert.rejects(client.uploadModule(dir), reason("EISDIR"));
    await assert.rejects(client.uploadModule(join(dir, "m.js"), { root: join(dir, "m.js") }), reason("ENOTDIR"));
    await assert.rejects(client.uploadModule(join(dir, "m.js"), { root: join(dir, "sub") }), reason("outside-root"));
    await assert.rejects(client.uploadModule("https://example.org/m.js"), reason("not-a-file"));
    await assert.rejects(client.uploadModule(join(dir, "m.js"), { rooot: dir } as never), InvalidArgumentError);
  });

  it("an upload over the message size limit is refused before anything is sent", async () => {
    const limit = 256 * 2 ** 20;
    const dir = writeModules("huge", { "m.js": "export const x = 1;\n", "data.bin": "" });
    // Sparse: as large as it says, without taking the disk space.
    truncateSync(join(dir, "data.bin"), limit + 1);
    const tooLarge = (err: unknown) => err instanceof UploadTooLargeError && err.code === "DASK_ERR_UPLOAD_TOO_LARGE" && err.maxBytes === limit && err.bytes > limit;
    await assert.rejects(client.uploadModule(join(dir, "m.js"), { root: dir }), tooLarge);
    writeFileSync(join(dir, "big.js"), "");
    truncateSync(join(dir, "big.js"), limit + 1);
    await assert.rejects(client.uploadModule(join(dir, "big.js")), tooLarge);
  });

  it("a module that fails to import: an UploadError names each worker, and the cluster carries on", async () => {
    const dir = writeModules("failing", {
      "syntax.js": "export const broken = ;\n",
      "forever.js": "await new Promise(() => {});\nexport const never = 1;\n",
      "needs.js": 'import "dask-ts-test-no-such-package";\nexport const x = 1;\n',
      "picky.js": [
        'import { registerModule } from "dask-ts";',
        'if (process.env.UPLOAD_TEST_WORKER === "w1") throw new Error("w1 will not load this");',
        "export function square(x) { return x * x; }",
        "registerModule(import.meta.url, { square });",
      ].join("\n"),
    });
    const failedOn = (addresses: readonly string[], pattern: RegExp) => (err: unknown) => {
      assert.ok(err instanceof UploadError, String(err));
      assert.equal(err.code, "DASK_ERR_UPLOAD");
      assert.deepEqual(err.failures.map((f) => f.worker).sort(), [...addresses].sort());
      for (const f of err.failures) assert.match(f.reason, pattern);
      for (const a of addresses) assert.ok(err.message.includes(a), err.message);
      return true;
    };
    const all = workers.map((w) => w.address);
    await assert.rejects(client.uploadModule(join(dir, "syntax.js")), failedOn(all, /SyntaxError/));
    // Top-level code that never finishes: each worker is reported once its time is up.
    await assert.rejects(client.uploadModule(join(dir, "forever.js"), { timeoutMs: 300 }), failedOn(all, /did not finish storing and importing the module within 300 ms/));
    await assert.rejects(client.uploadModule(join(dir, "syntax.js"), { timeoutMs: 0 }), InvalidArgumentError);
    await assert.rejects(client.uploadModule(join(dir, "syntax.js"), { timeoutMs: Infinity }), InvalidArgumentError);
    await assert.rejects(client.uploadModule(join(dir, "needs.js")), failedOn(all, /Cannot find package 'dask-ts-test-no-such-package'.*install it in the worker's working directory/));

    const picky = await importModule<{ square: (x: number) => number }>(join(dir, "picky.js"));
    await assert.rejects(client.uploadModule(join(dir, "picky.js")), failedOn([workers[1]!.address], /w1 will not load this/));
    moveAway(dir);
    assert.equal(await client.submitWith({ workers: [workers[0]!.address] }, picky.square, 7).result(), 49);
    assert.deepEqual([...server.workerAddresses].sort(), [...all].sort(), "every worker is still there");
    assert.equal(await client.submit((x: number) => x + 1, 1).result(), 2);
  });

  it("the scheduler refuses a malformed upload, such as a path that leads out of it", async () => {
    const base = { from: "file:///app/", module: "file:///app/m.js", type: "module", sizes: [1], data: new Uint8Array(1) };
    for (const paths of [["../evil.js"], ["/etc/evil.js"], ["a/./m.js"], ["a\\..\\m.js"]]) {
      await assert.rejects(client.request("upload", { ...base, paths }), (err: unknown) => err instanceof InvalidArgumentError && /not a relative path inside the upload/.test(err.message));
    }
    await assert.rejects(client.request("upload", { ...base, paths: ["m.js"], sizes: [2] }), /sizes add up to 2 bytes, the data has 1/);
  });
});
