/**
 * `dask-ts/bag`: reserved for the bag collection, which is not built yet.
 * Importing it works and exports nothing, so the subpath is stable.
 *
 * @module
 */
export {};
