import { Body, Controller, Headers, HttpCode, Param, Post, Sse, type MessageEvent } from '@nestjs/common';
import { SSE_END_EVENT } from 'nestjs-batch-serving';
import { endWith, filter, map, type Observable } from 'rxjs';
import { parseIndexJobRequest } from './index-job.request';
import { IndexJobsService } from './index-jobs.service';

const END_ID = 'end';

@Controller('index-jobs')
export class IndexJobsController {
  constructor(private readonly jobs: IndexJobsService) {}

  /** POST /index-jobs { userId, documents } → 202 { jobId, userId, documents, events }. */
  @Post()
  @HttpCode(202)
  create(@Body() body: unknown): { jobId: string; userId: string; documents: number; events: string } {
    const { userId, documents } = parseIndexJobRequest(body);
    const job = this.jobs.start(userId, documents);
    return { jobId: job.id, userId, documents: job.documents, events: `/index-jobs/${job.id}/events` };
  }

  /**
   * GET /index-jobs/:id/events: Server-Sent Events, one JSON message per job event (progress,
   * latency, cost, embeddings, then done or failed). The event kind is inside `data`, so a
   * browser's `onmessage` receives them all, in order. Each message's `id` is its index: a
   * browser that reconnects sends the last one back (`Last-Event-ID`) and gets only what
   * followed, and the job never runs again (it runs once, from POST). After the job, a named
   * `end` event (id `end`), on which a page closes its EventSource instead of reconnecting.
   */
  @Sse(':id/events')
  events(@Param('id') id: string, @Headers('last-event-id') lastEventId?: string): Observable<MessageEvent> {
    // Without an id of ours, from the first event; after `end`, only `end` again.
    const seen = lastEventId === END_ID ? Infinity : /^\d+$/.test(lastEventId ?? '') ? Number(lastEventId) : -1;
    return this.jobs.events(id).pipe(
      map((data, index) => ({ id: String(index), data })),
      filter((message) => Number(message.id) > seen),
      // Nest numbers the messages that have no id: the end gets one of its own, that numbers cannot take.
      endWith({ type: SSE_END_EVENT, id: END_ID, data: { ok: true } }),
    );
  }
}
