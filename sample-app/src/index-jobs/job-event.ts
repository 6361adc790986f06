import { BatchServingError, type ServingEvent } from 'nestjs-batch-serving';
import type { BatchCost, BatchLatency, DocumentProgress } from './embed.hooks';

/** What GET /index-jobs/:id/events sends, one per SSE message, as JSON `data`. */
export type JobEvent =
  | { type: 'progress'; jobId: string; userId: string; done: number; total: number }
  | ({ type: 'latency' } & BatchLatency)
  | ({ type: 'cost'; jobUsd: number } & BatchCost)
  | { type: 'embeddings'; jobId: string; userId: string; offset: number; ids: number[]; vectors: number[][] }
  | { type: 'done'; jobId: string; userId: string; documents: number; costUsd: number; elapsedMs: number }
  | { type: 'failed'; jobId: string; userId: string; code: string; message: string };

/** Turns one job's stream of serving events into the events its user watches, keeping the running totals. */
export class JobTracker {
  private done = 0;
  private costUsd = 0;
  private readonly startedAt = performance.now();

  constructor(
    private readonly jobId: string,
    private readonly userId: string,
    private readonly total: number,
  ) {}

  /** `ids`: where a batch's documents were stored, for its `batch` event. */
  next(event: ServingEvent<Float32Array>, ids: number[] = []): JobEvent {
    const { jobId, userId } = this;
    if (event.type === 'batch') return { type: 'embeddings', jobId, userId, offset: event.offset, ids, vectors: event.outputs.map((v) => Array.from(v)) };
    switch (event.hook) {
      case 'progress':
        this.done += (event.payload as DocumentProgress[]).length;
        return { type: 'progress', jobId, userId, done: this.done, total: this.total };
      case 'latency':
        return { type: 'latency', ...(event.payload as BatchLatency) };
      default: {
        const cost = event.payload as BatchCost;
        this.costUsd += cost.shareUsd;
        return { type: 'cost', ...cost, jobUsd: this.costUsd };
      }
    }
  }

  completed(): JobEvent {
    const { jobId, userId, costUsd } = this;
    return { type: 'done', jobId, userId, documents: this.total, costUsd, elapsedMs: performance.now() - this.startedAt };
  }

  failed(error: unknown): JobEvent {
    const known = error instanceof BatchServingError;
    // A failed batch's message carries whatever the model threw: only the code goes to the user.
    return { type: 'failed', jobId: this.jobId, userId: this.userId, code: known ? error.code : 'INTERNAL', message: known && error.code !== 'BATCH_FAILED' ? error.message : 'the indexing job failed' };
  }
}
