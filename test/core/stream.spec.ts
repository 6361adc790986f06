import { lastValueFrom, toArray } from 'rxjs';
import { BatchServing, UnknownHookError, type BatchContext, type ServingEvent } from 'nestjs-batch-serving';
import { controlledBatches, nextTurn } from '../helpers';

describe('stream() and hooks', () => {
  it('emits each part in offset order, its hooks before its batch, also when a later part finishes first', async () => {
    const { calls, fn } = controlledBatches((v: number) => v * 2);
    const serving = BatchServing.start(BatchServing.new(fn).streaming({ hooks: ['progress'] }), { batchSize: 2, batchTimeout: 0, partitions: 2 });
    const events: ServingEvent<number>[] = [];
    let completed = false;
    serving.stream([1, 2, 3, 4]).subscribe({ next: (e) => events.push(e), complete: () => (completed = true) });
    await nextTurn();
    expect(calls).toHaveLength(2);
    calls[1].ctx.emit('progress', ['3a', '4a']);
    calls[1].finish();
    await nextTurn();
    expect(events).toEqual([]); // held until the part before it is through
    calls[0].ctx.emit('progress', ['1a', '2a']);
    expect(events).toEqual([{ type: 'hook', hook: 'progress', payload: ['1a', '2a'] }]);
    calls[0].finish();
    await nextTurn();
    expect(events).toEqual([
      { type: 'hook', hook: 'progress', payload: ['1a', '2a'] },
      { type: 'batch', offset: 0, outputs: [2, 4] },
      { type: 'hook', hook: 'progress', payload: ['3a', '4a'] },
      { type: 'batch', offset: 2, outputs: [6, 8] },
    ]);
    expect(completed).toBe(true);
    await serving.close('drain', 1000);
  });

  it('slices array payloads so that each caller sees only its own entries', async () => {
    const serving = BatchServing.start(
      BatchServing.new((values: string[], ctx: BatchContext) => {
        ctx.emit('token', values.map((v) => `${v}!`));
        return values;
      }).streaming({ hooks: ['token'] }),
      { batchSize: 10, batchTimeout: 0 },
    );
    const [a, b] = await Promise.all([
      lastValueFrom(serving.stream(['a1', 'a2']).pipe(toArray())),
      lastValueFrom(serving.stream(['b1']).pipe(toArray())),
    ]);
    expect(a).toEqual([
      { type: 'hook', hook: 'token', payload: ['a1!', 'a2!'] },
      { type: 'batch', offset: 0, outputs: ['a1', 'a2'] },
    ]);
    expect(b).toEqual([
      { type: 'hook', hook: 'token', payload: ['b1!'] },
      { type: 'batch', offset: 0, outputs: ['b1'] },
    ]);
    await serving.close('drain', 1000);
  });

  it('calls a function payload once per streaming caller, with its slice and context', async () => {
    const serving = BatchServing.start(
      BatchServing.new((values: number[], ctx: BatchContext) => {
        ctx.emit('cost', (caller) => ({ user: caller.context, share: caller.size / ctx.size }));
        return values;
      }).streaming({ hooks: ['cost'] }),
      { batchSize: 10, batchTimeout: 0 },
    );
    const [alice, bob] = await Promise.all([
      lastValueFrom(serving.stream([1, 2, 3], { context: 'alice' }).pipe(toArray())),
      lastValueFrom(serving.stream([4], { context: 'bob' }).pipe(toArray())),
    ]);
    expect(alice[0]).toEqual({ type: 'hook', hook: 'cost', payload: { user: 'alice', share: 0.75 } });
    expect(bob[0]).toEqual({ type: 'hook', hook: 'cost', payload: { user: 'bob', share: 0.25 } });
    await serving.close('drain', 1000);
  });

  it('fails the batch with UnknownHookError when the batch function emits an undeclared hook', async () => {
    const serving = BatchServing.start(
      BatchServing.new((values: number[], ctx: BatchContext) => {
        ctx.emit('progres', values);
        return values;
      }).streaming({ hooks: ['progress'] }),
      { name: 'embed', batchTimeout: 0 },
    );
    const error = await serving.dispatch(1).catch((e: { cause: unknown }) => e.cause);
    expect(error).toBeInstanceOf(UnknownHookError);
    expect((error as UnknownHookError).code).toBe('UNKNOWN_HOOK');
    expect((error as Error).message).toBe(
      "Serving 'embed' emitted hook 'progres', which it did not declare. Declared hooks: 'progress'. Add it with .streaming({ hooks: [..., 'progres'] }) or @Serving({ hooks: [...] }).",
    );
    await serving.close('drain', 1000);
  });

  it('fails the batch when an array payload does not have one entry per value', async () => {
    const serving = BatchServing.start(
      BatchServing.new((values: number[], ctx: BatchContext) => {
        ctx.emit('progress', [1]);
        return values;
      }).streaming({ hooks: ['progress'] }),
      { batchTimeout: 0 },
    );
    await expect(Promise.all([serving.dispatch(1), serving.dispatch(2)])).rejects.toMatchObject({
      cause: { code: 'RESULT_LENGTH_MISMATCH' },
    });
    await serving.close('drain', 1000);
  });

  it('withdraws the values of a stream that is unsubscribed before they run', async () => {
    const { calls, fn } = controlledBatches();
    const serving = BatchServing.start(BatchServing.new(fn), { batchSize: 1, batchTimeout: 0 });
    serving.dispatch(0);
    await nextTurn();
    const subscription = serving.stream([1, 2]).subscribe();
    expect(serving.stats().queued).toBe(2);
    subscription.unsubscribe();
    expect(serving.stats().queued).toBe(0);
    calls[0].finish();
    await serving.close('drain', 1000);
    expect(calls).toHaveLength(1);
  });

  it('errors the Observable with the dispatch error', async () => {
    const serving = BatchServing.start(
      BatchServing.new(() => {
        throw new Error('down');
      }),
      { batchTimeout: 0 },
    );
    await expect(lastValueFrom(serving.stream([1]))).rejects.toMatchObject({ code: 'BATCH_FAILED', cause: new Error('down') });
    await serving.close('drain', 1000);
  });

  it('streams an iterable in chunks, with offsets across the whole input', async () => {
    const serving = BatchServing.start(BatchServing.new((values: number[]) => values), { batchSize: 2, batchTimeout: 0 });
    function* five() {
      yield* [1, 2, 3, 4, 5];
    }
    const events = await lastValueFrom(serving.stream(five()).pipe(toArray()));
    expect(events).toEqual([
      { type: 'batch', offset: 0, outputs: [1, 2] },
      { type: 'batch', offset: 2, outputs: [3, 4] },
      { type: 'batch', offset: 4, outputs: [5] },
    ]);
    await serving.close('drain', 1000);
  });
});
