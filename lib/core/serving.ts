import { basename, isAbsolute } from 'node:path';
import { ServingConfigurationError } from './errors';
import { notAServing } from './messages';
import type { BatchFunction, DispatchOptions, ServingHandler } from './types';
import { runInline } from './inline';
import { resolveServingOptions, type ServingOptions } from './options';
import { RunningServing } from './running-serving';
import type { ServingSpec } from './serving-spec';
import { inProcessHandler } from './worker/in-process';
import { invalidWorkerFile } from './worker/worker.messages';
import type { WorkerServingOptions, WorkerSource } from './worker/worker-source';

export type { ServingSpec } from './serving-spec';

const OPTIONAL_METHODS = ['mapInputs', 'mapResults', 'validate', 'batchKey', 'cost'] as const;

/**
 * What a serving computes, apart from how it is run: the batch function and the caller-side
 * steps around it. Immutable: every builder returns a new serving.
 * `In`/`Out` are what callers pass and get; `I`/`O` what the batch function takes and returns.
 */
export class BatchServing<In = unknown, Out = unknown, I = In, O = Out> {
  private constructor(
    /** @internal */
    readonly spec: ServingSpec<In, Out, I, O>,
  ) {}

  /** A serving from a batch function, or from an object with `handleBatch` (and optional builder methods). */
  static new<I, O>(fn: BatchFunction<I, O>): BatchServing<I, O, I, O>;
  static new<I, O, In = I, Out = O>(handler: ServingHandler<I, O, In, Out>): BatchServing<In, Out, I, O>;
  static new(target: BatchFunction<unknown, unknown> | ServingHandler<unknown, unknown>): BatchServing {
    return BatchServing.of(target, 'anonymous');
  }

  /** @internal Like `new`, with a name for the error and hooks declared elsewhere (the decorator). */
  static of(target: unknown, name: string, hooks: readonly string[] = []): BatchServing {
    if (target instanceof BatchServing) return hooks.length ? target.streaming({ hooks }) : target;
    if (typeof target === 'function') return new BatchServing({ handle: target as BatchFunction<unknown, unknown>, hooks });
    const handler = target as Partial<ServingHandler<unknown, unknown>> | null;
    if (!handler || typeof handler.handleBatch !== 'function') throw new ServingConfigurationError(notAServing(name, target));
    const spec: ServingSpec<unknown, unknown, unknown, unknown> = { handle: handler.handleBatch.bind(handler), hooks };
    for (const method of OPTIONAL_METHODS) {
      const fn = handler[method];
      if (typeof fn === 'function') (spec as unknown as Record<string, unknown>)[method] = fn.bind(handler);
    }
    return new BatchServing(spec);
  }

  /**
   * A serving whose batches run on worker threads, one thread per partition: `filename` is the
   * absolute path of a module exporting `handleBatch(values, ctx)` and optionally `init(workerData)`.
   */
  static worker<I = unknown, O = unknown>(filename: string, options: WorkerServingOptions = {}): BatchServing<I, O, I, O> {
    if (typeof filename !== 'string' || !isAbsolute(filename)) throw new ServingConfigurationError(invalidWorkerFile(filename));
    const worker: WorkerSource = { ...options, filename };
    return new BatchServing<I, O, I, O>({
      handle: inProcessHandler(basename(filename), worker) as unknown as BatchFunction<I, O>,
      hooks: [],
      worker,
    });
  }

  /** Runs `serving` on one input at once in the caller: no queue, no coalescing. */
  static async inline<In, Out>(serving: BatchServing<In, Out, any, any>, input: In, options?: InlineOptions): Promise<Out> {
    return (await BatchServing.inlineMany(serving, [input], options))[0];
  }

  /** Runs `serving` on many inputs at once; more than `options.batchSize` values run as consecutive batches. */
  static inlineMany<In, Out>(serving: BatchServing<In, Out, any, any>, inputs: In[], options?: InlineOptions): Promise<Out[]> {
    const spec = serving.spec as unknown as ServingSpec<unknown, unknown, unknown, unknown>;
    return runInline(spec, options?.name ?? 'anonymous', inputs, options?.batchSize, options?.context) as Promise<Out[]>;
  }

  /** Starts a batcher for `serving` outside Nest; close it with `close(mode, timeoutMs)`. */
  static start<In, Out, O>(
    serving: BatchServing<In, Out, any, O>,
    options: Partial<ServingOptions> & { name?: string } = {},
  ): RunningServing<In, Out, O> {
    const { name = 'anonymous', ...rest } = options;
    return new RunningServing<In, Out, O>(name, serving, resolveServingOptions(name, rest));
  }

  /** `fn(inputs)`: a caller's inputs become the values that are batched (any count). Runs in the caller. */
  mapInputs<NewIn>(fn: (inputs: NewIn[]) => I[]): BatchServing<NewIn, Out, I, O> {
    return new BatchServing<NewIn, Out, I, O>({ ...(this.spec as unknown as ServingSpec<NewIn, Out, I, O>), mapInputs: fn });
  }

  /** `fn(outputs, inputs)`: a caller's outputs become its results, one per input. Runs in the caller. */
  mapResults<NewOut>(fn: (outputs: O[], inputs: In[]) => NewOut[]): BatchServing<In, NewOut, I, O> {
    return new BatchServing<In, NewOut, I, O>({ ...(this.spec as unknown as ServingSpec<In, NewOut, I, O>), mapResults: fn });
  }

  /** `fn(input)` throws to refuse an input: only that caller fails, with InvalidInputError. */
  validate(fn: (input: In) => void): BatchServing<In, Out, I, O> {
    return new BatchServing({ ...this.spec, validate: fn });
  }

  /** `fn(value)`: values with different keys never share a batch. */
  batchKey(fn: (value: I) => string): BatchServing<In, Out, I, O> {
    return new BatchServing({ ...this.spec, batchKey: fn });
  }

  /** `fn(value)`: what a value counts against `maxBatchCost` and `rateLimit.cost`, e.g. its tokens. Default: every value costs 1. */
  cost(fn: (value: I) => number): BatchServing<In, Out, I, O> {
    return new BatchServing({ ...this.spec, cost: fn });
  }

  /** Declares the hooks that `ctx.emit` may use. */
  streaming(options: { hooks: readonly string[] }): BatchServing<In, Out, I, O> {
    return new BatchServing({ ...this.spec, hooks: [...new Set([...this.spec.hooks, ...options.hooks])] });
  }
}

/** Options of `BatchServing.inline` and `inlineMany`. */
export interface InlineOptions extends Pick<DispatchOptions, 'context'> {
  /** Most values per execution. Default: all in one. */
  batchSize?: number;
  /** Names the serving in errors. */
  name?: string;
}

/** A serving of any types, as servings of several types are held together. */
export type AnyBatchServing = BatchServing<any, any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
