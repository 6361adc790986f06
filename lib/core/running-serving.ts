import { Observable, Subject } from 'rxjs';
import { Batcher, type BatcherState, type ShutdownMode } from './batcher';
import { PromiseDispatch, SingleDispatch, prepare } from './caller';
import { handOff, takeHandoff } from './clock';
import { BatchServingError, DispatchAbortedError, InvalidInputError, ServingShutdownError } from './errors';
import { SourceGuard, feed } from './feed';
import { runInline } from './inline';
import * as messages from './messages';
import { checkBudgetsFit, checkDispatchOptions, type ServingOptions } from './options';
import type { Servable, ServingSpec } from './serving-spec';
import type { CallerSide } from './dispatch';
import type { ServingStats } from './stats';
import { StreamDispatch } from './stream-dispatch';
import type { BatchTelemetryEvent, DispatchOptions, DispatchResult, ManyInputs, ServingEvent } from './types';
import { WorkerPartitions } from './worker/worker-partitions';

type AnySpec = ServingSpec<unknown, unknown, unknown, unknown>;

// What `dispatch` calls of other modules, read once: a call through the module object that
// CommonJS gives (`clock_1.handOff`) is 5 more bytes of bytecode at each use, and the whole path
// from a caller's loop to the slab must fit V8's inlining budget (ARCHITECTURE.md, "Inlining").
const captureResolve: (resolve: (value: never) => void) => void = handOff;
const takeResolve = takeHandoff as () => (value: unknown) => void;
const OneValue = SingleDispatch;

/**
 * A serving that runs: its batcher, plus the caller side of every kind of dispatch. This is the
 * framework-free runtime; the Nest client routes to one of these per serving.
 */
export class RunningServing<In = unknown, Out = unknown, O = unknown> {
  readonly batcher: Batcher<unknown, unknown>;
  private readonly spec: AnySpec;
  private readonly events = new Subject<BatchTelemetryEvent>();
  private readonly failureEvents = new Subject<BatchTelemetryEvent>();
  private closed: Promise<void> | undefined;
  private readonly shutdown = new AbortController();
  /** validate or mapInputs: `dispatch` takes its longer path (`dispatchWith`). */
  private readonly preparesInputs: boolean;
  /**
   * With mapResults (and no mapInputs): what each SingleDispatch needs of this serving to run it,
   * given in its `extras.caller`; undefined without mapResults.
   */
  private readonly resultsCaller: CallerSide | undefined;
  /** `options.timeout`, at hand for `dispatch`. */
  private readonly timeout: number | undefined;
  /** The threads of a worker serving, one per partition. */
  private readonly threads: WorkerPartitions | undefined;
  private readonly starting: Promise<void>;

  constructor(
    readonly name: string,
    serving: Servable,
    readonly options: ServingOptions,
  ) {
    this.spec = serving.spec as AnySpec;
    checkBudgetsFit(name, options, this.spec.cost !== undefined);
    this.timeout = options.timeout;
    this.preparesInputs = Boolean(this.spec.validate || this.spec.mapInputs);
    this.resultsCaller = this.spec.mapResults ? { spec: this.spec, name } : undefined;
    const { worker } = this.spec;
    this.threads = worker && new WorkerPartitions(name, worker, options.partitions, this.spec.hooks);
    this.batcher = new Batcher({
      name,
      handle: this.threads ? this.threads.run : this.spec.handle.bind(this.spec),
      batchKey: this.spec.batchKey?.bind(this.spec),
      cost: this.spec.cost?.bind(this.spec),
      hooks: new Set(this.spec.hooks),
      options,
    });
    this.starting = this.threads ? this.threads.start() : Promise.resolve();
    // Whoever starts the serving awaits ready(); this keeps a failure it never asks about from
    // being an unhandled rejection.
    this.starting.catch(() => undefined);
  }

  /**
   * Resolves once the serving can run batches: at once, or for a worker serving once every thread
   * has loaded its file and run `init`. Rejects with ServingConfigurationError naming the file.
   */
  ready(): Promise<void> {
    return this.starting;
  }

  get state(): BatcherState {
    return this.batcher.state;
  }

  /** One input, one result. Rejects with a BatchServingError. */
  dispatch(input: In, options?: DispatchOptions): Promise<Out> {
    // The common call (no options, no validate, no mapInputs) stays this small: as one method
    // with the others, V8 compiled less of the path into one piece (bench/instructions.js).
    if (options !== undefined || this.preparesInputs) return this.dispatchWith(input, options);
    // A shared executor: a closure here costs ~890 instructions per value (bench/instructions.js, 2026-12-01).
    const promise = new Promise<Out>(captureResolve);
    const resolve = takeResolve();
    try {
      // As in dispatchWith, written out: a shared method for these two lines measured 6 instructions
      // per value more on this path (bench/instructions.js, client).
      const d = new OneValue(input, resolve);
      if (this.resultsCaller !== undefined) d.extras = { caller: this.resultsCaller };
      this.batcher.submit(d, this.timeout, undefined, 0);
    } catch (error) {
      // What a Promise executor would do with a throw: the dispatch rejects, nothing throws.
      resolve(Promise.reject(error));
    }
    return promise;
  }

  /** `dispatch` with options, or for a serving with validate or mapInputs. */
  private dispatchWith(input: In, options: DispatchOptions | undefined): Promise<Out> {
    const refused = options && checkDispatchOptions(this.name, options);
    if (refused) return Promise.reject(refused);
    const timeout = options?.timeout ?? this.options.timeout;
    // mapInputs may turn the input into any number of values: a PromiseDispatch holds them.
    if (this.spec.mapInputs) return this.submit([input], true, options, timeout, options?.signal) as Promise<Out>;
    const promise = new Promise<Out>(captureResolve);
    const resolve = takeResolve();
    try {
      if (this.spec.validate) this.check(input);
      const d = new SingleDispatch(input, resolve);
      if (this.resultsCaller !== undefined) d.extras = { caller: this.resultsCaller };
      if (options?.context !== undefined) (d.extras ??= {}).context = options.context;
      this.batcher.submit(d, timeout, options?.signal, options?.priority ?? 0);
    } catch (error) {
      resolve(Promise.reject(error));
    }
    return promise;
  }

  /** validate for one input; throws InvalidInputError naming the serving. */
  private check(input: In): void {
    try {
      this.spec.validate!(input);
    } catch (cause) {
      throw new InvalidInputError(messages.invalidInput(this.name, cause), { cause });
    }
  }

  /** Many inputs, their results in order. An iterable is pulled lazily, at most batchSize values in flight. */
  dispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]> {
    const refused = options && checkDispatchOptions(this.name, options);
    if (refused) return Promise.reject(refused);
    if (Array.isArray(inputs)) return this.submit(inputs, false, options, options?.timeout ?? this.options.timeout, options?.signal) as Promise<Out[]>;
    return this.dispatchIterable(inputs, options);
  }

  /**
   * `dispatchMany` of an array, for a transport that answers other processes: `withdraw(error)`
   * fails the dispatch at once, and what has not started never runs. One call, where an
   * AbortController per remote dispatch measured as half the throughput of a member.
   */
  dispatchWithdrawable(inputs: readonly In[], options?: DispatchOptions): Withdrawable<Out[]> {
    const handle: Withdrawable<Out[]> = { promise: undefined as unknown as Promise<Out[]>, withdraw: () => undefined };
    const refused = options && checkDispatchOptions(this.name, options);
    handle.promise = refused ? Promise.reject(refused) : (this.submit(inputs, false, options, options?.timeout ?? this.options.timeout, options?.signal, handle) as Promise<Out[]>);
    return handle;
  }

  tryDispatch(input: In, options?: DispatchOptions): Promise<DispatchResult<Out>> {
    return settleResult(this.dispatch(input, options));
  }

  tryDispatchMany(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<DispatchResult<Out[]>> {
    return settleResult(this.dispatchMany(inputs, options));
  }

  /** Hook events and raw outputs of each part, in offset order; completes after the last part. */
  stream(inputs: ManyInputs<In>, options?: DispatchOptions): Observable<ServingEvent<O>> {
    return new Observable<ServingEvent<O>>((subscriber) => {
      const refused = options && checkDispatchOptions(this.name, options);
      if (refused) return subscriber.error(refused);
      const guard = this.guard(options);
      const emit = (event: ServingEvent<unknown>) => subscriber.next(event as ServingEvent<O>);
      const send = (chunk: unknown[], base: number) =>
        new Promise<number>((resolve, reject) => {
          const values = prepare(this.spec, this.name, chunk);
          this.batcher.submit(new StreamDispatch(values, options?.context, base, emit, () => resolve(values.length), reject), undefined, guard.signal, options?.priority ?? 0);
        });
      // An array enters the queue at subscribe time, like dispatchMany; an iterable chunk by chunk.
      const done = Array.isArray(inputs) ? send(inputs as unknown[], 0) : feed(inputs, this.options.batchSize, this.pulling(guard), send);
      done
        .then(
          () => subscriber.complete(),
          (error) => subscriber.error(this.fromSource(error)),
        )
        .finally(() => guard.dispose());
      return () => guard.stop(new DispatchAbortedError(messages.dispatchAborted(this.name, 'the stream was unsubscribed')));
    });
  }

  /** Runs at once in the caller: no queue, no coalescing. Refused once the serving shuts down, like a dispatch. */
  async inline(input: In, options?: Pick<DispatchOptions, 'context'>): Promise<Out> {
    return (await this.inlineMany([input], options))[0];
  }

  async inlineMany(inputs: In[], options?: Pick<DispatchOptions, 'context'>): Promise<Out[]> {
    if (this.state !== 'running') throw new ServingShutdownError(messages.shuttingDown(this.name));
    return (await runInline(this.spec, this.name, inputs, this.options.batchSize, options?.context)) as Out[];
  }

  stats(): ServingStats {
    return this.batcher.stats();
  }

  /** One event per batch start, stop and failure; events are only built while someone listens. */
  telemetry(): Observable<BatchTelemetryEvent> {
    return listened(this.events, (listener) => (this.batcher.telemetry = listener));
  }

  /**
   * @internal The failure events of `telemetry` alone: while only these are listened to, a batch
   * that succeeds builds no event (what the Nest module logs; 14 instructions per value less).
   */
  failures(): Observable<BatchTelemetryEvent> {
    return listened(this.failureEvents, (listener) => (this.batcher.onFailure = listener));
  }

  /** Stops the serving (see ShutdownMode); telemetry completes once it has stopped. */
  close(mode: ShutdownMode, timeoutMs: number): Promise<void> {
    // A dispatch waiting on its inputs' next value ends now (its next chunk would be refused anyway),
    // so that no source holds a shutdown up; what it already queued drains like any other dispatch.
    this.shutdown.abort(new ServingShutdownError(messages.shuttingDown(this.name)));
    return (this.closed ??= this.batcher.close(mode, timeoutMs).then(async () => {
      // The threads end after the drain: a batch that still runs there is one shutdown gave up on.
      await this.threads?.close();
      this.batcher.telemetry = this.batcher.onFailure = undefined;
      this.events.complete();
      this.failureEvents.complete();
    }));
  }

  /** Runs the caller side and hands the values to the batcher; `one` resolves with the single result. */
  private submit(
    inputs: readonly unknown[],
    one: boolean,
    options: DispatchOptions | undefined,
    timeout: number | undefined,
    signal: AbortSignal | undefined,
    handle?: Withdrawable<unknown>,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const list = inputs as unknown[];
      let values: unknown[];
      try {
        values = prepare(this.spec, this.name, list);
      } catch (error) {
        return reject(error);
      }
      const d = new PromiseDispatch(values, options?.context, this.spec, this.name, list, one, resolve, reject);
      if (handle) handle.withdraw = (error) => this.batcher.fail(d, error);
      this.batcher.submit(d, timeout, signal, options?.priority ?? 0);
    });
  }

  /** Chunk after chunk: the next is pulled when the previous came back, so at most batchSize are in flight. */
  private async dispatchIterable(inputs: ManyInputs<In>, options?: DispatchOptions): Promise<Out[]> {
    const guard = this.guard(options);
    const results: Out[] = [];
    try {
      await feed(inputs, this.options.batchSize, this.pulling(guard), async (chunk) => {
        for (const result of (await this.submit(chunk, false, options, undefined, guard.signal)) as Out[]) results.push(result);
        return chunk.length;
      });
      return results;
    } catch (error) {
      throw this.fromSource(error);
    } finally {
      guard.dispose();
    }
  }

  /** The deadline and the caller's signal of a dispatch that pulls from its inputs, as one signal. */
  private guard(options: DispatchOptions | undefined): SourceGuard {
    return new SourceGuard(this.name, options?.timeout ?? this.options.timeout, options?.signal);
  }

  /** What ends a wait on the inputs' next value: the dispatch's own end, or shutdown. */
  private pulling(guard: SourceGuard): AbortSignal {
    return AbortSignal.any([guard.signal, this.shutdown.signal]);
  }

  /** Anything but our own errors came from the caller's iterable: say so, typed. */
  private fromSource(error: unknown): unknown {
    if (error instanceof BatchServingError) return error;
    return new InvalidInputError(messages.inputsIterableFailed(this.name, error), { cause: error });
  }
}

/** The events of `subject`, told by the batcher (through `listen`) only while someone subscribes. */
function listened(subject: Subject<BatchTelemetryEvent>, listen: (listener: ((event: BatchTelemetryEvent) => void) | undefined) => void): Observable<BatchTelemetryEvent> {
  return new Observable<BatchTelemetryEvent>((subscriber) => {
    const subscription = subject.subscribe(subscriber);
    listen((event) => subject.next(event));
    return () => {
      subscription.unsubscribe();
      if (!subject.observed) listen(undefined);
    };
  });
}

/** A dispatch and the way to fail it from outside (see `dispatchWithdrawable`). */
export interface Withdrawable<T> {
  promise: Promise<T>;
  /** Fails the dispatch with `error` now, unless it has settled: what has not started never runs. */
  withdraw(error: BatchServingError): void;
}

/** `{ ok: true, value }` or `{ ok: false, error }`: what tryDispatch gives, never a rejection. */
export function settleResult<T>(promise: Promise<T>): Promise<DispatchResult<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}
