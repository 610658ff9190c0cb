/**
 * `dask-ts/dataframe`: reserved for the dataframe collection, which is not built yet.
 * Importing it works and exports nothing, so the subpath is stable.
 *
 * @module
 */
export {};
