import { spawn } from 'node:child_process';
import { join } from 'node:path';

type Compiled = Record<'caller' | 'deliver' | 'scheduleTurn' | 'probeLoop', boolean>;

/** Runs test/core/fixtures/full-gc-burst.ts in a fresh node; what had compiled code before and after its collection. */
function runFixture(): Promise<{ before: Compiled; after: Compiled }> {
  const script = join(__dirname, 'fixtures', 'full-gc-burst.ts');
  const args = ['--require', require.resolve('@swc-node/register'), '--expose-gc', '--allow-natives-syntax', script];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 && err === '' ? resolve(JSON.parse(out)) : reject(new Error(`fixture exited with ${code}:\n${err}`))));
  });
}

describe('compiled code across a full garbage collection (shapes.ts)', () => {
  it('keeps the compiled dispatch path when every dispatch and batch of a burst has been collected', async () => {
    const { before, after } = await runFixture();
    // All were compiled before the collection: otherwise there was nothing to lose.
    expect(before).toEqual({ caller: true, deliver: true, scheduleTurn: true, probeLoop: true });
    // The control, a per-call class that keeps no instance, lost its compiled code: losses are
    // seen, so the dispatch path's figures can fail. Without the kept dispatch and batch, caller
    // and deliver were false too (the caller's loop inlines dispatch, submit and enqueue); without
    // the clock's kept Immediate, scheduleTurn.
    expect(after).toEqual({ caller: true, deliver: true, scheduleTurn: true, probeLoop: false });
  }, 30_000);
});
