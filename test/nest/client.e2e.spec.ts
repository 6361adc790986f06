import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  ServingNotFoundError,
  Serving,
  type BatchContext,
  type BatchServingModuleOptions,
  type BatchTelemetryEvent,
} from '../../lib';
import { FakeTransport, deferred, nextTurn, rejectionOf, thrownBy, track } from './helpers';

@Serving({ name: 'embed', batchSize: 2, batchTimeout: 0, hooks: ['progress'] })
class EmbedServing {
  handleBatch(texts: string[], ctx: BatchContext): number[][] {
    ctx.emit('progress', texts.map((t) => `embedding ${t}`));
    return texts.map((t) => [t.length]);
  }
}

const squares = BatchServing.new((values: number[]) => values.map((v) => (v < 0 ? new Error('negative') : v * v)));

describe('BatchServingClient', () => {
  let app: TestingModule;
  let client: BatchServingClient;

  async function start(options: BatchServingModuleOptions = {}): Promise<void> {
    app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'squares', serving: squares, batchTimeout: 0 }], ...options })],
      providers: [EmbedServing],
    }).compile();
    client = app.get(BatchServingClient);
    await app.init();
  }

  afterEach(() => app.close());

  describe('in one process', () => {
    beforeEach(() => start());

    it('dispatch: one input, one result, by name or by class', async () => {
      expect(await client.dispatch('squares', 3)).toBe(9);
      expect(await client.dispatch(EmbedServing, 'four')).toEqual([4]);
    });

    it('dispatchMany: results in input order from an array, an Iterable or an AsyncIterable', async () => {
      async function* numbers() {
        yield 1;
        yield 2;
        yield 3;
      }
      expect(await client.dispatchMany('squares', [1, 2, 3])).toEqual([1, 4, 9]);
      expect(await client.dispatchMany('squares', new Set([4, 5]))).toEqual([16, 25]);
      expect(await client.dispatchMany('squares', numbers())).toEqual([1, 4, 9]);
      expect(await client.dispatchMany(EmbedServing, ['a', 'bb', 'ccc'])).toEqual([[1], [2], [3]]);
    });

    it('dispatch rejects with a BatchServingError; tryDispatch and tryDispatchMany never reject', async () => {
      await expect(client.dispatch('squares', -1)).rejects.toMatchObject({ code: 'BATCH_FAILED' });
      expect(await client.tryDispatch('squares', 2)).toEqual({ ok: true, value: 4 });
      expect(await client.tryDispatch('squares', -1)).toMatchObject({ ok: false, error: { code: 'BATCH_FAILED' } });
      expect(await client.tryDispatchMany('squares', [1, 2])).toEqual({ ok: true, value: [1, 4] });
      expect(await client.tryDispatchMany('nope', [1])).toMatchObject({ ok: false, error: { code: 'SERVING_NOT_FOUND' } });
    });

    it('stream: hook events, then raw outputs, of each part in offset order', async () => {
      const events = await lastValueFrom(client.stream(EmbedServing, ['a', 'bb', 'ccc']).pipe(toArray()));
      expect(events).toEqual([
        { type: 'hook', hook: 'progress', payload: ['embedding a', 'embedding bb'] },
        { type: 'batch', offset: 0, outputs: [[1], [2]] },
        { type: 'hook', hook: 'progress', payload: ['embedding ccc'] },
        { type: 'batch', offset: 2, outputs: [[3]] },
      ]);
    });

    it('inline and inlineMany run at once in the caller, without the queue', async () => {
      expect(await client.inline('squares', 5)).toBe(25);
      expect(await client.inlineMany(EmbedServing, ['a', 'bb', 'ccc'])).toEqual([[1], [2], [3]]);
      expect(client.stats('squares').batches).toBe(0);
    });

    it('stats: one serving, or every serving by name', async () => {
      await client.dispatchMany('squares', [1, 2, 3]);
      expect(client.stats('squares')).toMatchObject({ queued: 0, executing: 0, batches: 1, values: 3, failures: 0, meanBatchSize: 3 });
      expect(Object.keys(client.stats())).toEqual(['squares', 'embed']);
      expect(client.stats()['embed']).toMatchObject({ batches: 0 });
    });

    it('telemetry: a start and a stop (or failure) per batch, of one serving or of all merged', async () => {
      const one: BatchTelemetryEvent[] = [];
      const all: BatchTelemetryEvent[] = [];
      const subscriptions = [client.telemetry('squares').subscribe((e) => one.push(e)), client.telemetry().subscribe((e) => all.push(e))];
      await client.dispatch('squares', 2);
      await client.dispatch(EmbedServing, 'x');
      await client.tryDispatch('squares', -1);
      subscriptions.forEach((s) => s.unsubscribe());
      expect(one.map((e) => `${e.serving} ${e.type}`)).toEqual(['squares start', 'squares stop', 'squares start', 'squares stop']);
      expect(all.map((e) => `${e.serving} ${e.type}`)).toEqual([
        'squares start', 'squares stop', 'embed start', 'embed stop', 'squares start', 'squares stop',
      ]);
      expect(all[1]).toMatchObject({ partition: 0, batchKey: 'default', size: 1, waitMs: expect.any(Number), runMs: expect.any(Number) });
    });

    it('an unknown serving fails with ServingNotFoundError naming the known ones', async () => {
      const error = await rejectionOf(client.dispatch('nope', 1));
      expect(error).toBeInstanceOf(ServingNotFoundError);
      expect((error as Error).message).toContain("No serving named 'nope'. Known servings: 'squares', 'embed'.");
      await expect(firstValueFrom(client.stream('nope', [1]))).rejects.toBeInstanceOf(ServingNotFoundError);
      await expect(client.inline('nope', 1)).rejects.toBeInstanceOf(ServingNotFoundError);
      expect(thrownBy(() => client.stats('nope'))).toBeInstanceOf(ServingNotFoundError);
    });

    it('{ local: true } for a serving not hosted here fails with ServingNotFoundError', async () => {
      await expect(client.dispatch('nope', 1, { local: true })).rejects.toThrow("Serving 'nope' is not hosted in this process and the dispatch asked for { local: true }.");
      expect(await client.dispatch('squares', 4, { local: true })).toBe(16);
    });

    it('ref() binds the methods to one serving', async () => {
      const embed = client.ref(EmbedServing);
      expect(await embed.dispatch('abc')).toEqual([3]);
      expect(await embed.tryDispatchMany(['a'])).toEqual({ ok: true, value: [[1]] });
      expect(await embed.inline('ab')).toEqual([2]);
    });
  });

  it('a dispatch that arrives before init waits for the servings to start', async () => {
    app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'squares', serving: squares }] })],
    }).compile();
    client = app.get(BatchServingClient);
    const early = client.dispatch('squares', 7);
    const state = track(early);
    const events = lastValueFrom(client.stream('squares', [2]).pipe(toArray()));
    await nextTurn();
    expect(state.settled).toBe(false);
    await app.init();
    expect(await early).toBe(49);
    expect(await events).toEqual([{ type: 'batch', offset: 0, outputs: [4] }]);
  });

  it('a dispatch waiting for init fails with ServingShutdownError when the application closes first', async () => {
    app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot()] }).compile();
    const waiting = app.get(BatchServingClient).dispatch('squares', 1);
    await app.close();
    await expect(waiting).rejects.toMatchObject({ code: 'SERVING_SHUTDOWN' });
  });

  describe('with a transport', () => {
    let transport: FakeTransport;
    beforeEach(() => start({ transport: (transport = new FakeTransport()) }));

    it('a serving hosted here is served here; any other goes to the transport', async () => {
      expect(await client.dispatch('squares', 3)).toBe(9);
      expect(await client.dispatch('elsewhere', 3)).toBe('elsewhere@remote(3)');
      expect(await client.dispatchMany('elsewhere', [1, 2])).toEqual(['elsewhere@remote(1)', 'elsewhere@remote(2)']);
      expect(await lastValueFrom(client.stream('elsewhere', [1]))).toEqual({ type: 'batch', offset: 0, outputs: ['elsewhere@remote(1)'] });
      expect(transport.calls.filter((c) => c.startsWith('remote'))).toEqual(['remote elsewhere', 'remote elsewhere', 'remote elsewhere']);
    });

    it('{ local: true } never leaves the process; { distributed: true } goes to whichever member has its turn, even for a local serving', async () => {
      await expect(client.dispatch('elsewhere', 1, { local: true })).rejects.toBeInstanceOf(ServingNotFoundError);
      expect(await client.dispatch('squares', 2, { distributed: true })).toBe('squares@remote(2)');
    });

    it('inline, stats and telemetry only cover servings hosted here', async () => {
      await expect(client.inline('elsewhere', 1)).rejects.toThrow("Serving 'elsewhere' is not hosted in this process, and inline() only covers servings hosted here.");
      expect(thrownBy(() => client.stats('elsewhere'))).toBeInstanceOf(ServingNotFoundError);
    });
  });

  it('holds a batch open until released, so concurrent callers share it', async () => {
    const release = deferred();
    const sizes: number[] = [];
    const slow = BatchServing.new(async (values: number[]) => (sizes.push(values.length), await release.promise, values));
    await start({ servings: [{ name: 'slow', serving: slow, batchSize: 4, batchTimeout: 0 }] });
    const first = client.dispatch('slow', 1);
    await nextTurn();
    const rest = [2, 3, 4].map((v) => client.dispatch('slow', v));
    release.resolve();
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3, 4]);
    expect(sizes).toEqual([1, 3]);
  });
});
