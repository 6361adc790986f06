export * from './errors';
export * from './types';
export { BatchServing, type AnyBatchServing, type InlineOptions } from './serving';
export { DEFAULT_SERVING_OPTIONS, resolveServingOptions, type ServingOptions } from './options';
export type { ServingStats } from './stats';
export { RunningServing } from './running-serving';
export { DEFAULT_BATCH_KEY, type ShutdownMode, type BatcherState } from './batcher';
export type { WorkerServingOptions } from './worker/worker-source';
