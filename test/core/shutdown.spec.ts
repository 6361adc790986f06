import { BatchServing, ServingShutdownError } from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, nextTurn, track, useFakeTimers } from '../helpers';

describe('shutdown', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses new dispatches with ServingShutdownError once closing starts', async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'squares', batchTimeout: 0 });
    const closing = serving.close('drain', 1000);
    await expect(serving.dispatch(1)).rejects.toMatchObject({
      code: 'SERVING_SHUTDOWN',
      message: "Serving 'squares' is shutting down and takes no more dispatches.",
    });
    await closing;
    expect(serving.state).toBe('stopped');
    await expect(serving.dispatch(1)).rejects.toBeInstanceOf(ServingShutdownError);
  });

  it('in drain mode runs queued values at once, without waiting for their window, and lets running batches finish', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 2, batchTimeout: 60_000, partitions: 1 });
    const results = [1, 2, 3, 4, 5].map((v) => track(serving.dispatch(v)));
    await advance(0);
    expect(calls).toHaveLength(1); // [1, 2] is full; [3, 4] waits for the partition; [5] for its window
    const closing = track(serving.close('drain', 30_000));
    await advance(0);
    expect(closing.state).toBe('pending');
    await finishAll(calls, () => advance(0));
    await advance(0);
    expect(calls.map((c) => c.values)).toEqual([[1, 2], [3, 4], [5]]);
    expect(closing.state).toBe('fulfilled');
    expect(results.map((r) => r.value)).toEqual([1, 2, 3, 4, 5]);
  });

  it('in drain mode fails whatever is left at shutdown.timeout, and aborts the signal of running batches', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { name: 'stuck', batchSize: 1, batchTimeout: 0 });
    const running = track(serving.dispatch(1));
    const queued = track(serving.dispatch(2));
    await advance(0);
    const signal = calls[0].ctx.signal;
    const closing = track(serving.close('drain', 500));
    await advance(499);
    expect([running.state, queued.state, closing.state]).toEqual(['pending', 'pending', 'pending']);
    await advance(1);
    expect(closing.state).toBe('fulfilled');
    for (const r of [running, queued]) {
      expect(r.error).toBeInstanceOf(ServingShutdownError);
      expect((r.error as Error).message).toContain('shutdown.timeout 500 ms passed');
    }
    expect(signal.aborted).toBe(true);
    calls[0].finish(); // a batch that ends after the deadline changes nothing
    await advance(0);
    expect(running.settlements).toBe(1);
  });

  it('in reject mode fails queued values at once and lets running batches finish', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0 });
    const running = track(serving.dispatch(1));
    const queued = track(serving.dispatchMany([2, 3]));
    await nextTurn();
    const closing = track(serving.close('reject', 30_000));
    await nextTurn();
    expect(queued.error).toBeInstanceOf(ServingShutdownError);
    expect(running.state).toBe('pending');
    calls[0].finish();
    await nextTurn();
    expect(running.value).toBe(1);
    expect(closing.state).toBe('fulfilled');
    expect(calls).toHaveLength(1);
  });

  it('leaves nothing pending and no timer behind when close() resolves', async () => {
    useFakeTimers();
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 3, batchTimeout: 100, timeout: 10_000, partitions: 2 });
    const results = Array.from({ length: 10 }, (_, i) => track(serving.dispatch(i)));
    await advance(0);
    const closing = serving.close('drain', 1_000);
    await finishAll(calls, () => advance(0));
    await closing;
    expect(results.every((r) => r.settlements === 1)).toBe(true);
    expect(serving.stats()).toMatchObject({ queued: 0, executing: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('refuses inline runs too once closing starts', async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0 });
    expect(await serving.inline(1)).toBe(1);
    const closing = serving.close('drain', 100);
    await expect(serving.inline(1)).rejects.toBeInstanceOf(ServingShutdownError);
    await expect(serving.inlineMany([1, 2])).rejects.toBeInstanceOf(ServingShutdownError);
    await closing;
  });

  it('is idempotent: a second close() returns the same promise', async () => {
    const serving = BatchServing.start(BatchServing.new((v: number[]) => v));
    expect(serving.close('drain', 100)).toBe(serving.close('reject', 5));
    await serving.close('drain', 100);
  });
});
