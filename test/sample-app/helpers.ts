import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventSource } from 'eventsource';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../../sample-app/src/app.module';
import type { AppConfig } from '../../sample-app/src/config';
import { sample } from '../../sample-app/src/demo/events-counters';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';

// Starting the app loads the embedding model (USE-lite) on each thread of the embed serving:
// a second or two, more on a loaded machine, which Jest's default 5 s does not always cover.
jest.setTimeout(30_000);

/** The sample app, listening on a free port of 127.0.0.1, on a data directory of its own. */
export interface RunningApp {
  app: INestApplication;
  url: string;
  dataDir: string;
  /** Closes the app (its servings drain) and removes the data directory. */
  close(): Promise<void>;
}

export async function startApp(config: Partial<AppConfig> = {}): Promise<RunningApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sample-app-test-'));
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.register({ port: 0, dataDir, eventsBatching: true, shutdownTimeoutMs: 5_000, ...config })],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    url,
    dataDir,
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A response, or the socket error that stood in for one. */
export interface Reply {
  status: number;
  body: unknown;
}

/**
 * One request on a connection of its own (`Connection: close`), so that a server closing its idle
 * keep-alive connections at shutdown can never race with it: what the SIGTERM tests need.
 */
export function send(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(`${url}${path}`, { method, agent: false, headers: { connection: 'close', ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Watches an index job through a real SSE client (the `eventsource` package, as a browser's
 * EventSource): resolves with every event up to `done` or `failed`, then closes the client before
 * it could reconnect. `onEvent` sees each event as it arrives.
 */
export function watchJob(url: string, jobId: string, onEvent: (event: JobEvent) => void = () => undefined): Promise<JobEvent[]> {
  return new Promise((resolve, reject) => {
    const events: JobEvent[] = [];
    const source = new EventSource(`${url}/index-jobs/${jobId}/events`);
    source.onmessage = (message) => {
      const event = JSON.parse(message.data as string) as JobEvent;
      events.push(event);
      onEvent(event);
      if (event.type === 'done' || event.type === 'failed') {
        source.close();
        resolve(events);
      }
    };
    source.onerror = (error) => {
      source.close();
      reject(new Error(`the SSE stream of job ${jobId} failed after ${events.length} event(s): ${error.message ?? 'connection error'}`));
    };
  });
}

/** Distinct documents of a given user, a few words each. */
export function documents(user: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${user} writes document number ${i} about batching and latency`);
}

/** Resolves when `predicate` holds, polling every `everyMs`; rejects after `timeoutMs`. */
export async function until(predicate: () => Promise<boolean>, what: string, timeoutMs = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Values a serving has received, from the app's /metrics text: executed, executing or waiting. */
export function received(metrics: string, serving: string): number {
  return ['batch_serving_values_total', 'batch_serving_executing_values', 'batch_serving_queued_values']
    .map((name) => sample(metrics, `${name}{serving="${serving}"}`))
    .reduce((a, b) => a + b, 0);
}
