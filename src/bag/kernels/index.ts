/**
 * Registers the bag's library operations (imported by every worker thread
 * through `ops/index.ts`, so the names resolve anywhere).
 *
 * @module
 */
import "./run.js";
import "./shuffle.js";
import "./partitions.js";
import "./write.js";
