import type { Observable } from 'rxjs';
import type { BatchServing } from '../core/serving';
import type { ServingStats } from '../core/stats';
import type { BatchTelemetryEvent, DispatchOptions, DispatchResult, ManyInputs, ServingEvent } from '../core/types';
import type { ServingClass, ServingInput, ServingOutput, ServingRawOutput } from './serving.types';

/**
 * What a ref calls: the `BatchServingClient`, seen through the methods a ref uses. Named here so
 * that the client (which makes refs) and the ref do not import each other.
 */
export interface RefTarget {
  dispatch<Out>(serving: string, input: unknown, options?: DispatchOptions): Promise<Out>;
  dispatchMany<Out>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<Out[]>;
  tryDispatch<Out>(serving: string, input: unknown, options?: DispatchOptions): Promise<DispatchResult<Out>>;
  tryDispatchMany<Out>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<DispatchResult<Out[]>>;
  stream<O>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Observable<ServingEvent<O>>;
  inline<Out>(serving: string, input: unknown, options?: Pick<DispatchOptions, 'context'>): Promise<Out>;
  inlineMany<Out>(serving: string, inputs: unknown[], options?: Pick<DispatchOptions, 'context'>): Promise<Out[]>;
  stats(serving: string | ServingClass): ServingStats;
  telemetry(serving?: string | ServingClass): Observable<BatchTelemetryEvent>;
}

/**
 * The client's methods bound to one serving: what `@InjectServing(nameOrClass)` injects.
 * `In`/`Out` are what callers pass and get, `O` the raw outputs of `stream` events.
 */
export class ServingRef<In = unknown, Out = unknown, O = unknown> {
  private resolved: RefTarget | undefined;
  private readonly clientOf: (() => RefTarget) | undefined;

  /**
   * @internal Takes the client, or a way to find it on first use: a ref injected with
   * `@InjectServing()` may be built before the module that holds the client.
   */
  constructor(
    client: RefTarget | (() => RefTarget),
    /** The serving this ref dispatches to. */
    readonly serving: string | ServingClass,
  ) {
    if (typeof client === 'function') this.clientOf = client;
    else this.resolved = client;
  }

  private get client(): RefTarget {
    return (this.resolved ??= this.clientOf!());
  }

  /** One input, one result. Rejects with a BatchServingError. */
  dispatch(input: In, options?: DispatchOptions): Promise<Out> {
    return this.client.dispatch<Out>(this.serving as string, input, options);
  }

  /** Results in input order; an Iterable or AsyncIterable is pulled lazily. */
  dispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]> {
    return this.client.dispatchMany<Out>(this.serving as string, inputs, options);
  }

  /** Like `dispatch`, never rejects. */
  tryDispatch(input: In, options?: DispatchOptions): Promise<DispatchResult<Out>> {
    return this.client.tryDispatch<Out>(this.serving as string, input, options);
  }

  /** Like `dispatchMany`, never rejects. */
  tryDispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<DispatchResult<Out[]>> {
    return this.client.tryDispatchMany<Out>(this.serving as string, inputs, options);
  }

  /** Hook events, then raw outputs, of each part in offset order. */
  stream(inputs: ManyInputs<In>, options?: DispatchOptions): Observable<ServingEvent<O>> {
    return this.client.stream<O>(this.serving as string, inputs, options);
  }

  /** Runs at once in the caller, no queue (a serving hosted here only). */
  inline(input: In, options?: Pick<DispatchOptions, 'context'>): Promise<Out> {
    return this.client.inline<Out>(this.serving as string, input, options);
  }

  /** Runs at once in the caller, in batches of at most batchSize (a serving hosted here only). */
  inlineMany(inputs: In[], options?: Pick<DispatchOptions, 'context'>): Promise<Out[]> {
    return this.client.inlineMany<Out>(this.serving as string, inputs, options);
  }

  /** Counters of the serving (hosted here only). */
  stats(): ServingStats {
    return this.client.stats(this.serving);
  }

  /** One event per batch start, stop and failure (hosted here only); completes at shutdown. */
  telemetry(): Observable<BatchTelemetryEvent> {
    return this.client.telemetry(this.serving);
  }
}

/**
 * The `ServingRef` of a serving, typed from a `@Serving()` class (`ServingRefOf<typeof EmbedServing>`)
 * or from a `BatchServing` value (`ServingRefOf<typeof squares>`).
 */
// `any` in the constraint only: BatchServing is invariant in its types, and any serving must fit.
export type ServingRefOf<S extends ServingClass | BatchServing<any, any, any, any>> =
  S extends BatchServing<infer In, infer Out, any, infer O>
    ? ServingRef<In, Out, O>
    : ServingRef<ServingInput<S>, ServingOutput<S>, ServingRawOutput<S>>;
