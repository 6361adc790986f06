import { Test } from '@nestjs/testing';
import { BatchExecutionError, BatchServing, BatchServingClient, BatchServingModule, BatchServingRegistry } from '../../lib';

const failing = BatchServing.new((values: string[]): string[] => {
  if (values.includes('bad')) throw new Error('boom');
  return values;
});

describe('the module logs failed batches', () => {
  it('warns once per failed batch, for servings registered later too, and not for batches that succeed', async () => {
    const warn = jest.fn();
    const noop = () => undefined;
    const app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'first', serving: failing, batchTimeout: 0 }] })],
    })
      .setLogger({ log: noop, error: noop, warn, debug: noop, verbose: noop })
      .compile();
    await app.init();
    try {
      const client = app.get(BatchServingClient);
      expect(await client.dispatch('first', 'ok')).toBe('ok');
      await expect(client.dispatch('first', 'bad')).rejects.toBeInstanceOf(BatchExecutionError);
      await app.get(BatchServingRegistry).register('later', failing, { batchTimeout: 0 });
      await expect(client.dispatch('later', 'bad')).rejects.toBeInstanceOf(BatchExecutionError);
      expect(await client.dispatch('later', 'fine')).toBe('fine');
      const warned = warn.mock.calls.map(([message]) => String(message));
      expect(warned).toEqual([
        "Serving 'first' failed a batch of 1 value(s) on partition 0: boom",
        "Serving 'later' failed a batch of 1 value(s) on partition 0: boom",
      ]);
    } finally {
      await app.close();
    }
  });
});
