/**
 * Registers every library operation. Imported by worker threads at start-up
 * so that an operation name resolves on any thread.
 *
 * @module
 */
import "./core.js";
import "../bag/kernels/index.js";
