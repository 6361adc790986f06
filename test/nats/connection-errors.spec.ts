import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BatchServingModule, ServingUnavailableError } from 'nestjs-batch-serving';
import { natsTransport } from 'nestjs-batch-serving/nats';
import { RecordingTransportLogger, startCallerApp } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer, freePort } from './support/nats-server';

jest.setTimeout(60_000);

describe('NATS unreachable at boot', () => {
  it('fails the application init with SERVING_UNAVAILABLE naming the servers and the options to fix', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    @Module({ imports: [BatchServingModule.forRoot({ transport: natsTransport({ servers: url, logger: new RecordingTransportLogger() }) })] })
    class AppModule {}
    const error = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingUnavailableError);
    expect((error as Error).message).toContain(url);
    expect((error as Error).message).toContain('natsTransport({ servers })');
    expect((error as Error).message).toContain('waitForServer');
  });

  it('with waitForServer, start() waits for a server that comes up later', async () => {
    const port = await freePort();
    const transport = natsTransport({ servers: `nats://127.0.0.1:${port}`, waitForServer: 20_000, ...FAST, logger: new RecordingTransportLogger() });
    let started = false;
    const starting = transport.start().then(() => (started = true));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(started).toBe(false);
    const server = await NatsServer.start({ port });
    try {
      await starting;
      expect(started).toBe(true);
    } finally {
      await transport.close();
      await server.dispose();
    }
  });

  it('waitForServer is bounded: past it, the same clear error, with no password in it', async () => {
    const port = await freePort();
    const transport = natsTransport({ servers: `nats://someone:secret@127.0.0.1:${port}`, waitForServer: 600, logger: new RecordingTransportLogger() });
    const error = await transport.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServingUnavailableError);
    expect((error as Error).message).toContain('within 600 ms');
    expect((error as Error).message).toContain(`nats://127.0.0.1:${port}`);
    expect((error as Error).message).not.toContain('secret');
    await transport.close();
  });
});

describe('a permission denial from the server', () => {
  let server: NatsServer;
  let record: ExecutionRecord;
  let member: MemberProcess;

  beforeAll(async () => {
    server = await NatsServer.start({
      config: [
        'authorization {',
        '  users = [',
        '    { user: member, password: m }',
        '    { user: caller, password: c, permissions: { publish: { deny: ["batch-serving.serve.>"] } } }',
        '  ]',
        '}',
      ].join('\n'),
    });
    record = new ExecutionRecord();
    member = await MemberProcess.start('A', server.url, record.file, [{ name: 'squares', kind: 'squares' }], { user: 'member', pass: 'm' });
  });

  afterAll(async () => {
    await member?.close();
    await server?.dispose();
    record?.dispose();
  });

  it("fails the dispatch it stopped at once, with the server's reason and the subject to allow", async () => {
    const app = await startCallerApp(server.url, [], { user: 'caller', pass: 'c' });
    try {
      await eventually(() => app.transport.members('squares').length === 1, 10_000, 'the member');
      const error = await app.client.dispatch('squares', 3).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServingUnavailableError);
      expect((error as Error).message).toMatch(/permissions violation/i);
      expect((error as Error).message).toContain(`batch-serving.serve.squares.${member.id}`);
      expect((error as Error).message).not.toContain('answer was lost');
      expect(record.values('squares')).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
