import { Batch, writeSlice, type BatchHost, type BatchOwner, type SliceLayout } from './batch';
import type { ArrivalRate, WindowState } from './window';

/** A contiguous run of one dispatch's values with one batch key: what a key queue holds. */
export interface Run<D extends BatchOwner = BatchOwner> {
  readonly dispatch: D;
  /** Index of the first value not yet taken into a batch (or withdrawn). */
  next: number;
  /** One past the last value of the run. */
  readonly end: number;
  /** The slab the run was written to. */
  slab: Slab | undefined;
}

/**
 * The one test of "this run still has values waiting": its slab was not handed over as a batch,
 * and neither batches (`Slab.cut`) nor a withdrawal (`KeyQueue.withdraw`) moved `next` to `end`.
 */
export function isWaiting(run: Run): boolean {
  return run.slab !== undefined && !run.slab.handedOver && run.next < run.end;
}

/** The values of one priority other than 0 (see KeyQueue.lanes). */
interface Lane {
  readonly priority: number;
  readonly slab: Slab;
}

/**
 * The values waiting under one batch key, and the window of the batch they are forming.
 * A window opens when a value arrives at an empty queue and expires `batchTimeout` later; values
 * left over after a batch is taken keep the window they arrived in, so that none waits longer.
 * The queue's own transitions are here: values enter (`add`), leave in a batch (`take`) or are
 * withdrawn (`withdraw`). The window's transitions are the batcher's.
 */
export class KeyQueue {
  /** What waits at priority 0, laid out as the batch it will form. */
  slab: Slab;
  /**
   * Values of other priorities, highest first, one slab each. Undefined while every value has
   * priority 0, so that a serving that never uses priorities takes batches as before: whole slabs.
   */
  private lanes: Lane[] | undefined = undefined;
  /** Values waiting, withdrawn ones excluded. */
  queued = 0;
  /** Their total cost, with a cost budget only (see CostBudget). */
  queuedCost = 0;
  window: WindowState = 'none';
  /** When the window opened (ms), for the adaptive window's time left. */
  openedAt = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** In the batcher's list of keys that may start a batch. */
  due = false;
  /** In the batcher's list of keys to look at when the turn ends. */
  inTurn = false;
  /** Recent arrivals, with `window: 'adaptive'` only. */
  arrivals: ArrivalRate | undefined = undefined;

  constructor(readonly name: string) {
    this.slab = new Slab(this, 0);
  }

  /** Appends `count` values of `run`, from `run.next`, at `priority`. */
  add(run: Run, count: number, priority: number): void {
    (priority === 0 ? this.slab : this.laneOf(priority)).add(run, count);
    this.queued += count;
  }

  /** The highest priority with a value waiting; 0 when none waits. */
  get topPriority(): number {
    const lanes = this.lanes;
    if (!lanes) return 0;
    for (const lane of lanes) if (lane.priority > 0 && lane.slab.live > 0) return lane.priority;
    if (this.slab.live > 0) return 0;
    // Above 0 all are empty: the first lane with values is the highest below 0.
    for (const lane of lanes) if (lane.slab.live > 0) return lane.priority;
    return 0;
  }

  /**
   * Up to `max` values as a batch: highest priority first, arrival order within a priority, each
   * run contiguous. Undefined when nothing live waits. When all that waits is one slab and fits
   * (the common case), the slab's arrays become the batch as they are, no copy.
   */
  take<I, O>(host: BatchHost, max: number): Batch<I, O> | undefined {
    const batch = this.lanes ? this.takeByPriority<I, O>(host, max) : this.takeSlab<I, O>(host, max);
    if (batch) this.queued -= batch.size;
    return batch;
  }

  private takeSlab<I, O>(host: BatchHost, max: number): Batch<I, O> | undefined {
    const slab = this.slab;
    if (slab.withdrawn > 0) slab.compact();
    const live = slab.size - slab.valueHead;
    if (live === 0) return undefined;
    if (slab.valueHead > 0 || live > max) return slab.cut(new Batch<I, O>(host, this.name, new Array(Math.min(max, live)), []), max);
    // The next slab starts at the size of this batch: a steady load then never grows an array.
    this.slab = new Slab(this, live);
    return slab.handOver(host);
  }

  /** Takes what is left of `run` out of the queue; how many values that was (0 if none waited). */
  withdraw(run: Run): number {
    if (!isWaiting(run)) return 0;
    const left = run.end - run.next;
    run.next = run.end;
    this.queued -= left;
    run.slab!.noteWithdrawn(left);
    return left;
  }

  /** The dispatches with values still waiting, oldest first within each priority. */
  waiting(): BatchOwner[] {
    const waiting: BatchOwner[] = [];
    for (const slab of this.slabs()) {
      for (let s = slab.sliceHead; s < slab.slices; s++) {
        const d = slab.runs[s]!.dispatch;
        if (!d.settled) waiting.push(d);
      }
    }
    return waiting;
  }

  /** Nothing waits any more: forgets withdrawn leftovers and the lanes. */
  clear(): void {
    if (this.slab.slices > 0) this.slab.clear();
    if (this.lanes) for (const lane of this.lanes) lane.slab.clear();
    this.lanes = undefined;
  }

  /** Every slab in the order batches take from them: priorities above 0, 0, below 0. */
  slabs(): Slab[] {
    const lanes = this.lanes;
    if (!lanes) return [this.slab];
    const above = lanes.filter((lane) => lane.priority > 0).map((lane) => lane.slab);
    const below = lanes.filter((lane) => lane.priority < 0).map((lane) => lane.slab);
    return [...above, this.slab, ...below];
  }

  private laneOf(priority: number): Slab {
    const lanes = (this.lanes ??= []);
    let i = 0;
    while (i < lanes.length && lanes[i].priority > priority) i++;
    if (i < lanes.length && lanes[i].priority === priority) return lanes[i].slab;
    const lane = { priority, slab: new Slab(this, 0) };
    lanes.splice(i, 0, lane);
    return lane.slab;
  }

  private takeByPriority<I, O>(host: BatchHost, max: number): Batch<I, O> | undefined {
    const size = Math.min(max, this.queued);
    if (size <= 0) return undefined;
    const batch = new Batch<I, O>(host, this.name, new Array(size), []);
    let space = max;
    for (const slab of this.slabs()) {
      if (space === 0) break;
      if (slab.withdrawn > 0) slab.compact();
      space -= slab.cutInto(batch, space);
    }
    batch.trim();
    // Lanes left empty go; with none left, the queue is back on the path without priorities.
    this.lanes = this.lanes!.filter((lane) => lane.slab.live > 0);
    if (this.lanes.length === 0) this.lanes = undefined;
    return batch.size > 0 ? batch : undefined;
  }
}

/**
 * The values of one priority of one key queue in parallel arrays, written at dispatch exactly as
 * a batch holds them: per slice (a run of one dispatch's values) its run, and the values in
 * arrival order. `starts` and `counts` are only made once a slice is not one whole one-value
 * dispatch; until then every slice is (0, 1). Withdrawn values stay in place, counted, until the
 * slab is compacted: before a batch is taken, or once they are most of it.
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
  /** The slab became a batch as it is: nothing in it waits any more. */
  handedOver = false;
  /** A run that is not its own dispatch (one cut by batch key) is here: owners must be mapped. */
  private cutRuns = false;

  constructor(
    readonly key: KeyQueue,
    capacity: number,
  ) {
    this.values = new Array(capacity);
    this.runs = new Array(capacity);
  }

  /** Values that still wait here; 0 once handed over. */
  get live(): number {
    return this.handedOver ? 0 : this.size - this.valueHead - this.withdrawn;
  }

  /** Appends `count` values of `run`, from `run.next`. */
  add(run: Run, count: number): void {
    const slice = this.slices++;
    this.runs[slice] = run;
    run.slab = this;
    if ((run.dispatch as unknown) !== run) this.cutRuns = true;
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
    this.handedOver = true;
    values.length = this.size;
    runs.length = slices;
    if (starts) starts.length = counts!.length = slices;
    const owners = this.cutRuns ? runs.map((run) => run!.dispatch) : (runs as unknown as BatchOwner[]);
    return new Batch<I, O>(host, this.key.name, values as I[], owners, starts, counts, this.size);
  }

  /** The first `max` values into `batch`, trimmed; the rest stay, a run cut in two keeps its tail here. */
  cut<I, O>(batch: Batch<I, O>, max: number): Batch<I, O> {
    this.cutInto(batch, max);
    batch.trim();
    return batch;
  }

  /** Moves up to `max` values from the front into `batch`; how many it moved. */
  cutInto(batch: Batch, max: number): number {
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
    if (this.sliceHead === this.slices) this.clear();
    else if (this.sliceHead >= 1024 && this.sliceHead * 2 >= this.slices) this.compact();
    return max - space;
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
