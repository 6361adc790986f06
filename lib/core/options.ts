import { InvalidInputError, ServingConfigurationError } from './errors';
import type { DispatchOptions } from './types';
import { dispatchOptionInvalid, invalidOption } from './messages';
import { MAX_TIMER_MS } from './feed';

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
    return new InvalidInputError(dispatchOptionInvalid(name, 'priority', priority, 'a safe integer (higher runs first), or left out'));
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
  return options;
}
