import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** Runs a script in a fresh node process; resolves with its exit and output, or kills it after `graceMs`. */
function runChild(script: string, graceMs: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--require', require.resolve('@swc-node/register'), script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    // Only a process that did not end by itself gets this.
    const guard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('worker servings: shutdown', () => {
  it('drains the running and queued batches, refuses new dispatches, ends the threads, and the process exits by itself', async () => {
    const result = await runChild(join(__dirname, 'fixtures', 'drain-and-exit.ts'), 25_000);
    expect(result.stderr).toBe('');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    // Both threads answered before close() and none after: they ended, not merely went idle.
    expect(JSON.parse(result.stdout)).toEqual({ running: 7, queued: 8, late: 'SERVING_SHUTDOWN', threadsBefore: 2, threadsAfter: 0 });
  }, 30_000);
});
