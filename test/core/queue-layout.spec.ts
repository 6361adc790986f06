import { BatchServing } from 'nestjs-batch-serving';
import { controlledBatches, finishAll, nextTurn, track } from '../helpers';

/*
 * What waits under a key is laid out as the batch it will form (key-queue.ts): a batch of all that
 * waited is handed over as it is, a longer queue is cut from the front, and withdrawn values are
 * dropped before a batch is taken. These specs pin the paths that the common load never takes.
 */
describe('the queue of a key', () => {
  it('sheds a flood of withdrawn values while every partition is busy, and later batches are full and in arrival order', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 100, batchTimeout: 0, partitions: 1, maxQueueSize: 100_000 });
    serving.dispatch(-1); // occupies the only partition
    await nextTurn();
    expect(calls).toHaveLength(1);

    // 5,000 waiting values, of which every one but each tenth is withdrawn: far past the shedding point.
    const controllers: AbortController[] = [];
    const results = [];
    for (let v = 0; v < 5_000; v++) {
      const controller = new AbortController();
      controllers.push(controller);
      results.push(track(serving.dispatch(v, { signal: controller.signal })));
    }
    // dispatchMany parts interleaved, so that slices of several values are cut and shed too.
    const many = track(serving.dispatchMany([10_000, 10_001, 10_002, 10_003, 10_004]));
    controllers.forEach((controller, v) => v % 10 !== 0 && controller.abort());
    expect(serving.stats().queued).toBe(500 + 5);

    await finishAll(calls);
    const batches = calls.slice(1).map((c) => c.values);
    const live = [...Array.from({ length: 500 }, (_, i) => i * 10), 10_000, 10_001, 10_002, 10_003, 10_004];
    expect(batches.flat()).toEqual(live);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 100, 100, 100, 5]);
    results.forEach((r, v) => expect(r.state).toBe(v % 10 === 0 ? 'fulfilled' : 'rejected'));
    expect(many).toMatchObject({ state: 'fulfilled', value: [10_000, 10_001, 10_002, 10_003, 10_004] });
    await serving.close('drain', 100);
  });

  it('cuts a long queue from the front, splitting a request across batches, and hands the rest over whole', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 4, batchTimeout: 0, partitions: 1 });
    serving.dispatch(-1);
    await nextTurn();
    const a = serving.dispatchMany([1, 2, 3]);
    const b = serving.dispatch(4);
    const c = serving.dispatchMany([5, 6, 7, 8, 9, 10]);
    const d = serving.dispatch(11);
    await finishAll(calls);
    expect(calls.slice(1).map((call) => call.values)).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11],
    ]);
    expect(await Promise.all([a, b, c, d])).toEqual([[1, 2, 3], 4, [5, 6, 7, 8, 9, 10], 11]);
    await serving.close('drain', 100);
  });

  it('keeps one queue per batch key when a request spans keys, and drops a withdrawn request from each', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(
      BatchServing.new(fn).batchKey((v: number) => (v % 2 ? 'odd' : 'even')),
      { batchSize: 3, batchTimeout: 0, partitions: 1 },
    );
    serving.dispatch(-2);
    await nextTurn();
    const controller = new AbortController();
    const gone = track(serving.dispatchMany([1, 3, 2, 4], { signal: controller.signal }));
    const kept = serving.dispatchMany([5, 6, 7, 8, 9]);
    controller.abort();
    await finishAll(calls);
    expect(gone.state).toBe('rejected');
    const batches = calls.slice(1).map((call) => call.values);
    expect(batches.flat().sort((x, y) => x - y)).toEqual([5, 6, 7, 8, 9]);
    for (const batch of batches) expect(new Set(batch.map((v) => v % 2)).size).toBe(1);
    expect(await kept).toEqual([5, 6, 7, 8, 9]);
    await serving.close('drain', 100);
  });
});
