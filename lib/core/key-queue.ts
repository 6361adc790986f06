import type { Run } from './dispatch';
import { Batch, writeSlice, type BatchHost, type SliceLayout } from './batch';

/**
 * The values waiting under one batch key, and the window of the batch they are forming.
 * A window opens when a value arrives at an empty queue and expires `batchTimeout` later; values
 * left over after a batch is taken keep the window they arrived in, so that none waits longer.
 */
export class KeyQueue {
  /** What waits, laid out as the batch it will form. */
  slab: Slab;
  /** Values waiting, withdrawn ones excluded. */
  queued = 0;
  /** Their total cost, with a cost budget only (see CostBudget). */
  queuedCost = 0;
  windowOpen = false;
  expired = false;
  /** In the batcher's list of keys that may start a batch. */
  due = false;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(readonly name: string) {
    this.slab = new Slab(this, 0);
  }

  /**
   * Up to `max` values, in arrival order, as a batch; undefined when nothing live waits. When all
   * that waits fits (the common case), the slab's arrays become the batch as they are, no copy.
   */
  take<I, O>(host: BatchHost, max: number): Batch<I, O> | undefined {
    const slab = this.slab;
    if (slab.withdrawn > 0) slab.compact();
    const live = slab.size - slab.valueHead;
    if (live === 0) return undefined;
    if (slab.valueHead > 0 || live > max) return slab.cut(host, max);
    // The next slab starts at the size of this batch: a steady load then never grows an array.
    this.slab = new Slab(this, live);
    return slab.handOver(host);
  }

  /** The dispatches with values still waiting, oldest first. */
  waiting(): Run['dispatch'][] {
    const slab = this.slab;
    const waiting: Run['dispatch'][] = [];
    for (let s = slab.sliceHead; s < slab.slices; s++) {
      const d = slab.runs[s]!.dispatch;
      if (!d.settled) waiting.push(d);
    }
    return waiting;
  }

  closeWindow(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.windowOpen = false;
    this.expired = false;
  }
}

/**
 * The values of one key queue in parallel arrays, written at dispatch exactly as a batch holds
 * them: per slice (a run of one dispatch's values) its run, and the values in arrival order.
 * `starts` and `counts` are only made once a slice is not one whole one-value dispatch; until
 * then every slice is (0, 1). Withdrawn values stay in place, counted, until the slab is
 * compacted: before a batch is taken, or once they are most of it.
 */
export class Slab implements SliceLayout {
  values: unknown[];
  runs: Array<Run | undefined>;
  starts: number[] | undefined = undefined;
  counts: number[] | undefined = undefined;
  /** First slice and first value not yet taken (a batch cut from the front moves them). */
  sliceHead = 0;
  valueHead = 0;
  /** Slices and values written. */
  slices = 0;
  size = 0;
  /** Values of withdrawn dispatches still in the arrays. */
  withdrawn = 0;
  /** A run that is not its own dispatch (one cut by batch key) is here: owners must be mapped. */
  private cutRuns = false;

  constructor(
    readonly key: KeyQueue,
    capacity: number,
  ) {
    this.values = new Array(capacity);
    this.runs = new Array(capacity);
  }

  /** Appends `count` values of `run`, from `run.next`. */
  add(run: Run, count: number): void {
    const slice = this.slices++;
    this.runs[slice] = run;
    run.slab = this;
    if (run.dispatch !== run) this.cutRuns = true;
    writeSlice(this, slice, run.dispatch, run.next, count);
  }

  /** A value of `run` was withdrawn; sheds withdrawn values once they are most of the slab. */
  noteWithdrawn(count: number): void {
    this.withdrawn += count;
    if (this.withdrawn > 256 && this.withdrawn * 2 > this.size - this.valueHead) this.compact();
  }

  /** The whole slab as a batch (nothing taken from its front, nothing withdrawn). */
  handOver<I, O>(host: BatchHost): Batch<I, O> {
    const { values, runs, starts, counts, slices } = this;
    values.length = this.size;
    runs.length = slices;
    if (starts) starts.length = counts!.length = slices;
    const owners = this.cutRuns ? runs.map((run) => run!.dispatch) : (runs as Run['dispatch'][]);
    return new Batch<I, O>(host, this.key.name, values as I[], owners, starts, counts, this.size);
  }

  /** The first `max` values as a new batch; the rest stay, a run cut in two keeps its tail here. */
  cut<I, O>(host: BatchHost, max: number): Batch<I, O> {
    const batch = new Batch<I, O>(host, this.key.name, new Array(Math.min(max, this.size - this.valueHead)), []);
    let space = max;
    while (space > 0 && this.sliceHead < this.slices) {
      const s = this.sliceHead;
      const run = this.runs[s]!;
      const start = this.starts ? this.starts[s] : 0;
      const count = this.counts ? this.counts[s] : 1;
      const n = count < space ? count : space;
      batch.add(run.dispatch, start, n);
      run.next = start + n;
      this.valueHead += n;
      space -= n;
      if (n < count) {
        this.starts![s] = start + n;
        this.counts![s] = count - n;
        break;
      }
      this.runs[s] = undefined;
      this.sliceHead++;
    }
    batch.trim();
    if (this.sliceHead === this.slices) this.clear();
    else if (this.sliceHead >= 1024 && this.sliceHead * 2 >= this.slices) this.compact();
    return batch;
  }

  /** Drops what was taken and what was withdrawn (slices of settled dispatches), keeping order. */
  compact(): void {
    const { values, runs, starts, counts } = this;
    let slices = 0;
    let size = 0;
    for (let s = this.sliceHead, v = this.valueHead; s < this.slices; s++) {
      const run = runs[s]!;
      const count = counts ? counts[s] : 1;
      if (!run.dispatch.settled) {
        runs[slices] = run;
        if (starts) (starts[slices] = starts[s]), (counts![slices] = count);
        for (let k = 0; k < count; k++) values[size++] = values[v + k];
        slices++;
      }
      v += count;
    }
    values.length = size;
    runs.length = slices;
    if (starts) starts.length = counts!.length = slices;
    this.slices = slices;
    this.size = size;
    this.sliceHead = this.valueHead = 0;
    this.withdrawn = 0;
  }

  /** Nothing waits any more. */
  clear(): void {
    this.values.length = this.runs.length = 0;
    this.starts = this.counts = undefined;
    this.slices = this.size = this.sliceHead = this.valueHead = this.withdrawn = 0;
    this.cutRuns = false;
  }
}
