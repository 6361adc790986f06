import type { Batch } from './batch';
import { DeadlineQueue } from './deadlines';
import type { QueuedDispatch as Dispatch, Run } from './dispatch';
import {
  BatchExecutionError,
  BatchServingError,
  DispatchAbortedError,
  DispatchTimeoutError,
  InvalidInputError,
  ServingOverloadedError,
  ServingShutdownError,
} from './errors';
import { KeyQueue } from './key-queue';
import * as messages from './messages';
import type { ServingOptions } from './options';
import { StatsRecorder, type ServingStats } from './stats';
import { MAX_TIMER_MS, invalidateClock, preciseClock, turnStamp, type TurnStamp } from './clock';
import type { BatchFunction, BatchTelemetryEvent } from './types';
import { bisect, type Isolating } from './isolation';
import { checkOutputs, valueError } from './outputs';
import { DEFAULT_BATCH_KEY, keyRuns, type KeyRun } from './key-runs';
import { ArrivalRate, type ClosedBy } from './window';

/** What a batcher runs: the serving's batch side, already resolved. */
export interface BatcherSpec<I, O> {
  readonly name: string;
  readonly handle: BatchFunction<I, O>;
  readonly batchKey?: (value: I) => string;
  readonly hooks: ReadonlySet<string>;
  readonly options: ServingOptions;
}

export type ShutdownMode = 'drain' | 'reject';
export type BatcherState = 'running' | 'draining' | 'stopped';

function onWindowTimer(batcher: Batcher<any, any>, key: KeyQueue): void {
  batcher.windowExpired(key);
}

/**
 * The state machine of one running serving: key queues with their windows, partitions, and the
 * settlement of every dispatch. Each transition has one home (ARCHITECTURE.md):
 * - a dispatch settles only in `settle`, reached through `fail` and `deliver`: "exactly once";
 * - a window changes only in `openWindow`, `expire` and `retire`, and "due" is decided only by
 *   `isDue`;
 * - a batch is formed only in `take`, and starts only in `pump`, while `canStart` allows;
 * - a failed batch is handled only in `failed`.
 * The queue's own transitions (values in, out in a batch, withdrawn) are KeyQueue's.
 */
export class Batcher<I, O> implements Isolating<I, O> {
  readonly name: string;
  readonly hooks: ReadonlySet<string>;
  readonly options: ServingOptions;
  forced = false;
  state: BatcherState = 'running';
  /** Values waiting, not yet executing. */
  queued = 0;
  executing = 0;
  /** Called for every batch start, stop and failure while set. */
  telemetry: ((event: BatchTelemetryEvent) => void) | undefined;

  private readonly handle: BatchFunction<I, O>;
  private readonly keyOf: ((value: I) => string) | undefined;
  private readonly adaptive: boolean;
  private readonly keys = new Map<string, KeyQueue>();
  /** The queue of servings without batch keys, kept at hand: a Map lookup per dispatch shows in profiles. */
  private readonly defaultQueue: KeyQueue;
  /** Keys whose batch is due, in the order they became due. */
  private readonly dueKeys: KeyQueue[] = [];
  /** Keys to look at when the turn ends (batchTimeout 0, and the adaptive window). */
  private readonly turnKeys: KeyQueue[] = [];
  private readonly freePartitions: number[] = [];
  readonly running = new Set<Batch<I, O>>();
  private readonly deadlines = new DeadlineQueue<Dispatch<I, O>>((d, ms) => this.fail(d, new DispatchTimeoutError(messages.dispatchTimeout(this.name, ms))));
  readonly recorder = new StatsRecorder();
  /** With the adaptive window, the turn in which a batch last finished: arrivals in it answer results. */
  private answerTurn: TurnStamp | undefined;
  /** Some value was queued with a priority other than 0: due keys are picked by priority. */
  private prioritized = false;
  private turnScheduled = false;
  private pumping = false;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(spec: BatcherSpec<I, O>) {
    this.name = spec.name;
    this.hooks = spec.hooks;
    this.options = spec.options;
    this.handle = spec.handle;
    this.keyOf = spec.batchKey;
    this.adaptive = spec.options.window === 'adaptive' && spec.options.batchTimeout > 0;
    for (let p = spec.options.partitions - 1; p >= 0; p--) this.freePartitions.push(p);
    this.defaultQueue = this.keyQueue(DEFAULT_BATCH_KEY);
  }

  /**
   * Takes a dispatch in, or settles it at once with the reason it cannot be taken. `timeout` is
   * the dispatch's own deadline, already resolved against the serving's default; `priority` was
   * checked (a safe integer).
   */
  submit(d: Dispatch<I, O>, timeout: number | undefined, signal?: AbortSignal, priority = 0): void {
    if (this.state !== 'running') return this.fail(d, new ServingShutdownError(messages.shuttingDown(this.name)));
    const n = d.end;
    if (n === 0) return this.settle(d, []);
    if (this.queued + n > this.options.maxQueueSize) {
      return this.fail(d, new ServingOverloadedError(messages.overloaded(this.name, this.queued, n, this.options.maxQueueSize)));
    }
    if (signal && !this.watchSignal(d, signal)) return;
    d.enqueuedAt = turnStamp();
    if (priority !== 0) this.prioritized = true;
    if (this.keyOf) {
      const runs = this.splitByKey(d);
      if (!runs) return;
      for (const [key, run] of runs) this.enqueue(this.keyQueue(key), run, run.end - run.next, priority);
    } else {
      this.enqueue(this.defaultQueue, d, n, priority);
    }
    if (timeout !== undefined) this.deadlines.add(d, timeout);
  }

  /**
   * Withdraws `d` when `signal` aborts; false when it already has. A method of its own because a
   * closure inside `submit` would make V8 allocate its context on every dispatch, signal or not.
   */
  private watchSignal(d: Dispatch<I, O>, signal: AbortSignal): boolean {
    // A typed reason (a deadline or a shutdown behind the signal) is the error itself.
    const abort = () =>
      this.fail(
        d,
        signal.reason instanceof BatchServingError
          ? signal.reason
          : new DispatchAbortedError(messages.dispatchAborted(this.name, signal.reason), { cause: signal.reason }),
      );
    if (signal.aborted) {
      abort();
      return false;
    }
    d.extras = { ...d.extras, signal, onAbort: abort };
    signal.addEventListener('abort', abort, { once: true });
    return true;
  }

  /** Fails a dispatch: withdraws what is still queued, tells running batches, settles it. */
  fail(d: Dispatch<I, O>, error: BatchServingError): void {
    if (d.settled) return;
    this.withdraw(d);
    const watchers = d.extras?.watchers;
    if (watchers) for (const batch of watchers) batch.callerGone();
    this.settle(d, error);
  }

  /**
   * The one place a dispatch settles: with its outputs (`source` from `offset`) or an error.
   * Everything that ends a dispatch comes here, once, which is what makes "exactly once" hold.
   */
  private settle(d: Dispatch<I, O>, outcome: O[] | BatchServingError, offset = 0): void {
    d.settled = true;
    const extras = d.extras;
    if (extras?.signal && extras.onAbort) extras.signal.removeEventListener('abort', extras.onAbort);
    if (outcome instanceof BatchServingError) {
      d.fail(outcome);
      if (this.closing) this.checkIdle();
    } else d.complete(outcome, offset);
  }

  /** @internal A batch's `signal` was read: its live callers abort it when they have all gone. */
  watch(batch: Batch<I, O>): void {
    let live = 0;
    for (const owner of batch.owners as Dispatch<I, O>[]) {
      if (owner.settled) continue;
      live++;
      ((owner.extras ??= {}).watchers ??= []).push(batch);
    }
    batch.track(live, this.forced);
  }

  stats(): ServingStats {
    return this.recorder.snapshot(this.queued, this.executing);
  }

  /**
   * Stops intake. `drain` runs what is queued at once (windows are not awaited) and lets running
   * batches finish; `reject` fails what is queued. Whatever remains after `timeoutMs` fails.
   */
  close(mode: ShutdownMode, timeoutMs: number): Promise<void> {
    if (this.closing) return this.closing;
    this.state = 'draining';
    this.closing = new Promise<void>((resolve) => {
      const deadline = setTimeout(() => this.force(timeoutMs), Math.min(timeoutMs, MAX_TIMER_MS));
      this.idle = () => {
        clearTimeout(deadline);
        this.stop();
        resolve();
      };
    });
    for (const key of this.keys.values()) {
      if (mode === 'reject') {
        for (const d of key.waiting()) this.fail(d as Dispatch<I, O>, new ServingShutdownError(messages.shuttingDown(this.name)));
      } else if (key.queued > 0) this.expire(key, 'shutdown');
    }
    this.pump();
    this.checkIdle();
    return this.closing;
  }

  // ---- queueing and windows ----------------------------------------------------------------

  private keyQueue(name: string): KeyQueue {
    let key = this.keys.get(name);
    if (!key) this.keys.set(name, (key = new KeyQueue(name)));
    return key;
  }

  /** Cuts the values into runs of one key; values of one key stay contiguous in their batch. */
  private splitByKey(d: Dispatch<I, O>): Array<[string, Run]> | undefined {
    let stretches: KeyRun[];
    try {
      stretches = keyRuns(d.values, this.keyOf!);
    } catch (error) {
      this.fail(d, new InvalidInputError(messages.invalidInput(this.name, error), { cause: error }));
      return undefined;
    }
    // A dispatch of one key is its own run, as without batch keys.
    if (stretches.length === 1) return [[stretches[0].key, d]];
    const runs = stretches.map(({ key, start, end }): [string, Run] => [key, { dispatch: d, next: start, end, slab: undefined }]);
    (d.extras ??= {}).runs = runs.map(([, run]) => run);
    return runs;
  }

  private enqueue(key: KeyQueue, run: Run, count: number, priority: number): void {
    if (this.adaptive) this.arrived(key);
    key.add(run, count, priority);
    this.queued += count;
    if (key.window === 'none') this.openWindow(key);
    if (!key.due && this.isDue(key)) {
      this.markDue(key);
      // Never run the batch function inside dispatch(): start it at the end of this turn.
      this.scheduleTurn();
    }
  }

  /**
   * The one decision "this key's batch may start": its window expired (timer, end of turn,
   * adaptive estimate, shutdown), or a full batch waits. Called with values queued.
   */
  private isDue(key: KeyQueue): boolean {
    return key.window !== 'open' || key.queued >= this.options.batchSize;
  }

  /** none -> open: a value arrived at an empty key queue. */
  private openWindow(key: KeyQueue): void {
    key.window = 'open';
    if (this.options.batchTimeout === 0) {
      // setTimeout cannot fire in under ~1 ms; the end of the turn is a setImmediate away.
      this.atEndOfTurn(key);
    } else {
      key.openedAt = key.arrivals ? turnStamp().ms : 0;
      key.timer = setTimeout(onWindowTimer, this.options.batchTimeout, this, key);
    }
  }

  /** open -> expired (`why`): the key is due. */
  private expire(key: KeyQueue, why: 'timeout' | 'adaptive' | 'shutdown'): void {
    if (key.timer !== undefined) clearTimeout(key.timer);
    key.timer = undefined;
    key.window = why;
    this.markDue(key);
  }

  /** @internal The window timer of `key` fired. */
  windowExpired(key: KeyQueue): void {
    key.timer = undefined;
    invalidateClock();
    if (key.queued === 0) return this.retire(key);
    if (key.arrivals && key.arrivals.lastTurn === key.openedAt) key.arrivals.waitedInVain();
    this.expire(key, 'timeout');
    this.pump();
  }

  /** `window: 'adaptive'`: counts the arrival, and looks again at the window when the turn ends. */
  private arrived(key: KeyQueue): void {
    const arrivals = (key.arrivals ??= new ArrivalRate(this.options.batchTimeout));
    const now = turnStamp();
    arrivals.arrived(now.ms, now === this.answerTurn);
    this.atEndOfTurn(key);
  }

  private atEndOfTurn(key: KeyQueue): void {
    if (key.inTurn) return;
    key.inTurn = true;
    this.turnKeys.push(key);
    this.scheduleTurn();
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.endOfTurn());
  }

  private endOfTurn(): void {
    this.turnScheduled = false;
    invalidateClock();
    for (const key of this.turnKeys) {
      key.inTurn = false;
      if (key.queued === 0) this.retire(key);
      else if (key.window === 'open') {
        if (!key.arrivals) this.expire(key, 'timeout');
        else if (!key.arrivals.expectsMore(key.openedAt + this.options.batchTimeout - preciseClock())) this.expire(key, 'adaptive');
      }
    }
    this.turnKeys.length = 0;
    this.pump();
  }

  private markDue(key: KeyQueue): void {
    if (key.due) return;
    key.due = true;
    this.dueKeys.push(key);
  }

  private withdraw(d: Dispatch<I, O>): void {
    const runs = d.extras?.runs;
    if (runs) for (const run of runs) this.withdrawRun(run);
    else this.withdrawRun(d);
  }

  private withdrawRun(run: Run): void {
    const key = run.slab?.key;
    const left = key ? key.withdraw(run) : 0;
    if (left === 0) return;
    this.queued -= left;
    // Its window was opened for values that are gone: the next value opens a window of its own.
    if (key!.queued === 0) this.retire(key!);
  }

  /**
   * expired or open -> none: the key queue has nothing waiting. A queue of a batch key other than
   * the default is forgotten, so that keys seen once (per user, per tenant) do not pile up.
   */
  private retire(key: KeyQueue): void {
    if (key.timer !== undefined) clearTimeout(key.timer);
    key.timer = undefined;
    key.window = 'none';
    key.clear();
    if (key !== this.defaultQueue && !key.due && !key.inTurn && this.keys.get(key.name) === key) this.keys.delete(key.name);
  }

  // ---- execution -----------------------------------------------------------------------------

  /**
   * The one place batches start: while `canStart` allows and a key is due, take its batch and
   * start it. Re-entered calls fold into the running loop.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.canStart() && this.dueKeys.length > 0) {
        const key = this.nextDue();
        key.due = false;
        const batch = this.take(key);
        // Checking what is live too means a miscount can never turn this loop into a livelock.
        if (key.queued === 0 || !batch) this.retire(key);
        else if (this.isDue(key)) this.markDue(key);
        if (batch) this.start(batch);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Whether another batch may start now: a partition is free. */
  private canStart(): boolean {
    return this.freePartitions.length > 0;
  }

  /**
   * The due key to start next: the first due, or with priorities in use, the key holding the
   * highest-priority value, the first due among equals (API.md 8.3).
   */
  private nextDue(): KeyQueue {
    const due = this.dueKeys;
    if (!this.prioritized || due.length === 1) return due.shift()!;
    let best = 0;
    let top = due[0].topPriority;
    for (let i = 1; i < due.length; i++) {
      const priority = due[i].topPriority;
      if (priority > top) (best = i), (top = priority);
    }
    return due.splice(best, 1)[0];
  }

  /** The one place a batch is formed: up to batchSize values of `key` (see KeyQueue.take). */
  private take(key: KeyQueue): Batch<I, O> | undefined {
    const batch = key.take<I, O>(this, this.options.batchSize);
    if (!batch) return undefined;
    this.queued -= batch.size;
    batch.closedBy = batch.size >= this.options.batchSize || key.window === 'open' || key.window === 'none' ? 'size' : key.window;
    return batch;
  }

  private start(batch: Batch<I, O>): void {
    batch.partition = this.freePartitions.pop()!;
    this.executing += batch.size;
    this.running.add(batch);
    this.execute(batch, (out) => this.finished(batch, out), (error) => this.failed(batch, error));
  }

  /**
   * Runs the batch function once. `then` or `error` is called exactly once, whatever the function
   * does: throws, returns a thenable that throws or calls back twice, or never returns an array.
   */
  execute(batch: Batch<I, O>, then: (out: unknown) => void, error: (e: unknown) => void): void {
    batch.startedAt = preciseClock();
    batch.waitMs = Math.max(0, batch.startedAt - (batch.owners[0] as Dispatch<I, O>).enqueuedAt.ms);
    this.emitTelemetry('start', batch);
    let called = false;
    const ok = (out: unknown) => {
      if (!called) (called = true), then(out);
    };
    const failed = (e: unknown) => {
      if (!called) (called = true), error(e);
    };
    try {
      const out = this.handle(batch.values, batch);
      invalidateClock();
      if (typeof (out as Promise<O[]> | undefined)?.then === 'function') (out as Promise<O[]>).then(ok, failed);
      else ok(out);
    } catch (e) {
      invalidateClock();
      failed(e);
    }
  }

  private finished(batch: Batch<I, O>, out: unknown): void {
    if (this.deliver(batch, out)) this.release(batch, false);
  }

  /** The one place a failed batch is handled: isolated by bisection, or every caller fails. */
  private failed(batch: Batch<I, O>, error: unknown): void {
    if (this.options.isolateFailures && batch.owners.filter((d) => !d.settled).length > 1) {
      this.record(batch, true, error);
      void bisect(this, batch, error).then(() => this.release(batch, undefined));
      return;
    }
    this.failAll(batch, new BatchExecutionError(messages.batchFailed(this.name, batch.size, error), { cause: error }));
    this.release(batch, true, error);
  }

  /**
   * Hands each caller its slice of `out`. False when `out` is not one output per value, in which
   * case every caller of the batch has failed with BatchResultLengthError.
   * @internal also used by failure isolation.
   */
  deliver(batch: Batch<I, O>, out: unknown): boolean {
    const error = checkOutputs(this.name, out, batch.size);
    if (error) {
      this.failAll(batch, error);
      this.release(batch, true, error);
      return false;
    }
    batch.finished = true;
    const { starts, counts } = batch;
    const owners = batch.owners as Dispatch<I, O>[];
    for (let i = 0, offset = 0; i < owners.length; i++) {
      const d = owners[i];
      const count = counts ? counts[i] : 1;
      if (!d.settled) this.deliverSlice(d, out as O[], offset, starts ? starts[i] : 0, count);
      offset += count;
    }
    return true;
  }

  private deliverSlice(d: Dispatch<I, O>, out: O[], offset: number, start: number, count: number): void {
    if (d.end === 1 && !d.streams) {
      // The common case, a dispatch of one value: no loop, no slice.
      const output = out[offset];
      if (output instanceof Error) return this.fail(d, valueError(this.name, output, 0));
      return this.settle(d, out, offset);
    }
    for (let j = offset, end = offset + count; j < end; j++) {
      const output = out[j];
      if (output instanceof Error) return this.fail(d, valueError(this.name, output, start + j - offset));
    }
    if (d.streams) d.part(start, out.slice(offset, offset + count));
    if (count === d.end) return this.settle(d, out, offset);
    const extras = (d.extras ??= {});
    const outputs = (extras.outputs ??= new Array(d.end)) as O[];
    for (let j = 0; j < count; j++) outputs[start + j] = out[offset + j];
    extras.done = (extras.done ?? 0) + count;
    if (extras.done === d.end) this.settle(d, outputs);
  }

  /** @internal Fails every unsettled caller of the batch with one error. */
  failAll(batch: Batch<I, O>, error: BatchServingError): void {
    batch.finished = true;
    for (const d of batch.owners as Dispatch<I, O>[]) this.fail(d, error);
  }

  /** The batch is over: frees its partition, records it, and starts what is due. */
  private release(batch: Batch<I, O>, failed: boolean | undefined, error?: unknown): void {
    if (!this.running.delete(batch)) return;
    this.executing -= batch.size;
    this.freePartitions.push(batch.partition);
    if (this.adaptive) this.answerTurn = turnStamp();
    if (failed !== undefined) this.record(batch, failed, error);
    if (this.closing) this.checkIdle();
    this.pump();
  }

  /** @internal Counts a finished execution in the stats and tells telemetry. */
  record(batch: Batch<I, O>, failed: boolean, error?: unknown): void {
    this.recorder.recordBatch(batch.size, batch.waitMs, preciseClock() - batch.startedAt, failed);
    this.emitTelemetry(failed ? 'failure' : 'stop', batch, error);
  }

  private emitTelemetry(type: BatchTelemetryEvent['type'], batch: Batch<I, O>, error?: unknown): void {
    const listener = this.telemetry;
    if (!listener) return;
    const event: BatchTelemetryEvent = {
      type,
      serving: this.name,
      partition: batch.partition,
      batchKey: batch.batchKey,
      size: batch.size,
      waitMs: batch.waitMs,
    };
    if (type === 'start') event.closedBy = batch.closedBy;
    else event.runMs = preciseClock() - batch.startedAt;
    if (type === 'failure') event.error = error;
    try {
      listener(event);
    } catch {
      // A broken listener must not break batches; the Nest layer logs through its own listener.
    }
  }

  // ---- shutdown ------------------------------------------------------------------------------

  private checkIdle(): void {
    if (this.idle && this.queued === 0 && this.running.size === 0) this.idle();
  }

  /** shutdown.timeout passed: everything still pending fails, and running batches are told. */
  private force(timeoutMs: number): void {
    this.forced = true;
    const error = () => new ServingShutdownError(messages.shutdownDeadline(this.name, timeoutMs));
    for (const key of this.keys.values()) for (const d of key.waiting()) this.fail(d as Dispatch<I, O>, error());
    for (const batch of [...this.running]) {
      batch.abort(error());
      this.failAll(batch, error());
      this.running.delete(batch);
      this.executing -= batch.size;
    }
    this.checkIdle();
  }

  private stop(): void {
    this.state = 'stopped';
    this.idle = undefined;
    this.deadlines.clear();
    for (const key of this.keys.values()) this.retire(key);
    this.keys.clear();
    this.dueKeys.length = 0;
    this.turnKeys.length = 0;
  }
}
