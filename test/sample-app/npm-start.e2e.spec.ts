import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAppProcess, type AppProcess } from '../../sample-app/src/demo/app-process';
import { received, send, until } from './helpers';

const ROOT = resolve(__dirname, '..', '..');

/** The pids of `pid`'s descendants, from `ps`. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((row) => row.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  for (let parents = [pid]; parents.length; ) {
    parents = rows.filter(([, ppid]) => parents.includes(ppid)).map(([child]) => child);
    found.push(...parents);
  }
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/*
 * The README's main command as a container runs it: `npm start` (prestart builds, start runs
 * node), and SIGTERM to the npm process, not to the app. npm passes the signal on, and the app drains.
 */
describe('npm start: SIGTERM to the npm process', () => {
  let app: AppProcess | undefined;
  let dataDir: string;
  /** npm's descendants, seen while it ran: once npm is gone, an orphan would no longer be its descendant. */
  let tree: number[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sample-app-npm-start-'));
    app = await startAppProcess(['start'], { PORT: '0', DATA_DIR: dataDir }, { cwd: ROOT, command: 'npm', startTimeoutMs: 240_000 });
    tree = descendants(app.child.pid!);
  }, 300_000);

  afterAll(async () => {
    if (app) for (const pid of [app.child.pid!, ...tree]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every request in flight, then the whole process tree is gone', async () => {
    const { url, child } = app!;
    // Under npm, the app: `start` execs node, so no shell stands between them to swallow the signal.
    expect(tree.length).toBeGreaterThan(0);

    // 45 squares: batches of 10 within a 100 ms window, so the last 5 are still waiting at SIGTERM.
    const squares = Array.from({ length: 45 }, (_, n) => send(url, 'GET', `/squares/${n}`));
    await until(async () => received((await send(url, 'GET', '/metrics')).body as string, 'squares') === 45, 'every request to reach its serving');
    child.kill('SIGTERM');

    const replies = await Promise.all(squares);
    replies.forEach((reply, n) => expect(reply).toEqual({ status: 200, body: { n, square: n * n } }));
    await app!.exited;
    expect(app!.output()).toMatch(/Stopped 3 serving\(s\)/);
    await until(async () => tree.every((pid) => !alive(pid)), 'every process started by npm start to exit', 10_000, 20);
    await expect(send(url, 'GET', '/squares/1')).rejects.toThrow(/ECONNREFUSED/);
  }, 60_000);
});
