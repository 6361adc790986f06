import request from 'supertest';
import { embed } from '../../sample-app/src/index-jobs/embedding';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';
import { documents, startApp, watchJob, type RunningApp } from './helpers';

type Of<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>;
const only = <T extends JobEvent['type']>(events: JobEvent[], type: T) => events.filter((e): e is Of<T> => e.type === type);

describe('sample app: indexing jobs with live progress, latency and cost (POST /index-jobs, SSE)', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('two users whose documents share a batch each see only their own progress, latency, cost and results', async () => {
    const aliceDocs = documents('alice', 40);
    const bobDocs = documents('bob', 6);
    // Alice's 40 documents take three batches of at most 16; Bob's arrive while her first runs
    // (the model call alone takes 40 ms), so they join her last 8 in the batch forming behind it.
    const alice = await request(running.url).post('/index-jobs').send({ userId: 'alice', documents: aliceDocs }).expect(202);
    const bob = await request(running.url).post('/index-jobs').send({ userId: 'bob', documents: bobDocs }).expect(202);
    expect(alice.body).toEqual({ jobId: expect.any(String), userId: 'alice', documents: 40, events: `/index-jobs/${alice.body.jobId}/events` });

    const [aliceEvents, bobEvents] = await Promise.all([watchJob(running.url, alice.body.jobId), watchJob(running.url, bob.body.jobId)]);

    // Nobody sees anyone else's events.
    expect(aliceEvents.every((e) => e.userId === 'alice' && e.jobId === alice.body.jobId)).toBe(true);
    expect(bobEvents.every((e) => e.userId === 'bob' && e.jobId === bob.body.jobId)).toBe(true);

    // Progress counts each user's own documents only.
    expect(only(aliceEvents, 'progress').map((e) => [e.done, e.total])).toEqual([[16, 40], [32, 40], [40, 40]]);
    expect(only(bobEvents, 'progress').map((e) => [e.done, e.total])).toEqual([[6, 6]]);

    // They shared a batch: the same batch, seen from both sides.
    const shared = only(bobEvents, 'latency')[0];
    expect(shared).toMatchObject({ batchSize: 14, callers: 2 });
    expect(only(aliceEvents, 'latency').map((e) => [e.batchSize, e.callers])).toEqual([[16, 1], [16, 1], [14, 2]]);

    // Its cost is split by tokens: the two shares add up to the batch, each is below going alone.
    const aliceShare = only(aliceEvents, 'cost')[2];
    const bobShare = only(bobEvents, 'cost')[0];
    expect(aliceShare.batchUsd).toBe(bobShare.batchUsd);
    expect(aliceShare.shareUsd + bobShare.shareUsd).toBeCloseTo(bobShare.batchUsd, 15);
    expect(bobShare.tokens).toBe(bobDocs.reduce((n, d) => n + d.split(' ').length, 0));
    expect(bobShare.shareUsd).toBeLessThan(bobShare.aloneUsd);

    // Each gets exactly its own embeddings, in order.
    expect(only(aliceEvents, 'embeddings').flatMap((e) => e.vectors)).toEqual(aliceDocs.map(embed));
    expect(only(bobEvents, 'embeddings')).toEqual([expect.objectContaining({ offset: 0, vectors: bobDocs.map(embed) })]);

    // The stream ends with the job's totals.
    const done = bobEvents[bobEvents.length - 1] as Of<'done'>;
    expect(done).toMatchObject({ type: 'done', documents: 6 });
    expect(done.costUsd).toBeCloseTo(bobShare.shareUsd, 15);
    expect(done.costUsd).toBeLessThan(done.aloneUsd);
    expect(aliceEvents[aliceEvents.length - 1]).toMatchObject({ type: 'done', documents: 40 });
  });

  it('sends each part in order: progress, latency, cost, then its embeddings', async () => {
    const job = await request(running.url).post('/index-jobs').send({ userId: 'carol', documents: documents('carol', 20) }).expect(202);
    const events = await watchJob(running.url, job.body.jobId);
    expect(events.map((e) => e.type)).toEqual(['progress', 'latency', 'cost', 'embeddings', 'progress', 'latency', 'cost', 'embeddings', 'done']);
  });

  it('replays a finished job to a late watcher', async () => {
    const job = await request(running.url).post('/index-jobs').send({ userId: 'dave', documents: ['one short document'] }).expect(202);
    const first = await watchJob(running.url, job.body.jobId);
    const again = await watchJob(running.url, job.body.jobId);
    expect(again).toEqual(first);
  });

  it('answers 400 to a malformed job and 404 to an unknown job', async () => {
    await request(running.url).post('/index-jobs').send({ userId: 'erin', documents: [] }).expect(400);
    await request(running.url).post('/index-jobs').send({ documents: ['x'] }).expect(400);
    await request(running.url).post('/index-jobs').send({ userId: 'erin', documents: ['ok', 42] }).expect(400);
    await request(running.url).get('/index-jobs/no-such-job/events').expect(404);
  });
});
