import { request as httpRequest } from 'node:http';
import { sample } from '../../sample-app/src/demo/events-counters';
import type { JobEvent } from '../../sample-app/src/index-jobs/job-event';
import { documents, send, startApp, type RunningApp } from './helpers';

interface SseMessage {
  id?: string;
  event?: string;
  data: unknown;
}

/** Reads an SSE response to its end, as a browser's EventSource would, sending `Last-Event-ID` when given. */
function readEvents(url: string, lastEventId?: string): Promise<SseMessage[]> {
  return new Promise((resolve, reject) => {
    const headers = { accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) };
    httpRequest(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve(
          text
            .split('\n\n')
            .filter((block) => block.includes('data: '))
            .map((block) => {
              const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
              return { id: field('id'), event: field('event'), data: JSON.parse(field('data')!) as unknown };
            }),
        ),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

const embedded = async (url: string) => sample((await send(url, 'GET', '/metrics')).body as string, 'batch_serving_values_total{serving="embed"}');

describe('sample app: job events resume after a reconnect (Last-Event-ID) and end with end', () => {
  let running: RunningApp;
  beforeAll(async () => (running = await startApp()));
  afterAll(() => running.close());

  it('a reconnect with Last-Event-ID gets only the events that followed, and nothing runs again', async () => {
    const job = await send(running.url, 'POST', '/index-jobs', { userId: 'dora', documents: documents('dora', 20) });
    const path = `${running.url}/index-jobs/${(job.body as { jobId: string }).jobId}/events`;
    const first = await readEvents(path);
    const ran = await embedded(running.url);
    expect(ran).toBe(20);
    // Every job event has its index as id; then the named end event.
    expect(first.slice(0, -1).map((m) => m.id)).toEqual(first.slice(0, -1).map((_, i) => String(i)));
    expect((first[first.length - 2].data as JobEvent).type).toBe('done');
    expect(first[first.length - 1]).toEqual({ id: 'end', event: 'end', data: { ok: true } });

    // The connection dropped after the third event: the browser comes back with its id.
    const resumed = await readEvents(path, '2');
    expect(resumed).toEqual(first.slice(3));
    expect(await embedded(running.url)).toBe(ran);
    // After the end, only the end again; a Last-Event-ID that is not one of ours starts from the first event.
    expect(await readEvents(path, 'end')).toEqual(first.slice(-1));
    expect(await readEvents(path, 'bogus')).toEqual(first);
  }, 30_000);
});
