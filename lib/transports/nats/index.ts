import { NatsTransport } from './nats.transport';
import { resolveNatsOptions, type NatsTransportOptions } from './options';

export { NatsTransport } from './nats.transport';
export { jsonCodec, msgpackCodec, type Codec } from './codec';
export { DEFAULT_NATS_OPTIONS, type NatsTransportOptions, type TransportLogger } from './options';
export { NatsRemoteServing } from './remote-serving';

/**
 * The NATS transport for `BatchServingModule.forRoot({ transport })`: every process that hosts a
 * serving joins its group, and a dispatch reaches a member elsewhere when the serving is not hosted
 * here. Options are checked now (ServingConfigurationError); the connection is made at start().
 *
 * ```ts
 * import { natsTransport } from 'nestjs-batch-serving/nats';
 * BatchServingModule.forRoot({ transport: natsTransport({ servers: 'nats://127.0.0.1:4222' }) });
 * ```
 */
export function natsTransport(options: NatsTransportOptions = {}): NatsTransport {
  return new NatsTransport(resolveNatsOptions(options));
}
