import type { Observable } from 'rxjs';
import type { BatchServing } from '../core/serving';
import type { ServingStats } from '../core/stats';
import type { BatchTelemetryEvent, DispatchOptions, DispatchResult, ManyInputs, ServingEvent } from '../core/types';
import type { ServingClass, ServingInput, ServingOutput, ServingRawOutput } from './serving.types';
import { NO_ROUTE, type HostedRoute } from './hosted-route';

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
  dispatchForRef<Out>(serving: string | ServingClass, input: unknown, options: DispatchOptions | undefined, ref: ServingRef): Promise<Out>;
  routeRef(ref: ServingRef): void;
}

/**
 * The client's methods bound to one serving: what `@InjectServing(nameOrClass)` injects.
 * `In`/`Out` are what callers pass and get, `O` the raw outputs of `stream` events.
 */
export class ServingRef<In = unknown, Out = unknown, O = unknown> {
  private resolved: RefTarget | undefined;
  /** @internal The short route of `dispatch`: set by the client once the serving runs here (see HostedRoute). */
  route: HostedRoute = NO_ROUTE;
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

  /**
   * @internal Nest calls this once the application has started (a ref injected with
   * `@InjectServing()` is a provider): the ref takes its short route before its first dispatch.
   */
  onApplicationBootstrap(): void {
    try {
      this.client.routeRef(this);
    } catch {
      // No client to be found: the ref's first use says so, as before the application started.
    }
  }

  private get client(): RefTarget {
    return (this.resolved ??= withRefCalls(this.clientOf!()));
  }

  /** One input, one result. Rejects with a BatchServingError. */
  dispatch(input: In, options?: DispatchOptions): Promise<Out> {
    // As the client's own short path, kept here: through the client's, the path from the caller to
    // the slab outgrew V8's inlining budget (bench/instructions.js, ARCHITECTURE.md).
    const route = this.route;
    const running = route.running;
    if (running !== undefined && route.generation === route.epoch.generation && (options == null || !options.distributed)) return running.dispatch(input, options) as Promise<Out>;
    return this.client.dispatchForRef<Out>(this.serving, input, options, this);
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

/**
 * The client as a ref calls it. One that lacks the ref's two internal calls (a test's stand-in for
 * `BatchServingClient`, say, given with `overrideProvider`) gets them from its public `dispatch`:
 * no short route, every dispatch through it.
 */
function withRefCalls(client: RefTarget): RefTarget {
  if (typeof client.dispatchForRef === 'function' && typeof client.routeRef === 'function') return client;
  return new Proxy(client, {
    get(target, key, receiver) {
      if (key === 'dispatchForRef') return (serving: string, input: unknown, options: DispatchOptions | undefined) => target.dispatch(serving, input, options);
      if (key === 'routeRef') return () => undefined;
      return Reflect.get(target, key, receiver);
    },
  });
}
