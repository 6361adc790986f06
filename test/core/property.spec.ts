import fc from 'fast-check';
import { BatchServing, BatchServingError, BatchTooLargeError, RetryableError, type BatchContext, type RunningServing, type ServingOptions } from 'nestjs-batch-serving';
import { Dispatch } from '../../lib/core/dispatch';

/*
 * Thousands of random interleavings of dispatches of random sizes, aborts, timeouts, batches that
 * throw, return Errors or the wrong number of outputs, and shutdowns, under fake timers. After each
 * run the invariants of API.md section 5 must hold, and section 8's: priorities, adaptive windows;
 * and section 9's: cost budgets, rate limits, and exactly once as retries amend it.
 * ARCHITECTURE.md lists them.
 */

type Outcome = 'ok' | 'throw' | 'errorAt' | 'wrongLength' | 'retryable' | 'retryAfter' | 'tooLarge';

const outcome = fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'throw', 'errorAt', 'wrongLength', 'retryable', 'retryAfter', 'tooLarge');

/** What a batch function throws for each failing outcome. */
const thrown = (how: Outcome): Error | undefined =>
  how === 'throw'
    ? new Error('batch failure')
    : how === 'retryable'
      ? new RetryableError('busy')
      : how === 'retryAfter'
        ? new RetryableError('429', { retryAfterMs: 7 })
        : how === 'tooLarge'
          ? new BatchTooLargeError('413')
          : undefined;

/** A value's cost, with `.cost`: 0 to 4. */
const costOf = (v: number) => v % 5;

const step = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('dispatch' as const),
      size: fc.nat(6),
      single: fc.boolean(),
      timeout: fc.option(fc.integer({ min: 1, max: 40 })),
      abortable: fc.boolean(),
      /** Mostly the default, so that runs without priorities stay common. */
      priority: fc.constantFrom(0, 0, 0, 1, 2, -1),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 25 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), outcome, at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  /**
   * A steady stream: single values `every` ms apart, the oldest running batch answered after every
   * `answerEvery`-th (0: none). It gives the adaptive window a history of arrivals and of batch
   * times, shorter and longer than the gaps, to decide on.
   */
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('trickle' as const),
      count: fc.integer({ min: 2, max: 20 }),
      every: fc.integer({ min: 0, max: 3 }),
      answerEvery: fc.nat(3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), mode: fc.constantFrom('drain' as const, 'reject' as const), timeout: fc.integer({ min: 0, max: 60 }) }) },
);

const scenario = fc.record({
  batchSize: fc.integer({ min: 1, max: 5 }),
  partitions: fc.integer({ min: 1, max: 3 }),
  batchTimeout: fc.constantFrom(0, 5, 20),
  window: fc.constantFrom('fixed' as const, 'adaptive' as const),
  maxQueueSize: fc.constantFrom(4, 12, 1000),
  isolateFailures: fc.boolean(),
  /** Values keyed by parity: a request of several values is cut into runs, one per key queue. */
  keyed: fc.boolean(),
  sync: fc.boolean(),
  syncOutcomes: fc.array(outcome, { minLength: 1, maxLength: 8 }),
  /** Section 9: values cost `costOf` (else 1 each), a budget, a rate limit, retries. */
  costed: fc.boolean(),
  maxBatchCost: fc.constantFrom(undefined, undefined, 3, 6),
  rateLimit: fc.constantFrom(undefined, undefined, { per: 30, batches: 2 }, { per: 30, cost: 6 }),
  retry: fc.constantFrom(undefined, { attempts: 2, backoff: { initial: 1, max: 5 } }, { attempts: 3, backoff: { initial: 0, max: 0 } }),
  /** A partition kept for priority 1 and above (with 2 or 3 partitions). */
  reserve: fc.boolean(),
  steps: fc.array(step, { maxLength: 40 }),
});

interface Execution {
  values: number[];
  seq: number;
  at: number;
  cost: number;
  attempt: number;
  ok?: boolean;
  how?: Outcome;
  /** Below the reserved priority: counted in `runningBelow` until it ends. */
  below?: boolean;
}

type Settled = { state: 'pending' | 'fulfilled' | 'rejected'; value?: unknown; error?: unknown; settlements: number; seq?: number };

/**
 * Sees every settlement the batcher makes. A Promise ignores a second settle, so "exactly once"
 * is checked here, where a double settlement would otherwise hide.
 */
class CountingDispatch extends Dispatch<number, number> {
  readonly result: Settled = { state: 'pending', settlements: 0 };
  readonly dispatchedAt = Date.now();
  settledAt = 0;

  constructor(values: number[], private readonly tick: () => number) {
    super(values, undefined);
  }

  complete(source: number[], offset: number): void {
    this.settledAt = Date.now();
    const value = source.slice(offset, offset + this.values.length);
    Object.assign(this.result, { state: 'fulfilled', value, settlements: this.result.settlements + 1, seq: this.tick() });
  }

  fail(error: BatchServingError): void {
    this.settledAt = Date.now();
    Object.assign(this.result, { state: 'rejected', error, settlements: this.result.settlements + 1, seq: this.tick() });
  }
}

type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

async function run(s: Scenario): Promise<void> {
  if (process.env.PROPERTY_DEBUG) require('fs').writeFileSync('/tmp/last-scenario.json', JSON.stringify(s));
  let seq = 0;
  let nextValue = 0;
  const executions: Execution[] = [];
  const pending: Array<{ values: number[]; exec: Execution; resolve(v: unknown): void; reject(e: unknown): void }> = [];
  const problems: string[] = [];
  let syncCall = 0;
  const priorityOf = new Map<number, number>();
  const reserve = s.reserve && s.partitions >= 2 ? { partitions: 1, priority: 1 } : undefined;
  // Batches formed from the key queues, whose priority is that of their highest value; isolation's
  // parts and retries keep the partition or priority of the batch they came from, so they are not counted.
  const countsBelow = reserve !== undefined && !s.isolateFailures && !s.retry;
  let runningBelow = 0;
  const ended = (exec: Execution) => {
    if (exec.below) (exec.below = false), runningBelow--;
  };

  const outputsFor = (values: number[], how: Outcome, at: number): unknown => {
    if (how === 'wrongLength') return values.slice(1);
    if (how === 'errorAt') return values.map((v, i) => (i === at % values.length ? new Error(`bad ${v}`) : v * 2));
    return values.map((v) => v * 2);
  };

  const fn = (values: number[], ctx: BatchContext) => {
    if (values.length === 0 || values.length > s.batchSize) problems.push(`batch of ${values.length} with batchSize ${s.batchSize}`);
    if (ctx.size !== values.length) problems.push('ctx.size differs from values.length');
    if (s.keyed && new Set(values.map((v) => v % 2)).size > 1) problems.push(`batch ${JSON.stringify(values)} mixes batch keys`);
    // Highest priority first; within a priority, arrival order (values are numbered as they arrive).
    for (let i = 1; i < values.length; i++) {
      const [before, after] = [priorityOf.get(values[i - 1])!, priorityOf.get(values[i])!];
      if (after > before || (after === before && values[i] < values[i - 1])) problems.push(`batch ${JSON.stringify(values)} is out of priority order`);
    }
    const cost = s.costed ? values.reduce((sum, v) => sum + costOf(v), 0) : values.length;
    if (ctx.cost !== cost) problems.push(`ctx.cost ${ctx.cost} of a batch costing ${cost}`);
    const cap = budgets.maxBatchCost ?? budgets.rateLimit?.cost;
    if (cap !== undefined && cost > cap) problems.push(`batch ${JSON.stringify(values)} costs ${cost}, over ${cap}`);
    if (ctx.attempt > (s.retry?.attempts ?? 1)) problems.push(`attempt ${ctx.attempt} with retry ${JSON.stringify(s.retry)}`);
    const exec: Execution = { values: [...values], seq: ++seq, at: Date.now(), cost, attempt: ctx.attempt };
    executions.push(exec);
    // Section 8 and `reserve`: batches below the reserved priority leave its partitions free.
    if (countsBelow && Math.max(...values.map((v) => priorityOf.get(v)!)) < reserve!.priority) {
      exec.below = true;
      if (++runningBelow > s.partitions - reserve!.partitions) problems.push(`${runningBelow} batches below priority ${reserve!.priority} ran at once on ${s.partitions} partitions, ${reserve!.partitions} reserved`);
    }
    if (s.sync) {
      ended(exec);
      const how = s.syncOutcomes[syncCall++ % s.syncOutcomes.length];
      exec.ok = how === 'ok' || how === 'errorAt';
      exec.how = how;
      const error = thrown(how);
      if (error) throw error;
      return outputsFor(values, how, syncCall) as number[];
    }
    return new Promise<number[]>((resolve, reject) => pending.push({ values, exec, resolve: resolve as (v: unknown) => void, reject }));
  };

  const plain = BatchServing.new(fn);
  const definition = s.costed ? plain.cost(costOf) : plain;
  const budgets: Partial<ServingOptions> = { maxBatchCost: s.maxBatchCost, rateLimit: s.rateLimit, retry: s.retry };
  // With costs, a budget under the rate limit's cost (a configuration rule).
  if (s.rateLimit?.cost !== undefined && (s.maxBatchCost ?? 0) > s.rateLimit.cost) budgets.maxBatchCost = s.rateLimit.cost;
  const serving: RunningServing<number, number> = BatchServing.start(s.keyed ? definition.batchKey((v: number) => String(v % 2)) : definition, {
    ...budgets,
    name: 'prop',
    batchSize: s.batchSize,
    partitions: s.partitions,
    batchTimeout: s.batchTimeout,
    maxQueueSize: s.maxQueueSize,
    isolateFailures: s.isolateFailures,
    window: s.window,
    reserve,
  });

  // Telemetry's closedBy: 'adaptive' only for an adaptive window (batchTimeout 0 closes by 'timeout').
  serving.telemetry().subscribe((e) => {
    if (e.type === 'start' && e.closedBy === 'adaptive' && (s.window !== 'adaptive' || s.batchTimeout === 0)) {
      problems.push(`a batch closed 'adaptive' with window ${s.window}, batchTimeout ${s.batchTimeout}`);
    }
  });

  const dispatches: Array<{ inputs: number[]; single: boolean; result: Settled; controller?: AbortController; counted?: CountingDispatch; timeout?: number }> = [];
  let closing: Promise<void> | undefined;

  const watch = (promise: Promise<unknown>): Settled => {
    const result: Settled = { state: 'pending', settlements: 0 };
    promise.then(
      (value) => Object.assign(result, { state: 'fulfilled', value, settlements: result.settlements + 1 }),
      (error) => Object.assign(result, { state: 'rejected', error, settlements: result.settlements + 1, seq: ++seq }),
    );
    return result;
  };

  for (const st of s.steps) {
    switch (st.kind) {
      case 'dispatch': {
        const size = st.single ? 1 : st.size;
        const inputs = Array.from({ length: size }, () => nextValue++);
        for (const v of inputs) priorityOf.set(v, st.priority);
        const controller = st.abortable ? new AbortController() : undefined;
        const options = { timeout: st.timeout ?? undefined, signal: controller?.signal, priority: st.priority };
        if (st.single) {
          // Half through the public API (promises), half straight into the batcher (counted).
          const promise = st.size % 2 ? serving.dispatch(inputs[0], options) : serving.dispatchMany(inputs, options);
          dispatches.push({ inputs, single: st.size % 2 === 1, result: watch(promise), controller });
        } else {
          const d = new CountingDispatch(inputs, () => ++seq);
          serving.batcher.submit(d, options.timeout, options.signal, options.priority);
          dispatches.push({ inputs, single: false, result: d.result, controller, counted: d, timeout: options.timeout });
        }
        break;
      }
      case 'advance':
        await jest.advanceTimersByTimeAsync(st.ms);
        break;
      case 'trickle':
        for (let i = 0; i < st.count; i++) {
          const v = nextValue++;
          priorityOf.set(v, 0);
          dispatches.push({ inputs: [v], single: true, result: watch(serving.dispatch(v)) });
          const call = st.answerEvery > 0 && i % st.answerEvery === 0 ? pending.shift() : undefined;
          if (call) {
            ended(call.exec);
            call.exec.ok = true;
            call.resolve(call.values.map((x) => x * 2));
          }
          await jest.advanceTimersByTimeAsync(st.every);
        }
        break;
      case 'settle': {
        if (pending.length === 0) break;
        const [call] = pending.splice(st.pick % pending.length, 1);
        ended(call.exec);
        call.exec.ok = st.outcome === 'ok' || st.outcome === 'errorAt';
        call.exec.how = st.outcome;
        const error = thrown(st.outcome);
        if (error) call.reject(error);
        else call.resolve(outputsFor(call.values, st.outcome, st.at));
        await Promise.resolve();
        break;
      }
      case 'abort': {
        const abortable = dispatches.filter((d) => d.controller);
        if (!abortable.length) break;
        const target = abortable[st.pick % abortable.length];
        const wasPending = target.result.state === 'pending';
        target.controller!.abort('gone');
        // The batcher settles an aborted dispatch synchronously, whatever stage it is at.
        if (target.counted && wasPending && (target.result.error as BatchServingError | undefined)?.code !== 'DISPATCH_ABORTED') {
          problems.push(`aborted dispatch ${JSON.stringify(target.inputs)} is ${target.result.state}`);
        }
        break;
      }
      case 'close':
        if (closing) break;
        closing = serving.close(st.mode, st.timeout);
        if (st.mode === 'reject' && serving.stats().queued !== 0) problems.push('reject mode left values queued');
        break;
    }
  }

  // Wind down: close if nobody did, and let every batch finish until close() resolves.
  closing ??= serving.close('drain', 50);
  let closed = false;
  closing.then(() => (closed = true));
  for (let i = 0; i < 200 && !closed; i++) {
    for (const call of pending.splice(0)) {
      ended(call.exec);
      call.exec.ok = true;
      call.resolve(call.values.map((v) => v * 2));
    }
    await jest.advanceTimersByTimeAsync(10);
  }
  await jest.advanceTimersByTimeAsync(0);

  if (!closed) problems.push('close() never resolved');
  const stats = serving.stats();
  if (stats.queued !== 0 || stats.executing !== 0) problems.push(`after close: ${JSON.stringify(stats)}`);

  // Every dispatch settles exactly once, with its results in input order or a typed error.
  for (const d of dispatches) {
    if (d.result.settlements !== 1) problems.push(`dispatch ${JSON.stringify(d.inputs)} settled ${d.result.settlements} times`);
    if (d.result.state === 'fulfilled') {
      const expected = d.inputs.map((v) => v * 2);
      const got = d.single ? [d.result.value] : d.result.value;
      if (JSON.stringify(got) !== JSON.stringify(expected)) problems.push(`dispatch ${JSON.stringify(d.inputs)} got ${JSON.stringify(got)}`);
    } else if (d.result.state === 'rejected' && !(d.result.error instanceof BatchServingError)) {
      problems.push(`untyped rejection ${String(d.result.error)}`);
    }
  }

  // Nothing outlives its deadline.
  for (const d of dispatches) {
    if (d.counted && d.timeout !== undefined && d.counted.settledAt - d.counted.dispatchedAt > d.timeout) {
      problems.push(`dispatch with timeout ${d.timeout} settled after ${d.counted.settledAt - d.counted.dispatchedAt} ms`);
    }
  }

  // Exactly once, amended (section 9): a value runs again only after an execution of it failed
  // in a way that runs it again: a retry (with `retry`), a split, or isolation's re-runs.
  const runsOf = new Map<number, Execution[]>();
  for (const exec of executions) for (const v of exec.values) runsOf.set(v, [...(runsOf.get(v) ?? []), exec]);
  const runsAgain = (exec: Execution) =>
    exec.ok === false &&
    (s.isolateFailures || exec.how === 'tooLarge' || (s.retry !== undefined && (exec.how === 'retryable' || exec.how === 'retryAfter') && exec.attempt < s.retry.attempts));
  for (const [v, list] of runsOf) {
    for (let i = 1; i < list.length; i++) if (!runsAgain(list[i - 1])) problems.push(`value ${v} ran again after ${JSON.stringify(list[i - 1])}`);
  }

  // A value whose own cost is over the budget fails its whole dispatch, at once, and none of its values run.
  const cap = budgets.maxBatchCost ?? budgets.rateLimit?.cost;
  for (const d of dispatches) {
    if (!s.costed || cap === undefined || !d.inputs.some((v) => costOf(v) > cap)) continue;
    // (Refused earlier for another reason, overload or shutdown, is as good.)
    const code = (d.result.error as BatchServingError | undefined)?.code;
    if (!['INVALID_INPUT', 'SERVING_OVERLOADED', 'SERVING_SHUTDOWN'].includes(code!)) problems.push(`dispatch ${JSON.stringify(d.inputs)} over the budget is ${d.result.state} (${code})`);
    if (d.inputs.some((v) => runsOf.has(v))) problems.push(`a value of dispatch ${JSON.stringify(d.inputs)}, over the budget, ran`);
  }

  // The rate limit: in any interval of `per` ms, at most `batches` starts and at most `cost` started.
  const limit = budgets.rateLimit;
  if (limit) {
    for (const first of executions) {
      const inWindow = executions.filter((e) => e.at >= first.at && e.at < first.at + limit.per);
      if (limit.batches !== undefined && inWindow.length > limit.batches) problems.push(`${inWindow.length} batches started within ${limit.per} ms of ${first.at}`);
      const cost = inWindow.reduce((sum, e) => sum + e.cost, 0);
      if (limit.cost !== undefined && cost > limit.cost) problems.push(`batches costing ${cost} started within ${limit.per} ms of ${first.at}`);
    }
  }

  // No value runs after its caller settled (seen exactly for the dispatches counted here).
  for (const d of dispatches) {
    if (!d.counted || d.result.seq === undefined) continue;
    for (const exec of executions) {
      if (exec.seq > d.result.seq && d.inputs.some((v) => exec.values.includes(v))) problems.push(`a value of ${JSON.stringify(d.inputs)} ran after its caller settled`);
    }
  }

  // No value executes after its dispatch was taken out (timed out, aborted, refused, shut down).
  for (const d of dispatches) {
    if (d.result.state !== 'rejected') continue;
    const code = (d.result.error as BatchServingError).code;
    if (!['DISPATCH_TIMEOUT', 'DISPATCH_ABORTED', 'SERVING_OVERLOADED', 'SERVING_SHUTDOWN'].includes(code)) continue;
    for (const exec of executions) {
      if (exec.seq > d.result.seq! && d.inputs.some((v) => exec.values.includes(v))) {
        problems.push(`value of a dispatch taken out (${code}) executed afterwards`);
      }
    }
  }

  if (problems.length) throw new Error(problems.join('\n'));
}

describe('the batcher under random interleavings', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    // The backoff's jitter, made repeatable so that a failing run can be replayed.
    let state = 1;
    jest.spyOn(Math, 'random').mockImplementation(() => ((state = (state * 48271) % 2147483647) / 2147483647));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('settles every dispatch exactly once, runs a value again only when the retry policy does and never after its caller settled, keeps order and budgets, and leaves nothing pending', async () => {
    if (process.env.PROPERTY_SCENARIO) return run(JSON.parse(process.env.PROPERTY_SCENARIO));
    await fc.assert(fc.asyncProperty(scenario, run), { numRuns: Number(process.env.PROPERTY_RUNS ?? 2000), seed: Number(process.env.PROPERTY_SEED ?? 20261124) });
  }, 120_000);
});
