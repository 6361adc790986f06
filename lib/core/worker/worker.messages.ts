/** Texts of the errors of worker servings: each names the serving, the file and the fix. */

export const workerLoadFailed = (name: string, filename: string, cause: string) =>
  `Serving '${name}': the worker file ${filename} could not be loaded or initialised: ${cause}. ` +
  `Check the path (a TypeScript app points at its compiled file, dist/…worker.js), and that the module ` +
  `loads and its init(workerData) resolves when run on its own.`;

export const workerThreadFailed = (name: string, filename: string, cause: string) =>
  `Serving '${name}': a thread for the worker file ${filename} failed to start: ${cause}. ` +
  `Check the worker options (resourceLimits, execArgv).`;

export const workerCrashed = (name: string, filename: string, cause: string) =>
  `Serving '${name}': the worker thread running this batch (${filename}) died: ${cause}. ` +
  `The thread was replaced; other batches go on.`;

export const workerNotStarted = (name: string, reason: string) =>
  `Serving '${name}' has no worker threads: ${reason}`;

export const invalidWorkerFile = (filename: unknown) =>
  `BatchServing.worker(filename) needs the absolute path of a .js or .mjs file (require.resolve('./embed.worker.js')); got ${String(filename)}.`;

export const describeCause = (error: unknown): string =>
  error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)
    ? `${(error as Error).name ?? 'Error'}: ${(error as Error).message}`
    : String(error);
