import { Fifo } from './fifo';
import type { Run } from './dispatch';

/**
 * The values waiting under one batch key, and the window of the batch they are forming.
 * A window opens when a value arrives at an empty queue and expires `batchTimeout` later; values
 * left over after a batch is taken keep the window they arrived in, so that none waits longer.
 */
export class KeyQueue {
  readonly runs = new Fifo<Run>();
  /** Values waiting, withdrawn ones excluded. */
  queued = 0;
  /** Runs whose values were withdrawn but that still sit in `runs`. */
  withdrawn = 0;
  windowOpen = false;
  expired = false;
  /** In the batcher's list of keys that may start a batch. */
  due = false;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(readonly name: string) {}

  /** Sheds withdrawn runs once they are most of the queue, so a flood of timeouts cannot grow it. */
  noteWithdrawn(): void {
    if (++this.withdrawn > 256 && this.withdrawn * 2 > this.runs.size) {
      this.runs.retain((run) => run.next < run.end);
      this.withdrawn = 0;
    }
  }

  closeWindow(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.windowOpen = false;
    this.expired = false;
  }
}
