/** Counters of one running serving. `queued` and `executing` count values now; the rest count since start. */
export interface ServingStats {
  queued: number;
  executing: number;
  batches: number;
  values: number;
  failures: number;
  /** Executions that ran again under `retry` (a split is not one). */
  retries: number;
  meanBatchSize: number;
  /** Mean total cost of an execution (meanBatchSize without `.cost`). */
  meanBatchCost: number;
  /** Time batches were held back by `rateLimit`. */
  throttledMs: number;
  queueWaitMs: { p50: number; p99: number };
  runMs: { p50: number; p99: number };
}

const WINDOW = 1024;

/** The last WINDOW samples of a duration, for percentiles that follow the present load. */
class Samples {
  private readonly ring = new Float64Array(WINDOW);
  private count = 0;

  add(ms: number): void {
    this.ring[this.count++ % WINDOW] = ms;
  }

  percentiles(): { p50: number; p99: number } {
    const n = Math.min(this.count, WINDOW);
    if (n === 0) return { p50: 0, p99: 0 };
    const sorted = this.ring.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)];
    return { p50: at(0.5), p99: at(0.99) };
  }
}

export class StatsRecorder {
  batches = 0;
  values = 0;
  failures = 0;
  retries = 0;
  private cost = 0;
  private readonly wait = new Samples();
  private readonly run = new Samples();

  recordBatch(size: number, cost: number, waitMs: number, runMs: number, failed: boolean): void {
    this.batches++;
    this.values += size;
    this.cost += cost;
    if (failed) this.failures++;
    this.wait.add(waitMs);
    this.run.add(runMs);
  }

  snapshot(queued: number, executing: number, throttledMs: number): ServingStats {
    return {
      queued,
      executing,
      batches: this.batches,
      values: this.values,
      failures: this.failures,
      retries: this.retries,
      meanBatchSize: this.batches ? this.values / this.batches : 0,
      meanBatchCost: this.batches ? this.cost / this.batches : 0,
      throttledMs,
      queueWaitMs: this.wait.percentiles(),
      runMs: this.run.percentiles(),
    };
  }
}
