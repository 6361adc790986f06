import Database from 'better-sqlite3';
import { join } from 'node:path';
import request from 'supertest';
import { sample } from '../../sample-app/src/demo/events-counters';
import { startApp, type RunningApp } from './helpers';

async function counters(url: string): Promise<{ transactions: number; rows: number }> {
  const { text } = await request(url).get('/metrics').expect(200);
  return { transactions: sample(text, 'events_sqlite_transactions_total'), rows: sample(text, 'events_sqlite_rows_total') };
}

const event = (i: number) => ({ type: 'page_view', payload: { path: `/page/${i}` } });

describe('sample app: write coalescing on SQLite (POST /events, GET /events/count)', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it('stores concurrent events in fewer transactions than requests, each with its own id', async () => {
    const before = await counters(running.url);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => request(running.url).post('/events').send(event(i))));
    expect(responses.every((r) => r.status === 201 && r.body.batched === true)).toBe(true);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(30);
    const after = await counters(running.url);
    expect(after.rows - before.rows).toBe(30);
    expect(after.transactions - before.transactions).toBeLessThan(30);
  });

  it('with ?batching=off writes one transaction per request', async () => {
    const before = await counters(running.url);
    const responses = await Promise.all(Array.from({ length: 5 }, (_, i) => request(running.url).post('/events?batching=off').send(event(i))));
    expect(responses.map((r) => [r.status, r.body.batched])).toEqual(Array(5).fill([201, false]));
    const after = await counters(running.url);
    expect(after.transactions - before.transactions).toBe(5);
  });

  it('GET /events/count reads back what was stored', async () => {
    const { body: before } = await request(running.url).get('/events/count').expect(200);
    await request(running.url).post('/events').send({ type: 'signup' }).expect(201);
    await request(running.url).post('/events?batching=off').send({ type: 'signup' }).expect(201);
    await request(running.url).get('/events/count').expect(200, { count: before.count + 2 });
  });

  it('refuses a malformed event with 400 INVALID_INPUT, batched or not, and stores nothing', async () => {
    const { body: before } = await request(running.url).get('/events/count');
    for (const path of ['/events', '/events?batching=off']) {
      const response = await request(running.url).post(path).send({ payload: 'no type' }).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, code: 'INVALID_INPUT', message: expect.stringContaining('an event needs a "type"') });
    }
    await request(running.url).get('/events/count').expect(200, before);
  });

  it('answers 400 to a batching switch that is neither on nor off', async () => {
    await request(running.url).post('/events?batching=maybe').send(event(1)).expect(400);
  });

  it('keeps the database in a file under the data directory, in WAL mode', () => {
    const db = new Database(join(running.dataDir, 'events.db'), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });
});

describe('sample app: EVENTS_BATCHING=off', () => {
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ eventsBatching: false });
  });
  afterAll(() => running.close());

  it('writes without batching by default, and ?batching=on still batches', async () => {
    await request(running.url).post('/events').send(event(1)).expect(201, { id: 1, batched: false });
    await request(running.url).post('/events?batching=on').send(event(2)).expect(201, { id: 2, batched: true });
  });
});
