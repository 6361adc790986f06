import { Controller, Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  BatchServingRegistry,
  InjectServing,
  Serving,
  ServingRef,
  getServingToken,
  type ServingRefOf,
} from '../../lib';

@Injectable()
class ModelService {
  embed(text: string): number[] {
    return [text.length];
  }
}

@Serving({ name: 'embed', batchSize: 2, batchTimeout: 0 })
class EmbedServing {
  constructor(private readonly model: ModelService) {}
  async handleBatch(texts: string[]): Promise<number[][]> {
    return texts.map((t) => this.model.embed(t));
  }
}

@Controller()
class SearchController {
  constructor(@InjectServing(EmbedServing) readonly embed: ServingRefOf<typeof EmbedServing>) {}
}

@Module({ imports: [BatchServingModule.forFeature([EmbedServing])], controllers: [SearchController], providers: [ModelService, EmbedServing] })
class SearchModule {}

/** A replacement that records its batches and answers with zeros. */
class FakeEmbed {
  readonly batches: string[][] = [];
  handleBatch(texts: string[]): number[][] {
    this.batches.push(texts);
    return texts.map(() => [0]);
  }
}

describe('Testing an application that uses the package', () => {
  let app: TestingModule | undefined;
  afterEach(() => app?.close());

  async function startWith(configure: (builder: ReturnType<typeof Test.createTestingModule>) => ReturnType<typeof Test.createTestingModule>) {
    app = await configure(Test.createTestingModule({ imports: [BatchServingModule.forRoot(), SearchModule] })).compile();
    await app.init();
    return app;
  }

  it('overrideProvider(Class).useValue(fake) serves through the fake with the options of the class it replaces', async () => {
    const fake = new FakeEmbed();
    await startWith((b) => b.overrideProvider(EmbedServing).useValue(fake));
    const results = await Promise.all(['a', 'b', 'c'].map((t) => app!.get(BatchServingClient).dispatch(EmbedServing, t)));
    expect(results).toEqual([[0], [0], [0]]);
    // Name 'embed' and batchSize 2 come from EmbedServing's decorator.
    expect(fake.batches).toEqual([['a', 'b'], ['c']]);
    expect(app!.get(BatchServingRegistry).list()).toEqual(['embed']);
  });

  it('overrideProvider(Class).useClass and .useFactory serve through the replacement too', async () => {
    await startWith((b) => b.overrideProvider(EmbedServing).useClass(FakeEmbed));
    expect(await app!.get(BatchServingClient).dispatch('embed', 'x')).toEqual([0]);
    await app!.close();

    await startWith((b) => b.overrideProvider(EmbedServing).useFactory({ factory: () => ({ handleBatch: (t: string[]) => t.map(() => [42]) }) }));
    expect(await app!.get(BatchServingClient).dispatch('embed', 'x')).toEqual([42]);
  });

  it('a replacement without handleBatch is a clear start-up error naming the class it replaces', async () => {
    app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(), SearchModule] })
      .overrideProvider(EmbedServing)
      .useValue({ embed: jest.fn() })
      .compile();
    const init = app.init();
    await expect(init).rejects.toThrow("@Serving() class EmbedServing in SearchModule, served by a replacement value cannot serve 'embed'");
    await expect(app.close()).rejects.toThrow();
    app = undefined;
  });

  it('@InjectServing(Class) injects a ServingRef bound to the serving, through BatchServingModule.forFeature', async () => {
    await startWith((b) => b);
    const ref = app!.get(SearchController).embed;
    expect(ref).toBeInstanceOf(ServingRef);
    expect(await ref.dispatch('four')).toEqual([4]);
    expect(await ref.dispatchMany(['a', 'bb'])).toEqual([[1], [2]]);
    expect(ref.stats().values).toBe(3);
  });

  it('{ provide: getServingToken(Class), useValue } replaces the ref that @InjectServing(Class) injects', async () => {
    const fakeRef = { dispatch: jest.fn(async () => [7]) };
    await startWith((b) => b.overrideProvider(getServingToken(EmbedServing)).useValue(fakeRef));
    expect(await app!.get(SearchController).embed.dispatch('x')).toEqual([7]);
    expect(fakeRef.dispatch).toHaveBeenCalledWith('x');
  });

  it('{ provide: getServingToken(Class), useValue } lets a controller be tested without the module at all', async () => {
    const fakeRef = { dispatch: jest.fn(async (text: string) => [text.length * 100]) };
    app = await Test.createTestingModule({
      controllers: [SearchController],
      providers: [{ provide: getServingToken(EmbedServing), useValue: fakeRef }],
    }).compile();
    await app.init();
    expect(await app.get(SearchController).embed.dispatch('ab')).toEqual([200]);
  });

  it('gives every ServingRef its own token, from the name or the class', () => {
    expect(getServingToken('embed')).toBe('BatchServing:embed');
    expect(getServingToken(EmbedServing)).toBe('BatchServing:embed');
    expect(getServingToken(FakeEmbed as never)).toBe('BatchServing:FakeEmbed');
  });

  it('provides the ServingRefs of forRoot({ servings }) without forFeature', async () => {
    @Injectable()
    class Squarer {
      constructor(@InjectServing('squares') readonly squares: ServingRef<number, number>) {}
    }
    app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'squares', serving: BatchServing.new((v: number[]) => v.map((x) => x * x)) }] })],
      providers: [Squarer],
    }).compile();
    await app.init();
    expect(await app.get(Squarer).squares.dispatch(9)).toBe(81);
  });

  it('forFeature refs also reach servings registered at run time', async () => {
    @Injectable()
    class TenantService {
      constructor(@InjectServing('tenant-a') readonly tenant: ServingRef<string, string>) {}
    }
    @Module({ imports: [BatchServingModule.forFeature(['tenant-a'])], providers: [TenantService] })
    class TenantModule {}
    app = await Test.createTestingModule({ imports: [BatchServingModule.forRoot(), TenantModule] }).compile();
    await app.init();
    await app.get(BatchServingRegistry).register('tenant-a', (v: string[]) => v.map((s) => s.toUpperCase()));
    expect(await app.get(TenantService).tenant.dispatch('hi')).toBe('HI');
  });
});
