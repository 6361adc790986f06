import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { natsTransport, type NatsTransport, type NatsTransportOptions } from 'nestjs-batch-serving/nats';
import { RecordingTransportLogger } from './support/caller-app';
import { ExecutionRecord, FAST, MemberProcess, eventually } from './support/members';
import { NatsServer } from './support/nats-server';

jest.setTimeout(90_000);

/**
 * The permissions layout of the README's Security section, as a nats-server configuration: callers
 * and members each publish and subscribe only where their role needs. `batch-serving` is the
 * default subjectPrefix.
 */
const PERMISSIONS = `
authorization {
  CALLER = {
    publish:   ["batch-serving.hb", "batch-serving.hb.query", "batch-serving.serve.>", "batch-serving.in.*.c", "batch-serving.in.*.h"]
    subscribe: ["batch-serving.hb", "batch-serving.hb.query", "batch-serving.in.>"]
  }
  MEMBER = {
    publish:   ["batch-serving.hb", "batch-serving.hb.query", "batch-serving.in.*.r", "batch-serving.in.*.h"]
    subscribe: ["batch-serving.hb", "batch-serving.hb.query", "batch-serving.serve.>", "batch-serving.in.>"]
  }
  users = [
    { user: "api", password: "api-secret", permissions: $CALLER }
    { user: "worker", password: "worker-secret", permissions: $MEMBER }
  ]
}
`;

const open: Array<{ close(): unknown }> = [];
let record: ExecutionRecord;

beforeAll(() => {
  record = new ExecutionRecord();
});

afterAll(async () => {
  for (const thing of open.reverse()) await thing.close();
  record?.dispose();
});

async function server(config: string): Promise<NatsServer> {
  const started = await NatsServer.start({ config });
  open.push({ close: () => started.dispose() });
  return started;
}

async function caller(options: NatsTransportOptions): Promise<{ transport: NatsTransport; log: RecordingTransportLogger }> {
  const log = new RecordingTransportLogger();
  const transport = natsTransport({ ...FAST, logger: log, ...options });
  await transport.start();
  open.push(transport);
  return { transport, log };
}

describe('the permissions layout of the README', () => {
  it('serves callers through members, and a caller can neither answer for a member nor read requests', async () => {
    const nats = await server(PERMISSIONS);
    const member = await MemberProcess.start('W', nats.url, record.file, [{ name: 'squares', kind: 'squares' }], { user: 'worker', pass: 'worker-secret' });
    open.push(member);
    const { transport } = await caller({ servers: nats.url, user: 'api', pass: 'api-secret' });
    await expect(transport.remote('squares').dispatch(12)).resolves.toBe(144);

    // A rogue caller: its forged answer is refused by the server; it cannot listen to requests.
    const rogue = await connect({ servers: nats.url, user: 'api', pass: 'api-secret' });
    open.push(rogue);
    const errors: string[] = [];
    void (async () => {
      for await (const status of rogue.status()) if (status.type === 'error') errors.push(String(status.error));
    })();
    const reached: string[] = [];
    const worker = await connect({ servers: nats.url, user: 'worker', pass: 'worker-secret' });
    open.push(worker);
    worker.subscribe(`batch-serving.in.${transport.self}.r`, { callback: (_, msg) => void reached.push(msg.subject) });
    await worker.flush();
    rogue.publish(`batch-serving.in.${transport.self}.r`, 'FORGED');
    rogue.subscribe('batch-serving.serve.>', { callback: () => undefined });
    await rogue.flush().catch(() => undefined);
    await eventually(() => errors.length >= 2, 10_000, 'two permission violations');
    expect(errors.join('\n')).toMatch(/Permissions Violation for Publish to "batch-serving\.in\.\w+\.r"/i);
    expect(errors.join('\n')).toMatch(/Permissions Violation for Subscription to "batch-serving\.serve\.>"/i);
    expect(reached).toEqual([]);
  });
});

describe('TLS with user and password', () => {
  let dir: string;
  beforeAll(() => {
    // A throwaway CA and a server certificate for 127.0.0.1, made for this spec only.
    dir = mkdtempSync(join(tmpdir(), 'batch-serving-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'server.pem', '-extfile', writeExt(dir));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves a caller that trusts the CA and logs in; refuses one without the password, and one that does not trust the certificate', async () => {
    const nats = await server(`
tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }
authorization { user: "fleet", password: "fleet-secret" }
`);
    const secure = { user: 'fleet', pass: 'fleet-secret', tls: { caFile: join(dir, 'ca.pem') } };
    const member = await MemberProcess.start('T', nats.url, record.file, [{ name: 'squares', kind: 'squares' }], secure);
    open.push(member);
    const { transport } = await caller({ servers: nats.url, ...secure });
    await expect(transport.remote('squares').dispatch(7)).resolves.toBe(49);
    await expect(connect({ servers: nats.url, tls: { caFile: join(dir, 'ca.pem') }, maxReconnectAttempts: 0, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: nats.url, user: 'fleet', pass: 'fleet-secret', tls: {}, reconnect: false })).rejects.toThrow(/certificate/i);
  });
});

/** The extension file that names the server certificate's address (what the client checks against). */
function writeExt(dir: string): string {
  const file = join(dir, 'ext.cnf');
  writeFileSync(file, 'subjectAltName = IP:127.0.0.1, DNS:localhost\n');
  return file;
}
