/* Error and log texts of the NATS transport: each names the serving, what happened, and the fix. */
import { describe } from '../../core/messages';

const list = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');

export const invalidOption = (option: string, value: unknown, rule: string) =>
  `natsTransport() has an invalid ${option}: ${describe(value)}. It must be ${rule}.`;

export const notStarted = (name: string) =>
  `Cannot dispatch to serving '${name}': the NATS transport is not started. ` +
  'Call start() first (BatchServingModule does it at init).';

export const transportClosed = () =>
  'The NATS transport is closed and cannot start again: create a new one with natsTransport().';

export const transportNotStarted = () =>
  'The NATS transport is not started: call start() first (BatchServingModule does it at init).';

export const transportClosing = () =>
  'The dispatch ended because the NATS transport of this process is closing (the application shuts down).';

export const closed = (name: string) =>
  `Cannot complete the dispatch to serving '${name}': the NATS transport of this process is closed.`;

export const noMember = (name: string, known: readonly string[]) =>
  `No process on NATS hosts serving '${name}'. ` +
  (known.length ? `Servings hosted on NATS: ${list(known)}. ` : 'No process on NATS hosts any serving. ') +
  'Start a process that provides it, or check the name and the subjectPrefix of every process.';

export const unreachable = (name: string) =>
  `No member of serving '${name}' is reachable now: every process that hosted it left, died or was refused. ` +
  'Retry once a member is back.';

export const noneAccepted = (name: string, tries: number) =>
  `No member of serving '${name}' accepted the dispatch after ${tries} tr${tries === 1 ? 'y' : 'ies'}: ` +
  'each one had left the group by the time the request arrived. Retry once a member is back.';

export const memberGone = (name: string, member: string, ms: number) =>
  `The member holding this dispatch to serving '${name}' (process ${member}) was not heard from for ${ms} ms and is taken for dead. ` +
  'The dispatch may or may not have run, so it is not retried.';

export const memberLeft = (name: string, member: string) =>
  `The member holding this dispatch to serving '${name}' (process ${member}) left before answering. ` +
  'The dispatch may or may not have run, so it is not retried.';

export const lost = (name: string, member: string) =>
  `The member holding this dispatch to serving '${name}' (process ${member}) no longer knows it: its answer was lost ` +
  '(a NATS reconnection, or a message dropped on the way). The dispatch may or may not have run, so it is not retried.';

export const streamEventsLost = (name: string, member: string, missing: number) =>
  `The stream from serving '${name}' (process ${member}) completed, but ${missing} of its batch events were lost on the way ` +
  '(a NATS reconnection). Its values ran; subscribe again to get them all.';

export const unanswered = (name: string, member: string, ms: number) =>
  `The member holding this dispatch to serving '${name}' (process ${member}) did not answer for ${ms} ms though it still sends heartbeats: ` +
  'it may be unable to read this process\'s messages (a different codec or protocol version) or be blocked. ' +
  'The dispatch may or may not have run, so it is not retried.';

/** A codec's error on one line (V8's message for a cycle spans several). */
const reason = (error: unknown) => (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ');

export const inputNotEncodable = (name: string, error: unknown) =>
  `An input of a dispatch to serving '${name}' cannot be encoded by the transport's codec: ${reason(error)}. ` +
  'Send only what the codec can carry (no cycles or symbols; with jsonCodec no BigInt either), or configure natsTransport({ codec }).';

export const answerNotEncodable = (error: unknown) =>
  `The answer to this dispatch cannot be encoded by the transport's codec: ${reason(error)}. ` +
  'Return only what the codec can carry (no cycles or symbols; with jsonCodec no BigInt either), or configure natsTransport({ codec }).';

export const inputTooLarge = (name: string, bytes: number, max: number) =>
  `Cannot send the dispatch to serving '${name}': its inputs encode to ${bytes} bytes, above the NATS server's max_payload of ${max} bytes. ` +
  'Send smaller inputs (dispatchMany with an iterable sends batchSize at a time), or raise max_payload in the nats-server configuration.';

export const answerTooLarge = (bytes: number, max: number) =>
  `The member's answer to this dispatch encodes to ${bytes} bytes, above the NATS server's max_payload of ${max} bytes, so it cannot be sent back. ` +
  'Dispatch fewer inputs at a time, or raise max_payload in the nats-server configuration.';

export const withdrawnByCaller = (origin: string) => `Withdrawn: the calling process ${origin} gave up on it (deadline, abort, or it took this member for dead).`;

export const callerGone = (origin: string) =>
  `Dropped: the calling process ${origin} was not heard from for too long.`;

export const badEntry = (name: string, problem: string) =>
  `A member of serving '${name}' refused this dispatch: its request carried ${problem}. Every process of a fleet must run a compatible version.`;

export const pastLease = (member: string, overdueMs: number) =>
  `The member (process ${member}) is past its lease by ${overdueMs} ms (it stalled, or could not reach the NATS server), ` +
  'so its callers may have taken it for dead: it does not start this dispatch. Nothing of it ran after the lease.';

export const denied = (name: string, subject: string, reason: string) =>
  `The NATS server refused the dispatch to serving '${name}': ${reason}. ` +
  `Allow this process to publish to '${subject}' (the subjects '<subjectPrefix>.serve.>') in its NATS user's permissions.`;

export const serversUnreachable = (servers: string, waitedMs: number, error: unknown) =>
  `The NATS transport cannot reach a NATS server at ${servers}${waitedMs > 0 ? ` within ${waitedMs} ms` : ''}: ${reason(error)}. ` +
  'Start nats-server there, or fix natsTransport({ servers }) (and user/pass, token or tls if the server asks for them); ' +
  'to wait for a server that starts after this process, set natsTransport({ waitForServer: ms }).';

export const notSent = (name: string) =>
  `Cannot send the dispatch to serving '${name}': the NATS connection refused it (closed or draining).`;

export const answerMismatch = (name: string, got: number, expected: number) =>
  `A member of serving '${name}' answered with ${got} result(s) for ${expected} input(s); every process of a fleet must run a compatible version.`;

// ---- log lines ---------------------------------------------------------------------------------

export const refusedMessage = (subject: string, reason: string) =>
  `Refused a message on '${subject}': ${reason}. Every process of a fleet must run a compatible version with the same codec and subjectPrefix.`;

export const suppressed = (count: number, seconds: number) =>
  `Refused ${count} more malformed message(s) in the last ${seconds} s without logging each.`;

export const leaseLapsed = (overdueMs: number, count: number) =>
  `NATS transport: past its lease by ${overdueMs} ms (the process stalled, or could not reach the server): ` +
  `failed the ${count} dispatch(es) it held for other processes rather than start them after their callers may have given up.`;

export const connected = (id: string, server: string) => `NATS transport ${id} connected to ${server}.`;
export const disconnected = (server: string) => `NATS transport lost its connection to ${server}; reconnecting.`;
export const reconnected = (server: string) => `NATS transport reconnected to ${server}.`;
export const connectionError = (error: unknown) => `NATS transport: ${describe(error)}`;
export const sendFailed = (subject: string, error: unknown) => `NATS transport could not publish on '${subject}': ${describe(error)}`;
export const handlerFailed = (subject: string, error: unknown) => `NATS transport failed handling a message on '${subject}': ${describe(error)}`;
