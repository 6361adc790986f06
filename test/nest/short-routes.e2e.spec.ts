import { Controller, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { BatchServing, BatchServingClient, BatchServingModule, BatchServingRegistry, InjectServing, ServingNotFoundError, ServingRef } from '../../lib';
import type { RunningServing } from '../../lib/core';
import type { RemoteServing, ServingTransport } from '../../lib/transports';

const tag = (t: string) => BatchServing.new((v: string[]) => v.map((x) => `${t}:${x}`));

/** An in-process fleet: another app stands for the other members; it is always their turn. */
class InProcessTransport implements ServingTransport {
  other: BatchServingRegistry | undefined;
  start() {}
  host(_s: RunningServing) {}
  unhost() {}
  remote(name: string): RemoteServing { return this.other!.get(name)!; }
  turn(name: string): RemoteServing | undefined { return this.other!.get(name); }
  close() {}
}

describe('options on the short routes (API.md section 8.1)', () => {
  it('priority holds through the client and a ref: a later dispatch of higher priority runs before earlier ones of lower', async () => {
    const ran: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const serving = BatchServing.new(async (values: string[]) => {
      ran.push(...values);
      if (values.includes('first')) await held;
      return values;
    });
    const app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'held', serving, batchSize: 1, batchTimeout: 0, partitions: 1 }] })],
    }).compile();
    await app.init();
    try {
      const client = app.get(BatchServingClient);
      const ref = client.ref<string, string>('held');
      const first = client.dispatch('held', 'first');
      await new Promise((resolve) => setImmediate(resolve));
      expect(ran).toEqual(['first']);
      const rest = [client.dispatch('held', 'low'), ref.dispatch('low-ref'), client.dispatch('held', 'high', { priority: 5 }), ref.dispatch('higher', { priority: 9 })];
      release();
      expect(await Promise.all([first, ...rest])).toEqual(['first', 'low', 'low-ref', 'high', 'higher']);
      expect(ran).toEqual(['first', 'higher', 'high', 'low', 'low-ref']);
    } finally {
      await app.close();
    }
  });
});

describe('short routes of the client and refs agree with route()', () => {
  const apps: TestingModule[] = [];
  afterEach(async () => { for (const a of apps.splice(0)) await a.close(); });
  async function make(servings: Array<{ name: string; serving: any }>, transport?: ServingTransport) {
    const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot({ defaults: { batchTimeout: 0 }, servings, transport })] }).compile();
    await app.init();
    apps.push(app);
    return app;
  }

  it('turn() giving a RunningServing: a later non-distributed dispatch must stay here', async () => {
    const b = await make([{ name: 'x', serving: tag('B') }]);
    const t = new InProcessTransport();
    t.other = b.get(BatchServingRegistry);
    const a = await make([{ name: 'x', serving: tag('A') }], t);
    const client = a.get(BatchServingClient);
    expect(await client.dispatch('x', '1')).toBe('A:1');
    expect(await client.dispatch('x', '2', { distributed: true })).toBe('B:2');
    expect(await client.dispatch('x', '3')).toBe('A:3');
    expect(await client.dispatch('x', '4', { local: true })).toBe('A:4');
  });

  it('remote() giving a RunningServing: { local: true } must fail, not run elsewhere', async () => {
    const b = await make([{ name: 'x', serving: tag('B') }]);
    const t = new InProcessTransport();
    t.other = b.get(BatchServingRegistry);
    const a = await make([], t);
    const client = a.get(BatchServingClient);
    expect(await client.dispatch('x', '1')).toBe('B:1');
    await expect(client.dispatch('x', '2', { local: true })).rejects.toBeInstanceOf(ServingNotFoundError);
  });
});

@Injectable()
class Uses {
  constructor(@InjectServing('mocked') readonly ref: ServingRef<string, string>) {}
}
@Module({ providers: [Uses] })
class UsesModule {}

describe('mocked client', () => {
  it('overrideProvider(BatchServingClient) with a fake: init, and ref.dispatch goes to the fake', async () => {
    const fake = { dispatch: jest.fn(async () => 'fake') };
    const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(), UsesModule] })
      .overrideProvider(BatchServingClient).useValue(fake).compile();
    try {
      await app.init();
      expect(await app.get(Uses).ref.dispatch('x')).toBe('fake');
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});

describe('sync throws', () => {
  it('ref.dispatch of a bad key rejects, never throws', async () => {
    const app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot()] }).compile();
    await app.init();
    try {
      const client = app.get(BatchServingClient);
      let ref: ServingRef | undefined;
      expect(() => { ref = client.ref(undefined as never); }).not.toThrow();
      const r = new ServingRef(client as never, undefined as never);
      let p: Promise<unknown> | undefined;
      expect(() => { p = r.dispatch('x'); }).not.toThrow();
      await p?.catch(() => undefined);
    } finally {
      await app.close();
    }
  });
});
