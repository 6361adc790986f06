import request from 'supertest';
import { BatchServingClient } from 'nestjs-batch-serving';
import { sample } from '../../sample-app/src/demo/events-counters';
import { startApp, type RunningApp } from './helpers';

describe('sample app: GET /metrics and GET /health', () => {
  let running: RunningApp;
  let client: BatchServingClient;
  beforeAll(async () => {
    running = await startApp();
    client = running.app.get(BatchServingClient);
  });
  afterAll(() => running.close());

  it('lists every serving from the start, with zeros', async () => {
    const { text } = await request(running.url).get('/metrics').expect(200);
    for (const serving of ['squares', 'events', 'embed']) {
      expect(sample(text, `batch_serving_batches_total{serving="${serving}",outcome="ok"}`)).toBe(0);
      expect(sample(text, `batch_serving_values_total{serving="${serving}"}`)).toBe(0);
      expect(sample(text, `batch_serving_queued_values{serving="${serving}"}`)).toBe(0);
    }
  });

  it('reports per serving batches, values, the batch-size histogram, queue wait and run time, in the Prometheus format', async () => {
    await Promise.all([3, 4, 5].map((n) => request(running.url).get(`/squares/${n}`).expect(200)));
    await request(running.url).post('/squares').send([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).expect(201);
    const stats = client.stats('squares');

    const response = await request(running.url).get('/metrics').expect(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const { text } = response;
    expect(sample(text, 'batch_serving_batches_total{serving="squares",outcome="ok"}')).toBe(stats.batches);
    expect(sample(text, 'batch_serving_batches_total{serving="squares",outcome="failed"}')).toBe(0);
    expect(sample(text, 'batch_serving_values_total{serving="squares"}')).toBe(15);
    expect(sample(text, 'batch_serving_batch_size_count{serving="squares"}')).toBe(stats.batches);
    expect(sample(text, 'batch_serving_batch_size_sum{serving="squares"}')).toBe(15);
    // The 12 values of the POST need two batches of at most 10: one of them is full.
    expect(sample(text, 'batch_serving_batch_size_bucket{le="8",serving="squares"}')).toBeLessThan(stats.batches);
    expect(sample(text, 'batch_serving_queue_wait_seconds_count{serving="squares"}')).toBe(stats.batches);
    expect(sample(text, 'batch_serving_run_seconds_count{serving="squares"}')).toBe(stats.batches);
    expect(text).toContain('# TYPE batch_serving_batch_size histogram');
    expect(text).toContain('# TYPE batch_serving_queued_values gauge');
  });

  it('reports the current queue depth of each serving', async () => {
    // Three values wait in the squares window (100 ms) while /metrics is scraped.
    const pending = [client.dispatch('squares', 1), client.dispatch('squares', 2), client.dispatch('squares', 3)];
    const { text } = await request(running.url).get('/metrics').expect(200);
    expect(sample(text, 'batch_serving_queued_values{serving="squares"}')).toBe(3);
    await expect(Promise.all(pending)).resolves.toEqual([1, 4, 9]);
  });

  it('counts the SQLite transactions and rows of POST /events', async () => {
    await request(running.url).post('/events?batching=off').send({ type: 'a' }).expect(201);
    const { text } = await request(running.url).get('/metrics').expect(200);
    expect(sample(text, 'events_sqlite_transactions_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'events_sqlite_rows_total')).toBeGreaterThanOrEqual(1);
  });

  it('GET /health reports each serving state and the database through terminus', async () => {
    const { body } = await request(running.url).get('/health').expect(200);
    expect(body.status).toBe('ok');
    expect(body.info.sqlite).toEqual({ status: 'up' });
    expect(body.info.servings).toMatchObject({
      status: 'up',
      squares: { state: 'running', queued: 0, executing: 0, batchSize: 10, batchTimeout: 100, partitions: 1 },
      events: { state: 'running', batchSize: 64, batchTimeout: 5 },
      embed: { state: 'running', batchSize: 16, batchTimeout: 25 },
    });
  });
});
