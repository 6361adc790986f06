import { Test, type TestingModule } from '@nestjs/testing';
import {
  BatchServing,
  BatchServingClient,
  BatchServingModule,
  BatchServingRegistry,
  DEFAULT_SERVING_OPTIONS,
  InvalidInputError,
  ServingConfigurationError,
  ServingNotFoundError,
  ServingShutdownError,
  type BatchTelemetryEvent,
} from '../../lib';
import { FakeTransport, deferred, nextTurn, rejectionOf } from './helpers';

const upper = BatchServing.new((values: string[]) => values.map((v) => v.toUpperCase()));

describe('BatchServingRegistry: servings at run time', () => {
  let app: TestingModule;
  let registry: BatchServingRegistry;
  let client: BatchServingClient;
  let transport: FakeTransport;

  beforeEach(async () => {
    transport = new FakeTransport();
    app = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ defaults: { batchSize: 8, batchTimeout: 0 }, transport })],
    }).compile();
    await app.init();
    registry = app.get(BatchServingRegistry);
    client = app.get(BatchServingClient);
  });
  afterEach(() => app.close());

  it('register starts a serving (one per tenant, say) with its options over the module defaults', async () => {
    const running = await registry.register('tenant-a', upper, { partitions: 2 });
    await registry.register('tenant-b', upper);
    expect(registry.list()).toEqual(['tenant-a', 'tenant-b']);
    expect(running.options).toEqual({ ...DEFAULT_SERVING_OPTIONS, batchSize: 8, batchTimeout: 0, partitions: 2 });
    expect(await client.dispatch('tenant-a', 'hi')).toBe('HI');
    expect(await running.dispatch('direct')).toBe('DIRECT');
    expect(transport.calls).toEqual(['start', 'host tenant-a', 'host tenant-b']);
  });

  it('register refuses a taken name and bad options', async () => {
    await registry.register('tenant-a', upper);
    const taken = await rejectionOf(registry.register('tenant-a', upper));
    expect(taken).toBeInstanceOf(ServingConfigurationError);
    expect((taken as Error).message).toContain("Two servings are named 'tenant-a'");
    await expect(registry.register('tenant-c', upper, { maxQueueSize: 0 })).rejects.toThrow("Serving 'tenant-c' has an invalid maxQueueSize: 0");
    expect(registry.list()).toEqual(['tenant-a']);
  });

  it('unregister lets in-flight work finish, leaves the transport group first, then forgets the serving', async () => {
    const release = deferred();
    await registry.register('slow', BatchServing.new(async (v: number[]) => (await release.promise, v)), { partitions: 1 });
    const running = client.dispatch('slow', 1);
    await nextTurn();
    const queued = client.dispatch('slow', 2);
    const gone = registry.unregister('slow');
    // From now on the name is not served here: a new dispatch goes to another member (the transport).
    expect(registry.list()).toEqual([]);
    expect(await client.dispatch('slow', 3)).toBe('slow@remote(3)');
    release.resolve();
    await gone;
    expect(await Promise.all([running, queued])).toEqual([1, 2]);
    expect(transport.calls).toEqual(['start', 'host slow', 'unhost slow', 'remote slow']);
    await expect(client.dispatch('slow', 4, { local: true })).rejects.toBeInstanceOf(ServingNotFoundError);
    // The name taken again routes to the new serving, not to the one looked up last.
    const again = await registry.register('slow', upper);
    expect(await client.dispatch('slow', 'five', { local: true })).toBe('FIVE');
    expect(registry.get('slow')).toBe(again);
    // The client's shortcut for a dispatch without options (the serving it reached last) follows too.
    expect(await client.dispatch('slow', 'six')).toBe('SIX');
  });

  it("the client's shortcut starts at the module's first serving, and still follows an unregister", async () => {
    const own = await Test.createTestingModule({
      imports: [BatchServingModule.forRoot({ servings: [{ name: 'first', serving: upper, batchTimeout: 0 }], transport })],
    }).compile();
    await own.init();
    try {
      const ownClient = own.get(BatchServingClient);
      expect(await ownClient.dispatch('first', 'a')).toBe('A');
      await own.get(BatchServingRegistry).unregister('first');
      // Not the serving the shortcut started at: it stopped, and the name now routes to the transport.
      expect(await ownClient.dispatch('first', 'b')).toBe('first@remote(b)');
      expect(await ownClient.ref('first').dispatch('c')).toBe('first@remote(c)');
    } finally {
      await own.close();
    }
  });

  it('the short routes of the client and of refs: options other than distributed take them, and they follow the registry', async () => {
    await registry.register('tenant-a', upper);
    const early = client.ref<string, string>('tenant-a');
    expect(await client.dispatch('tenant-a', 'a')).toBe('A');
    // The route the last dispatch took serves these too; distributed still asks the transport whose turn it is.
    expect(await client.dispatch('tenant-a', 'b', { priority: 3, timeout: 1000 })).toBe('B');
    expect(await client.dispatch('tenant-a', 'c', { local: true })).toBe('C');
    expect(await client.dispatch('tenant-a', 'd', null as unknown as undefined)).toBe('D');
    expect(await early.dispatch('e', null as unknown as undefined)).toBe('E');
    expect(await early.dispatch('f', { priority: 1 })).toBe('F');
    expect(transport.calls).not.toContain('remote tenant-a');
    expect(await client.dispatch('tenant-a', 'g', { distributed: true })).toBe('tenant-a@remote(g)');
    expect(await early.dispatch('h', { distributed: true })).toBe('tenant-a@remote(h)');
    // Bad options are refused on the short route as on the long one.
    await expect(client.dispatch('tenant-a', 'i', { priority: 1.5 })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(early.dispatch('i', { timeout: -1 })).rejects.toBeInstanceOf(InvalidInputError);
    // A ref made before the registry changed follows it: to the transport, then to the new serving.
    await registry.unregister('tenant-a');
    expect(await early.dispatch('j')).toBe('tenant-a@remote(j)');
    expect(await early.dispatch('k', { priority: 2 })).toBe('tenant-a@remote(k)');
    const again = await registry.register('tenant-a', BatchServing.new((values: string[]) => values.map((v) => `${v}!`)));
    expect(await early.dispatch('l')).toBe('l!');
    expect(await client.dispatch('tenant-a', 'm')).toBe('m!');
    expect(again.stats().values).toBe(2);
  });

  it('unregister of a name that is not running fails with ServingNotFoundError', async () => {
    await expect(registry.unregister('nope')).rejects.toBeInstanceOf(ServingNotFoundError);
  });

  it('telemetry of all servings includes those registered later, and ends for one that is unregistered', async () => {
    const events: BatchTelemetryEvent[] = [];
    let completed = false;
    const all = client.telemetry().subscribe((e) => events.push(e));
    await registry.register('tenant-a', upper);
    client.telemetry('tenant-a').subscribe({ complete: () => (completed = true) });
    await client.dispatch('tenant-a', 'x');
    await registry.unregister('tenant-a');
    all.unsubscribe();
    expect(events.map((e) => `${e.serving} ${e.type}`)).toEqual(['tenant-a start', 'tenant-a stop']);
    expect(completed).toBe(true);
  });

  it('register during shutdown fails with ServingShutdownError', async () => {
    await app.close();
    await expect(registry.register('late', upper)).rejects.toBeInstanceOf(ServingShutdownError);
  });
});
