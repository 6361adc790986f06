import type { Batch } from './batch';
import { DeadlineQueue } from './deadlines';
import type { QueuedDispatch as Dispatch, Run } from './dispatch';
import {
  BatchExecutionError,
  BatchServingError,
  BatchTooLargeError,
  DispatchAbortedError,
  DispatchTimeoutError,
  InvalidInputError,
  ServingOverloadedError,
  ServingShutdownError,
} from './errors';
import { KeyQueue, isWaiting } from './key-queue';
import * as messages from './messages';
import type { ServingOptions } from './options';
import { StatsRecorder, type ServingStats } from './stats';
import { MAX_TIMER_MS, invalidateClock, preciseClock, turnStamp, type TurnStamp } from './clock';
import type { BatchFunction, BatchTelemetryEvent } from './types';
import { bisect, type Isolating } from './isolation';
import { checkOutputs, valueError } from './outputs';
import { DEFAULT_BATCH_KEY, keyRuns, type KeyRun } from './key-runs';
import { ArrivalRate, BatchTime, type ClosedBy } from './window';
import { CostBudget, type BatchFit } from './cost-budget';
import { StartGate } from './start-gate';
import { RetryPolicy, type RetryAction } from './retry-policy';
import { RetryQueue, halves } from './retry-queue';

// Read once for `submit`, as running-serving.ts does for `dispatch`: through the module object,
// each call is 5 more bytes of the dispatch path, which must fit V8's inlining budget.
const stampTurn = turnStamp;

/**
 * For how long (ms) in one turn a serving starts batches from microtasks (a key due on arrival, a
 * batch that ended); after that, what is due waits for the end of the turn. About a timer's own
 * slack: while callers in a loop keep batches full, a timer or I/O waits about that long for a
 * turn (plus the batch functions that started in it).
 */
const HOLD_MS = 1;

function tell(listener: (event: BatchTelemetryEvent) => void, event: BatchTelemetryEvent): void {
  try {
    listener(event);
  } catch {
    // A broken listener must not break batches; the Nest layer logs through its own listener.
  }
}

/** What a batcher runs: the serving's batch side, already resolved. */
export interface BatcherSpec<I, O> {
  readonly name: string;
  readonly handle: BatchFunction<I, O>;
  readonly batchKey?: (value: I) => string;
  readonly cost?: (value: I) => number;
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
  /**
   * 'stopped' until the constructor ends. Written twice at construction on purpose: V8 treats a
   * field written only once as a constant, and the first serving's close() would then throw away
   * the compiled dispatch path of every serving (bench/instructions.js, "N values").
   */
  state: BatcherState = 'stopped';
  /** Values waiting, not yet executing. */
  queued = 0;
  executing = 0;
  /** Called for every batch start, stop and failure while set. */
  telemetry: ((event: BatchTelemetryEvent) => void) | undefined;
  /** Called for every failure while set: with this alone, a batch that succeeds builds no event. */
  onFailure: ((event: BatchTelemetryEvent) => void) | undefined;
  /**
   * Called, while set, right before due batches start: the last moment a transport can withdraw
   * values that must not start (a member past its lease fails what it holds). It may fail dispatches.
   */
  beforeStart: (() => void) | undefined;

  private readonly handle: BatchFunction<I, O>;
  /** `options.batchSize` and `options.maxQueueSize`, at hand for the dispatch path (one load, not two). */
  private readonly batchSize: number;
  private readonly maxQueueSize: number;
  private readonly keyOf: ((value: I) => string) | undefined;
  private readonly adaptive: boolean;
  /** With the adaptive window: the fitted time of this serving's batches. */
  private readonly batchTime: BatchTime | undefined;
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
  /** Costs and the most one batch may cost: with `.cost`, `maxBatchCost` or `rateLimit` only. */
  private readonly budget: CostBudget | undefined;
  /**
   * The default queue, when a dispatch goes straight to it (no batch keys, no cost budget). Tested
   * against undefined: a test of a boolean field compiles to a full ToBoolean in V8 (a field's type
   * is not tracked for booleans), about 10 instructions per value more (bench/instructions.js).
   */
  private readonly plainQueue: KeyQueue | undefined;
  /** The rate limit and the pauses of retryAfterMs: with `rateLimit` or `retry` only. */
  private readonly gate: StartGate | undefined;
  private readonly policy: RetryPolicy;
  private readonly retries: RetryQueue;
  /** Isolation's parts waiting for the gate; each already holds its failed batch's partition. */
  private readonly parts: Array<{ part: Batch<I, O>; go: (admitted: boolean) => void }> = [];
  private turnScheduled = false;
  /** A `pump` is queued as a microtask (`startSoon`). */
  private startQueued = false;
  /**
   * Until when, in this turn, batches start from microtasks (`heldLongEnough`); NaN before the
   * first has (set at that one, cleared at the end of the turn).
   */
  private yieldAt = NaN;
  private readonly startNow = () => {
    this.startQueued = false;
    this.pump();
  };
  private pumping = false;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  constructor(spec: BatcherSpec<I, O>) {
    this.name = spec.name;
    this.hooks = spec.hooks;
    this.options = spec.options;
    this.handle = spec.handle;
    this.batchSize = spec.options.batchSize;
    this.maxQueueSize = spec.options.maxQueueSize;
    this.keyOf = spec.batchKey;
    this.adaptive = spec.options.window === 'adaptive' && spec.options.batchTimeout > 0;
    if (this.adaptive) this.batchTime = new BatchTime();
    for (let p = spec.options.partitions - 1; p >= 0; p--) this.freePartitions.push(p);
    this.defaultQueue = this.keyQueue(DEFAULT_BATCH_KEY);
    this.state = 'running';
    const { maxBatchCost, rateLimit, retry } = spec.options;
    if (spec.cost || maxBatchCost !== undefined || rateLimit) this.budget = new CostBudget(this.name, spec.cost as (value: unknown) => number, spec.options);
    this.plainQueue = !this.keyOf && !this.budget ? this.defaultQueue : undefined;
    if (rateLimit || retry) this.gate = new StartGate(rateLimit, () => this.pump());
    this.policy = new RetryPolicy(retry);
    this.retries = new RetryQueue(this, this.budget, () => this.pump());
  }

  /**
   * Takes a dispatch in, or settles it at once with the reason it cannot be taken. `timeout` is
   * the dispatch's own deadline, already resolved against the serving's default; `priority` was
   * checked (a safe integer).
   */
  submit(d: Dispatch<I, O>, timeout: number | undefined, signal: AbortSignal | undefined, priority: number): void {
    const n = d.end;
    if (this.state !== 'running' || n === 0 || this.queued + n > this.maxQueueSize) return this.refuse(d, n);
    if (signal && !this.watchSignal(d, signal)) return;
    const plainQueue = this.plainQueue;
    if (plainQueue !== undefined) this.enqueue(plainQueue, d, n, priority);
    else if (!this.enqueueSpread(d, priority)) return;
    if (timeout !== undefined) this.deadlines.add(d, timeout);
    // Stamped last (no batch starts before `submit` returns: see startSoon): the stamp may call out (once a
    // turn), after which V8 checks again what it knew of the dispatch and the batcher; stamped
    // first, that cost 5 instructions per value (bench/instructions.js, client 1,958 -> 1,953).
    d.enqueuedAt = stampTurn();
  }

  /**
   * What `submit` does with a dispatch it does not queue: refuses it (shut down, or over
   * `maxQueueSize`), or settles it at once (no values). Kept out of `submit`, whose size decides
   * how much of the dispatch path V8 compiles into one piece.
   */
  private refuse(d: Dispatch<I, O>, n: number): void {
    if (this.state !== 'running') return this.fail(d, new ServingShutdownError(messages.shuttingDown(this.name)));
    if (n === 0) return this.settle(d, [], 0);
    this.fail(d, new ServingOverloadedError(messages.overloaded(this.name, this.queued, n, this.options.maxQueueSize)));
  }

  /**
   * The paths of `submit` off the common one: batch keys cut the values into runs, and a cost
   * budget prices them first and makes a key due once its values fill the budget. Kept apart so
   * that a serving with neither pays nothing for them. False when `d` failed instead.
   */
  private enqueueSpread(d: Dispatch<I, O>, priority: number): boolean {
    const budget = this.budget;
    const refused = budget?.assess(d);
    if (refused) {
      this.fail(d, refused);
      return false;
    }
    const runs = this.keyOf ? this.splitByKey(d) : [[DEFAULT_BATCH_KEY, d] as [string, Run]];
    if (!runs) return false;
    for (const [name, run] of runs) {
      const key = this.keyQueue(name);
      const count = run.end - run.next;
      if (budget) key.queuedCost += budget.of(run.dispatch, run.next, count);
      this.enqueue(key, run, count, priority);
      if (!key.due && this.fullByCost(key)) this.becameDue(key);
    }
    return true;
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
    this.settle(d, undefined, 0, error);
  }

  /**
   * The one place a dispatch settles: with its outputs (`outputs` from `offset`), or without them
   * with `error`. Everything that ends a dispatch comes here, once, which is what makes "exactly
   * once" hold. (Telling the outcome apart by `instanceof BatchServingError` cost 53 instructions
   * per value, bench/instructions.js; by the truthiness of `outputs`, a full ToBoolean in V8, 9.)
   */
  private settle(d: Dispatch<I, O>, outputs: O[] | undefined, offset: number, error?: BatchServingError): void {
    d.settled = true;
    const extras = d.extras;
    if (extras !== undefined && extras.onAbort) extras.signal!.removeEventListener('abort', extras.onAbort);
    if (outputs !== undefined) return d.complete(outputs, offset);
    d.fail(error!);
    if (this.closing) this.checkIdle();
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
    return this.recorder.snapshot(this.queued + this.retries.values, this.executing, this.gate?.throttledMs ?? 0);
  }

  /** @internal This member's part of a fleet-wide rate limit (NATS). */
  rateShare(share: number): void {
    this.gate?.rateShare(share);
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
    if (mode === 'reject') for (const batch of this.retries.drain()) this.failAll(batch, new ServingShutdownError(messages.shuttingDown(this.name)));
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
    if (this.adaptive) this.arrived(key, count);
    key.add(run, count, priority);
    this.queued += count;
    if (key.window === 'none') this.openWindow(key);
    if (!key.due) {
      if (this.isDue(key)) this.becameDue(key);
    } else this.arrivedWhileDue(priority);
  }

  /**
   * `key` became due on a value's arrival. This and `arrivedWhileDue` are methods of their own to
   * keep `enqueue` small: V8 inlines into a caller at most about 920 bytes of bytecode, and the
   * whole path from `dispatch` to the slab must fit (bench/instructions.js).
   */
  private becameDue(key: KeyQueue): void {
    this.markDue(key);
    this.startSoon();
  }

  /**
   * Starts what is due as soon as the code that dispatched has returned (a microtask; never inside
   * `dispatch()`), not at the end of the turn: callers that dispatch again as their results come
   * back then fill and start batch after batch without the event loop going round once per batch
   * (bench/overhead.js). Unless the turn has been held long enough (`heldLongEnough`).
   */
  private startSoon(): void {
    if (this.heldLongEnough() || this.startQueued) return;
    this.startQueued = true;
    queueMicrotask(this.startNow);
  }

  /**
   * Whether this serving has started batches without the event loop going round for `HOLD_MS`
   * already: then what is due waits for the end of the turn (which pumps), so that timers and I/O
   * run. Asked where a pump would otherwise start batches at once, from microtasks: a key due on
   * arrival (`startSoon`) and a batch that ended (`release`; a batch function that settles in
   * microtasks, fed by callers in a loop, would otherwise start batch after batch there).
   */
  private heldLongEnough(): boolean {
    // Also what ends the hold: the end of this turn clears `yieldAt`.
    this.scheduleTurn();
    const now = preciseClock();
    if (!Number.isNaN(this.yieldAt)) return now >= this.yieldAt;
    this.yieldAt = now + HOLD_MS;
    return false;
  }

  /** A value arrived at a due key: at the reserved partitions' priority, the key may use them now. */
  private arrivedWhileDue(priority: number): void {
    const reserve = this.options.reserve;
    if (reserve !== undefined && priority >= reserve.priority) this.scheduleTurn();
  }

  /**
   * The one decision "this key's batch may start": its window expired (timer, end of turn,
   * adaptive estimate, shutdown), or a full batch waits. Called with values queued. (With a cost
   * budget, a batch full by cost is due too: see `fullByCost`, asked apart so that a serving
   * without a budget pays nothing for it on every value.)
   */
  private isDue(key: KeyQueue): boolean {
    return key.window !== 'open' || key.queued >= this.batchSize;
  }

  /** With a cost budget: the values waiting under `key` fill a batch by their cost. */
  private fullByCost(key: KeyQueue): boolean {
    return this.budget !== undefined && key.queuedCost >= this.budget.cap;
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
  private arrived(key: KeyQueue, count: number): void {
    const arrivals = (key.arrivals ??= new ArrivalRate(this.options.batchTimeout));
    const now = turnStamp();
    arrivals.arrived(now.ms, now === this.answerTurn, count);
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
    this.yieldAt = NaN;
    invalidateClock();
    for (const key of this.turnKeys) {
      key.inTurn = false;
      if (key.queued === 0) this.retire(key);
      else if (key.window === 'open') {
        if (!key.arrivals) this.expire(key, 'timeout');
        else if (!key.arrivals.waitPays(key.openedAt + this.options.batchTimeout - preciseClock(), key.queued, this.options.batchSize, this.batchTime!)) {
          this.expire(key, 'adaptive');
        }
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
    if (this.budget && key && isWaiting(run)) key.queuedCost -= this.budget.of(run.dispatch, run.next, run.end - run.next);
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
    key.queuedCost = 0;
    if (key.timer !== undefined) clearTimeout(key.timer);
    key.timer = undefined;
    key.window = 'none';
    key.clear();
    if (key !== this.defaultQueue && !key.due && !key.inTurn && this.keys.get(key.name) === key) this.keys.delete(key.name);
  }

  // ---- execution -----------------------------------------------------------------------------

  /**
   * The one place batches start: while `canStart` allows, batches waiting to run again first
   * (their values waited longest), then due keys, each only once the gate (rate limit) admits
   * its cost. Re-entered calls fold into the running loop.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let held = false;
    try {
      // A member of a fleet checks its lease before it starts anything (the NATS transport sets this).
      if (this.beforeStart && this.canStart() && (this.dueKeys.length > 0 || this.retries.size > 0)) this.beforeStart();
      for (;;) {
        // Isolation's parts first: a batch that failed inside this loop may have queued some.
        if (!this.admitParts()) {
          held = true;
          break;
        }
        if (!this.canStart()) break;
        if (this.retries.size > 0) {
          const again = this.retries.peek() as Batch<I, O> | undefined;
          // Held out of the reserved partitions, it lets a due key of higher priority start.
          if (again && !this.reserved(again.priority)) {
            if (this.gate && !this.gate.admit(again.cost)) {
              held = true;
              break;
            }
            this.retries.take();
            this.start(again);
            continue;
          }
        }
        if (this.dueKeys.length === 0) break;
        const key = this.nextDue();
        // With `reserve`: the highest priority due may not use the reserved partitions, so nothing else due may either.
        const priority = this.options.reserve ? key.topPriority : 0;
        if (this.reserved(priority)) {
          this.dueKeys.unshift(key);
          break;
        }
        const fit = this.budget?.fit(key, this.options.batchSize);
        // The rate limit is asked about the batch as it would start now; held, it keeps filling.
        if (fit && fit.count > 0 && this.gate && !this.gate.admit(fit.cost)) {
          this.dueKeys.unshift(key);
          held = true;
          break;
        }
        key.due = false;
        const batch = this.take(key, fit, priority);
        // Checking what is live too means a miscount can never turn this loop into a livelock.
        if (key.queued === 0 || !batch) this.retire(key);
        else if (this.isDue(key) || this.fullByCost(key)) this.markDue(key);
        if (batch) this.start(batch);
      }
    } finally {
      this.pumping = false;
    }
    if (!held) this.gate?.idle();
  }

  /**
   * Isolation's waiting parts, first in line (their partition is theirs already): each starts once
   * the gate admits it. False when the gate holds one back.
   */
  private admitParts(): boolean {
    const parts = this.parts;
    while (parts.length > 0) {
      const { part, go } = parts[0];
      if (this.forced || part.owners.every((d) => d.settled)) {
        parts.shift();
        go(false);
        continue;
      }
      if (this.gate!.paused() || !this.gate!.admit(part.cost)) return false;
      parts.shift();
      this.gate!.started(part);
      go(true);
    }
    return true;
  }

  /** @internal Isolation's part starts when the gate lets it, as any batch (see Isolating.admit). */
  admit(part: Batch<I, O>): true | Promise<boolean> {
    if (!this.gate) return true;
    return new Promise((go) => {
      this.parts.push({ part, go });
      this.pump();
    });
  }

  /** @internal */
  partDone(part: Batch<I, O>): void {
    this.gate?.finished(part);
  }

  /** Whether another batch may start now: a partition is free, and no retryAfterMs pause holds every start. */
  private canStart(): boolean {
    return this.freePartitions.length > 0 && !this.gate?.paused();
  }

  /** Whether a batch of `priority` must leave the free partitions to `reserve`'s priorities. */
  private reserved(priority: number): boolean {
    const reserve = this.options.reserve;
    return reserve !== undefined && priority < reserve.priority && this.freePartitions.length <= reserve.partitions;
  }

  /**
   * The due key to start next: the key holding the highest-priority value, the first due among
   * equals (API.md 8.3); while every value has priority 0, the first due.
   */
  private nextDue(): KeyQueue {
    const due = this.dueKeys;
    if (due.length === 1) return due.shift()!;
    let best = 0;
    let top = due[0].topPriority;
    for (let i = 1; i < due.length; i++) {
      const priority = due[i].topPriority;
      if (priority > top) (best = i), (top = priority);
    }
    return due.splice(best, 1)[0];
  }

  /**
   * The one place a batch is formed: up to batchSize values of `key` (see KeyQueue.take), within
   * the cost budget (`fit`); `priority` is the highest waiting, which the batch takes first.
   */
  private take(key: KeyQueue, fit: BatchFit | undefined, priority: number): Batch<I, O> | undefined {
    const batch = key.take<I, O>(this, fit ? fit.count : this.options.batchSize);
    if (!batch) return undefined;
    batch.priority = priority;
    this.queued -= batch.size;
    if (fit) {
      if (this.budget!.counted) batch.costSum = fit.cost;
      key.queuedCost -= fit.cost;
    }
    batch.closedBy = fit?.byCost && batch.size < this.options.batchSize ? 'cost' : batch.size >= this.options.batchSize || key.window === 'open' || key.window === 'none' ? 'size' : key.window;
    return batch;
  }

  private start(batch: Batch<I, O>): void {
    this.gate?.started(batch);
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
    // Forced shutdown already failed its callers and let it go: nothing runs again.
    if (!this.running.has(batch)) return;
    const action = this.policy.decide(error, batch);
    if (action.kind === 'split') return this.split(batch, error);
    if (action.kind === 'retry') return this.retryLater(batch, error, action);
    if (action.exhausted) {
      this.failAll(batch, new BatchExecutionError(messages.batchFailedAfter(this.name, batch.size, batch.attempt, error), { cause: error }));
      return this.release(batch, true, error);
    }
    if (this.options.isolateFailures && batch.owners.filter((d) => !d.settled).length > 1) {
      this.record(batch, true, error);
      // Its execution is over: its place in the rate limit's window runs out while the parts wait.
      this.gate?.finished(batch);
      void bisect(this, batch, error).then(() => this.release(batch, undefined));
      return;
    }
    this.failAll(batch, new BatchExecutionError(messages.batchFailed(this.name, batch.size, error), { cause: error }));
    this.release(batch, true, error);
  }

  /** @internal Gives a batch made of another's slices (isolation's parts) its cost. */
  price(batch: Batch<I, O>): void {
    this.budget?.price(batch);
  }

  /** 'split': the halves run again at once, as the same attempt; a single value fails with BatchTooLargeError. */
  private split(batch: Batch<I, O>, error: unknown): void {
    const parts = halves(this, batch);
    if (parts) for (const part of parts) this.retries.add(part, batch.attempt, 0);
    else this.failAll(batch, new BatchTooLargeError(messages.valueTooLarge(this.name, error), { cause: error }));
    this.release(batch, true, error);
  }

  /** 'retry': the same values run again later, as the next attempt; a retryAfterMs pauses every start. */
  private retryLater(batch: Batch<I, O>, error: unknown, action: Extract<RetryAction, { kind: 'retry' }>): void {
    this.record(batch, true, error);
    this.recorder.retries++;
    this.emitTelemetry('retry', batch, error);
    // A pause holds every start, this batch's too: it waits first in line rather than on a timer of its own.
    if (action.pause) this.gate!.pause(action.delayMs);
    this.retries.add(batch, batch.attempt + 1, action.pause ? 0 : action.delayMs);
    this.release(batch, undefined);
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
    // starts/counts against undefined: their truthiness, tested for every value, compiled to a full
    // ToBoolean in V8 (10 instructions per value, bench/instructions.js).
    for (let i = 0, offset = 0; i < owners.length; i++) {
      const d = owners[i];
      const count = counts === undefined ? 1 : counts[i];
      if (!d.settled) this.deliverSlice(d, out as O[], offset, starts === undefined ? 0 : starts[i], count);
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
    if (extras.done === d.end) this.settle(d, outputs, 0);
  }

  /** @internal Fails every unsettled caller of the batch with one error. */
  failAll(batch: Batch<I, O>, error: BatchServingError): void {
    batch.finished = true;
    for (const d of batch.owners as Dispatch<I, O>[]) this.fail(d, error);
  }

  /** The batch is over: frees its partition, records it, and starts what is due. */
  private release(batch: Batch<I, O>, failed: boolean | undefined, error?: unknown): void {
    if (!this.running.delete(batch)) return;
    this.gate?.finished(batch);
    this.executing -= batch.size;
    this.freePartitions.push(batch.partition);
    if (this.adaptive) this.answerTurn = turnStamp();
    if (failed !== undefined) this.record(batch, failed, error);
    if (this.closing) this.checkIdle();
    // The hold is asked only when a key waits: a batch that ends with nothing due (most batches of
    // a serving that is not saturated) schedules no end of turn for it.
    if (this.dueKeys.length > 0 && this.heldLongEnough()) return;
    this.pump();
  }

  /** @internal Counts a finished execution in the stats and tells telemetry. */
  record(batch: Batch<I, O>, failed: boolean, error?: unknown): void {
    const runMs = preciseClock() - batch.startedAt;
    this.recorder.recordBatch(batch.size, batch.cost, batch.waitMs, runMs, failed);
    if (!failed) this.batchTime?.ran(batch.size, runMs);
    this.emitTelemetry(failed ? 'failure' : 'stop', batch, error);
  }

  private emitTelemetry(type: BatchTelemetryEvent['type'], batch: Batch<I, O>, error?: unknown): void {
    const listener = this.telemetry;
    const onFailure = type === 'failure' ? this.onFailure : undefined;
    if (listener === undefined && onFailure === undefined) return;
    const event: BatchTelemetryEvent = {
      type,
      serving: this.name,
      partition: batch.partition,
      batchKey: batch.batchKey,
      size: batch.size,
      cost: batch.cost,
      attempt: batch.attempt,
      waitMs: batch.waitMs,
    };
    if (type === 'start') event.closedBy = batch.closedBy;
    else event.runMs = preciseClock() - batch.startedAt;
    if (type === 'failure' || type === 'retry') event.error = error;
    if (listener !== undefined) tell(listener, event);
    if (onFailure !== undefined) tell(onFailure, event);
  }

  // ---- shutdown ------------------------------------------------------------------------------

  private checkIdle(): void {
    if (this.idle && this.queued === 0 && this.running.size === 0 && this.retries.size === 0) this.idle();
  }

  /** shutdown.timeout passed: everything still pending fails, and running batches are told. */
  private force(timeoutMs: number): void {
    this.forced = true;
    const error = () => new ServingShutdownError(messages.shutdownDeadline(this.name, timeoutMs));
    for (const key of this.keys.values()) for (const d of key.waiting()) this.fail(d as Dispatch<I, O>, error());
    for (const batch of this.retries.drain()) this.failAll(batch as Batch<I, O>, error());
    for (const { go } of this.parts.splice(0)) go(false);
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
    this.gate?.close();
    for (const key of this.keys.values()) this.retire(key);
    this.keys.clear();
    this.dueKeys.length = 0;
    this.turnKeys.length = 0;
  }
}
