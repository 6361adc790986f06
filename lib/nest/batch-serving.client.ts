import { Inject, Injectable } from '@nestjs/common';
import { Observable, defer, from, map, switchMap } from 'rxjs';
import { ServingNotFoundError } from '../core/errors';
import { servingNotFound, servingNotLocal } from '../core/messages';
import { RunningServing, settleResult } from '../core/running-serving';
import type { ServingStats } from '../core/stats';
import type { BatchTelemetryEvent, DispatchOptions, DispatchResult, ManyInputs, ServingEvent } from '../core/types';
import type { RemoteServing } from '../transports/transport';
import { BATCH_SERVING_MODULE_OPTIONS } from './batch-serving.module-definition';
import type { BatchServingModuleOptions } from './batch-serving.options';
import { BatchServingRegistry } from './batch-serving.registry';
import * as messages from './nest.messages';
import { servingNameOf } from './serving-metadata.accessor';
import { ServingReadiness } from './serving-readiness';
import { HostedRoute, NO_ROUTE } from './hosted-route';
import { ServingRef } from './serving-ref';
import { withSseData } from './serving-sse';
import type { ServingClass, ServingInput, ServingOutput, ServingRawOutput } from './serving.types';

type Key = string | ServingClass;
type InlineOptions = Pick<DispatchOptions, 'context'>;

/**
 * Dispatches to servings by name or by `@Serving()` class (typed from the class). A serving
 * hosted in this process is called directly; another goes through the transport, if one is set.
 * Calls made before the module has started its servings wait for it.
 */
@Injectable()
export class BatchServingClient {
  /**
   * Where the last dispatch to a serving hosted here went. NO_ROUTE from the start, not undefined:
   * a key that is a string from the start keeps the code V8 compiled for an earlier client's
   * string keys (bench/instructions.js).
   */
  private lastRoute: HostedRoute = NO_ROUTE;

  constructor(
    private readonly registry: BatchServingRegistry,
    private readonly readiness: ServingReadiness,
    @Inject(BATCH_SERVING_MODULE_OPTIONS) private readonly options: BatchServingModuleOptions,
  ) {
    // Once the servings run, the first one hosted here is the last route: in an app of one
    // serving, even the first dispatch takes the short path (code V8 compiled for the short path
    // in an earlier app of this process then stays valid: bench/instructions.js).
    readiness.wait().then(
      () => {
        const [first] = registry.list();
        if (first !== undefined) this.lastRoute = this.hostedRoute(first);
      },
      () => undefined,
    );
  }

  /** One input, one result, batched with other callers' inputs. Rejects with a BatchServingError. */
  dispatch<C extends ServingClass>(serving: C, input: ServingInput<C>, options?: DispatchOptions): Promise<ServingOutput<C>>;
  dispatch<Out = unknown>(serving: string, input: unknown, options?: DispatchOptions): Promise<Out>;
  dispatch(serving: Key, input: unknown, options?: DispatchOptions): Promise<unknown> {
    // The common call, to the serving of the last one, hosted here, not distributed: no route.
    // (`null` options are none, as the serving's own check takes them.)
    const route = this.lastRoute;
    if (serving === route.key && route.generation === route.epoch.generation && (options == null || !options.distributed)) return route.running!.dispatch(input, options);
    return this.routeDispatch(serving, input, options);
  }

  /**
   * `dispatch` by the route. Apart so that `dispatch` stays within what lets a caller's loop take
   * in the whole path to the slab: 81 bytes of bytecode or more (else V8 compiles it first, on its
   * own) and 87 or less (V8's inlining budget). ARCHITECTURE.md, "Inlining"; bench/instructions.js.
   */
  private routeDispatch(serving: Key, input: unknown, options: DispatchOptions | undefined): Promise<unknown> {
    if (!this.readiness.isOpen) return this.afterReady('dispatch', serving, input, options);
    try {
      const target = this.route(serving, options);
      // Only the serving hosted here under that name: a transport may hand over another (in-process) one.
      if (target instanceof RunningServing && target === this.registry.get(target.name)) this.lastRoute = this.routeTo(serving, target);
      return target.dispatch(input, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Results in input order. An Iterable or AsyncIterable is pulled lazily, at most batchSize values in flight. */
  dispatchMany<C extends ServingClass>(serving: C, inputs: ManyInputs<ServingInput<C>>, options?: DispatchOptions): Promise<ServingOutput<C>[]>;
  dispatchMany<Out = unknown>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<Out[]>;
  dispatchMany(serving: Key, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<unknown[]> {
    if (!this.readiness.isOpen) return this.afterReady('dispatchMany', serving, inputs, options) as Promise<unknown[]>;
    try {
      return this.route(serving, options).dispatchMany(inputs, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Like `dispatch`, but never rejects: `{ ok: true, value }` or `{ ok: false, error }`. */
  tryDispatch<C extends ServingClass>(serving: C, input: ServingInput<C>, options?: DispatchOptions): Promise<DispatchResult<ServingOutput<C>>>;
  tryDispatch<Out = unknown>(serving: string, input: unknown, options?: DispatchOptions): Promise<DispatchResult<Out>>;
  tryDispatch(serving: Key, input: unknown, options?: DispatchOptions): Promise<DispatchResult<unknown>> {
    return settleResult(this.dispatch(serving as string, input, options));
  }

  /** Like `dispatchMany`, but never rejects. */
  tryDispatchMany<C extends ServingClass>(serving: C, inputs: ManyInputs<ServingInput<C>>, options?: DispatchOptions): Promise<DispatchResult<ServingOutput<C>[]>>;
  tryDispatchMany<Out = unknown>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<DispatchResult<Out[]>>;
  tryDispatchMany(serving: Key, inputs: ManyInputs<unknown>, options?: DispatchOptions): Promise<DispatchResult<unknown[]>> {
    return settleResult(this.dispatchMany(serving as string, inputs, options));
  }

  /** Each part's hook events, then its raw outputs, in offset order; errors the Observable on failure. */
  stream<C extends ServingClass>(serving: C, inputs: ManyInputs<ServingInput<C>>, options?: DispatchOptions): Observable<ServingEvent<ServingRawOutput<C>>>;
  stream<O = unknown>(serving: string, inputs: ManyInputs<unknown>, options?: DispatchOptions): Observable<ServingEvent<O>>;
  stream(serving: Key, inputs: ManyInputs<unknown>, options?: DispatchOptions): Observable<ServingEvent<unknown>> {
    // Each event gets the SSE `data` that lets an @Sse() handler return the stream as it is.
    return this.whenReady(() => this.route(serving, options).stream(inputs, options)).pipe(map(withSseData));
  }

  /** Runs at once in the caller, no queue, no coalescing; only for a serving hosted here. */
  inline<C extends ServingClass>(serving: C, input: ServingInput<C>, options?: InlineOptions): Promise<ServingOutput<C>>;
  inline<Out = unknown>(serving: string, input: unknown, options?: InlineOptions): Promise<Out>;
  async inline(serving: Key, input: unknown, options?: InlineOptions): Promise<unknown> {
    if (!this.readiness.isOpen) await this.readiness.wait();
    return this.local(serving, 'inline()').inline(input, options);
  }

  /** Runs many inputs at once in the caller, in consecutive batches of at most batchSize. */
  inlineMany<C extends ServingClass>(serving: C, inputs: ServingInput<C>[], options?: InlineOptions): Promise<ServingOutput<C>[]>;
  inlineMany<Out = unknown>(serving: string, inputs: unknown[], options?: InlineOptions): Promise<Out[]>;
  async inlineMany(serving: Key, inputs: unknown[], options?: InlineOptions): Promise<unknown[]> {
    if (!this.readiness.isOpen) await this.readiness.wait();
    return this.local(serving, 'inlineMany()').inlineMany(inputs, options);
  }

  /** Counters of a serving hosted here; without an argument, of every serving hosted here, by name. */
  stats(serving: Key): ServingStats;
  stats(): Record<string, ServingStats>;
  stats(serving?: Key): ServingStats | Record<string, ServingStats> {
    if (serving !== undefined) return this.local(serving, 'stats()').stats();
    const all: Record<string, ServingStats> = {};
    for (const name of this.registry.list()) all[name] = this.registry.get(name)!.stats();
    return all;
  }

  /**
   * One event per batch start, stop and failure of a serving hosted here; without an argument, of
   * every serving hosted here, merged (also those registered later). Completes at shutdown.
   */
  telemetry(serving?: Key): Observable<BatchTelemetryEvent> {
    return this.whenReady(() => (serving === undefined ? this.registry.telemetry() : this.registry.telemetry(this.local(serving, 'telemetry()').name)));
  }

  /** The methods of this client bound to one serving: what `@InjectServing()` injects. */
  ref<C extends ServingClass>(serving: C): ServingRef<ServingInput<C>, ServingOutput<C>, ServingRawOutput<C>>;
  ref<In = unknown, Out = unknown, O = unknown>(serving: string): ServingRef<In, Out, O>;
  ref(serving: Key): ServingRef {
    const ref = new ServingRef(this, serving);
    this.routeRef(ref);
    return ref;
  }

  /**
   * Where a dispatch goes, decided here only (the transport carries it): `{ distributed: true }`
   * goes to whichever member's turn it is by shares, this process included; else this process
   * when it hosts the serving; else the transport, unless `{ local: true }`.
   */
  private route(serving: Key, options: DispatchOptions | undefined): RemoteServing {
    const name = typeof serving === 'string' ? serving : servingNameOf(serving);
    const transport = this.options.transport;
    const running = this.registry.get(name);
    if (options?.distributed && transport && !options.local) return running ? (transport.turn?.(name) ?? running) : transport.remote(name);
    if (running) return running;
    if (options?.local) throw new ServingNotFoundError(servingNotLocal(name));
    if (transport) return transport.remote(name);
    throw new ServingNotFoundError(servingNotFound(name, this.registry.list()));
  }

  /**
   * @internal `ref.dispatch` off its short route (the servings changed, or have not started):
   * dispatches to `serving`, the ref's, and gives the ref its short route again.
   */
  dispatchForRef<Out>(serving: Key, input: unknown, options: DispatchOptions | undefined, ref: ServingRef): Promise<Out> {
    if (this.readiness.isOpen) ref.route = this.hostedRoute(serving);
    return this.dispatch(serving as string, input, options) as Promise<Out>;
  }

  /**
   * @internal Gives `ref` its short route once the servings have started: before its first
   * dispatch, so that the first dispatch takes the path later ones take (a path taken only once,
   * early, has no type feedback in V8, and code compiled without it is thrown away when it is taken).
   */
  routeRef(ref: ServingRef): void {
    const give = () => (ref.route = this.hostedRoute(ref.serving));
    if (this.readiness.isOpen) give();
    else this.readiness.wait().then(give, () => undefined);
  }

  /** The short route to `serving` when it runs here, else NO_ROUTE (also for a key that is no serving: `route` says why). */
  private hostedRoute(serving: Key): HostedRoute {
    let running: RunningServing | undefined;
    try {
      running = this.registry.get(typeof serving === 'string' ? serving : servingNameOf(serving));
    } catch {
      return NO_ROUTE;
    }
    return running ? this.routeTo(serving, running) : NO_ROUTE;
  }

  /** `serving` goes to `running`, hosted here, until the registry changes. */
  private routeTo(serving: Key, running: RunningServing): HostedRoute {
    const { epoch } = this.registry;
    return new HostedRoute(serving, running, epoch, epoch.generation);
  }

  /** A serving hosted here, for what only exists here: inline runs, stats, telemetry. */
  private local(serving: Key, what: string): RunningServing {
    const name = typeof serving === 'string' ? serving : servingNameOf(serving);
    const running = this.registry.get(name);
    if (running) return running;
    throw new ServingNotFoundError(this.options.transport ? messages.onlyLocal(name, what) : servingNotFound(name, this.registry.list()));
  }

  /**
   * The call, once the servings have started. A method of its own: V8 allocates a context for
   * the variables a closure captures on every call of the function that holds the closure, also
   * when the branch that makes it is not taken; out of `dispatch`, that is ~400 instructions per
   * value less (bench/instructions.js).
   */
  private afterReady(method: 'dispatch' | 'dispatchMany', serving: Key, input: unknown, options: DispatchOptions | undefined): Promise<unknown> {
    return this.readiness.wait().then(() => (method === 'dispatch' ? this.dispatch(serving as string, input, options) : this.dispatchMany(serving as string, input as ManyInputs<unknown>, options)));
  }

  private whenReady<T>(work: () => Observable<T>): Observable<T> {
    return defer(() => (this.readiness.isOpen ? work() : from(this.readiness.wait()).pipe(switchMap(work))));
  }
}

