import type { ResourceLimits } from 'node:worker_threads';

/** Options of `BatchServing.worker(filename, options)`. */
export interface WorkerServingOptions {
  /** Passed to the module's `init(workerData)`, once per thread. Structured-cloned. Default: undefined. */
  workerData?: unknown;
  /** `worker_threads`' own limits of each thread (heap sizes, stack). Default: Node's. */
  resourceLimits?: ResourceLimits;
  /**
   * Node options of each thread. Default: the process's own. A test runner that loads the worker
   * from its TypeScript source passes a loader here, `['--require', '@swc-node/register']`.
   */
  execArgv?: string[];
}

/** What a worker serving runs: a module file and how its threads start. */
export interface WorkerSource extends WorkerServingOptions {
  readonly filename: string;
}
