import { Body, Controller, HttpCode, Param, Post, Sse, type MessageEvent } from '@nestjs/common';
import { map, type Observable } from 'rxjs';
import { parseIndexJobRequest } from './index-job.request';
import { IndexJobsService } from './index-jobs.service';

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
   * browser's `onmessage` receives them all, in order. The stream ends with the job.
   */
  @Sse(':id/events')
  events(@Param('id') id: string): Observable<MessageEvent> {
    return this.jobs.events(id).pipe(map((data) => ({ data })));
  }
}
