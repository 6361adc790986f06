/*
 * A batch function that blocks the event loop for 50 ms at a time (synchronous work: a tokenizer,
 * a native call without a worker). Nothing can run meanwhile, timers included, so windows close
 * late; but no value is lost, none is reordered, and every caller gets its own results.
 */
import { BatchServing, type RunningServing } from 'nestjs-batch-serving';
import { blockFor, report, scaled, seeded, sleep } from './support/scale';

jest.setTimeout(60_000);

const BLOCK_MS = 50;
const BATCH_TIMEOUT = 5;
const PRODUCERS = 4;
const PER_PRODUCER = scaled({ ci: 60, full: 500 });

describe(`a batch function that blocks the event loop for ${BLOCK_MS} ms`, () => {
  it('closes windows late, but loses nothing and keeps every order', async () => {
    const random = seeded(1234);
    /** Values in the order the batch function received them, batch after batch. */
    const seen: string[] = [];
    const windows: number[] = [];
    const firstArrival = new Map<string, number>();
    const serving: RunningServing<string, string> = BatchServing.start(
      BatchServing.new((values: string[]) => {
        windows.push(performance.now() - firstArrival.get(values[0])!);
        seen.push(...values);
        blockFor(BLOCK_MS);
        return values.map((v) => `${v}!`);
      }),
      { name: 'blocking', batchSize: 8, batchTimeout: BATCH_TIMEOUT, partitions: 2 },
    );

    /** Every value in the order it was dispatched, across producers. */
    const dispatched: string[] = [];
    const dispatch = (values: string[]) => {
      const now = performance.now();
      for (const v of values) {
        dispatched.push(v);
        firstArrival.set(v, now);
      }
      return values.length === 1 ? serving.dispatch(values[0]).then((r) => [r]) : serving.dispatchMany(values);
    };

    const results = await Promise.all(
      Array.from({ length: PRODUCERS }, async (_, p) => {
        const mine: Array<Promise<{ values: string[]; results: string[] }>> = [];
        for (let i = 0; i < PER_PRODUCER; i++) {
          // One in ten dispatches carries 20 values: it spans several batches, and both partitions.
          const values = random() < 0.1 ? Array.from({ length: 20 }, (_, j) => `p${p}-${i}-${j}`) : [`p${p}-${i}`];
          mine.push(dispatch(values).then((r) => ({ values, results: r })));
          await sleep(Math.floor(random() * 3));
        }
        return Promise.all(mine);
      }),
    );
    await serving.close('drain', 5000);

    const flat = results.flat();
    const mismatched = flat.filter(({ values, results: r }) => r.length !== values.length || r.some((x, i) => x !== `${values[i]}!`));
    const late = windows.filter((w) => w > BATCH_TIMEOUT + 1);
    report('blocking', {
      blockMs: BLOCK_MS,
      batchTimeout: BATCH_TIMEOUT,
      dispatches: flat.length,
      values: dispatched.length,
      batches: windows.length,
      lateWindows: late.length,
      maxWindowMs: Math.round(Math.max(...windows)),
      meanWindowMs: Math.round(windows.reduce((a, b) => a + b, 0) / windows.length),
      mismatched: mismatched.length,
    });

    // Nothing lost, nothing twice, and the batch function saw values in dispatch order.
    expect(seen).toEqual(dispatched);
    expect(mismatched).toEqual([]);
    // The windows were late: a blocked loop cannot fire the batchTimeout timer (a fact, not a speed claim).
    expect(late.length).toBeGreaterThan(0);
  });
});
