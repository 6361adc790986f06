import { spawn, type ChildProcess } from 'node:child_process';

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The sample app running in a child process, as a load generator or a test drives it. */
export interface AppProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited, however. */
  readonly exited: Promise<Exit>;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Sends `signal` (SIGTERM: a graceful shutdown) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

const LISTENING = /listening on http:\/\/localhost:(\d+)/;

/**
 * Starts `node ...nodeArgs` (or `command ...nodeArgs`, `npm start` say) with `env` over this
 * process's environment, and resolves once the app says it listens (start it with PORT=0 to get
 * a free port). Rejects, with what it printed, if it exits or stays silent for `startTimeoutMs` first.
 */
export function startAppProcess(
  nodeArgs: string[],
  env: NodeJS.ProcessEnv,
  options: { cwd: string; startTimeoutMs?: number; command?: string },
): Promise<AppProcess> {
  const child = spawn(options.command ?? process.execPath, nodeArgs, { cwd: options.cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const output = () => printed;
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise<AppProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`the app did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${printed}`));
    }, options.startTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      printed += chunk.toString();
      const match = LISTENING.exec(printed);
      if (!match) return;
      clearTimeout(timer);
      resolve({ url: `http://127.0.0.1:${match[1]}`, child, exited, output, stop });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (code ${code}, signal ${signal}) before listening:\n${printed}`));
    });
  });
}
