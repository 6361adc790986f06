/** Counters of one running serving. `queued` and `executing` count values now; the rest count since start. */
export interface ServingStats {
  queued: number;
  executing: number;
  batches: number;
  values: number;
  failures: number;
  meanBatchSize: number;
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
  private readonly wait = new Samples();
  private readonly run = new Samples();

  recordBatch(size: number, waitMs: number, runMs: number, failed: boolean): void {
    this.batches++;
    this.values += size;
    if (failed) this.failures++;
    this.wait.add(waitMs);
    this.run.add(runMs);
  }

  snapshot(queued: number, executing: number): ServingStats {
    return {
      queued,
      executing,
      batches: this.batches,
      values: this.values,
      failures: this.failures,
      meanBatchSize: this.batches ? this.values / this.batches : 0,
      queueWaitMs: this.wait.percentiles(),
      runMs: this.run.percentiles(),
    };
  }
}
