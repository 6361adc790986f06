import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAppProcess, type AppProcess } from '../../sample-app/src/demo/app-process';
import { sample } from '../../sample-app/src/demo/events-counters';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';
import { documents, received, send, until, watchJob } from './helpers';

const ROOT = resolve(__dirname, '..', '..');

/*
 * The real thing: the app in a process of its own, stopped by a signal. It runs from the sources
 * through @swc-node/register (which maps `nestjs-batch-serving` to lib/ through tsconfig.json's
 * paths), so that a fresh clone needs no build before `npm test`.
 */
describe('sample app process: SIGTERM during load', () => {
  let app: AppProcess | undefined;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sample-app-sigterm-'));
    app = await startAppProcess(['-r', '@swc-node/register', 'sample-app/src/main.ts'], { PORT: '0', DATA_DIR: dataDir }, { cwd: ROOT, startTimeoutMs: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await app?.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every request in flight, finishes the running job, stores every event, then exits', async () => {
    const { url } = app!;
    // A long job: 480 documents, thirty model calls of 40 ms and more, one after the other: long enough
    // that it is still queued at SIGTERM on a loaded machine, however long the load below takes to arrive.
    const job = await send(url, 'POST', '/index-jobs', { userId: 'carol', documents: documents('carol', 480) });
    expect(job.status).toBe(202);
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const watching = watchJob(url, (job.body as { jobId: string }).jobId, (e: JobEvent) => e.type === 'progress' && running());
    await started;

    // The load: 45 squares (batches of 10: the last 5 wait in the 100 ms window) and 30 events.
    const squares = Array.from({ length: 45 }, (_, n) => send(url, 'GET', `/squares/${n}`));
    const events = Array.from({ length: 30 }, (_, i) => send(url, 'POST', '/events', { type: 'load', payload: { i } }));
    // SIGTERM once every request has reached its serving, so that each of them is in flight.
    let metrics = '';
    await until(async () => {
      metrics = (await send(url, 'GET', '/metrics')).body as string;
      return received(metrics, 'squares') === 45 && received(metrics, 'events') === 30;
    }, 'every request to reach its serving');
    app!.child.kill('SIGTERM');
    // The job still had model calls to make: its documents were still queued.
    expect(sample(metrics, 'batch_serving_queued_values{serving="embed"}')).toBeGreaterThan(0);

    const squareReplies = await Promise.all(squares);
    squareReplies.forEach((reply, n) => expect(reply).toEqual({ status: 200, body: { n, square: n * n } }));
    const eventReplies = await Promise.all(events);
    expect(eventReplies.map((r) => r.status)).toEqual(Array(30).fill(201));
    const jobEvents = await watching;
    expect(jobEvents[jobEvents.length - 1]).toMatchObject({ type: 'done', documents: 480 });

    const exit = await app!.exited;
    // Nest re-raises the signal once app.close() is over.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(app!.output()).toMatch(/Stopping 3 serving\(s\): draining/);
    expect(app!.output()).toMatch(/Stopped 3 serving\(s\)/);

    const db = new Database(join(dataDir, 'events.db'), { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS count FROM events').get()).toEqual({ count: 30 });
    } finally {
      db.close();
    }
  }, 60_000);
});
