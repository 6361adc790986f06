import { BatchServingClient, type BatchTelemetryEvent } from 'nestjs-batch-serving';
import request from 'supertest';
import { readCorpus } from '../../sample-app/src/search/corpus';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';
import { startApp, watchJob, type RunningApp } from './helpers';

interface Hit {
  id: number;
  text: string;
  score: number;
}

/** Indexes `documents` as one job and resolves with their stored ids, in order. */
async function index(running: RunningApp, userId: string, documents: string[]): Promise<number[]> {
  const job = await request(running.url).post('/index-jobs').send({ userId, documents }).expect(202);
  const events = await watchJob(running.url, job.body.jobId);
  expect(events.at(-1)).toMatchObject({ type: 'done' });
  const parts = events.filter((e): e is Extract<JobEvent, { type: 'embeddings' }> => e.type === 'embeddings').sort((a, b) => a.offset - b.offset);
  return parts.flatMap((e) => e.ids);
}

async function search(running: RunningApp, q: string, k?: number): Promise<Hit[]> {
  const res = await request(running.url).get('/search').query(k === undefined ? { q } : { q, k }).expect(200);
  return res.body.results;
}

describe('sample app: semantic search over indexed documents (GET /search)', () => {
  let running: RunningApp;
  const corpus = readCorpus();
  let ids: number[];
  beforeAll(async () => {
    running = await startApp();
    ids = await index(running, 'librarian', corpus);
  }, 120_000);
  afterAll(() => running.close());

  it('a query about cats finds the cat documents first, best first, 5 by default', async () => {
    // The first ten lines of the corpus are about cats.
    const catIds = new Set(ids.slice(0, 10));
    expect(corpus.slice(0, 10).every((text) => /cat|kitten|tabby/i.test(text))).toBe(true);
    const results = await search(running, 'cats and kittens');
    expect(results).toHaveLength(5);
    expect(results.every((hit) => catIds.has(hit.id))).toBe(true);
    // In other words: none of them says "feline", "pet" or "nap".
    const paraphrase = await search(running, 'my pet feline likes to nap in the sun', 3);
    expect(paraphrase.every((hit) => catIds.has(hit.id))).toBe(true);
    expect(results.map((hit) => hit.score)).toEqual([...results.map((hit) => hit.score)].sort((a, b) => b - a));
    expect(results[0]).toEqual({ id: expect.any(Number), text: corpus[ids.indexOf(results[0].id)], score: expect.any(Number) });
  });

  it('other topics find their own documents: markets, space, databases', async () => {
    const topicOf = (hit: Hit) => Math.floor(ids.indexOf(hit.id) / 10);
    expect((await search(running, 'share prices and investors', 3)).map(topicOf)).toEqual([5, 5, 5]);
    expect((await search(running, 'planets, stars and rockets', 3)).map(topicOf)).toEqual([8, 8, 8]);
    expect((await search(running, 'slow SQL query needs an index', 3)).map(topicOf)).toEqual([10, 10, 10]);
  });

  it('a document is searchable as soon as its job has stored it', async () => {
    const [id] = await index(running, 'walrus-fan', ['A walrus dozed on the ice floe next to the research ship.']);
    const [best] = await search(running, 'walrus sleeping on sea ice', 1);
    expect(best.id).toBe(id);
    expect(best.score).toBeGreaterThan(0.5);
  }, 30_000);

  it('during an indexing job, a query runs in a batch of queries only, before the job has finished, while the job uses 2 of the 3 threads', async () => {
    const starts: BatchTelemetryEvent[] = [];
    let documentsRunning = 0;
    let mostDocumentsRunning = 0;
    const subscription = running.app
      .get(BatchServingClient)
      .telemetry('embed')
      .subscribe((e) => {
        if (e.type === 'start') starts.push(e);
        if (e.batchKey === 'query') return;
        if (e.type === 'start') mostDocumentsRunning = Math.max(mostDocumentsRunning, ++documentsRunning);
        else documentsRunning--;
      });
    try {
      const backfill = [...corpus, ...corpus, ...corpus];
      const job = await request(running.url).post('/index-jobs').send({ userId: 'backfill', documents: backfill }).expect(202);
      const alone = await search(running, 'cats and kittens', 3);
      const together = await Promise.all(['share prices and investors', 'planets, stars and rockets'].map((q) => search(running, q, 3)));
      const searchedAt = starts.length;
      const events = await watchJob(running.url, job.body.jobId);
      expect(events.at(-1)).toMatchObject({ type: 'done' });
      expect([alone, ...together].every((hits) => hits.length === 3)).toBe(true);

      const documents = starts.filter((e) => e.batchKey !== 'query');
      const queryBatches = starts.filter((e) => e.batchKey === 'query');
      // Each query's batch held queries only (1, or the 2 sent together); the documents' batches held none.
      expect(queryBatches.map((e) => e.size).reduce((a, b) => a + b, 0)).toBe(3);
      expect(queryBatches.every((e) => e.size <= 2)).toBe(true);
      expect(documents.map((e) => e.size).reduce((a, b) => a + b, 0)).toBe(backfill.length);
      // And they ran while the job's documents were still queued: batches of the job started after them.
      expect(searchedAt).toBeLessThan(starts.length);
      expect(starts.indexOf(queryBatches.at(-1)!)).toBeLessThan(starts.indexOf(documents.at(-1)!));
      // Indexing used two of the three model threads at most: the third is kept for searches (reserve).
      expect(mostDocumentsRunning).toBe(2);
    } finally {
      subscription.unsubscribe();
    }
  }, 60_000);

  it('answers 400 to a missing query or a bad k', async () => {
    await request(running.url).get('/search').expect(400);
    await request(running.url).get('/search').query({ q: '  ' }).expect(400);
    await request(running.url).get('/search').query({ q: 'cats', k: 0 }).expect(400);
    await request(running.url).get('/search').query({ q: 'cats', k: 'many' }).expect(400);
  });
});
