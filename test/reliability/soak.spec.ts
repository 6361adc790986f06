/*
 * Soak: many dispatches from 1,000 concurrent callers against one serving with 2 partitions, with
 * failing batches, failing values, aborts and timeouts. Nothing may be lost, settled twice or
 * executed twice, and the heap must come back to where it started.
 *
 * Size: 100,000 dispatches in CI, 1,000,000 under `npm run soak` (RELIABILITY_SCALE=full).
 * Every random choice is a function of the value's id and a fixed seed, so a run is repeatable.
 */
import { BatchServing, BatchServingError, type BatchContext } from 'nestjs-batch-serving';
import { FULL, hasGc, heapAfterGc, mb, memorySampler, nextTurn, report, scaled } from './support/scale';

jest.setTimeout(FULL ? 600_000 : 60_000);

const N = scaled({ ci: 100_000, full: 1_000_000 });
const CALLERS = 1000;
const SEED = 0x5eed;

/** A deterministic hash of (id, salt) in [0, 2^32): the soak's only source of randomness. */
function hash(id: number, salt: number): number {
  let h = Math.imul(id ^ SEED, 0x9e3779b1) ^ Math.imul(salt, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** 1% of batches throw (decided by their first value), 1% of values come back as an Error. */
const batchThrows = (first: number) => hash(first, 1) % 100 === 0;
const valueFails = (id: number) => hash(id, 2) % 100 === 0;

type Kind = 'plain' | 'many' | 'abort-soon' | 'abort-before' | 'timeout';
function kindOf(id: number): Kind {
  const r = hash(id, 3) % 1000;
  if (r < 20) return 'abort-soon'; // 2%: aborted 0-3 ms after dispatch
  if (r < 22) return 'abort-before'; // 0.2%: signal already aborted
  if (r < 42) return 'timeout'; // 2%: a 1-5 ms deadline
  if (r < 142) return 'many'; // 10%: dispatchMany of 3 values (ids id, id+1, id+2)
  return 'plain';
}

const EXPECTED_FAILURES = new Set(['BATCH_FAILED', 'DISPATCH_ABORTED', 'DISPATCH_TIMEOUT']);

describe(`soak (${N.toLocaleString('en')} dispatches, ${CALLERS} callers, 2 partitions)`, () => {
  const title = hasGc
    ? 'loses nothing, settles and executes nothing twice, and the heap after GC ends no more than 10% above the start'
    : 'loses nothing, settles and executes nothing twice (heap not asserted: global.gc is absent, run with node --expose-gc as npm run soak does)';

  it(title, async () => {
    const executed = new Uint8Array(N + 3);
    const settled = new Uint8Array(N + 3);
    let batches = 0;
    let asyncBatches = 0;

    const fn = async (values: number[], ctx: BatchContext): Promise<Array<number | Error>> => {
      batches++;
      for (const v of values) executed[v]++;
      // A quarter of the batches yield (one turn, or a 1 ms timer), so that aborts and deadlines
      // also land while a batch runs, not only while its values are queued.
      const h = hash(values[0], 4) % 8;
      if (h === 0) {
        asyncBatches++;
        await nextTurn();
      } else if (h === 1) {
        asyncBatches++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (batchThrows(values[0])) throw new Error(`batch starting at ${values[0]} exploded (partition ${ctx.partition})`);
      return values.map((v) => (valueFails(v) ? new Error(`value ${v} is bad`) : v * 2));
    };

    const serving = BatchServing.start(BatchServing.new(fn), {
      name: 'soak',
      batchSize: 32,
      batchTimeout: 1,
      partitions: 2,
    });

    const outcomes = { ok: 0, wrongValue: 0, unexpectedError: 0, byCode: {} as Record<string, number> };
    let next = 0;
    let progress = 0;

    const settle = (ids: number[]) => {
      progress++;
      for (const id of ids) settled[id]++;
    };
    const onError = (ids: number[], error: unknown) => {
      settle(ids);
      const code = error instanceof BatchServingError ? error.code : 'NOT_A_BATCH_SERVING_ERROR';
      outcomes.byCode[code] = (outcomes.byCode[code] ?? 0) + 1;
      if (!EXPECTED_FAILURES.has(code)) outcomes.unexpectedError++;
      // A failed batch ran: at least one of the dispatch's values executed (the others of a
      // dispatchMany may have been withdrawn once the first part failed).
      if (code === 'BATCH_FAILED' && !ids.some((id) => executed[id] === 1)) outcomes.unexpectedError++;
    };

    async function caller(): Promise<void> {
      while (next < N) {
        const id = next;
        const kind = kindOf(id);
        const ids = kind === 'many' && id + 3 <= N ? [id, id + 1, id + 2] : [id];
        next += ids.length;
        try {
          if (ids.length === 3) {
            const results = await serving.dispatchMany(ids);
            settle(ids);
            if (results.length !== 3 || results.some((r, i) => r !== ids[i] * 2)) outcomes.wrongValue++;
            else outcomes.ok++;
          } else {
            let options: { signal?: AbortSignal; timeout?: number } | undefined;
            if (kind === 'abort-soon' || kind === 'abort-before') {
              const controller = new AbortController();
              if (kind === 'abort-before') controller.abort(new Error('gave up before dispatching'));
              else setTimeout(() => controller.abort(new Error('gave up')), hash(id, 5) % 4);
              options = { signal: controller.signal };
            } else if (kind === 'timeout') {
              options = { timeout: 1 + (hash(id, 6) % 5) };
            }
            const result = await serving.dispatch(id, options);
            settle(ids);
            if (result !== id * 2 || executed[id] !== 1) outcomes.wrongValue++;
            else outcomes.ok++;
          }
        } catch (error) {
          onError(ids, error);
        }
      }
    }

    // Warm up (JIT, pools) before the baseline, so that the comparison is about the soak only.
    await Promise.all(Array.from({ length: 1000 }, (_, i) => serving.dispatch(N + (i % 3)).catch(() => undefined)));
    executed.fill(0, N);
    const heapStart = await heapAfterGc();
    const memory = memorySampler();
    const startedAt = performance.now();

    const callers = Promise.all(Array.from({ length: CALLERS }, caller));
    // A lost settlement would hang its caller: stop waiting once nothing moved for 10 s.
    let stalled = false;
    await new Promise<void>((resolve) => {
      let seen = -1;
      const watchdog = setInterval(() => {
        if (progress === seen) {
          stalled = true;
          clearInterval(watchdog);
          resolve();
        }
        seen = progress;
      }, 10_000);
      void callers.then(() => {
        clearInterval(watchdog);
        resolve();
      });
    });
    const seconds = (performance.now() - startedAt) / 1000;
    const stats = serving.stats();
    const heapEnd = await heapAfterGc();
    const peak = memory.stop();
    await serving.close('drain', 5000);

    let lost = 0;
    let duplicated = 0;
    let executedTwice = 0;
    for (let id = 0; id < N; id++) {
      if (settled[id] === 0) lost++;
      if (settled[id] > 1) duplicated++;
      if (executed[id] > 1) executedTwice++;
    }
    const heapGrowth = (heapEnd - heapStart) / heapStart;
    report('soak', {
      dispatches: N,
      callers: CALLERS,
      seconds: Math.round(seconds * 10) / 10,
      valuesPerSecond: Math.round(N / seconds),
      batches,
      asyncBatches,
      lostSettlements: lost,
      duplicateSettlements: duplicated,
      executedTwice,
      stalled,
      outcomes,
      statsAtEnd: { queued: stats.queued, executing: stats.executing, failures: stats.failures, meanBatchSize: stats.meanBatchSize },
      heapStartMB: mb(heapStart),
      heapEndMB: mb(heapEnd),
      heapGrowthPercent: Math.round(heapGrowth * 1000) / 10,
      heapMeasuredAfterGc: hasGc,
      peakRssMB: mb(peak.peakRss),
      peakHeapMB: mb(peak.peakHeap),
      maxRssMB: mb(process.resourceUsage().maxRSS * 1024),
    });

    expect(stalled).toBe(false);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    expect(executedTwice).toBe(0);
    expect(outcomes.wrongValue).toBe(0);
    expect(outcomes.unexpectedError).toBe(0);
    expect(stats).toMatchObject({ queued: 0, executing: 0 });
    // Every kind of failure happened, so the run exercised what it claims to.
    for (const code of EXPECTED_FAILURES) expect(outcomes.byCode[code] ?? 0).toBeGreaterThan(0);
    // A leak shows as growth. The heap can also end below the start (code and pools that the
    // warm-up left behind are collected): that is no leak, so only growth is bounded.
    if (hasGc) expect(heapGrowth).toBeLessThanOrEqual(0.1);
  });
});
