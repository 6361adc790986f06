import { join } from 'node:path';
import {
  BatchServing,
  BatchTooLargeError,
  RetryableError,
  type BatchTelemetryEvent,
  type RunningServing,
  type ServingOptions,
} from '../../lib';

/* API.md section 10, last point: priorities, windows, budgets and retries work the same for a worker serving. */

const PROVIDER = join(__dirname, 'fixtures', 'provider.worker.js');

interface Op {
  op?: string;
  n: number;
}
/** What the thread saw of the batch that ran a value. */
interface Seen {
  n: number;
  order: number;
  threadId: number;
  ctx: { size: number; cost: number; attempt: number };
}

const opened: RunningServing<any, any, any>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((running) => running.close('drain', 5_000)));
});

/** A worker serving on the provider fixture, its threads up; `release()` lets a 'hold' batch finish. */
async function startProvider(options: Partial<ServingOptions>, withCost = false) {
  const shared = new SharedArrayBuffer(4);
  const plain = BatchServing.worker<Op, Seen>(PROVIDER, { workerData: { shared } });
  const serving = withCost ? plain.cost((v) => v.n) : plain;
  const running = BatchServing.start(serving, { name: 'provider', batchTimeout: 0, ...options });
  opened.push(running);
  const events: Array<BatchTelemetryEvent & { at: number }> = [];
  running.telemetry().subscribe((event) => events.push({ ...event, at: performance.now() }));
  await running.ready();
  const flags = new Int32Array(shared);
  const release = () => (Atomics.store(flags, 0, 1), Atomics.notify(flags, 0));
  return { running, events, release };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('a worker serving with the options of sections 8 and 9', () => {
  it('starts the highest priority first while its one thread is busy, arrival order within a priority', async () => {
    const { running, release } = await startProvider({ batchSize: 1 });
    const held = running.dispatch({ op: 'hold', n: 0 });
    await nextTurn();
    // The only thread holds the first batch: these queue, and start by priority when it is free.
    const waiting = [
      running.dispatch({ n: 1 }),
      running.dispatch({ n: 2 }, { priority: 5 }),
      running.dispatch({ n: 3 }),
      running.dispatch({ n: 4 }, { priority: 5 }),
      running.dispatch({ n: 5 }, { priority: -1 }),
    ];
    release();
    const seen = await Promise.all([held, ...waiting]);
    const byOrder = [...seen].sort((a, b) => a.order - b.order).map((s) => s.n);
    expect(byOrder).toEqual([0, 2, 4, 1, 3, 5]);
  });

  it("with window 'adaptive', starts a lone caller's batch at once instead of after batchTimeout (a minute)", async () => {
    const { running, events } = await startProvider({ batchSize: 32, batchTimeout: 60_000, window: 'adaptive' });
    for (let n = 1; n <= 5; n++) await expect(running.dispatch({ n })).resolves.toMatchObject({ n, ctx: { size: 1 } });
    expect(events.filter((e) => e.type === 'start').map((e) => e.closedBy)).toEqual(new Array(5).fill('adaptive'));
  });

  it('keeps each batch within maxBatchCost by .cost, and the thread sees ctx.cost, the batch total', async () => {
    const { running } = await startProvider({ batchSize: 10, maxBatchCost: 10 }, true);
    const seen = await running.dispatchMany([{ n: 4 }, { n: 4 }, { n: 4 }, { n: 3 }, { n: 9 }]);
    expect(seen.map((s) => [s.n, s.ctx.size, s.ctx.cost])).toEqual([
      [4, 2, 8],
      [4, 2, 8],
      [4, 2, 7],
      [3, 2, 7],
      [9, 1, 9],
    ]);
    expect(running.stats().meanBatchCost).toBe(8);
  });

  it('recognises a RetryableError with retryAfterMs thrown in the thread: classify sees its class, the serving pauses, ctx.attempt counts', async () => {
    const classified: unknown[] = [];
    const { running, events } = await startProvider({
      batchSize: 4,
      retry: { attempts: 3, classify: (error) => void classified.push(error) },
    });
    const seen = await running.dispatch({ op: 'quota', n: 1 });
    expect(seen.ctx.attempt).toBe(2);
    expect(classified).toHaveLength(1);
    const error = classified[0] as RetryableError;
    expect(error).toBeInstanceOf(RetryableError);
    expect([error.code, error.retryAfterMs, error.message]).toEqual(['RETRYABLE', 30, '429 from the provider']);
    expect(running.stats().retries).toBe(1);
    // The pause of retryAfterMs: no batch started before it ran out.
    const retried = events.find((e) => e.type === 'retry')!;
    const again = events.filter((e) => e.type === 'start')[1];
    expect(again.attempt).toBe(2);
    expect(again.at - retried.at).toBeGreaterThanOrEqual(29);
  });

  it('runs a RetryableError without retryAfterMs again after the backoff, up to `attempts`', async () => {
    const { running } = await startProvider({ batchSize: 4, retry: { attempts: 3, backoff: { initial: 1, max: 2 } } });
    await expect(running.dispatch({ op: 'flaky', n: 7 })).resolves.toMatchObject({ n: 7, ctx: { attempt: 3 } });
    expect(running.stats().retries).toBe(2);
  });

  it('splits a batch on a BatchTooLargeError thrown in the thread, halving until it fits, as the same attempt', async () => {
    const { running } = await startProvider({ batchSize: 4 });
    const seen = await running.dispatchMany([1, 2, 3, 4].map((n) => ({ op: 'too-large', n })));
    expect(seen.map((s) => [s.n, s.ctx.size, s.ctx.attempt])).toEqual([
      [1, 1, 1],
      [2, 1, 1],
      [3, 1, 1],
      [4, 1, 1],
    ]);
    expect(running.stats().retries).toBe(0);
  });

  it('fails a single value still too large with BatchTooLargeError', async () => {
    const { running } = await startProvider({ batchSize: 4 });
    const failure = await running.dispatch({ op: 'always-too-large', n: 1 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BatchTooLargeError);
    expect((failure as Error).message).toContain('413: over the cap even alone');
  });
});
