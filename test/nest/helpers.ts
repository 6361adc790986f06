import type { LoggerService } from '@nestjs/common';
import { of } from 'rxjs';
import type { RunningServing } from '../../lib/core';
import type { RemoteServing, ServingTransport } from '../../lib/transports';

/** A promise settled from outside: how a test holds a batch open without sleeping. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets pending promise jobs and the current event-loop turn run. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Watches a promise, so that a test can say it is still pending. */
export function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** The rejection of a promise that must reject. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** The error a function throws. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the function to throw');
}

/** A Nest logger that keeps every line, for `Test.createTestingModule(…).setLogger(logger)`. */
export class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context: unknown }> = [];
  log = (message: unknown, context?: unknown) => this.add('log', message, context);
  warn = (message: unknown, context?: unknown) => this.add('warn', message, context);
  error = (message: unknown, ...rest: unknown[]) => this.add('error', message, rest[rest.length - 1]);
  debug = (message: unknown, context?: unknown) => this.add('debug', message, context);
  verbose = (message: unknown, context?: unknown) => this.add('verbose', message, context);

  /** The lines the package logged at `level`. */
  at(level: string): string[] {
    return this.lines.filter((line) => line.level === level && line.context === 'BatchServing').map((line) => line.message);
  }

  private add(level: string, message: unknown, context: unknown): void {
    this.lines.push({ level, message: String(message), context });
  }
}

/** A transport that records what the module tells it and answers remote dispatches itself. */
export class FakeTransport implements ServingTransport {
  readonly calls: string[] = [];
  readonly hosted = new Map<string, RunningServing>();

  start(): void {
    this.calls.push('start');
  }

  host(serving: RunningServing): void {
    this.calls.push(`host ${serving.name}`);
    this.hosted.set(serving.name, serving);
  }

  unhost(name: string): void {
    this.calls.push(`unhost ${name}`);
    this.hosted.delete(name);
  }

  remote(name: string): RemoteServing {
    this.calls.push(`remote ${name}`);
    return {
      dispatch: async (input) => `${name}@remote(${String(input)})`,
      dispatchMany: async (inputs) => [...(inputs as unknown[])].map((input) => `${name}@remote(${String(input)})`),
      stream: (inputs) => of({ type: 'batch' as const, offset: 0, outputs: [...(inputs as unknown[])].map((input) => `${name}@remote(${String(input)})`) }),
    };
  }

  /** For `{ distributed: true }`: in this fleet it is always another member's turn. */
  turn(name: string): RemoteServing {
    return this.remote(name);
  }

  close(): void {
    this.calls.push('close');
  }
}
