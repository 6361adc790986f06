import { BatchServing, RetryableError, ServingConfigurationError } from 'nestjs-batch-serving';
import { controlledBatches, finishAll, nextTurn } from '../helpers';

/*
 * `reserve` (ServingOptions, README "Priority"): partitions kept for batches holding a value of at
 * least `reserve.priority`. It extends API.md section 8: a running batch cannot be interrupted, so
 * an interactive dispatch under a bulk job otherwise waits for one to end.
 */
describe('reserve: partitions kept for higher priorities', () => {
  const reserve = { partitions: 1, priority: 10 };

  it('batches below the priority leave the reserved partition free; a dispatch at the priority starts on it at once, ahead of those waiting', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0, partitions: 2, reserve });
    const bulk = [1, 2, 3].map((v) => serving.dispatch(v));
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1]]); // one partition of two: the other is kept
    const search = serving.dispatch(100, { priority: 10 });
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1], [100]]);
    expect([calls[0].ctx.partition, calls[1].ctx.partition].sort()).toEqual([0, 1]);
    calls[1].finish();
    expect(await search).toBe(100);
    await nextTurn();
    expect(calls).toHaveLength(2); // the kept partition is free again, and stays so for the bulk
    calls[0].finish();
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1], [100], [2]]);
    await finishAll(calls);
    expect(await Promise.all(bulk)).toEqual([1, 2, 3]);
    await serving.close('drain', 1000);
  });

  it('batches at or above the priority may use every partition', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0, partitions: 2, reserve });
    const results = [serving.dispatch(1, { priority: 10 }), serving.dispatch(2, { priority: 11 }), serving.dispatch(3)];
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[2], [1]]);
    await finishAll(calls);
    expect(await Promise.all(results)).toEqual([1, 2, 3]);
    await serving.close('drain', 1000);
  });

  it('a batch of mixed priorities counts as its highest; a low batch that runs again runs on the partition left to low batches', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), {
      batchSize: 3,
      batchTimeout: 0,
      partitions: 3,
      reserve: { partitions: 2, priority: 10 },
      retry: { attempts: 2, backoff: { initial: 0, max: 0 } },
    });
    const low = serving.dispatchMany([1, 2, 3]);
    const lowToo = serving.dispatchMany([4, 5]);
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3]]);
    calls[0].fail(new RetryableError('busy'));
    await nextTurn();
    // Ran again on the one partition that batches below 10 may use; [4, 5] still waits.
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3], [1, 2, 3]]);
    // A value at 10 takes a kept partition, and its batch fills up with what waits below it.
    const search = serving.dispatch(9, { priority: 10 });
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3], [1, 2, 3], [9, 4, 5]]);
    const another = serving.dispatch(10, { priority: 10 });
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1, 2, 3], [1, 2, 3], [9, 4, 5], [10]]);
    await finishAll(calls);
    expect(await Promise.all([low, lowToo, search, another])).toEqual([[1, 2, 3], [4, 5], 9, 10]);
    await serving.close('drain', 1000);
  });

  it.each([
    [{ partitions: 2, priority: 10 }, 2, /reserve\.partitions: 2\. It must be a whole number from 1 to partitions - 1 \(1\)/],
    [{ partitions: 0, priority: 10 }, 2, /reserve\.partitions/],
    [{ partitions: 1, priority: 1.5 }, 2, /reserve\.priority: 1\.5\. It must be a safe integer/],
    [{ partitions: 1, priority: 1 }, 1, /reserve\.partitions: 1\. It must be a whole number from 1 to partitions - 1 \(0\)/],
  ])('refuses reserve %j with %i partitions at start, naming the rule', (bad, partitions, message) => {
    const start = () => BatchServing.start(BatchServing.new((v: number[]) => v), { name: 'embed', partitions, reserve: bad });
    expect(start).toThrow(ServingConfigurationError);
    expect(start).toThrow(message);
  });
});
