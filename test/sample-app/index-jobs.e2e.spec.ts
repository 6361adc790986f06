import request from 'supertest';
import { EMBED } from '../../sample-app/src/index-jobs/embed.serving';
import { tokensOf } from '../../sample-app/src/index-jobs/text-length';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';
import { documents, startApp, watchJob, type RunningApp } from './helpers';

type Of<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>;
const only = <T extends JobEvent['type']>(events: JobEvent[], type: T) => events.filter((e): e is Of<T> => e.type === type);

describe('sample app: indexing jobs on the real model, with live progress, latency and cost (POST /index-jobs, SSE)', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  }, 60_000);
  afterAll(() => running.close());

  it('two users indexing at once each see only their own progress, latency, cost and vectors, and every document is stored', async () => {
    const aliceDocs = documents('alice', 40);
    const bobDocs = documents('bob', 6);
    const alice = await request(running.url).post('/index-jobs').send({ userId: 'alice', documents: aliceDocs }).expect(202);
    const bob = await request(running.url).post('/index-jobs').send({ userId: 'bob', documents: bobDocs }).expect(202);
    expect(alice.body).toEqual({ jobId: expect.any(String), userId: 'alice', documents: 40, events: `/index-jobs/${alice.body.jobId}/events` });

    const [aliceEvents, bobEvents] = await Promise.all([watchJob(running.url, alice.body.jobId), watchJob(running.url, bob.body.jobId)]);

    // Nobody sees anyone else's events.
    expect(aliceEvents.every((e) => e.userId === 'alice' && e.jobId === alice.body.jobId)).toBe(true);
    expect(bobEvents.every((e) => e.userId === 'bob' && e.jobId === bob.body.jobId)).toBe(true);

    // Progress counts each user's own documents only, up to all of them.
    const aliceProgress = only(aliceEvents, 'progress').map((e) => [e.done, e.total]);
    expect(aliceProgress[aliceProgress.length - 1]).toEqual([40, 40]);
    expect(only(bobEvents, 'progress').at(-1)).toMatchObject({ done: 6, total: 6 });

    // Batches of at most EMBED.batchSize, by length bucket; each caller's cost is its tokens' share of the batch.
    for (const latency of only(aliceEvents, 'latency')) {
      expect(latency.batchSize).toBeLessThanOrEqual(EMBED.batchSize);
      expect(latency.batchKey).toBe('short');
    }
    const bobCosts = only(bobEvents, 'cost');
    expect(bobCosts.reduce((n, c) => n + c.tokens, 0)).toBe(bobDocs.reduce((n, d) => n + tokensOf(d), 0));
    for (const cost of bobCosts) expect(cost.shareUsd).toBeCloseTo((cost.batchUsd * cost.tokens) / cost.batchTokens, 15);

    // Each gets exactly its own vectors, in order, 512 numbers each, stored under distinct ids.
    const aliceParts = only(aliceEvents, 'embeddings');
    expect(aliceParts.flatMap((e) => e.vectors)).toHaveLength(40);
    expect(aliceParts.every((e) => e.vectors.every((v) => v.length === 512))).toBe(true);
    const ids = [...aliceParts, ...only(bobEvents, 'embeddings')].flatMap((e) => e.ids);
    expect(new Set(ids).size).toBe(46);

    expect(bobEvents.at(-1)).toMatchObject({ type: 'done', documents: 6 });
    expect(aliceEvents.at(-1)).toMatchObject({ type: 'done', documents: 40 });
  }, 60_000);

  it('sends each part in order: progress, latency, cost, then its embeddings', async () => {
    const job = await request(running.url).post('/index-jobs').send({ userId: 'carol', documents: documents('carol', 20) }).expect(202);
    const events = await watchJob(running.url, job.body.jobId);
    const parts = events.slice(0, -1).map((e) => e.type);
    expect(parts.length % 4).toBe(0);
    expect(parts).toEqual(Array.from({ length: parts.length / 4 }, () => ['progress', 'latency', 'cost', 'embeddings']).flat());
    expect(events.at(-1)!.type).toBe('done');
  }, 30_000);

  it('replays a finished job to a late watcher', async () => {
    const job = await request(running.url).post('/index-jobs').send({ userId: 'dave', documents: ['one short document'] }).expect(202);
    const first = await watchJob(running.url, job.body.jobId);
    const again = await watchJob(running.url, job.body.jobId);
    expect(again).toEqual(first);
  }, 30_000);

  it('answers 400 to a malformed job and 404 to an unknown job', async () => {
    await request(running.url).post('/index-jobs').send({ userId: 'erin', documents: [] }).expect(400);
    await request(running.url).post('/index-jobs').send({ documents: ['x'] }).expect(400);
    await request(running.url).post('/index-jobs').send({ userId: 'erin', documents: ['ok', 42] }).expect(400);
    await request(running.url).get('/index-jobs/no-such-job/events').expect(404);
  });
});
