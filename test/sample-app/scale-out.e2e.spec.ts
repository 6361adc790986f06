import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAppProcess, type AppProcess } from '../../sample-app/src/demo/app-process';
import { sample } from '../../sample-app/src/demo/events-counters';
import { NatsServer } from '../nats/support/nats-server';
import { send, until } from './helpers';

const ROOT = resolve(__dirname, '..', '..');

/** Values of the squares serving that a process has executed. */
const executed = async (app: AppProcess) => sample((await send(app.url, 'GET', '/metrics')).body as string, 'batch_serving_values_total{serving="squares"}');

/*
 * Scale-out as the README shows it: the sample app started twice with the same NATS_URL (a
 * nats-server of the test's own). Both host the squares serving and share it.
 */
describe('sample app: two processes share one serving over NATS', () => {
  let nats: NatsServer;
  const apps: AppProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    nats = await NatsServer.start();
    for (const name of ['first', 'second']) {
      const dataDir = mkdtempSync(join(tmpdir(), `sample-app-${name}-`));
      dirs.push(dataDir);
      const env = { PORT: '0', DATA_DIR: dataDir, NATS_URL: nats.url };
      apps.push(await startAppProcess(['-r', '@swc-node/register', 'sample-app/src/main.ts'], env, { cwd: ROOT, startTimeoutMs: 60_000 }));
    }
  }, 150_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop('SIGKILL')));
    await nats?.dispose();
    dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
  });

  it('requests to the first process with ?distributed=on are computed by both, every answer right', async () => {
    const [first, second] = apps;
    // The second process is a member once the first has heard its heartbeat: until then it computes them all.
    let sent = 0;
    await until(
      async () => {
        const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => send(first.url, 'GET', `/squares/${sent + i}?distributed=on`)));
        replies.forEach((reply, i) => expect(reply).toEqual({ status: 200, body: { n: sent + i, square: (sent + i) ** 2 } }));
        sent += replies.length;
        return (await executed(second)) > 0;
      },
      'the second process to compute some of the first one’s requests',
      20_000,
      50,
    );
    expect((await executed(first)) + (await executed(second))).toBe(sent);
    expect(await executed(first)).toBeGreaterThan(0);
    // Without ?distributed, a process that hosts the serving computes locally.
    const before = await executed(second);
    await send(first.url, 'GET', '/squares/7');
    expect(await executed(second)).toBe(before);
  }, 60_000);

  it('both processes drain and exit on SIGTERM', async () => {
    const exits = await Promise.all(apps.map((app) => app.stop('SIGTERM')));
    exits.forEach((exit) => expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true));
    apps.forEach((app) => expect(app.output()).toMatch(/Stopped 3 serving\(s\)/));
  }, 30_000);
});
