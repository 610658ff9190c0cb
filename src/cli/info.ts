/**
 * `dask-ts info`: what this machine offers dask-ts — Node version, cores, the
 * default number of workers, memory — as text or JSON.
 *
 * @module
 */
import { availableParallelism, freemem, totalmem } from "node:os";
import { type Command, VERSION, parseFlags } from "./command.js";

export const infoCommand: Command = {
  name: "info",
  summary: "show the version, cores and memory dask-ts will use",
  help: ["Usage: dask-ts info [--json]", "", "Show the dask-ts and Node.js versions, the cores (one embedded worker per core) and memory.", "", "  --json   print JSON instead of text"].join("\n"),
  async run(args) {
    const flags = parseFlags(args, { json: "boolean" });
    const info = {
      daskTs: VERSION,
      node: process.versions.node,
      cores: availableParallelism(),
      defaultWorkers: availableParallelism(),
      memoryTotalBytes: totalmem(),
      memoryFreeBytes: freemem(),
    };
    if (flags.has("json")) console.log(JSON.stringify(info));
    else {
      const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;
      console.log(`dask-ts ${info.daskTs} on Node.js ${info.node}`);
      console.log(`cores: ${info.cores} (embedded cluster: ${info.defaultWorkers} worker threads)`);
      console.log(`memory: ${gib(info.memoryTotalBytes)} total, ${gib(info.memoryFreeBytes)} free`);
    }
    return 0;
  },
};
