import type { BatchContext } from 'nestjs-batch-serving';

/** A batch function whose calls stay pending until the test settles them. */
export function controlledBatches<I = number, O = I>(compute: (value: I) => O = (v) => v as unknown as O) {
  const calls: Array<{
    values: I[];
    ctx: BatchContext;
    /** Resolves with `compute` of every value. */
    finish(): void;
    resolveWith(outputs: unknown): void;
    fail(error: unknown): void;
  }> = [];
  const fn = (values: I[], ctx: BatchContext) =>
    new Promise<O[]>((resolve, reject) => {
      calls.push({
        values: [...values],
        ctx,
        finish: () => resolve(values.map(compute)),
        resolveWith: (outputs) => resolve(outputs as O[]),
        fail: reject,
      });
    });
  return { calls, fn };
}

/** Finishes every call of a controlled batch function, including those it starts meanwhile, until none is left. */
export async function finishAll(calls: Array<{ finish(): void }>, turn: () => Promise<unknown> = nextTurn): Promise<void> {
  let finished = 0;
  do {
    while (finished < calls.length) calls[finished++].finish();
    await turn();
  } while (finished < calls.length);
}

export type Tracked<T> = { state: 'pending' | 'fulfilled' | 'rejected'; value?: T; error?: unknown; settlements: number };

/** Watches a promise without awaiting it, counting how often it settles. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { state: 'pending', settlements: 0 };
  promise.then(
    (value) => Object.assign(tracked, { state: 'fulfilled', value, settlements: tracked.settlements + 1 }),
    (error) => Object.assign(tracked, { state: 'rejected', error, settlements: tracked.settlements + 1 }),
  );
  return tracked;
}

/** Lets promise callbacks and the end-of-turn work (setImmediate) run, with real timers. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Lets fake timers run `ms` forward, with promise callbacks in between. */
export const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

export const useFakeTimers = () => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] });
