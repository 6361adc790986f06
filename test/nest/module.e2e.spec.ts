import { Inject, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { lastValueFrom, toArray } from 'rxjs';
import { BatchServing, BatchServingClient, BatchServingModule, BatchServingRegistry, DEFAULT_SERVING_OPTIONS, Serving, type BatchContext } from '../../lib';

@Injectable()
class ModelService {
  readonly factor = 10;
}

/** Records the size of every batch it runs. */
@Serving({ name: 'embed', batchSize: 2, batchTimeout: 0 })
class EmbedServing {
  readonly batches: number[][] = [];
  constructor(private readonly model: ModelService) {}

  handleBatch(values: number[]): number[] {
    this.batches.push(values);
    return values.map((v) => v * this.model.factor);
  }
}

@Module({ providers: [ModelService, EmbedServing] })
class FeatureModule {}

describe('BatchServingModule: starting servings', () => {
  let app: TestingModule | undefined;
  afterEach(() => app?.close());

  async function start(imports: unknown[], providers: unknown[] = []): Promise<BatchServingClient> {
    app = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] }).compile();
    await app.init();
    return app.get(BatchServingClient);
  }

  it('serves a @Serving() class of a feature module, built with its injected dependency and its own options', async () => {
    const client = await start([BatchServingModule.forRoot(), FeatureModule]);
    const results = await Promise.all([1, 2, 3].map((v) => client.dispatch('embed', v)));
    expect(results).toEqual([10, 20, 30]);
    // batchSize 2 from the decorator: three dispatches of one turn make batches of 2 and 1.
    expect(app!.get(EmbedServing).batches).toEqual([[1, 2], [3]]);
  });

  it('serves functional servings of forRoot({ servings }) with their options over the defaults', async () => {
    const sizes: number[] = [];
    const squares = BatchServing.new((values: number[]) => (sizes.push(values.length), values.map((v) => v * v)));
    const client = await start([
      BatchServingModule.forRoot({
        defaults: { batchSize: 3, batchTimeout: 0 },
        servings: [
          { name: 'squares', serving: squares },
          { name: 'pairs', serving: squares, batchSize: 2 },
        ],
      }),
    ]);
    expect(await client.dispatchMany('squares', [1, 2, 3, 4])).toEqual([1, 4, 9, 16]);
    expect(await client.dispatchMany('pairs', [1, 2, 3, 4])).toEqual([1, 4, 9, 16]);
    expect(sizes).toEqual([3, 1, 2, 2]);
  });

  it('accepts a plain batch function and a handler object as forRoot servings', async () => {
    const client = await start([
      BatchServingModule.forRoot({
        servings: [
          { name: 'double', serving: (values: number[]) => values.map((v) => v * 2) },
          { name: 'upper', serving: { handleBatch: (values: string[]) => values.map((v) => v.toUpperCase()) } },
        ],
      }),
    ]);
    expect(await client.dispatch('double', 21)).toBe(42);
    expect(await client.dispatch('upper', 'a')).toBe('A');
  });

  it('names a @Serving() class after the class when the decorator gives no name', async () => {
    @Serving()
    class Echo {
      handleBatch(values: string[]): string[] {
        return values;
      }
    }
    const client = await start([BatchServingModule.forRoot()], [Echo]);
    expect(await client.dispatch('Echo', 'hi')).toBe('hi');
    expect(await client.dispatch(Echo, 'hi')).toBe('hi');
  });

  it('applies the module defaults under the decorator options', async () => {
    @Serving({ partitions: 2 })
    class Tuned {
      handleBatch(values: number[]): number[] {
        return values;
      }
    }
    await start([BatchServingModule.forRoot({ defaults: { batchSize: 7, partitions: 4 } })], [Tuned]);
    const running = app!.get(BatchServingRegistry).get('Tuned')!;
    expect(running.options).toEqual({ ...DEFAULT_SERVING_OPTIONS, batchSize: 7, partitions: 2 });
  });

  it('picks up mapInputs, mapResults, validate and batchKey methods of the class, and its declared hooks', async () => {
    @Serving({ hooks: ['progress'], batchTimeout: 0 })
    class Words {
      mapInputs(sentences: string[]): string[] {
        return sentences.flatMap((s) => s.split(' '));
      }
      mapResults(lengths: number[], sentences: string[]): number[] {
        let i = 0;
        return sentences.map((s) => s.split(' ').reduce((sum) => sum + lengths[i++], 0));
      }
      validate(sentence: string): void {
        if (!sentence) throw new Error('empty sentence');
      }
      batchKey(word: string): string {
        return word.length > 3 ? 'long' : 'short';
      }
      handleBatch(words: string[], ctx: BatchContext): number[] {
        ctx.emit('progress', words.map(() => ctx.batchKey));
        return words.map((w) => w.length);
      }
    }
    const client = await start([BatchServingModule.forRoot()], [Words]);
    expect(await client.dispatch(Words, 'the quick fox')).toBe(11);
    await expect(client.dispatch(Words, '')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    // The hook is declared by the decorator; each word's batch key is what batchKey() said.
    const events = await lastValueFrom(client.stream(Words, ['the quick fox']).pipe(toArray()));
    const keys = events.flatMap((e) => (e.type === 'hook' ? (e.payload as string[]) : []));
    expect(keys.sort()).toEqual(['long', 'short', 'short']);
  });

  it('serves @Serving() providers given as useClass, useValue and useFactory', async () => {
    @Serving()
    class ViaClass {
      handleBatch(values: number[]): number[] {
        return values.map((v) => v + 1);
      }
    }
    @Serving()
    class ViaValue {
      handleBatch(values: number[]): number[] {
        return values.map((v) => v + 2);
      }
    }
    @Serving()
    class ViaFactory {
      constructor(private readonly step: number) {}
      handleBatch(values: number[]): number[] {
        return values.map((v) => v + this.step);
      }
    }
    const client = await start(
      [BatchServingModule.forRoot()],
      [
        { provide: 'plus-one', useClass: ViaClass },
        { provide: 'plus-two', useValue: new ViaValue() },
        { provide: 'STEP', useValue: 3 },
        { provide: 'plus-three', useFactory: (step: number) => new ViaFactory(step), inject: ['STEP'] },
        // An alias is the same instance under another token: still one serving, no duplicate.
        { provide: 'alias', useExisting: 'plus-one' },
      ],
    );
    expect(await Promise.all([client.dispatch(ViaClass, 0), client.dispatch(ViaValue, 0), client.dispatch(ViaFactory, 0)])).toEqual([1, 2, 3]);
  });

  it('makes the client injectable in every module with isGlobal', async () => {
    @Injectable()
    class Consumer {
      constructor(@Inject(BatchServingClient) readonly client: BatchServingClient) {}
    }
    @Module({ providers: [Consumer, ModelService, EmbedServing] })
    class ConsumerModule {}
    await start([BatchServingModule.forRoot({ isGlobal: true }), ConsumerModule]);
    expect(await app!.get(Consumer).client.dispatch(EmbedServing, 4)).toBe(40);
  });
});
