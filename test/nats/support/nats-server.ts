import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian installs nats-server in /usr/sbin, which is not on every PATH. */
const BINARY = process.env.NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

/** A free loopback port: the kernel picks one, we release it and hand it to nats-server. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A nats-server of the test's own, on a free loopback port; never the one on 4222. */
export class NatsServer {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'nats-server-'));

  private constructor(
    readonly port: number,
    private readonly config: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `config`: more lines of nats-server configuration (users, permissions, tls, max_pending…). */
  static async start(options: { maxPayload?: number; config?: string; port?: number } = {}): Promise<NatsServer> {
    const config = (options.maxPayload ? `max_payload: ${options.maxPayload}\n` : '') + (options.config ?? '');
    const server = new NatsServer(options.port ?? (await freePort()), config);
    await server.run();
    return server;
  }

  /** Starts the server (again, on the same port). */
  async run(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)];
    if (this.config) {
      const file = join(this.dir, 'nats.conf');
      writeFileSync(file, this.config);
      args.push('-c', file);
    }
    const child = spawn(BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start within 10 s:\n${output}`)), 10_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${output}`));
      });
    });
    child.removeAllListeners('exit');
    child.stderr!.removeAllListeners('data');
    child.stderr!.resume();
  }

  /** Stops the server and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
