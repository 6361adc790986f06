import { InvalidInputError, ServingConfigurationError } from './errors';
import type { BatchContext, DispatchOptions } from './types';
import { dispatchOptionInvalid, invalidOption } from './messages';
import { MAX_TIMER_MS } from './clock';
import type { WindowPolicy } from './window';

/** How one running serving batches and executes. */
export interface ServingOptions {
  /** Most values per execution. Default 32. */
  batchSize: number;
  /** Most time (ms) the first value of a forming batch waits; `0` = end of the current event-loop turn. Default 10. */
  batchTimeout: number;
  /** Batches that may execute at the same time, one per partition. Default 1. */
  partitions: number;
  /** Values waiting (not yet executing) above which a dispatch is refused whole. Default 100000. */
  maxQueueSize: number;
  /** Default per-dispatch deadline (ms). Default none. */
  timeout?: number;
  /** Split a failed batch and re-run the parts so that only the callers owning the failing value fail. Default false. */
  isolateFailures: boolean;
  /** Share of distributed traffic, multiplied by `partitions`. Default 1. */
  weight: number;
  /** `'adaptive'`: a forming batch may close before batchTimeout when more waiting is not expected to pay. Default `'fixed'`. */
  window?: WindowPolicy;
  /** Most total cost per execution, a value's cost given by `.cost(fn)`. Default none. */
  maxBatchCost?: number;
  /** Most batch starts and most total cost started in any interval of `per` ms. Default none. */
  rateLimit?: RateLimit;
  /** Which failed batches run again, and when. Default none: a failed batch fails its callers. */
  retry?: RetryOptions;
  /** Partitions kept for batches holding a value of at least `priority`: lower batches leave them free. Default none. */
  reserve?: Reserve;
}

/**
 * `reserve`: of the serving's partitions, `partitions` are kept for batches that hold a value of
 * `priority` or more. A batch of lower priority starts only while more than `partitions` are free,
 * so that an interactive dispatch finds a partition free at once instead of waiting for a bulk
 * job's running batch to end (a running batch cannot be interrupted).
 */
export interface Reserve {
  /** How many partitions to keep free: at least 1, at most `partitions - 1`. */
  partitions: number;
  /** The least priority a batch must hold to use them. */
  priority: number;
}

/** `rateLimit`: a sliding window of `per` ms in which at most `batches` batches, and at most `cost` in all, start. */
export interface RateLimit {
  /** The window, in ms: a provider's limit per minute is `per: 60_000`. */
  per: number;
  /** Most batch starts in any window (the provider's requests per minute). */
  batches?: number;
  /** Most total cost started in any window (the provider's tokens per minute). */
  cost?: number;
}

/** What a failed batch leads to: run again after the backoff, after a pause, halved, or failed. */
export type RetryDecision = 'retry' | 'split' | 'fail' | { retryAfterMs: number };

/** `retry`: how many times the same values may run, how long to wait between, and what each error means. */
export interface RetryOptions {
  /** Most executions of the same values; 1 means none again. */
  attempts: number;
  /** Wait before a retry: `min(max, initial × factor^(retry-1))`, with full jitter. Default `{ initial: 100, max: 10_000, factor: 2 }`. */
  backoff?: RetryBackoff;
  /** The decision for an error, e.g. a 429 or a 413 of a provider's SDK; `undefined` leaves it to the error's class. */
  classify?: (error: unknown, ctx: BatchContext) => RetryDecision | undefined;
}

export interface RetryBackoff {
  initial: number;
  max: number;
  /** Default 2. */
  factor?: number;
}

/** The defaults of every option, in one place. */
export const DEFAULT_SERVING_OPTIONS: Readonly<ServingOptions> = Object.freeze({
  batchSize: 32,
  batchTimeout: 10,
  partitions: 1,
  maxQueueSize: 100_000,
  timeout: undefined,
  isolateFailures: false,
  weight: 1,
  window: 'fixed',
});

const isPositiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const isNonNegativeFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isPositiveFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** A per-dispatch option that cannot work, as the error to reject with; undefined when all is well. */
export function checkDispatchOptions(name: string, options: DispatchOptions): InvalidInputError | undefined {
  const { timeout, signal, priority } = options;
  if (timeout !== undefined && !isPositiveFinite(timeout)) {
    return new InvalidInputError(dispatchOptionInvalid(name, 'timeout', timeout, 'a positive number of milliseconds, or left out'));
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return new InvalidInputError(dispatchOptionInvalid(name, 'signal', signal, 'an AbortSignal (new AbortController().signal), or left out'));
  }
  if (priority !== undefined && !Number.isSafeInteger(priority)) {
    return new InvalidInputError(dispatchOptionInvalid(name, 'priority', priority, 'a safe integer (higher runs first, default 0), or left out'));
  }
  return undefined;
}

/** Merges layers of options over the defaults and refuses what cannot work, naming the serving. */
export function resolveServingOptions(name: string, ...layers: Array<Partial<ServingOptions> | undefined>): ServingOptions {
  const options: ServingOptions = { ...DEFAULT_SERVING_OPTIONS };
  for (const layer of layers) {
    if (!layer) continue;
    for (const key of Object.keys(layer) as Array<keyof ServingOptions>) {
      if (layer[key] !== undefined) (options as unknown as Record<string, unknown>)[key] = layer[key];
    }
  }
  const check = (ok: boolean, option: keyof ServingOptions, rule: string) => {
    if (!ok) throw new ServingConfigurationError(invalidOption(name, option, options[option], rule));
  };
  check(isPositiveInteger(options.batchSize), 'batchSize', 'a whole number of at least 1');
  check(isNonNegativeFinite(options.batchTimeout) && options.batchTimeout <= MAX_TIMER_MS, 'batchTimeout', 'a number of milliseconds from 0 to 2147483647');
  check(isPositiveInteger(options.partitions), 'partitions', 'a whole number of at least 1');
  check(isPositiveInteger(options.maxQueueSize), 'maxQueueSize', 'a whole number of at least 1');
  check(options.timeout === undefined || isPositiveFinite(options.timeout), 'timeout', 'a positive number of milliseconds, or left out');
  check(typeof options.isolateFailures === 'boolean', 'isolateFailures', 'true or false');
  check(isPositiveFinite(options.weight), 'weight', 'a positive number');
  check(options.window === undefined || options.window === 'fixed' || options.window === 'adaptive', 'window', "'fixed' or 'adaptive'");
  checkBudgets(name, options);
  return options;
}

const isMilliseconds = (v: unknown): v is number => isPositiveFinite(v) && v <= MAX_TIMER_MS;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** maxBatchCost, rateLimit and retry: each alone, then together (a batch the rate limit could never start). */
function checkBudgets(name: string, options: ServingOptions): void {
  const refuse = (option: string, value: unknown, rule: string) => {
    throw new ServingConfigurationError(invalidOption(name, option, value, rule));
  };
  const { maxBatchCost, rateLimit, retry, reserve } = options;
  if (reserve !== undefined) {
    if (!isRecord(reserve)) refuse('reserve', reserve, 'an object { partitions, priority }, or left out');
    if (!isPositiveInteger(reserve.partitions) || reserve.partitions >= options.partitions) {
      refuse('reserve.partitions', reserve.partitions, `a whole number from 1 to partitions - 1 (${options.partitions - 1}): lower priorities need a partition to run on`);
    }
    if (!Number.isSafeInteger(reserve.priority)) refuse('reserve.priority', reserve.priority, 'a safe integer: the least priority that may use the kept partitions');
  }
  if (maxBatchCost !== undefined && !isPositiveFinite(maxBatchCost)) refuse('maxBatchCost', maxBatchCost, 'a positive number, or left out');
  if (rateLimit !== undefined) {
    if (!isRecord(rateLimit)) refuse('rateLimit', rateLimit, 'an object { per, batches?, cost? }, or left out');
    const { per, batches, cost } = rateLimit;
    if (!isMilliseconds(per)) refuse('rateLimit.per', per, 'a number of milliseconds from 1 to 2147483647');
    if (batches !== undefined && !isPositiveInteger(batches)) refuse('rateLimit.batches', batches, 'a whole number of at least 1, or left out');
    if (cost !== undefined && !isPositiveFinite(cost)) refuse('rateLimit.cost', cost, 'a positive number, or left out');
    if (batches === undefined && cost === undefined) refuse('rateLimit', rateLimit, 'given at least one of batches and cost');
    if (cost !== undefined && maxBatchCost !== undefined && maxBatchCost > cost) {
      refuse('maxBatchCost', maxBatchCost, `at most rateLimit.cost (${cost}): a batch over it could never start`);
    }
  }
  if (retry !== undefined) {
    if (!isRecord(retry)) refuse('retry', retry, 'an object { attempts, backoff?, classify? }, or left out');
    if (!isPositiveInteger(retry.attempts)) refuse('retry.attempts', retry.attempts, 'a whole number of at least 1 (1 means no retry)');
    const backoff = retry.backoff;
    if (backoff !== undefined) {
      if (!isRecord(backoff)) refuse('retry.backoff', backoff, 'an object { initial, max, factor? }, or left out');
      if (!isNonNegativeFinite(backoff.initial) || backoff.initial > MAX_TIMER_MS) refuse('retry.backoff.initial', backoff.initial, 'a number of milliseconds from 0 to 2147483647');
      if (!isNonNegativeFinite(backoff.max) || backoff.max < backoff.initial || backoff.max > MAX_TIMER_MS) {
        refuse('retry.backoff.max', backoff.max, `a number of milliseconds from backoff.initial (${backoff.initial}) to 2147483647`);
      }
      if (backoff.factor !== undefined && !(isPositiveFinite(backoff.factor) && backoff.factor >= 1)) refuse('retry.backoff.factor', backoff.factor, 'a number of at least 1, or left out');
    }
    if (retry.classify !== undefined && typeof retry.classify !== 'function') refuse('retry.classify', retry.classify, 'a function (error, ctx) => decision, or left out');
  }
}

/**
 * Checks that need the serving as well as its options: without `.cost` every value costs 1, so
 * a budget under 1 could never hold a batch.
 */
export function checkBudgetsFit(name: string, options: ServingOptions, hasCost: boolean): void {
  if (hasCost) return;
  const { maxBatchCost, rateLimit } = options;
  const rule = 'at least 1 when the serving has no .cost(fn), since every value then costs 1';
  if (maxBatchCost !== undefined && maxBatchCost < 1) throw new ServingConfigurationError(invalidOption(name, 'maxBatchCost', maxBatchCost, rule));
  if (rateLimit?.cost !== undefined && rateLimit.cost < 1) throw new ServingConfigurationError(invalidOption(name, 'rateLimit.cost', rateLimit.cost, rule));
}
