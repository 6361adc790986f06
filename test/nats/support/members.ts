import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemberConfig } from '../fixtures/member';

const FIXTURE = join(__dirname, '..', 'fixtures', 'member.ts');
const ROOT = join(__dirname, '..', '..', '..');

/** Fast heartbeats, so that the specs see deaths in about a second instead of the default few. */
export const FAST = { heartbeatInterval: 200, memberTimeout: 1000 } as const;

export type MemberServing = MemberConfig['servings'][number];

/** A member: a separate Node process running a Nest application context with the NATS transport. */
export class MemberProcess {
  /** Everything the process wrote, for the specs that look at its log. */
  output = '';
  id = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** `transport`: more natsTransport options (user/pass, token, key, codec…). */
  static async start(label: string, servers: string | string[], record: string, servings: MemberServing[], transport?: MemberConfig['transport']): Promise<MemberProcess> {
    const config: MemberConfig = { label, servers, record, servings, ...FAST, transport };
    const child = fork(FIXTURE, [], {
      cwd: ROOT,
      execArgv: ['-r', '@swc-node/register'],
      env: { ...process.env, MEMBER_CONFIG: JSON.stringify(config), SWC_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const member = new MemberProcess(label, child);
    member.id = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`member ${label} did not start within 30 s:\n${member.output}`)), 30_000);
      child.once('message', (message: { type: string; id: string }) => {
        clearTimeout(timer);
        resolve(message.id);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`member ${label} exited with ${code}:\n${member.output}`));
      });
    });
    child.removeAllListeners('exit');
    return member;
  }

  /** The process's resident memory now and its peak since it started, in bytes. */
  memory(): Promise<{ rss: number; maxRss: number }> {
    return new Promise((resolve) => {
      const listener = (message: { type: string; rss: number; maxRss: number }) => {
        if (message.type !== 'memory') return;
        this.child.off('message', listener);
        resolve(message);
      };
      this.child.on('message', listener);
      this.child.send({ type: 'memory' });
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: no shutdown hook, no goodbye; what it held is lost with it. */
  kill(): Promise<void> {
    return this.stopWith(() => this.child.kill('SIGKILL'));
  }

  /** SIGSTOP: the process stalls (as under a long GC pause or a frozen VM) until resume(). */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  /** SIGCONT: the stalled process runs again, with whatever reached its sockets meanwhile. */
  resume(): void {
    this.child.kill('SIGCONT');
  }

  /** A graceful stop: the application closes (leaves its groups, drains) and the process exits. */
  close(): Promise<void> {
    return this.stopWith(() => this.child.send({ type: 'close' }));
  }

  private stopWith(signal: () => void): Promise<void> {
    if (!this.alive) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      signal();
    });
  }
}

/** The file every member appends what it executes to; one line per batch. */
export class ExecutionRecord {
  private readonly dir = mkdtempSync(join(tmpdir(), 'batch-serving-record-'));
  readonly file = join(this.dir, 'executed.jsonl');

  batches(): Array<{ member: string; serving: string; values: unknown[]; at: number }> {
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  }

  /** Every value executed for `serving`, with the member that executed it and when its batch started. */
  values(serving: string): Array<{ member: string; value: unknown; at: number }> {
    return this.batches()
      .filter((batch) => batch.serving === serving)
      .flatMap((batch) => batch.values.map((value) => ({ member: batch.member, value, at: batch.at })));
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it holds; fails after `ms` with what it last saw. */
export async function eventually(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const since = Date.now();
  while (!check()) {
    if (Date.now() - since > ms) throw new Error(`${what} did not hold within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
