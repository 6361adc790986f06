import {
  BatchExecutionError,
  BatchServing,
  BatchTooLargeError,
  DispatchTimeoutError,
  RetryableError,
  type BatchTelemetryEvent,
} from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, track, useFakeTimers } from '../helpers';

/* API.md section 9, retries: `retry: { attempts, backoff?, classify? }`, RetryableError, BatchTooLargeError. */

const noJitter = { initial: 100, max: 1000, factor: 2 };

describe('retries (retry)', () => {
  beforeEach(() => {
    useFakeTimers();
    // Full jitter draws from [0, cap): at 0.999… every wait is its cap, so the specs can count it.
    jest.spyOn(Math, 'random').mockReturnValue(0.99999);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('runs the values of a batch that threw RetryableError again after the backoff, as attempt 2, and counts it', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, retry: { attempts: 3, backoff: noJitter } });
    const events: BatchTelemetryEvent[] = [];
    running.telemetry().subscribe((e) => events.push(e));
    const results = [1, 2].map((v) => track(running.dispatch(v)));
    await advance(0);
    calls[0].fail(new RetryableError('busy'));
    await advance(99);
    expect(calls).toHaveLength(1);
    await advance(1);
    expect(calls.map((c) => [c.values, c.ctx.attempt])).toEqual([[[1, 2], 1], [[1, 2], 2]]);
    calls[1].finish();
    await advance(0);
    expect(results.map((r) => r.value)).toEqual([1, 2]);
    expect(running.stats()).toMatchObject({ retries: 1, batches: 2, failures: 1 });
    expect(events.map((e) => [e.type, e.attempt])).toEqual([['start', 1], ['failure', 1], ['retry', 1], ['start', 2], ['stop', 2]]);
    await running.close('drain', 1000);
  });

  it('backs off exponentially between attempts', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, retry: { attempts: 4, backoff: noJitter } });
    running.dispatch(1);
    const t0 = Date.now();
    const startedAt: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      await advance(0);
      while (calls.length < attempt) await advance(1);
      startedAt.push(Date.now() - t0);
      calls[attempt - 1].fail(new RetryableError('busy'));
    }
    while (calls.length < 4) await advance(1);
    startedAt.push(Date.now() - t0);
    calls[3].finish();
    expect(startedAt).toEqual([0, 100, 300, 700]);
    await running.close('drain', 1000);
  });

  it('fails the callers after the last attempt with BatchExecutionError giving the number of attempts, the last error as cause', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { name: 'embed', batchSize: 10, batchTimeout: 0, retry: { attempts: 2, backoff: noJitter } });
    const result = track(running.dispatch(1));
    await advance(0);
    calls[0].fail(new RetryableError('first'));
    await advance(100);
    const last = new RetryableError('second');
    calls[1].fail(last);
    await advance(0);
    expect(result.error).toBeInstanceOf(BatchExecutionError);
    expect((result.error as Error).message).toBe("Serving 'embed' failed a batch of 1 value(s) after 2 attempts: second");
    expect((result.error as Error).cause).toBe(last);
    await advance(10_000);
    expect(calls).toHaveLength(2);
    await running.close('drain', 1000);
  });

  it('without a retry option, fails a batch that threw RetryableError as any failed batch', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const result = track(running.dispatch(1));
    await advance(0);
    calls[0].fail(new RetryableError('busy', { retryAfterMs: 50 }));
    await advance(1000);
    expect(result.error).toBeInstanceOf(BatchExecutionError);
    expect(calls).toHaveLength(1);
    await running.close('drain', 1000);
  });

  it('pauses the whole serving for retryAfterMs: no batch starts on any partition until then', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0, partitions: 3, retry: { attempts: 2 } });
    running.dispatch(1);
    await advance(0);
    calls[0].fail(new RetryableError('429', { retryAfterMs: 500 }));
    await advance(0);
    running.dispatch(2);
    running.dispatch(3);
    await advance(499);
    expect(calls).toHaveLength(1);
    await advance(1);
    // The retry first (its values waited longest), then the batches held by the pause.
    expect(calls.map((c) => c.values)).toEqual([[1], [1], [2], [3]]);
    await finishAll(calls, () => advance(0));
    await running.close('drain', 1000);
  });

  it('asks classify what an SDK error means: a 429 with its header waits that long, a 413 halves the batch', async () => {
    const { calls, fn } = controlledBatches();
    const classify = (error: unknown) => {
      const { status, retryAfterMs } = error as { status: number; retryAfterMs?: number };
      return status === 429 ? { retryAfterMs: retryAfterMs! } : status === 413 ? ('split' as const) : undefined;
    };
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, partitions: 2, retry: { attempts: 2, classify } });
    const results = [1, 2, 3, 4].map((v) => track(running.dispatch(v)));
    await advance(0);
    calls[0].fail(Object.assign(new Error('Too Many Requests'), { status: 429, retryAfterMs: 250 }));
    await advance(249);
    expect(calls).toHaveLength(1);
    await advance(1);
    calls[1].fail(Object.assign(new Error('Payload Too Large'), { status: 413 }));
    await advance(0);
    expect(calls.map((c) => [c.values, c.ctx.attempt])).toEqual([[[1, 2, 3, 4], 1], [[1, 2, 3, 4], 2], [[1, 2], 2], [[3, 4], 2]]);
    await finishAll(calls, () => advance(0));
    expect(results.map((r) => r.value)).toEqual([1, 2, 3, 4]);
    expect(running.stats().retries).toBe(1);
    await running.close('drain', 1000);
  });

  it('halves a batch that threw BatchTooLargeError, also without a retry option, keeping the attempt and counting no retry', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, partitions: 3 });
    const events: BatchTelemetryEvent[] = [];
    running.telemetry().subscribe((e) => events.push(e));
    const many = track(running.dispatchMany([1, 2, 3, 4, 5]));
    await advance(0);
    calls[0].fail(new BatchTooLargeError('413'));
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3, 4, 5], [1, 2], [3, 4, 5]]);
    calls[2].fail(new BatchTooLargeError('413'));
    await advance(0);
    expect(calls.slice(3).map((c) => [c.values, c.ctx.attempt])).toEqual([[[3], 1], [[4, 5], 1]]);
    await finishAll(calls, () => advance(0));
    expect(many.value).toEqual([1, 2, 3, 4, 5]);
    expect(running.stats().retries).toBe(0);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    await running.close('drain', 1000);
  });

  it('fails a single value that is still too large with BatchTooLargeError, and only its caller', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { name: 'embed', batchSize: 10, batchTimeout: 0, partitions: 2 });
    const big = track(running.dispatch(1));
    const small = track(running.dispatch(2));
    await advance(0);
    calls[0].fail(new BatchTooLargeError('413'));
    await advance(0);
    calls[1].fail(new BatchTooLargeError('413 again'));
    calls[2].finish();
    await advance(0);
    expect(big.error).toBeInstanceOf(BatchTooLargeError);
    expect((big.error as Error).message).toContain("Serving 'embed' was refused a batch of a single value as too large: 413 again.");
    expect(small.value).toBe(2);
    await running.close('drain', 1000);
  });

  it('keeps callers deadlines running while they wait; a caller that left is not run again', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, retry: { attempts: 3, backoff: noJitter } });
    const leaving = track(running.dispatch(1, { timeout: 50 }));
    const staying = track(running.dispatch(2));
    await advance(0);
    calls[0].fail(new RetryableError('busy'));
    await advance(50);
    expect(leaving.error).toBeInstanceOf(DispatchTimeoutError);
    await advance(50);
    expect(calls.map((c) => c.values)).toEqual([[1, 2], [2]]);
    calls[1].finish();
    await advance(0);
    expect(staying.value).toBe(2);
    await running.close('drain', 1000);
  });

  it('drops a retry whose callers have all gone', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, retry: { attempts: 3, backoff: noJitter } });
    const controller = new AbortController();
    const result = track(running.dispatch(1, { signal: controller.signal }));
    await advance(0);
    calls[0].fail(new RetryableError('busy'));
    await advance(10);
    controller.abort();
    await advance(1000);
    expect(result.state).toBe('rejected');
    expect(calls).toHaveLength(1);
    expect(running.stats()).toMatchObject({ queued: 0, executing: 0 });
    await running.close('drain', 1000);
  });

  it("hands a failure that classify calls 'fail' to isolateFailures as usual", async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, isolateFailures: true, retry: { attempts: 3, classify: () => 'fail' } });
    const results = [1, 2].map((v) => track(running.dispatch(v)));
    await advance(0);
    calls[0].fail(new RetryableError('busy'));
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1, 2], [1]]);
    calls[1].fail(new Error('bad 1'));
    await advance(0);
    calls[2].finish();
    await advance(0);
    expect(results[0].error).toBeInstanceOf(BatchExecutionError);
    expect(results[1].value).toBe(2);
    await running.close('drain', 1000);
  });

  it('fails a batch waiting for its retry when shutdown runs out of time, and leaves nothing pending', async () => {
    const { calls, fn } = controlledBatches();
    const running = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, retry: { attempts: 3 } });
    const result = track(running.dispatch(1));
    await advance(0);
    calls[0].fail(new RetryableError('429', { retryAfterMs: 60_000 }));
    await advance(0);
    const closed = track(running.close('drain', 1000));
    await advance(1000);
    expect(closed.state).toBe('fulfilled');
    expect((result.error as Error).name).toBe('ServingShutdownError');
    expect(calls).toHaveLength(1);
  });
});

describe('the pause of retryAfterMs, on real timers', () => {
  afterEach(() => jest.restoreAllMocks());

  it('ends even when its timer fires before performance.now() reaches its end, as a Node timer may', async () => {
    const realNow = performance.now.bind(performance);
    const running = BatchServing.start(
      BatchServing.new((values: number[], ctx) => {
        if (ctx.attempt > 1) return values;
        // Once the pause is set, the clock reads 5 ms behind the timers, as when the loop's cached time was late.
        setImmediate(() => jest.spyOn(performance, 'now').mockImplementation(() => realNow() - 5));
        throw new RetryableError('429', { retryAfterMs: 20 });
      }),
      { batchSize: 1, batchTimeout: 0, retry: { attempts: 2 } },
    );
    await expect(running.dispatch(1)).resolves.toBe(1);
    await running.close('drain', 1000);
  });
});
