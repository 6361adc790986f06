import { BatchServing, InvalidInputError, type BatchTelemetryEvent } from 'nestjs-batch-serving';
import { advance, controlledBatches, finishAll, nextTurn, track, useFakeTimers } from '../helpers';

/* API.md section 8, priority: one spec (or more) per numbered point. */

describe('priority', () => {
  afterEach(() => jest.useRealTimers());

  describe('8.1 within one batch key', () => {
    it('a forming batch takes the highest priority first, arrival order within a priority, and keeps that order inside the batch', async () => {
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0 });
      serving.dispatch(1);
      serving.dispatch(2, { priority: 5 });
      serving.dispatch(3, { priority: -1 });
      serving.dispatch(4, { priority: 5 });
      serving.dispatch(5);
      serving.dispatch(6, { priority: 9 });
      await nextTurn();
      expect(calls.map((c) => c.values)).toEqual([[6, 2, 4, 1, 5, 3]]);
      await finishAll(calls);
      await serving.close('drain', 1000);
    });

    it("keeps a caller's values contiguous and in order, also when its request is split across batches", async () => {
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 4, batchTimeout: 0 });
      const low = track(serving.dispatchMany([1, 2]));
      const high = track(serving.dispatchMany([10, 11, 12, 13, 14, 15], { priority: 1 }));
      await nextTurn();
      expect(calls.map((c) => c.values)).toEqual([[10, 11, 12, 13]]);
      expect(calls[0].ctx.callers).toEqual([{ offset: 0, size: 4, context: undefined }]);
      calls[0].finish();
      await nextTurn();
      expect(calls.map((c) => c.values)).toEqual([
        [10, 11, 12, 13],
        [14, 15, 1, 2],
      ]);
      expect(calls[1].ctx.callers.map(({ offset, size }) => ({ offset, size }))).toEqual([
        { offset: 0, size: 2 },
        { offset: 2, size: 2 },
      ]);
      await finishAll(calls);
      expect(high.value).toEqual([10, 11, 12, 13, 14, 15]);
      expect(low.value).toEqual([1, 2]);
      await serving.close('drain', 1000);
    });

    it('orders by priority within each batch key of a keyed serving', async () => {
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn).batchKey((v: number) => (v % 2 ? 'odd' : 'even')), { batchSize: 10, batchTimeout: 0, partitions: 2 });
      serving.dispatchMany([1, 2, 3, 4]);
      serving.dispatchMany([5, 6], { priority: 2 });
      await nextTurn();
      expect(calls.map((c) => [c.ctx.batchKey, c.values]).sort()).toEqual([
        ['even', [6, 2, 4]],
        ['odd', [5, 1, 3]],
      ]);
      await finishAll(calls);
      await serving.close('drain', 1000);
    });

    it.each([1.5, NaN, Infinity, 2 ** 53, '1', null])('refuses priority %p with InvalidInputError, naming the option and the rule', async (priority) => {
      const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0 });
      const options = { priority: priority as number };
      await expect(serving.dispatch(1, options)).rejects.toThrow(InvalidInputError);
      await expect(serving.dispatchMany([1, 2], options)).rejects.toThrow(/priority.*safe integer/);
      await expect(serving.tryDispatch(1, options)).resolves.toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
      expect(serving.stats().queued).toBe(0);
      await serving.close('drain', 1000);
    });

    it('accepts the extremes of the safe integers', async () => {
      const serving = BatchServing.start(BatchServing.new((v: number[]) => v), { batchTimeout: 0 });
      await expect(Promise.all([serving.dispatch(1, { priority: Number.MAX_SAFE_INTEGER }), serving.dispatch(2, { priority: Number.MIN_SAFE_INTEGER })])).resolves.toEqual([1, 2]);
      await serving.close('drain', 1000);
    });
  });

  describe('8.2 more values than one batch holds', () => {
    it('lower priorities wait for a later batch, past batchTimeout under sustained higher-priority load; a timeout bounds that wait', async () => {
      useFakeTimers();
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 2, batchTimeout: 10 });
      const low = track(serving.dispatch(0, { timeout: 50 }));
      const bounded = track(serving.dispatch(-1, { priority: -5 }));
      for (let round = 1; round <= 8; round++) {
        serving.dispatchMany([round * 10, round * 10 + 1], { priority: 1 });
        await advance(10);
        calls.at(-1)?.finish();
      }
      // Every batch went to the sustained higher-priority load; the low value timed out, untouched.
      expect(calls.every((c) => c.values.every((v) => v >= 10))).toBe(true);
      expect(low).toMatchObject({ state: 'rejected', error: { code: 'DISPATCH_TIMEOUT' } });
      expect(bounded.state).toBe('pending');
      await advance(10);
      calls.at(-1)?.finish();
      await advance(10);
      expect(calls.at(-1)!.values).toEqual([-1]);
      calls.at(-1)!.finish();
      await advance(0);
      expect(bounded).toMatchObject({ state: 'fulfilled', value: -1 });
      await serving.close('drain', 1000);
    });
  });

  describe('8.3 across batch keys', () => {
    const keyed = (partitions: number) => {
      const { calls, fn } = controlledBatches<string>();
      const serving = BatchServing.start(BatchServing.new(fn).batchKey((v: string) => v[0]), { batchSize: 10, batchTimeout: 0, partitions });
      return { calls, serving };
    };

    it('when too few partitions are free, the key holding the highest-priority waiting value starts first', async () => {
      const { calls, serving } = keyed(1);
      const busy = track(serving.dispatch('z'));
      await nextTurn();
      expect(calls.map((c) => c.values)).toEqual([['z']]);
      serving.dispatch('a1');
      serving.dispatch('b1');
      serving.dispatch('c1', { priority: 3 });
      serving.dispatch('b2', { priority: 7 });
      await nextTurn();
      calls[0].finish();
      await nextTurn();
      expect(calls.map((c) => c.values)).toEqual([['z'], ['b2', 'b1']]);
      calls[1].finish();
      await nextTurn();
      expect(calls.at(-1)!.values).toEqual(['c1']);
      calls[2].finish();
      await nextTurn();
      expect(calls.at(-1)!.values).toEqual(['a1']);
      await finishAll(calls);
      expect(busy.state).toBe('fulfilled');
      await serving.close('drain', 1000);
    });

    it('ties go to the key that has waited longest', async () => {
      const { calls, serving } = keyed(1);
      serving.dispatch('z', { priority: 1 });
      await nextTurn();
      serving.dispatch('a1', { priority: 2 });
      await nextTurn();
      serving.dispatch('b1', { priority: 2 });
      serving.dispatch('c1', { priority: 2 });
      await nextTurn();
      for (let i = 0; i < 3; i++) {
        calls.at(-1)!.finish();
        await nextTurn();
      }
      expect(calls.map((c) => c.values)).toEqual([['z'], ['a1'], ['b1'], ['c1']]);
      await finishAll(calls);
      await serving.close('drain', 1000);
    });
  });

  describe('8.4 priority changes order only', () => {
    it('an aborted or timed-out prioritized dispatch is withdrawn and never runs', async () => {
      useFakeTimers();
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 20 });
      const controller = new AbortController();
      const aborted = track(serving.dispatch(1, { priority: 9, signal: controller.signal }));
      const timedOut = track(serving.dispatchMany([2, 3], { priority: 4, timeout: 5 }));
      serving.dispatch(4);
      controller.abort();
      await advance(20);
      expect(aborted.error).toMatchObject({ code: 'DISPATCH_ABORTED' });
      expect(timedOut.error).toMatchObject({ code: 'DISPATCH_TIMEOUT' });
      expect(calls.map((c) => c.values)).toEqual([[4]]);
      await finishAll(calls, () => advance(0));
      await serving.close('drain', 1000);
    });

    it('maxQueueSize counts values of every priority', async () => {
      const { calls, fn } = controlledBatches();
      const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 0, maxQueueSize: 3 });
      serving.dispatchMany([1, 2], { priority: 5 });
      await expect(serving.dispatchMany([3, 4], { priority: 9 })).rejects.toMatchObject({ code: 'SERVING_OVERLOADED' });
      await nextTurn();
      await finishAll(calls);
      await serving.close('drain', 1000);
    });

    it('shutdown drains every priority, highest first, and reject mode fails them all', async () => {
      useFakeTimers();
      const { calls, fn } = controlledBatches();
      const draining = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 1000 });
      const events: BatchTelemetryEvent[] = [];
      draining.telemetry().subscribe((e) => events.push(e));
      const drained = [draining.dispatch(1, { priority: -2 }), draining.dispatch(2, { priority: 3 }), draining.dispatch(3)];
      const closed = draining.close('drain', 1000);
      await advance(0);
      expect(calls.map((c) => c.values)).toEqual([[2, 3, 1]]);
      expect(events[0]).toMatchObject({ type: 'start', closedBy: 'shutdown' });
      calls[0].finish();
      await closed;
      await expect(Promise.all(drained)).resolves.toEqual([1, 2, 3]);

      const rejecting = BatchServing.start(BatchServing.new(fn), { batchSize: 10, batchTimeout: 1000 });
      const rejected = [rejecting.dispatch(1, { priority: 4 }), rejecting.dispatch(2)].map(track);
      await rejecting.close('reject', 1000);
      await advance(0);
      expect(rejected.map((r) => (r.error as { code: string }).code)).toEqual(['SERVING_SHUTDOWN', 'SERVING_SHUTDOWN']);
    });
  });
});
