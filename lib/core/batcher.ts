import { Batch, type BatchHost } from './batch';
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
import { invalidateClock, preciseClock, turnStamp } from './clock';
import type { BatchFunction, BatchTelemetryEvent } from './types';
import { bisect } from './isolation';
import { checkOutputs, valueError } from './outputs';
import { MAX_TIMER_MS } from './feed';
import { keyRuns, type KeyRun } from './key-runs';

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
export const DEFAULT_BATCH_KEY = 'default';

function onWindowTimer(batcher: Batcher<any, any>, key: KeyQueue): void {
  batcher.windowExpired(key);
}

/**
 * The state machine of one running serving: key queues with their windows, partitions, and the
 * settlement of every dispatch. Every transition is a method of this class; a dispatch settles
 * only through `fail` or `deliver`, which is what makes "exactly once" hold.
 */
export class Batcher<I, O> implements BatchHost {
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
  /**
   * Called, while set, right before due batches start: the last moment a transport can withdraw
   * values that must not start (a member past its lease fails what it holds). It may fail dispatches.
   */
  beforeStart: (() => void) | undefined;

  private readonly handle: BatchFunction<I, O>;
  private readonly keyOf: ((value: I) => string) | undefined;
  private readonly keys = new Map<string, KeyQueue>();
  /** The queue of servings without batch keys, kept at hand: a Map lookup per dispatch shows in profiles. */
  private readonly defaultQueue: KeyQueue;
  private readonly dueKeys: KeyQueue[] = [];
  private readonly turnKeys: KeyQueue[] = [];
  private readonly freePartitions: number[] = [];
  readonly running = new Set<Batch<I, O>>();
  private readonly deadlines = new DeadlineQueue<Dispatch<I, O>>((d, ms) => this.fail(d, new DispatchTimeoutError(messages.dispatchTimeout(this.name, ms))));
  readonly recorder = new StatsRecorder();
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
    for (let p = spec.options.partitions - 1; p >= 0; p--) this.freePartitions.push(p);
    this.defaultQueue = this.keyQueue(DEFAULT_BATCH_KEY);
  }

  /** Takes a dispatch in, or settles it at once with the reason it cannot be taken. */
  /** `timeout` is the dispatch's own deadline, already resolved against the serving's default. */
  submit(d: Dispatch<I, O>, timeout: number | undefined, signal?: AbortSignal): void {
    if (this.state !== 'running') return this.fail(d, new ServingShutdownError(messages.shuttingDown(this.name)));
    const n = d.end;
    if (n === 0) return this.settleEmpty(d);
    if (this.queued + n > this.options.maxQueueSize) {
      return this.fail(d, new ServingOverloadedError(messages.overloaded(this.name, this.queued, n, this.options.maxQueueSize)));
    }
    if (signal && !this.watch(d, signal)) return;
    d.enqueuedAt = turnStamp();
    if (this.keyOf) {
      const runs = this.splitByKey(d);
      if (!runs) return;
      for (const [key, run] of runs) this.enqueue(this.keyQueue(key), run, run.end - run.next);
    } else {
      this.enqueue(this.defaultQueue, d, n);
    }
    if (timeout !== undefined) this.deadlines.add(d, timeout);
  }

  /**
   * Withdraws `d` when `signal` aborts; false when it already has. A method of its own because a
   * closure inside `submit` would make V8 allocate its context on every dispatch, signal or not.
   */
  private watch(d: Dispatch<I, O>, signal: AbortSignal): boolean {
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
    d.settled = true;
    this.withdraw(d);
    if (d.extras) {
      if (d.extras.watchers) for (const batch of d.extras.watchers) batch.callerGone();
      this.detach(d);
    }
    d.fail(error);
    if (this.closing) this.checkIdle();
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
        for (const d of key.waiting()) this.fail(d, new ServingShutdownError(messages.shuttingDown(this.name)));
      } else if (key.queued > 0) {
        key.closeWindow();
        key.windowOpen = key.expired = true;
        this.markDue(key);
      }
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

  private enqueue(key: KeyQueue, run: Run, count: number): void {
    key.slab.add(run, count);
    key.queued += count;
    this.queued += count;
    if (!key.windowOpen) this.openWindow(key);
    if (key.queued >= this.options.batchSize && !key.due) {
      this.markDue(key);
      // Never run the batch function inside dispatch(): start it at the end of this turn.
      this.scheduleTurn();
    }
  }

  private openWindow(key: KeyQueue): void {
    key.windowOpen = true;
    key.expired = false;
    if (this.options.batchTimeout === 0) {
      // setTimeout cannot fire in under ~1 ms; the end of the turn is a setImmediate away.
      this.turnKeys.push(key);
      this.scheduleTurn();
    } else {
      key.timer = setTimeout(onWindowTimer, this.options.batchTimeout, this, key);
    }
  }

  /** @internal The window timer of `key` fired. */
  windowExpired(key: KeyQueue): void {
    key.timer = undefined;
    invalidateClock();
    if (key.queued === 0) return this.retire(key);
    key.expired = true;
    this.markDue(key);
    this.pump();
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
      if (key.windowOpen && key.queued > 0) {
        key.expired = true;
        this.markDue(key);
      } else if (key.queued === 0) this.retire(key);
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
    const slab = run.slab;
    // Values wait only in their key queue's current slab: a slab handed over is a batch.
    if (!slab || slab.key.slab !== slab) return;
    const left = run.end - run.next;
    if (left === 0) return;
    run.next = run.end;
    const key = slab.key;
    key.queued -= left;
    this.queued -= left;
    slab.noteWithdrawn(left);
    // Its window was opened for values that are gone: the next value opens a window of its own.
    if (key.queued === 0) this.retire(key);
  }

  /**
   * A key queue with nothing waiting: its window closes, and a queue of a batch key other than the
   * default is forgotten, so that keys seen once (per user, per tenant) do not pile up.
   */
  private retire(key: KeyQueue): void {
    key.closeWindow();
    // Only withdrawn values can be left in the slab.
    if (key.slab.slices > 0) key.slab.clear();
    if (key !== this.defaultQueue && !key.due && this.keys.get(key.name) === key) this.keys.delete(key.name);
  }

  // ---- execution -----------------------------------------------------------------------------

  /** Starts due batches while partitions are free; re-entered calls fold into the running loop. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      if (this.beforeStart && this.freePartitions.length > 0 && this.dueKeys.length > 0) this.beforeStart();
      while (this.freePartitions.length > 0 && this.dueKeys.length > 0) {
        const key = this.dueKeys.shift()!;
        key.due = false;
        const batch = this.take(key);
        // Checking the runs too means a miscount can never turn this loop into a livelock.
        if (key.queued === 0 || key.slab.size === key.slab.valueHead) this.retire(key);
        else if (key.expired || key.queued >= this.options.batchSize) this.markDue(key);
        if (batch) this.start(batch);
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Up to batchSize values, in arrival order, from the key queue, as a batch. */
  private take(key: KeyQueue): Batch<I, O> | undefined {
    const batch = key.take<I, O>(this, this.options.batchSize);
    if (!batch) return undefined;
    key.queued -= batch.size;
    this.queued -= batch.size;
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
    batch.waitMs = Math.max(0, batch.startedAt - batch.owners[0].enqueuedAt.ms);
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
    const { owners, starts, counts } = batch;
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
      d.settled = true;
      if (d.extras) this.detach(d);
      return d.complete(out, offset);
    }
    for (let j = offset, end = offset + count; j < end; j++) {
      const output = out[j];
      if (output instanceof Error) return this.fail(d, valueError(this.name, output, start + j - offset));
    }
    if (d.streams) d.part(start, out.slice(offset, offset + count));
    if (count === d.end) {
      d.settled = true;
      this.detach(d);
      return d.complete(out, offset);
    }
    const extras = (d.extras ??= {});
    const outputs = (extras.outputs ??= new Array(d.end)) as O[];
    for (let j = 0; j < count; j++) outputs[start + j] = out[offset + j];
    extras.done = (extras.done ?? 0) + count;
    if (extras.done === d.end) {
      d.settled = true;
      this.detach(d);
      d.complete(outputs, 0);
    }
  }

  /** @internal Fails every unsettled caller of the batch with one error. */
  failAll(batch: Batch<I, O>, error: BatchServingError): void {
    batch.finished = true;
    for (const d of batch.owners) this.fail(d, error);
  }

  /** The batch is over: frees its partition, records it, and starts what is due. */
  private release(batch: Batch<I, O>, failed: boolean | undefined, error?: unknown): void {
    if (!this.running.delete(batch)) return;
    this.executing -= batch.size;
    this.freePartitions.push(batch.partition);
    if (failed !== undefined) this.record(batch, failed, error);
    if (this.closing) this.checkIdle();
    this.pump();
  }

  private detach(d: Dispatch<I, O>): void {
    const extras = d.extras;
    if (extras?.signal && extras.onAbort) extras.signal.removeEventListener('abort', extras.onAbort);
  }

  private settleEmpty(d: Dispatch<I, O>): void {
    d.settled = true;
    d.complete([], 0);
  }

  /** @internal Counts a finished execution in the stats and tells telemetry. */
  record(batch: Batch<I, O>, failed: boolean, error?: unknown): void {
    this.recorder.recordBatch(batch.size, batch.waitMs, preciseClock() - batch.startedAt, failed);
    this.emitTelemetry(failed ? 'failure' : 'stop', batch, error);
  }

  /** @internal */
  emitTelemetry(type: BatchTelemetryEvent['type'], batch: Batch<I, O>, error?: unknown): void {
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
    if (type !== 'start') event.runMs = preciseClock() - batch.startedAt;
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
    for (const key of this.keys.values()) for (const d of key.waiting()) this.fail(d, error());
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
    for (const key of this.keys.values()) key.closeWindow();
    this.keys.clear();
    this.dueKeys.length = 0;
    this.turnKeys.length = 0;
  }
}
