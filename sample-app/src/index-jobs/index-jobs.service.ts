import { Injectable, NotFoundException } from '@nestjs/common';
import { BatchServingClient } from 'nestjs-batch-serving';
import { randomUUID } from 'node:crypto';
import { ReplaySubject, type Observable } from 'rxjs';
import { SearchStore } from '../search/search.store';
import type { IndexingCaller } from './embed.hooks';
import { EMBED } from './embed.serving';
import { JobTracker, type JobEvent } from './job-event';
import { asDocument } from './text-length';

/** A submitted job: its events are replayed to whoever watches, from the first. */
export interface IndexJob {
  id: string;
  userId: string;
  documents: number;
  events: ReplaySubject<JobEvent>;
}

/** Most jobs remembered; the oldest is forgotten beyond it, so that memory stays bounded. */
const MAX_JOBS = 1000;

@Injectable()
export class IndexJobsService {
  private readonly jobs = new Map<string, IndexJob>();

  constructor(
    private readonly client: BatchServingClient,
    private readonly store: SearchStore,
  ) {}

  /**
   * Starts embedding at once, whether or not anyone watches: the job's documents join the
   * batches forming now, next to other users' documents. Its events go to a replay buffer.
   */
  start(userId: string, documents: string[]): IndexJob {
    const job: IndexJob = { id: randomUUID(), userId, documents: documents.length, events: new ReplaySubject<JobEvent>() };
    this.remember(job);
    const tracker = new JobTracker(job.id, userId, documents.length);
    const context: IndexingCaller = { userId, jobId: job.id, submittedAt: Date.now() };
    this.client.stream<Float32Array>(EMBED.name, documents.map(asDocument), { context }).subscribe({
      next: (event) => {
        // Stored as each part comes back: its documents are searchable from now on.
        const ids = event.type === 'batch' ? this.store.add(job.id, userId, documents.slice(event.offset, event.offset + event.outputs.length), event.outputs) : undefined;
        job.events.next(tracker.next(event, ids));
      },
      // A failure is an event of the job, not an error of the SSE stream: the watcher learns why.
      error: (error: unknown) => {
        job.events.next(tracker.failed(error));
        job.events.complete();
      },
      complete: () => {
        job.events.next(tracker.completed());
        job.events.complete();
      },
    });
    return job;
  }

  /** The job's events from its first; completes after `done` or `failed`. */
  events(id: string): Observable<JobEvent> {
    const job = this.jobs.get(id);
    if (!job) throw new NotFoundException(`no index job ${id}`);
    return job.events.asObservable();
  }

  private remember(job: IndexJob): void {
    this.jobs.set(job.id, job);
    if (this.jobs.size > MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value!);
  }
}
