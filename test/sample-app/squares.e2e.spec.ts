import request from 'supertest';
import { BatchServingClient } from 'nestjs-batch-serving';
import { startApp, type RunningApp } from './helpers';

describe('sample app: squares (GET /squares/:n, POST /squares)', () => {
  let running: RunningApp;
  let client: BatchServingClient;
  beforeAll(async () => {
    running = await startApp();
    client = running.app.get(BatchServingClient);
  });
  afterAll(() => running.close());

  it('answers 50 concurrent GET /squares/:n correctly, in fewer executions than requests', async () => {
    const before = client.stats('squares').batches;
    const ns = Array.from({ length: 50 }, (_, i) => i + 1);
    const responses = await Promise.all(ns.map((n) => request(running.url).get(`/squares/${n}`)));
    responses.forEach((response, i) => {
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ n: ns[i], square: ns[i] * ns[i] });
    });
    const executions = client.stats('squares').batches - before;
    // batchSize 10: 50 callers need at least 5 executions, and share them.
    expect(executions).toBeGreaterThanOrEqual(5);
    expect(executions).toBeLessThan(50);
  });

  it('answers a non-number 400 with the library error code, without failing the other callers of its batch', async () => {
    const before = client.stats('squares');
    const paths = ['/squares/1', '/squares/2', '/squares/abc', '/squares/3', '/squares/4'];
    const responses = await Promise.all(paths.map((path) => request(running.url).get(path)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 400, 200, 200]);
    expect(responses[2].body).toEqual({ statusCode: 400, code: 'INVALID_INPUT', message: expect.stringContaining('expected a finite number, got "abc"') });
    expect(responses.filter((r) => r.status === 200).map((r) => r.body.square)).toEqual([1, 4, 9, 16]);
    const after = client.stats('squares');
    // The refused value never entered a batch, and no batch failed.
    expect(after.values - before.values).toBe(4);
    expect(after.failures).toBe(before.failures);
  });

  it('POST /squares dispatches an array as one caller, in order, also across several batches', async () => {
    const values = Array.from({ length: 25 }, (_, i) => i - 5);
    const response = await request(running.url).post('/squares').send(values).expect(201);
    expect(response.body).toEqual({ squares: values.map((v) => v * v) });
  });

  it('POST /squares with a non-number in the array: 400 INVALID_INPUT for that caller only', async () => {
    const [bad, good] = await Promise.all([
      request(running.url).post('/squares').send([1, 'two', 3]),
      request(running.url).post('/squares').send([4, 5]),
    ]);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ statusCode: 400, code: 'INVALID_INPUT' });
    expect(good.status).toBe(201);
    expect(good.body).toEqual({ squares: [16, 25] });
  });

  it('POST /squares with a body that is not an array: 400', async () => {
    const response = await request(running.url).post('/squares').send({ n: 3 }).expect(400);
    expect(response.body.message).toBe('the body must be a JSON array of numbers');
  });
});
