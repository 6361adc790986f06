import { spawn } from 'node:child_process';
import { join } from 'node:path';

type Compiled = Record<'caller' | 'callerMany' | 'callerStream' | 'deliver' | 'read' | 'probeLoop', boolean>;

/** Runs test/core/fixtures/full-gc-burst.ts in a fresh node; what had compiled code before and after its collection. */
function runFixture(): Promise<{ before: Compiled; after: Compiled }> {
  const script = join(__dirname, 'fixtures', 'full-gc-burst.ts');
  const args = ['--require', require.resolve('@swc-node/register'), '--expose-gc', '--allow-natives-syntax', '--retain-maps-for-n-gc=0', script];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      // The figures are the last line; anything before it (a warning) is not ours to judge.
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!));
      else reject(new Error(`fixture exited with ${code}:\n${out}\n${err}`));
    });
  });
}

describe('compiled code across a full garbage collection (shapes.ts)', () => {
  it('keeps the compiled dispatch path when every dispatch and batch of a burst has been collected', async () => {
    const { before, after } = await runFixture();
    // All were compiled before the collection: otherwise there was nothing to lose.
    expect(before).toEqual({ caller: true, callerMany: true, callerStream: true, deliver: true, read: true, probeLoop: true });
    // The control, a per-call class that keeps no instance, lost its compiled code: losses are
    // seen, so the dispatch path's figures can fail. Without the kept dispatches and batch, the
    // callers and deliver were false too (a caller's loop inlines dispatch, submit and enqueue);
    // without the kept StreamDispatch, callerStream and deliver; without the clock's kept
    // Immediate, the clock's read (which makes an Immediate each turn).
    expect(after).toEqual({ caller: true, callerMany: true, callerStream: true, deliver: true, read: true, probeLoop: false });
  }, 30_000);
});
