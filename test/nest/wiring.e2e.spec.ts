import { Body, Controller, Get, Injectable, Module, Param, Post, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  BatchServing,
  BatchServingClient,
  BatchServingExceptionFilter,
  BatchServingModule,
  BatchServingRegistry,
  InjectServing,
  Serving,
  ServingConfigurationError,
  ServingNameTakenError,
  type ServingRef,
  type ServingRefOf,
} from '../../lib';
import { rejectionOf } from './helpers';

/*
 * The wiring as a user's app meets it (API.md section 4): forRoot once, global by default, and
 * @InjectServing anywhere with no forFeature. Every feature module below leaves BatchServingModule
 * out of its imports on purpose.
 */

@Serving({ name: 'embed', batchTimeout: 0 })
class EmbedServing {
  handleBatch(texts: string[]): number[] {
    return texts.map((text) => text.length);
  }
}

const squares = BatchServing.new((values: number[]) => values.map((v) => v * v));

@Injectable()
class SearchService {
  constructor(
    readonly client: BatchServingClient,
    @InjectServing(EmbedServing) readonly embed: ServingRefOf<typeof EmbedServing>,
    @InjectServing('squares') readonly squaresRef: ServingRefOf<typeof squares>,
  ) {}
}

@Controller('search')
class SearchController {
  constructor(
    private readonly client: BatchServingClient,
    private readonly registry: BatchServingRegistry,
  ) {}

  @Get(':text')
  length(@Param('text') text: string): Promise<number> {
    return this.client.dispatch(EmbedServing, text);
  }

  @Post('tenants')
  async addTenant(@Body('name') name: string): Promise<string[]> {
    await this.registry.register(name, squares);
    return this.registry.list();
  }
}

@Module({ controllers: [SearchController], providers: [SearchService, EmbedServing] })
class SearchModule {}

const servings = [{ name: 'squares', serving: squares, batchTimeout: 0 }];

describe('Wiring: forRoot once, then the client and refs in every module', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(imports: unknown[], providers: unknown[] = []): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers: providers as never[] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    return app;
  }

  it('a service and a controller in a module that does not import BatchServingModule get the client (forRoot is global by default)', async () => {
    await start([BatchServingModule.forRoot({ servings }), SearchModule]);
    expect(await app!.get(SearchService).client.dispatch('squares', 5)).toBe(25);
    await request(app!.getHttpServer()).get('/search/four').expect(200, '4');
  });

  it('@InjectServing(Class) and @InjectServing(name) work in a feature module without forFeature', async () => {
    await start([BatchServingModule.forRoot({ servings }), SearchModule]);
    const search = app!.get(SearchService);
    expect(await search.embed.dispatch('hello')).toBe(5);
    expect(await search.squaresRef.dispatchMany([2, 3])).toEqual([4, 9]);
  });

  it('forRootAsync is global by default too, and provides the decorated refs', async () => {
    await start([BatchServingModule.forRootAsync({ useFactory: () => ({ servings }) }), SearchModule]);
    const search = app!.get(SearchService);
    expect([await search.embed.dispatch('abc'), await search.squaresRef.dispatch(4)]).toEqual([3, 16]);
  });

  it('a ref is provided even when its @InjectServing is evaluated after forRoot() was called', async () => {
    const root = BatchServingModule.forRoot({ servings });
    @Injectable()
    class LateService {
      constructor(@InjectServing('late-squares') readonly ref: ServingRef<number, number>) {}
    }
    @Module({ providers: [LateService] })
    class LateModule {}
    await start([root, LateModule]);
    await app!.get(BatchServingRegistry).register('late-squares', squares);
    expect(await app!.get(LateService).ref.dispatch(6)).toBe(36);
  });

  it('isGlobal: false opts out: a module that does not import the root module cannot inject the client', async () => {
    const compiling = Test.createTestingModule({ imports: [BatchServingModule.forRoot({ isGlobal: false }), SearchModule] }).compile();
    expect(String(await rejectionOf(compiling))).toMatch(/can't resolve dependencies of the SearchService \(\?, BatchServing:embed/);
  });

  it('forFeature without forRoot fails at start-up, naming the fix', async () => {
    @Injectable()
    class TenantService {
      constructor(@InjectServing('tenant-a') readonly ref: ServingRef) {}
    }
    const moduleRef = await Test.createTestingModule({ imports: [BatchServingModule.forFeature(['tenant-a'])], providers: [TenantService] }).compile();
    const error = (await rejectionOf(moduleRef.init())) as Error;
    expect(error).toBeInstanceOf(ServingConfigurationError);
    expect(error.message).toBe(
      "BatchServingModule.forFeature(['tenant-a']) found no BatchServingModule.forRoot() in the application. " +
        'Import BatchServingModule.forRoot() (or forRootAsync()) once, in the root module.',
    );
    await moduleRef.close().catch(() => undefined);
  });

  it('forFeature still provides refs that no decorator names, next to a global forRoot', async () => {
    const token = 'BatchServing:made-at-run-time';
    @Module({ imports: [BatchServingModule.forFeature(['made-at-run-time'])], providers: [{ provide: 'holder', useFactory: (ref: ServingRef) => ref, inject: [token] }] })
    class RuntimeModule {}
    await start([BatchServingModule.forRoot(), RuntimeModule]);
    await app!.get(BatchServingRegistry).register('made-at-run-time', squares);
    expect(await app!.get<ServingRef<number, number>>('holder').dispatch(7)).toBe(49);
  });

  it('a duplicate register() at run time is a 409 Conflict through BatchServingExceptionFilter', async () => {
    await start([BatchServingModule.forRoot({ servings }), SearchModule], [{ provide: APP_FILTER, useClass: BatchServingExceptionFilter }]);
    const http = request(app!.getHttpServer());
    await http.post('/search/tenants').send({ name: 'tenant-a' }).expect(201, ['squares', 'embed', 'tenant-a']);
    const taken = await http.post('/search/tenants').send({ name: 'tenant-a' }).expect(409);
    expect(taken.body).toEqual({
      statusCode: 409,
      code: 'INVALID_CONFIGURATION',
      message: expect.stringContaining("Two servings are named 'tenant-a': BatchServingRegistry.register() and BatchServingRegistry.register()"),
    });
    const error = await rejectionOf(app!.get(BatchServingRegistry).register('squares', squares));
    expect(error).toBeInstanceOf(ServingNameTakenError);
    expect(error).toBeInstanceOf(ServingConfigurationError);
  });
});
