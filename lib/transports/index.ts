export type { RemoteServing, ServingTransport } from './transport';
