import { Body, Controller, Get, Logger, Module, Param, Post, Sse, type INestApplication, type MessageEvent } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Observable } from 'rxjs';
import {
  BatchExecutionError,
  BatchServingClient,
  BatchTooLargeError,
  RetryableError,
  BatchServingErrorCode,
  BatchServingExceptionFilter,
  BatchServingModule,
  HTTP_STATUS_BY_CODE,
  InjectServing,
  Serving,
  errorFromCode,
  getServingToken,
  toSseEvents,
  type BatchContext,
  type ServingRefOf,
} from '../../lib';
import { deferred, nextTurn } from './helpers';

let gate = deferred();
let started = deferred();

@Serving({ name: 'embed', batchSize: 4, batchTimeout: 0, maxQueueSize: 2, hooks: ['progress'] })
class EmbedServing {
  validate(text: string): void {
    if (typeof text !== 'string' || text.length === 0) throw new Error('text must be a non-empty string');
  }
  async handleBatch(texts: string[], ctx: BatchContext): Promise<number[][]> {
    ctx.emit('progress', texts.map(() => 'started'));
    if (texts.includes('hold')) {
      started.resolve();
      await gate.promise;
    }
    if (texts.includes('crash')) throw new Error('CUDA out of memory at 0xdeadbeef');
    if (texts.includes('huge')) throw new BatchTooLargeError('413 from the provider: 9000 tokens, the cap is 8192');
    return texts.map((t) => [t.length]);
  }
}

@Controller()
class EmbedController {
  constructor(
    private readonly client: BatchServingClient,
    @InjectServing(EmbedServing) private readonly embed: ServingRefOf<typeof EmbedServing>,
  ) {}

  @Post('embed')
  one(@Body('text') text: string, @Body('timeout') timeout?: number): Promise<number[]> {
    return this.embed.dispatch(text, { timeout });
  }

  @Post('embed/quota-spent')
  quotaSpent(@Body('retryAfterMs') retryAfterMs?: number): never {
    throw new RetryableError('the provider quota is spent', { retryAfterMs });
  }

  @Get('serving/:name')
  byName(@Param('name') name: string): Promise<unknown> {
    return this.client.dispatch(name, 'x');
  }

  @Sse('embed/stream')
  stream(): Observable<MessageEvent> {
    return this.embed.stream(['ab', 'c']).pipe(toSseEvents());
  }

  @Sse('embed/stream-named')
  streamNamed(): Observable<MessageEvent> {
    return this.embed.stream(['ab', 'c']).pipe(toSseEvents({ named: true }));
  }

  @Sse('embed/stream-failing')
  streamFailing(): Observable<MessageEvent> {
    return this.embed.stream(['crash']).pipe(toSseEvents());
  }

  @Sse('embed/stream-as-is')
  streamAsIs() {
    return this.embed.stream(['ab', 'c']);
  }
}

@Module({
  imports: [BatchServingModule.forRoot(), BatchServingModule.forFeature([EmbedServing])],
  controllers: [EmbedController],
  providers: [EmbedServing, { provide: APP_FILTER, useClass: BatchServingExceptionFilter }],
})
class AppModule {}

describe('Through a real HTTP application', () => {
  let app: INestApplication | undefined;
  let http: ReturnType<typeof request>;

  beforeEach(async () => {
    gate = deferred();
    started = deferred();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    http = request(app.getHttpServer());
  });
  afterEach(() => app?.close());

  it('answers a dispatch', async () => {
    await http.post('/embed').send({ text: 'four' }).expect(201, [4]);
  });

  it('maps SERVING_NOT_FOUND to 404 and INVALID_INPUT to 400, with { statusCode, code, message }', async () => {
    const missing = await http.get('/serving/nope').expect(404);
    expect(missing.body).toEqual({ statusCode: 404, code: 'SERVING_NOT_FOUND', message: expect.stringContaining("No serving named 'nope'") });
    const invalid = await http.post('/embed').send({ text: '' }).expect(400);
    expect(invalid.body).toEqual({ statusCode: 400, code: 'INVALID_INPUT', message: "Serving 'embed' refused an input: text must be a non-empty string" });
  });

  it('maps DISPATCH_TIMEOUT to 504 and SERVING_OVERLOADED to 503', async () => {
    const client = app!.get(BatchServingClient);
    const held = http.post('/embed').send({ text: 'hold' }).then((r) => r);
    await started.promise;
    // The only partition is busy, so dispatches wait in the queue, which holds 2 values (maxQueueSize).
    const queued = [client.dispatch(EmbedServing, 'b')];
    const timedOut = await http.post('/embed').send({ text: 'a', timeout: 1 });
    expect([timedOut.status, timedOut.body.code]).toEqual([504, 'DISPATCH_TIMEOUT']);
    queued.push(client.dispatch(EmbedServing, 'c'));
    const refused = await http.post('/embed').send({ text: 'd' });
    expect([refused.status, refused.body.code]).toEqual([503, 'SERVING_OVERLOADED']);
    gate.resolve();
    expect((await held).status).toBe(201);
    expect(await Promise.all(queued)).toEqual([[1], [1]]);
  });

  it('maps BATCH_TOO_LARGE to 413: a single value the batch function refused as too large, even alone', async () => {
    const response = await http.post('/embed').send({ text: 'huge' }).expect(413);
    expect(response.body).toEqual({ statusCode: 413, code: 'BATCH_TOO_LARGE', message: expect.stringContaining('9000 tokens, the cap is 8192') });
  });

  it('maps RETRYABLE to 503, with Retry-After in whole seconds (rounded up) when retryAfterMs is known', async () => {
    const paused = await http.post('/embed/quota-spent').send({ retryAfterMs: 1500 }).expect(503);
    expect([paused.headers['retry-after'], paused.body]).toEqual(['2', { statusCode: 503, code: 'RETRYABLE', message: 'the provider quota is spent' }]);
    const unknown = await http.post('/embed/quota-spent').send({}).expect(503);
    expect(unknown.headers['retry-after']).toBeUndefined();
  });

  it('answers a failed batch with 500 and a generic message: what the model threw is logged, not sent', async () => {
    const response = await http.post('/embed').send({ text: 'crash' }).expect(500);
    expect(response.body).toEqual({ statusCode: 500, code: 'BATCH_FAILED', message: 'Internal server error' });
  });

  it('still answers requests waiting on a batch while the application closes, then maps later ones to 503', async () => {
    const inFlight = http.post('/embed').send({ text: 'hold' }).then((r) => r);
    await started.promise;
    const closing = app!.close();
    app = undefined;
    await nextTurn();
    // Draining: the server still listens, and a new dispatch is refused with SERVING_SHUTDOWN.
    const late = await http.post('/embed').send({ text: 'late' });
    expect([late.status, late.body.code]).toEqual([503, 'SERVING_SHUTDOWN']);
    gate.resolve();
    expect((await inFlight).status).toBe(201);
    await closing;
  });

  /** The SSE messages of a response: each one's event name (undefined: an unnamed message) and JSON data. */
  async function sseMessages(path: string): Promise<Array<{ event: string | undefined; data: unknown }>> {
    const response = await http.get(path).expect(200);
    return response.text
      .split('\n\n')
      .filter((block) => block.includes('data: '))
      .map((block) => {
        const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        return { event: field('event'), data: JSON.parse(field('data')!) };
      });
  }

  it('streams hook and batch events to an @Sse() route through toSseEvents(), then a named end event', async () => {
    expect(await sseMessages('/embed/stream')).toEqual([
      { event: undefined, data: { type: 'hook', hook: 'progress', payload: ['started', 'started'] } },
      { event: undefined, data: { type: 'batch', offset: 0, outputs: [[2], [1]] } },
      { event: 'end', data: { ok: true } },
    ]);
  });

  it('toSseEvents({ named: true }) names each event after its type, and ends with end', async () => {
    expect((await sseMessages('/embed/stream-named')).map(({ event }) => event)).toEqual(['hook', 'batch', 'end']);
  });

  it('a failed stream ends with an end event that carries the public error, not the model message', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementationOnce(() => undefined);
    const messages = await sseMessages('/embed/stream-failing');
    expect(messages[messages.length - 1]).toEqual({ event: 'end', data: { ok: false, statusCode: 500, code: 'BATCH_FAILED', message: 'Internal server error' } });
  });

  it('streams to an @Sse() route that returns stream() as it is, as named hook and batch events', async () => {
    expect(await sseMessages('/embed/stream-as-is')).toEqual([
      { event: 'hook', data: { type: 'hook', hook: 'progress', payload: ['started', 'started'] } },
      { event: 'batch', data: { type: 'batch', offset: 0, outputs: [[2], [1]] } },
    ]);
  });

  it('{ provide: getServingToken(EmbedServing), useValue } replaces the ref behind the controller', async () => {
    await app!.close();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(getServingToken(EmbedServing))
      .useValue({ dispatch: async () => [99] })
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    await request(app.getHttpServer()).post('/embed').send({ text: 'x' }).expect(201, [99]);
  });
});

describe('BatchServingExceptionFilter', () => {
  const cases: Array<[BatchServingErrorCode, number]> = [
    ['SERVING_NOT_FOUND', 404],
    ['INVALID_INPUT', 400],
    ['SERVING_OVERLOADED', 503],
    ['DISPATCH_TIMEOUT', 504],
    ['SERVING_SHUTDOWN', 503],
    ['SERVING_UNAVAILABLE', 503],
    ['BATCH_TOO_LARGE', 413],
    ['RETRYABLE', 503],
    ['BATCH_FAILED', 500],
    ['RESULT_LENGTH_MISMATCH', 500],
    ['DISPATCH_ABORTED', 500],
    ['UNKNOWN_HOOK', 500],
    ['INVALID_CONFIGURATION', 500],
  ];

  it.each(cases)('answers %s with %i', (code, status) => {
    const sent: Array<{ status: number; body: unknown }> = [];
    const response = { status: (s: number) => ({ json: (body: unknown) => sent.push({ status: s, body }) }) };
    const host = { getType: () => 'http', switchToHttp: () => ({ getResponse: () => response }) };
    const filter = new BatchServingExceptionFilter();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    filter.catch(errorFromCode(code, 'what happened')!, host as never);
    logged.mockRestore();
    expect(sent).toEqual([{ status, body: { statusCode: status, code, message: status === 500 ? 'Internal server error' : 'what happened' } }]);
    expect(HTTP_STATUS_BY_CODE[code] ?? 500).toBe(status);
  });

  it('sets Retry-After through the Express response when it has no HttpAdapterHost', () => {
    const headers: Array<[string, string]> = [];
    const sent: number[] = [];
    const response = { setHeader: (name: string, value: string) => headers.push([name, value]), status: (s: number) => ({ json: () => sent.push(s) }) };
    const host = { getType: () => 'http', switchToHttp: () => ({ getResponse: () => response }) };
    new BatchServingExceptionFilter().catch(new RetryableError('429', { retryAfterMs: 30_000 }), host as never);
    expect([headers, sent]).toEqual([[['Retry-After', '30']], [503]]);
  });

  it('gives the error back as thrown outside HTTP', (done) => {
    const error = new BatchExecutionError('boom');
    const result = new BatchServingExceptionFilter().catch(error, { getType: () => 'rpc' } as never) as Observable<never>;
    result.subscribe({ error: (e) => (expect(e).toBe(error), done()) });
  });
});
