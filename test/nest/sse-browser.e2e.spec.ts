import { Controller, Get, Module, Sse, type INestApplication, type MessageEvent } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { concat, map, of, type Observable } from 'rxjs';
import { BatchServing, BatchServingModule, InjectServing, toSseEvents, type ServingRefOf } from '../../lib';

/** Where Chromium is: $CHROMIUM, else `chromium` on the PATH (Debian's package). */
function findChromium(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const CHROMIUM = findChromium();
if (!CHROMIUM) console.warn('SKIPPED the headless Chromium SSE spec: Chromium is not installed (as root: bash scripts/ensure-chromium.sh).');

let executions = 0;
let opened = 0;
const squares = BatchServing.new((values: number[]) => {
  executions++;
  return values.map((v) => v * v);
});

/** A retry hint of 50 ms, so that a browser that reconnects does so within the test at once. */
const RETRY_HINT: MessageEvent = { data: { type: 'hello' }, retry: 50 };

@Controller()
class SquaresController {
  constructor(@InjectServing('squares') private readonly ref: ServingRefOf<typeof squares>) {}

  @Get()
  page(): string {
    return 'a page of the same origin as the streams';
  }

  @Sse('with-end')
  withEnd(): Observable<MessageEvent> {
    opened++;
    return concat(of(RETRY_HINT), this.ref.stream([1, 2, 3]).pipe(toSseEvents()));
  }

  @Sse('named')
  named(): Observable<MessageEvent> {
    opened++;
    return concat(of(RETRY_HINT), this.ref.stream([4, 5]).pipe(toSseEvents({ named: true })));
  }

  /** What the README warns about: a stream that just completes. */
  @Sse('without-end')
  withoutEnd(): Observable<MessageEvent> {
    opened++;
    return concat(of(RETRY_HINT), this.ref.stream([1, 2, 3]).pipe(map((event) => ({ data: event }))));
  }
}

@Module({
  imports: [BatchServingModule.forRoot({ servings: [{ name: 'squares', serving: squares, batchTimeout: 0 }] })],
  controllers: [SquaresController],
})
class AppModule {}

/**
 * What a page does with an EventSource: it records every message, unnamed or named, and closes
 * on `end`. Browser code, so a string: it runs in the page, not here.
 */
function watch(page: Page, path: string): Promise<string[]> {
  return page.evaluate(`new Promise((resolve) => {
    const seen = [];
    const source = new EventSource(${JSON.stringify(path)});
    const record = (event) => seen.push(event.type + ' ' + event.data);
    source.onmessage = record;
    source.addEventListener('hook', record);
    source.addEventListener('batch', record);
    source.addEventListener('end', (event) => { record(event); source.close(); });
    // Long enough for a browser that reconnects after 50 ms to do so several times.
    setTimeout(() => { source.close(); resolve(seen); }, 600);
  })`);
}

(CHROMIUM ? describe : describe.skip)('SSE in a real headless Chromium (EventSource)', () => {
  let app: INestApplication;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    // A persistent context, to give Chromium an empty profile of our own: closing it ends the browser.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  beforeEach(() => {
    executions = 0;
    opened = 0;
  });

  it('a page that closes on the end event runs the dispatch once: no reconnect', async () => {
    const seen = await watch(page, '/with-end');
    expect(seen).toEqual(['message {"type":"hello"}', 'message {"type":"batch","offset":0,"outputs":[1,4,9]}', 'end {"ok":true}']);
    expect([opened, executions]).toEqual([1, 1]);
  });

  it('named events reach addEventListener, and end closes the stream as well', async () => {
    const seen = await watch(page, '/named');
    expect(seen).toEqual(['message {"type":"hello"}', 'batch {"type":"batch","offset":0,"outputs":[16,25]}', 'end {"ok":true}']);
    expect([opened, executions]).toEqual([1, 1]);
  });

  it('without an end event the browser reconnects when the stream completes, and the dispatch runs again', async () => {
    await watch(page, '/without-end');
    expect(opened).toBeGreaterThan(1);
    expect(executions).toBe(opened);
  });
});
