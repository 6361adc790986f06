export * from './errors';
export * from './types';
export { BatchServing, type AnyBatchServing, type InlineOptions } from './serving';
export { DEFAULT_SERVING_OPTIONS, resolveServingOptions, type ServingOptions } from './options';
export type { RateLimit, RetryBackoff, RetryDecision, RetryOptions } from './options';
export type { ServingStats } from './stats';
export { RunningServing } from './running-serving';
export { type ShutdownMode, type BatcherState } from './batcher';
export { DEFAULT_BATCH_KEY } from './key-runs';
