import {
  BatchExecutionError,
  BatchResultLengthError,
  BatchServing,
  BatchServingError,
  InvalidInputError,
  type BatchContext,
} from 'nestjs-batch-serving';
import { controlledBatches, nextTurn, track } from '../helpers';

const start = <In, Out>(serving: BatchServing<In, Out, any, any>, options = {}) =>
  BatchServing.start(serving, { name: 'embed', batchSize: 4, batchTimeout: 0, ...options });

describe('failures', () => {
  it('fails every caller of a batch that throws with BatchExecutionError carrying the cause; other batches go on', async () => {
    const boom = new Error('model crashed');
    let call = 0;
    const serving = start(
      BatchServing.new((values: number[]) => {
        if (call++ === 0) throw boom;
        return values;
      }),
      { batchSize: 2 },
    );
    const results = [1, 2, 3].map((v) => serving.tryDispatch(v));
    const [a, b, c] = await Promise.all(results);
    for (const r of [a, b]) {
      expect(r.ok).toBe(false);
      const error = (r as { error: BatchExecutionError }).error;
      expect(error).toBeInstanceOf(BatchExecutionError);
      expect(error.code).toBe('BATCH_FAILED');
      expect(error.cause).toBe(boom);
      expect(error.message).toContain("Serving 'embed'");
      expect(error.message).toContain('model crashed');
    }
    expect(c).toEqual({ ok: true, value: 3 });
    expect(await serving.dispatch(4)).toBe(4);
    await serving.close('drain', 1000);
  });

  it('treats a rejection, and a thrown non-Error, as a batch failure too', async () => {
    const rejecting = start(BatchServing.new(async () => Promise.reject('a string')));
    await expect(rejecting.dispatch(1)).rejects.toMatchObject({ code: 'BATCH_FAILED', cause: 'a string' });
    const throwingUndefined = start(
      BatchServing.new(() => {
        throw undefined;
      }),
    );
    await expect(throwingUndefined.dispatch(1)).rejects.toMatchObject({ code: 'BATCH_FAILED', message: expect.stringContaining('undefined') });
    await rejecting.close('drain', 100);
    await throwingUndefined.close('drain', 100);
  });

  it('fails only the caller that owns an Error output', async () => {
    const serving = start(BatchServing.new((values: number[]) => values.map((v) => (v === 2 ? new RangeError('no root of 2') : v))));
    const [one, two, many] = await Promise.all([serving.tryDispatch(1), serving.tryDispatch(2), serving.tryDispatchMany([3, 4])]);
    expect(one).toEqual({ ok: true, value: 1 });
    expect(many).toEqual({ ok: true, value: [3, 4] });
    expect(two.ok).toBe(false);
    const error = (two as { error: BatchExecutionError }).error;
    expect(error).toBeInstanceOf(BatchExecutionError);
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(error.message).toContain('no root of 2');
    await serving.close('drain', 1000);
  });

  it('passes a BatchServingError output through unchanged', async () => {
    const refusal = new InvalidInputError('text too long');
    const serving = start(BatchServing.new((values: string[]) => values.map(() => refusal)));
    await expect(serving.dispatch('x')).rejects.toBe(refusal);
    await serving.close('drain', 1000);
  });

  it.each([
    ['too few', [1, 2, 3], "Serving 'embed' returned 3 output(s) for 4 value(s)"],
    ['too many', [1, 2, 3, 4, 5], "Serving 'embed' returned 5 output(s) for 4 value(s)"],
    ['undefined', undefined, "Serving 'embed' returned undefined instead of an array of 4 output(s)"],
    ['a non-array', { length: 4 }, "Serving 'embed' returned object instead of an array of 4 output(s)"],
  ])('fails every caller with BatchResultLengthError when the outputs are %s', async (_, outputs, message) => {
    const serving = start(BatchServing.new(() => outputs as number[]));
    const results = await Promise.all([1, 2, 3, 4].map((v) => serving.tryDispatch(v)));
    for (const r of results) {
      const error = (r as { error: BatchResultLengthError }).error;
      expect(error).toBeInstanceOf(BatchResultLengthError);
      expect(error.code).toBe('RESULT_LENGTH_MISMATCH');
      expect(error.message).toContain(message);
    }
    await serving.close('drain', 1000);
  });

  it('with isolateFailures, re-runs the parts of a failed batch so that only the caller owning the bad value fails', async () => {
    const executed: number[][] = [];
    const serving = start(
      BatchServing.new((values: number[]) => {
        executed.push(values);
        if (values.includes(13)) throw new Error('unlucky');
        return values;
      }),
      { batchSize: 8, isolateFailures: true },
    );
    const results = await Promise.all([serving.tryDispatch(1), serving.tryDispatchMany([2, 13]), serving.tryDispatch(3), serving.tryDispatch(4)]);
    expect(results[0]).toEqual({ ok: true, value: 1 });
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'BATCH_FAILED', cause: new Error('unlucky') } });
    expect(results[2]).toEqual({ ok: true, value: 3 });
    expect(results[3]).toEqual({ ok: true, value: 4 });
    expect(executed[0]).toEqual([1, 2, 13, 3, 4]);
    // Every successful value ran successfully exactly once.
    const succeeded = executed.filter((b) => !b.includes(13)).flat();
    expect(succeeded.sort()).toEqual([1, 3, 4]);
    await serving.close('drain', 1000);
  });

  it('without isolateFailures, fails the whole batch', async () => {
    const serving = start(
      BatchServing.new((values: number[]) => {
        if (values.includes(13)) throw new Error('unlucky');
        return values;
      }),
    );
    const results = await Promise.all([serving.tryDispatch(1), serving.tryDispatch(13)]);
    expect(results.map((r) => r.ok)).toEqual([false, false]);
    await serving.close('drain', 1000);
  });

  it('refuses an input that validate throws on: only that caller fails, and its values never enter a batch', async () => {
    const { calls, fn } = controlledBatches();
    const serving = start(
      BatchServing.new(fn).validate((v: number) => {
        if (typeof v !== 'number') throw new TypeError(`expected a number, got ${typeof v}`);
      }),
    );
    const good = track(serving.dispatch(1));
    const bad = serving.dispatch('two' as unknown as number);
    const badMany = serving.dispatchMany([3, 'four' as unknown as number]);
    await expect(bad).rejects.toMatchObject({ code: 'INVALID_INPUT', cause: new TypeError('expected a number, got string') });
    await expect(badMany).rejects.toBeInstanceOf(InvalidInputError);
    await nextTurn();
    expect(calls.map((c) => c.values)).toEqual([[1]]);
    calls[0].finish();
    await nextTurn();
    expect(good.value).toBe(1);
    await serving.close('drain', 1000);
  });

  it('fails with InvalidInputError when mapInputs throws, naming the serving', async () => {
    const serving = start(
      BatchServing.new((values: number[]) => values).mapInputs((inputs: string[]) =>
        inputs.map((s) => {
          if (!/^\d+$/.test(s)) throw new Error(`'${s}' is not a number`);
          return Number(s);
        }),
      ),
    );
    expect(await serving.dispatch('12')).toBe(12);
    await expect(serving.dispatch('x')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: "mapInputs of serving 'embed' threw: 'x' is not a number",
    });
    await serving.close('drain', 1000);
  });

  it('fails with BatchResultLengthError when mapResults does not give one result per input', async () => {
    const serving = start(BatchServing.new((values: number[]) => values).mapResults((outputs) => outputs.slice(1)));
    await expect(serving.dispatchMany([1, 2, 3])).rejects.toMatchObject({
      code: 'RESULT_LENGTH_MISMATCH',
      message: "mapResults of serving 'embed' returned 2 result(s) for 3 input(s); it must return exactly one result per input.",
    });
    await serving.close('drain', 1000);
  });

  it('lets mapInputs turn one input into many values and mapResults fold them back, per caller', async () => {
    const sizes: number[] = [];
    const serving = start(
      BatchServing.new((values: number[], ctx: BatchContext) => {
        sizes.push(ctx.size);
        return values.map((v) => v * 2);
      })
        .mapInputs((words: string[]) => words.flatMap((w) => [...w].map((ch) => ch.charCodeAt(0))))
        .mapResults((outputs: number[], words: string[]) => {
          let i = 0;
          return words.map((w) => outputs.slice(i, (i += w.length)).reduce((a, b) => a + b, 0));
        }),
      { batchSize: 100 },
    );
    const [ab, cde] = await Promise.all([serving.dispatch('ab'), serving.dispatchMany(['c', 'de'])]);
    expect(ab).toBe((97 + 98) * 2);
    expect(cde).toEqual([99 * 2, (100 + 101) * 2]);
    expect(sizes).toEqual([5]);
    await serving.close('drain', 1000);
  });

  it('gives every error a stable code and the BatchServingError base', async () => {
    const serving = start(BatchServing.new(() => undefined as unknown as number[]));
    const error = await serving.dispatch(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchServingError);
    expect(error).toBeInstanceOf(Error);
    expect((error as BatchServingError).name).toBe('BatchResultLengthError');
    await serving.close('drain', 1000);
  });
});

describe('a batch function that misbehaves', () => {
  it('cannot change the size of its batch by mutating the values array', async () => {
    const emptied = start(
      BatchServing.new((values: number[]) => {
        const outputs = values.map((v) => v + 1);
        values.length = 0;
        return outputs;
      }),
    );
    expect(await Promise.all([emptied.dispatch(1), emptied.dispatch(2)])).toEqual([2, 3]);
    expect(emptied.stats()).toMatchObject({ executing: 0, values: 2 });
    const grown = start(
      BatchServing.new((values: number[]) => {
        values.push(99);
        return values.map((v) => v);
      }),
    );
    await expect(grown.dispatch(1)).rejects.toMatchObject({ code: 'RESULT_LENGTH_MISMATCH' });
    expect(grown.stats().executing).toBe(0);
    await emptied.close('drain', 100);
    await grown.close('drain', 100);
  });

  it('fails its batch, and nothing else, when it returns a thenable whose then throws', async () => {
    const serving = start(BatchServing.new(() => ({ then: () => { throw new Error('broken thenable'); } }) as unknown as number[]));
    await expect(serving.dispatch(1)).rejects.toMatchObject({ code: 'BATCH_FAILED', cause: new Error('broken thenable') });
    expect(serving.stats().executing).toBe(0);
    await serving.close('drain', 100);
  });

  it('settles its callers once even when a thenable calls both of its callbacks', async () => {
    const serving = start(BatchServing.new((values: number[]) => ({ then: (ok: (v: unknown) => void, ko: (e: unknown) => void) => { ok(values); ko(new Error('late')); ok(values); } }) as unknown as number[]));
    expect(await serving.dispatch(5)).toBe(5);
    expect(serving.stats()).toMatchObject({ batches: 1, failures: 0, executing: 0 });
    await serving.close('drain', 100);
  });

  it('keeps serving when a telemetry listener throws', async () => {
    const serving = start(BatchServing.new((values: number[]) => values));
    serving.batcher.telemetry = () => {
      throw new Error('listener bug');
    };
    expect(await serving.dispatch(1)).toBe(1);
    await serving.close('drain', 100);
  });
});

describe('deadlines after long synchronous work', () => {
  it('count from the moment of the dispatch, not from the start of the event-loop turn', async () => {
    const other = start(BatchServing.new((values: number[]) => values));
    const serving = start(BatchServing.new((values: number[]) => values), { batchTimeout: 50 });
    await other.dispatch(0); // the per-turn clock is read here, in this turn
    other.dispatch(0);
    const until = performance.now() + 120;
    while (performance.now() < until); // a long synchronous stretch in the same turn
    const started = performance.now();
    const error = await serving.dispatch(1, { timeout: 100 }).then(() => undefined, (e: Error) => e);
    // Served at the 50 ms window, within its 100 ms: a deadline counted from the turn's start would have passed.
    expect(error).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(0);
    await serving.close('drain', 100);
    await other.close('drain', 100);
  });
});

describe('failures of dispatch(v)', () => {
  it('reject the promise without an unhandled rejection being reported', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const serving = start(BatchServing.new((values: number[]) => values.map((v) => (v % 2 ? new Error('odd') : v))));
      const results = await Promise.all([1, 2, 3, 4].map((v) => serving.dispatch(v).then(() => 'ok', (e: BatchServingError) => e.code)));
      expect(results).toEqual(['BATCH_FAILED', 'ok', 'BATCH_FAILED', 'ok']);
      await serving.close('drain', 100);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });
});
