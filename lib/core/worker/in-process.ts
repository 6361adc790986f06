import { ServingConfigurationError } from '../errors';
import type { BatchContext } from '../types';
import type { WorkerSource } from './worker-source';
import * as messages from './worker.messages';

interface WorkerModule {
  handleBatch(values: unknown[], ctx: BatchContext): unknown[] | Promise<unknown[]>;
  init?(workerData: unknown): unknown;
}

/**
 * The batch function of a worker serving run inline (`BatchServing.inline`): inline means in the
 * caller, so the module is loaded in this thread, once, and `init` runs once before its first batch.
 */
export function inProcessHandler(name: string, source: WorkerSource): (values: unknown[], ctx: BatchContext) => Promise<unknown[]> {
  let loaded: Promise<WorkerModule> | undefined;
  return async (values, ctx) => {
    loaded ??= load(name, source);
    return (await loaded).handleBatch(values, ctx);
  };
}

async function load(name: string, source: WorkerSource): Promise<WorkerModule> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    let module_ = require(source.filename) as WorkerModule & { default?: WorkerModule };
    if (typeof module_.handleBatch !== 'function' && module_.default) module_ = module_.default;
    if (typeof module_.handleBatch !== 'function') throw new TypeError('it exports no handleBatch(values, ctx) function');
    await module_.init?.(source.workerData);
    return module_;
  } catch (cause) {
    throw new ServingConfigurationError(messages.workerLoadFailed(name, source.filename, messages.describeCause(cause)), { cause });
  }
}
