import { Test } from '@nestjs/testing';
import { join } from 'node:path';
import { BatchServing, BatchServingClient, BatchServingModule, BatchServingRegistry, ServingConfigurationError } from '../../lib';

const fixture = (name: string) => join(__dirname, 'fixtures', name);

describe('worker servings in the Nest module', () => {
  it('a forRoot worker serving whose file cannot load fails the module init, naming the file', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'embed', serving: BatchServing.worker(fixture('throws-at-load.worker.js')), partitions: 2 }] })],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const error = await app.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect((error as Error).message).toContain(fixture('throws-at-load.worker.js'));
    await app.close().catch(() => undefined);
  });

  it('register() of a worker serving resolves once its threads run init, and rejects for an init that throws', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [BatchServingModule.forRoot({})] }).compile();
    const app = await moduleRef.createNestApplication({ logger: false }).init();
    try {
      const registry = app.get(BatchServingRegistry);
      await expect(registry.register('broken', BatchServing.worker(fixture('init-fails.worker.js')))).rejects.toThrow(/no weights at \/models\/missing/);
      expect(registry.list()).toEqual([]);
      await registry.register('ops', BatchServing.worker(fixture('ops.worker.js'), { workerData: { label: 'tenant' } }), { batchTimeout: 0 });
      expect(await app.get(BatchServingClient).dispatch('ops', { n: 4 })).toMatchObject({ n: 4, inits: 1, initData: 'tenant' });
    } finally {
      await app.close();
    }
  });
});
