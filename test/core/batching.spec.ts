import { lastValueFrom } from 'rxjs';
import { BatchServing, type BatchContext } from 'nestjs-batch-serving';
import { controlledBatches, nextTurn, track } from '../helpers';

describe('batching', () => {
  it('never gives the batch function more than batchSize values, nor zero', async () => {
    const sizes: number[] = [];
    const serving = BatchServing.start(
      BatchServing.new((values: number[]) => {
        sizes.push(values.length);
        return values;
      }),
      { batchSize: 7, batchTimeout: 0 },
    );
    await Promise.all([serving.dispatchMany(Array.from({ length: 50 }, (_, i) => i)), ...[1, 2, 3].map((v) => serving.dispatch(v))]);
    expect(Math.max(...sizes)).toBe(7);
    expect(Math.min(...sizes)).toBeGreaterThan(0);
    expect(sizes.reduce((a, b) => a + b)).toBe(53);
    await serving.close('drain', 1000);
  });

  it('splits a request larger than batchSize and returns its results in input order, even when a later part finishes first', async () => {
    const { calls, fn } = controlledBatches((v: number) => v * 10);
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 2, batchTimeout: 0, partitions: 2 });
    const result = track(serving.dispatchMany([1, 2, 3, 4, 5]));
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(calls.map((c) => c.ctx.partition).sort()).toEqual([0, 1]);
    calls[1].finish();
    await nextTurn();
    calls[0].finish();
    await nextTurn();
    calls[2].finish();
    await nextTurn();
    expect(result.value).toEqual([10, 20, 30, 40, 50]);
    await serving.close('drain', 1000);
  });

  it('keeps arrival order within a batch, with each caller contiguous and described in ctx.callers', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
    const a = track(serving.dispatchMany([1, 2], { context: 'a' }));
    const b = track(serving.dispatch(3, { context: 'b' }));
    const c = track(serving.dispatchMany([4, 5], { context: { user: 'c' } }));
    await nextTurn();
    expect(calls[0].values).toEqual([1, 2, 3, 4, 5]);
    expect(calls[0].ctx.callers).toEqual([
      { offset: 0, size: 2, context: 'a' },
      { offset: 2, size: 1, context: 'b' },
      { offset: 3, size: 2, context: { user: 'c' } },
    ]);
    expect(calls[0].ctx.size).toBe(5);
    expect(calls[0].ctx.batchKey).toBe('default');
    calls[0].finish();
    await nextTurn();
    expect([a.value, b.value, c.value]).toEqual([[1, 2], 3, [4, 5]]);
    await serving.close('drain', 1000);
  });

  it('runs mapResults on each dispatch(v) with its own input, batched with plain ones, and keeps a context next to a signal', async () => {
    const { calls, fn } = controlledBatches((v: number) => v * 10);
    const mapped = BatchServing.start(
      BatchServing.new(fn).mapResults((outputs: number[], inputs: number[]) => outputs.map((o, i) => `${inputs[i]}:${o}`)),
      { batchSize: 10, batchTimeout: 0 },
    );
    const signal = new AbortController().signal;
    const a = track(mapped.dispatch(1));
    const b = track(mapped.dispatch(2, { context: 'b', signal }));
    const c = track(mapped.dispatchMany([3, 4]));
    await nextTurn();
    expect(calls).toHaveLength(1);
    expect(calls[0].values).toEqual([1, 2, 3, 4]);
    expect(calls[0].ctx.callers.map((caller) => caller.context)).toEqual([undefined, 'b', undefined]);
    calls[0].finish();
    await nextTurn();
    expect([a.value, b.value, c.value]).toEqual(['1:10', '2:20', ['3:30', '4:40']]);
    await mapped.close('drain', 1000);

    // Without mapResults, dispatch(v) takes the short path; its context survives the signal's listener.
    const plainCalls: BatchContext[] = [];
    const seen = BatchServing.start(
      BatchServing.new((values: number[], ctx: BatchContext) => {
        plainCalls.push(ctx);
        return values;
      }),
      { batchSize: 10, batchTimeout: 0 },
    );
    await expect(Promise.all([seen.dispatch(5, { context: 'x', signal }), seen.dispatch(6)])).resolves.toEqual([5, 6]);
    expect(plainCalls[0].callers).toEqual([
      { offset: 0, size: 1, context: 'x' },
      { offset: 1, size: 1, context: undefined },
    ]);
    await seen.close('drain', 1000);
  });

  it('keeps filling the forming batch up to batchSize while every partition is busy', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 3, batchTimeout: 0, partitions: 1 });
    serving.dispatch(1);
    await nextTurn();
    expect(calls).toHaveLength(1);
    for (const v of [2, 3, 4, 5]) {
      serving.dispatch(v);
      await nextTurn(); // each window expires while the partition is busy
    }
    expect(calls).toHaveLength(1);
    calls[0].finish();
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1], [2, 3, 4]]);
    calls[1].finish();
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1], [2, 3, 4], [5]]);
    calls[2].finish();
    await serving.close('drain', 1000);
  });

  it('runs at most `partitions` batches at once, one per partition', async () => {
    let running = 0;
    let most = 0;
    const partitionsInUse = new Set<number>();
    const serving = BatchServing.start(
      BatchServing.new(async (values: number[], ctx: BatchContext) => {
        expect(partitionsInUse.has(ctx.partition)).toBe(false);
        partitionsInUse.add(ctx.partition);
        most = Math.max(most, ++running);
        await nextTurn();
        running--;
        partitionsInUse.delete(ctx.partition);
        return values;
      }),
      { batchSize: 2, batchTimeout: 0, partitions: 3 },
    );
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    expect(await Promise.all(inputs.map((v) => serving.dispatch(v)))).toEqual(inputs);
    expect(most).toBe(3);
    await serving.close('drain', 1000);
  });

  it('never mixes batch keys in one batch, and tells the batch which key it serves', async () => {
    const seen: Array<{ key: string; values: string[] }> = [];
    const serving = BatchServing.start(
      BatchServing.new((values: string[], ctx: BatchContext) => {
        seen.push({ key: ctx.batchKey, values });
        return values.map((v) => v.toUpperCase());
      }).batchKey((v) => v[0]),
      { batchSize: 10, batchTimeout: 0 },
    );
    const results = await Promise.all([
      serving.dispatch('a1'),
      serving.dispatch('b1'),
      serving.dispatchMany(['a2', 'b2', 'b3', 'a3']),
    ]);
    expect(results).toEqual(['A1', 'B1', ['A2', 'B2', 'B3', 'A3']]);
    for (const { key, values } of seen) expect(values.every((v) => v[0] === key)).toBe(true);
    expect(seen.map((s) => s.key).sort()).toEqual(['a', 'b']);
    await serving.close('drain', 1000);
  });

  it('gives every batch key its own window, sharing the partitions', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
    try {
      const { calls, fn } = controlledBatches<string>();
      const serving = BatchServing.start(BatchServing.new(fn).batchKey((v) => v[0]), { batchSize: 10, batchTimeout: 100, partitions: 1 });
      serving.dispatch('a1');
      await jest.advanceTimersByTimeAsync(50);
      serving.dispatch('b1');
      await jest.advanceTimersByTimeAsync(50);
      expect(calls.map((c) => c.values)).toEqual([['a1']]);
      serving.dispatch('b2');
      await jest.advanceTimersByTimeAsync(60); // b's window expired, but the only partition is busy
      expect(calls).toHaveLength(1);
      calls[0].finish();
      await jest.advanceTimersByTimeAsync(0);
      expect(calls.map((c) => c.values)).toEqual([['a1'], ['b1', 'b2']]);
      calls[1].finish();
      await serving.close('drain', 1000);
    } finally {
      jest.useRealTimers();
    }
  });

  it('feeds an Iterable lazily, with at most batchSize of its values in flight', async () => {
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 10; i++) {
        pulled++;
        yield i;
      }
    }
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 4, batchTimeout: 0, partitions: 4 });
    const result = track(serving.dispatchMany(source()));
    await nextTurn();
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[0, 1, 2, 3]]);
    expect(pulled).toBeLessThanOrEqual(5);
    calls[0].finish();
    await nextTurn();
    await nextTurn();
    expect(calls.map((c) => c.values)[1]).toEqual([4, 5, 6, 7]);
    calls[1].finish();
    await nextTurn();
    await nextTurn();
    calls[2].finish();
    await nextTurn();
    expect(result.value).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await serving.close('drain', 1000);
  });

  it('feeds an AsyncIterable lazily, sending what a slow source gave without waiting for a full chunk', async () => {
    let inFlight = 0;
    let most = 0;
    const serving = BatchServing.start(
      BatchServing.new(async (values: number[]) => {
        inFlight += values.length;
        most = Math.max(most, inFlight);
        await nextTurn();
        inFlight -= values.length;
        return values.map((v) => -v);
      }),
      { batchSize: 3, batchTimeout: 0, partitions: 4 },
    );
    async function* slow() {
      for (let i = 1; i <= 7; i++) {
        if (i % 2 === 0) await nextTurn();
        yield i;
      }
    }
    expect(await serving.dispatchMany(slow())).toEqual([-1, -2, -3, -4, -5, -6, -7]);
    expect(most).toBeLessThanOrEqual(3);
    await serving.close('drain', 1000);
  });

  it('fails a dispatch whose iterable throws with InvalidInputError, and stops pulling', async () => {
    const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 2, batchTimeout: 0 });
    function* broken() {
      yield 1;
      yield 2;
      throw new Error('disk gone');
    }
    await expect(serving.dispatchMany(broken())).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('disk gone') });
    await serving.close('drain', 1000);
  });

  it('forgets the queue of a batch key once nothing waits under it, so that keys seen once do not pile up', async () => {
    const serving = BatchServing.start(BatchServing.new((values: number[]) => values).batchKey((v) => `user-${v}`), { batchSize: 10, batchTimeout: 0 });
    await Promise.all(Array.from({ length: 500 }, (_, i) => serving.dispatch(i)));
    const keys = (serving.batcher as unknown as { keys: Map<string, unknown> }).keys;
    expect(keys.size).toBeLessThanOrEqual(1); // the default queue, kept at hand
    expect(await serving.dispatch(7)).toBe(7);
    await serving.close('drain', 100);
  });

  describe('an AsyncIterable that stops yielding', () => {
    async function* stalls() {
      yield 1;
      await new Promise(() => undefined); // never yields again
    }

    it('cannot outlive the dispatch timeout', async () => {
      const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 4, batchTimeout: 0 });
      await expect(serving.dispatchMany(stalls(), { timeout: 50 })).rejects.toMatchObject({ code: 'DISPATCH_TIMEOUT' });
      await serving.close('drain', 100);
    });

    it('cannot outlive its signal', async () => {
      const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 4, batchTimeout: 0 });
      const controller = new AbortController();
      const result = serving.dispatchMany(stalls(), { signal: controller.signal });
      setTimeout(() => controller.abort('enough'), 20);
      await expect(result).rejects.toMatchObject({ code: 'DISPATCH_ABORTED', cause: 'enough' });
      await serving.close('drain', 100);
    });

    it('cannot outlive shutdown: it fails with SERVING_SHUTDOWN and close() leaves nothing pending', async () => {
      const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 4, batchTimeout: 0 });
      const result = track(serving.dispatchMany(stalls()));
      const streamed = lastValueFrom(serving.stream(stalls())).catch((e: unknown) => e);
      await nextTurn();
      await nextTurn();
      await serving.close('drain', 100);
      await nextTurn();
      expect(result.state).toBe('rejected');
      expect(result.error).toMatchObject({ code: 'SERVING_SHUTDOWN' });
      expect(await streamed).toMatchObject({ code: 'SERVING_SHUTDOWN' });
    });

    it('does not keep a failed chunk from being reported', async () => {
      const serving = BatchServing.start(
        BatchServing.new(() => {
          throw new Error('down');
        }),
        { batchSize: 1, batchTimeout: 0 },
      );
      await expect(serving.dispatchMany(stalls())).rejects.toMatchObject({ code: 'BATCH_FAILED' });
      await expect(lastValueFrom(serving.stream(stalls()))).rejects.toMatchObject({ code: 'BATCH_FAILED' });
      await serving.close('drain', 100);
    });
  });
});
