import request from 'supertest';
import { documents, send, startApp, watchJob } from './helpers';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';

describe('sample app: app.close() drains in-flight work', () => {
  it('while it drains: the job in flight finishes, /health is 503 draining, a new request is 503 SERVING_SHUTDOWN', async () => {
    const running = await startApp();
    let closing: Promise<void> | undefined;
    try {
      // 80 documents: five batches or more of the real model, on two threads.
      const job = await request(running.url).post('/index-jobs').send({ userId: 'alice', documents: documents('alice', 80) }).expect(202);
      let firstProgress!: () => void;
      const started = new Promise<void>((resolve) => (firstProgress = resolve));
      const watching = watchJob(running.url, job.body.jobId, (e: JobEvent) => e.type === 'progress' && firstProgress());
      await started;

      closing = running.close();
      // Requests on fresh connections: the server answers until the drain is over.
      const health = await send(running.url, 'GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: 'shutting_down', error: { servings: { status: 'down', embed: { state: 'draining' } } } });
      const late = await send(running.url, 'GET', '/squares/2');
      expect(late).toEqual({ status: 503, body: { statusCode: 503, code: 'SERVING_SHUTDOWN', message: expect.any(String) } });

      const events = await watching;
      expect(events[events.length - 1]).toMatchObject({ type: 'done', documents: 80 });
      expect(events.filter((e) => e.type === 'embeddings').flatMap((e) => (e.type === 'embeddings' ? e.vectors : []))).toHaveLength(80);
    } finally {
      await (closing ?? running.close());
    }
  });
});
