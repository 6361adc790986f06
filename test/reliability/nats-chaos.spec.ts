/*
 * Chaos over NATS: a real nats-server on a free port, 3 member processes hosting one slow-ish
 * serving (4 ms per batch), and this process as the caller, with many concurrent callers sending
 * steady load. During the load: a member is SIGKILLed every few seconds and restarted, one member is
 * SIGSTOPped for a while and SIGCONTed, nats-server is restarted once (same port), and member B,
 * which reaches the server through a relay, is cut off from the network for a while.
 *
 * Checked: every dispatch settles (none hung past a generous bound), no value executed twice on any
 * member (from the execution record, which survives SIGKILL), every failure is a typed
 * SERVING_UNAVAILABLE (no deadlines are given), no caller got another's result, and there are
 * successes again once the chaos is over, and no value started executing after its caller was told
 * it failed (leases and cancels). Reported (not asserted): failures against the requests in
 * flight on the killed / stopped members, and throughput per second of the run.
 *
 * Every process of the fleet uses the NATS test helpers' FAST options (heartbeatInterval 200 ms,
 * memberTimeout 1 s, instead of the defaults 1 s / 3 s), so that deaths are seen in about a second
 * and the CI size stays short; the full size uses the same options.
 */
import type { ChildProcess } from 'node:child_process';
import { BatchServingError } from 'nestjs-batch-serving';
import { startCallerApp, type CallerApp } from '../nats/support/caller-app';
import { ExecutionRecord, MemberProcess, eventually, FAST, type MemberServing } from '../nats/support/members';
import { NatsServer } from '../nats/support/nats-server';
import { Partition } from '../nats/support/partition';
import { FULL, nextTurn, report, scaled, seeded, sleep } from './support/scale';

const SERVING = 'chaos';
const BATCH_MS = 4;
const SEED = 0xc4a05;
const CALLERS = scaled({ ci: 100, full: 200 });
/** Planned length of the load; it runs on for at least QUIET after the last chaos event finished. */
const DURATION = scaled({ ci: 9_000, full: 60_000 });
const QUIET = scaled({ ci: 3_000, full: 8_000 });
/** A dispatch not settled this long after it was made counts as hung. No dispatch carries a deadline. */
const HUNG_AFTER = scaled({ ci: 10_000, full: 30_000 });
/** SIGKILL (then restart) a member at these times (ms from the start of the load). */
const KILLS = scaled({ ci: [1_000, 3_000], full: [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 44_000, 49_000] });
/** SIGSTOP member C at `at`, SIGCONT it `ms` later. */
const STOP = scaled({ ci: { at: 1_500, ms: 2_000 }, full: { at: 18_000, ms: 10_000 } });
/** Stop nats-server at this time, start it again on the same port `down` ms later. */
const NATS_RESTART = scaled({ ci: { at: 5_000, down: 500 }, full: { at: 40_000, down: 1_000 } });
/** Cut member B off the network at `at`, for `ms`. */
const PARTITION = scaled({ ci: { at: 6_500, ms: 2_000 }, full: { at: 52_000, ms: 5_000 } });

jest.setTimeout(FULL ? 300_000 : 90_000);

const servingConfig: MemberServing[] = [{ name: SERVING, kind: 'slow', delay: BATCH_MS, options: { batchSize: 16, batchTimeout: 2 } }];

interface Slot {
  label: 'A' | 'B' | 'C';
  incarnation: number;
  proc: MemberProcess;
}

let server: NatsServer | undefined;
/** Member B's way to the server. */
let relay: Partition | undefined;
let record: ExecutionRecord | undefined;
let caller: CallerApp | undefined;
const slots: Slot[] = [];
/** Every member process ever started, for afterAll. */
const started: MemberProcess[] = [];
/** Member id on NATS -> 'A.1', 'B.2', …: which incarnation of which slot. */
const names = new Map<string, string>();
let chaos: Promise<unknown> | undefined;
/** Ends the callers' loops; afterAll sets it too, so that a test that failed mid-load leaves no loop running. */
const load = { stop: false };

/** The child process of a member, for SIGSTOP/SIGCONT (the helper offers kill and close only). */
const childOf = (member: MemberProcess) => (member as unknown as { child: ChildProcess }).child;

async function startMember(label: Slot['label'], incarnation: number): Promise<MemberProcess> {
  const proc = await MemberProcess.start(`${label}.${incarnation}`, label === 'B' ? relay!.url : server!.url, record!.file, servingConfig);
  started.push(proc);
  names.set(proc.id, `${label}.${incarnation}`);
  return proc;
}

afterAll(async () => {
  load.stop = true;
  // A chaos step still running (the test failed or timed out) may be starting a member: let it finish.
  if (chaos) await within(chaos.catch(() => undefined), 30_000);
  await caller?.close().catch(() => undefined);
  for (const proc of started) {
    const child = childOf(proc);
    if (proc.alive && child.pid) process.kill(child.pid, 'SIGCONT');
  }
  await Promise.all(started.map((proc) => proc.kill()));
  relay?.heal();
  await relay?.close();
  await server?.dispose();
  record?.dispose();
});

/**
 * Dispatches this process has sent to `member` and not yet settled, from the caller's own
 * bookkeeping (internals, read for the report only; null if their shape changed).
 */
function inFlightOn(app: CallerApp, member?: string): number | null {
  const calls = (app.transport.caller(SERVING) as unknown as { calls?: unknown }).calls;
  if (!(calls instanceof Map)) return null;
  let n = 0;
  for (const call of calls.values() as Iterable<{ member: string; seq: number }>) if (call.seq !== 0 && (member === undefined || call.member === member)) n++;
  return n;
}

/** What a SERVING_UNAVAILABLE says happened, from its message. */
function kindOf(message: string): string {
  if (message.includes('taken for dead')) return 'member silent';
  if (message.includes('left before answering')) return 'member left';
  if (message.includes('no longer knows it')) return 'answer lost';
  if (message.includes('did not answer for')) return 'unanswered';
  if (message.includes('is reachable now')) return 'no member reachable';
  if (message.includes('accepted the dispatch')) return 'none accepted';
  if (message.includes('refused it')) return 'not sent';
  if (message.includes('past its lease')) return 'member past its lease';
  return 'other';
}

interface Failure {
  /** When the dispatch was made, and when it failed (ms from the start of the load). */
  sentAt: number;
  t: number;
  /** When it failed, on the wall clock the members' execution record uses. */
  wall: number;
  value: number;
  code: string;
  kind: string;
  member: string | undefined;
  typed: boolean;
}

describe(`chaos over NATS (${CALLERS} callers, 3 members, ${DURATION / 1000} s)`, () => {
  it('SIGKILL + restart, SIGSTOP/SIGCONT, nats-server restart, partition: nothing hung, nothing executed twice, nothing started after its caller failed, only SERVING_UNAVAILABLE, throughput recovers', async () => {
    server = await NatsServer.start();
    relay = await Partition.between(server.port);
    record = new ExecutionRecord();
    for (const [i, proc] of (await Promise.all((['A', 'B', 'C'] as const).map((label) => startMember(label, 1)))).entries()) {
      slots.push({ label: (['A', 'B', 'C'] as const)[i], incarnation: 1, proc });
    }
    caller = await startCallerApp(server.url);
    const app = caller;
    await eventually(() => app.transport.members(SERVING).length === 3, 15_000, 'the caller seeing 3 members');

    // ---- the load ---------------------------------------------------------------------------
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const second = (t: number) => Math.floor(t / 1000);
    let nextValue = 1;
    let issued = 0;
    let ok = 0;
    let wrong = 0;
    let lateSettled = 0;
    const okPerSecond: number[] = [];
    const failPerSecond: number[] = [];
    const failures: Failure[] = [];
    const outstanding = new Map<number, number>();
    const bump = (list: number[], t: number) => (list[second(t)] = (list[second(t)] ?? 0) + 1);

    const loop = async (index: number) => {
      const rng = seeded(SEED + index);
      while (!load.stop) {
        const value = nextValue++;
        const at = now();
        issued++;
        outstanding.set(value, at);
        try {
          const out = await app.client.dispatch(SERVING, value);
          if (out !== value) wrong++;
          ok++;
          bump(okPerSecond, now());
        } catch (error) {
          const t = now();
          const typed = error instanceof BatchServingError;
          const message = error instanceof Error ? error.message : String(error);
          const member = /\(process ([^)]+)\)/.exec(message)?.[1];
          failures.push({ sentAt: at, t, wall: Date.now(), value, code: typed ? error.code : `untyped: ${message}`, kind: kindOf(message), member, typed });
          bump(failPerSecond, t);
          // Do not spin while nobody can serve: a short, seeded back-off.
          await sleep(5 + Math.floor(rng() * 15));
        } finally {
          outstanding.delete(value);
          if (now() - at > HUNG_AFTER) lateSettled++;
        }
        const think = rng();
        if (think < 0.5) await nextTurn();
        else await sleep(Math.floor(think * 4));
      }
    };
    const callers = Promise.all(Array.from({ length: CALLERS }, (_, i) => loop(i)));

    // ---- the chaos --------------------------------------------------------------------------
    const events: Array<Record<string, unknown>> = [];
    const until = async (t: number) => {
      const wait = t - now();
      if (wait > 0) await sleep(wait);
    };

    const stopSlot = slots.find((s) => s.label === 'C')!;
    const stopped = (async () => {
      await until(STOP.at);
      const proc = stopSlot.proc;
      const member = proc.id;
      const inFlight = inFlightOn(app, member);
      const at = now();
      process.kill(childOf(proc).pid!, 'SIGSTOP');
      await sleep(STOP.ms);
      process.kill(childOf(proc).pid!, 'SIGCONT');
      events.push({ event: 'SIGSTOP', member: names.get(member), id: member, at: Math.round(at), resumedAt: Math.round(now()), inFlight });
    })();

    const killing = (async () => {
      const steps: Array<{ at: number; run: () => Promise<void> }> = [];
      KILLS.forEach((at, i) => {
        steps.push({
          at,
          run: async () => {
            // Rotate A, B, C, skipping the member that is stopped right now.
            const t = now();
            const isStopped = (s: Slot) => s === stopSlot && t >= STOP.at - 200 && t <= STOP.at + STOP.ms + 200;
            let slot = slots[i % 3];
            if (isStopped(slot)) slot = slots[(i + 1) % 3];
            const member = slot.proc.id;
            const inFlight = inFlightOn(app, member);
            const killedAt = now();
            await slot.proc.kill();
            slot.incarnation++;
            slot.proc = await startMember(slot.label, slot.incarnation);
            events.push({ event: 'SIGKILL', member: names.get(member), id: member, at: Math.round(killedAt), inFlight, restartedAs: names.get(slot.proc.id), restartMs: Math.round(now() - killedAt) });
          },
        });
      });
      steps.push({
        at: NATS_RESTART.at,
        run: async () => {
          const inFlight = inFlightOn(app);
          const at = now();
          await server!.stop();
          await sleep(NATS_RESTART.down);
          await server!.run();
          events.push({ event: 'nats-server restart', at: Math.round(at), upAgainAt: Math.round(now()), inFlight });
        },
      });
      // After the kills (the steps run in turn): member B, as alive then, whatever its incarnation.
      steps.push({
        at: PARTITION.at,
        run: async () => {
          const member = slots.find((s) => s.label === 'B')!.proc.id;
          const inFlight = inFlightOn(app, member);
          const at = now();
          relay!.sever();
          await sleep(PARTITION.ms);
          relay!.heal();
          events.push({ event: 'partition', member: names.get(member), id: member, at: Math.round(at), healedAt: Math.round(now()), inFlight });
        },
      });
      steps.sort((a, b) => a.at - b.at);
      for (const step of steps) {
        await until(step.at);
        await step.run();
      }
    })();
    chaos = Promise.all([stopped, killing]);
    await chaos;
    const chaosOverAt = now();

    // ---- the end of the load: every dispatch must settle ------------------------------------
    await until(Math.max(DURATION, chaosOverAt + QUIET));
    load.stop = true;
    const loadEndedAt = now();
    const drained = await within(callers.then(() => true), HUNG_AFTER);
    const hungAtEnd = outstanding.size;
    const hung = hungAtEnd + lateSettled;
    // Let the members finish what they hold (the resumed member's backlog) before reading the record.
    await app.close();
    caller = undefined;
    if (!drained) await callers;
    await sleep(500);

    // ---- figures ----------------------------------------------------------------------------
    const executed = record.values(SERVING);
    const seen = new Map<number, string>();
    const twice: Array<{ value: number; members: string[] }> = [];
    for (const { member, value } of executed) {
      const first = seen.get(value as number);
      if (first !== undefined) twice.push({ value: value as number, members: [first, member] });
      else seen.set(value as number, member);
    }
    const failedValues = new Set(failures.map((f) => f.value));
    // Leases and cancels: a value whose caller was told it failed never starts after that.
    const startedAt = new Map(executed.map(({ value, at }) => [value as number, at]));
    const startedAfterFailed = failures.filter((f) => (startedAt.get(f.value) ?? -Infinity) > f.wall);
    const codes: Record<string, number> = {};
    const kinds: Record<string, number> = {};
    for (const f of failures) {
      codes[f.code] = (codes[f.code] ?? 0) + 1;
      kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
    }
    // Per event. A 'member silent' failure names the member that held it: it belongs to the latest
    // SIGKILL / SIGSTOP of that member (process id) before it. Other failures belong to the
    // nats-server restart when they came within 3 memberTimeouts of it.
    const memberEvents = events.filter((e) => e.event !== 'nats-server restart');
    const owner = new Map<Failure, Record<string, unknown>>();
    const restart = events.find((e) => e.event === 'nats-server restart');
    let unattributed = 0;
    for (const f of failures) {
      const mine = memberEvents.filter((e) => e.id === f.member && (e.at as number) <= f.t && f.kind === 'member silent');
      const event = mine.length ? mine.reduce((a, b) => ((b.at as number) > (a.at as number) ? b : a)) : undefined;
      if (event) owner.set(f, event);
      else if (restart && f.t >= (restart.at as number) && f.t <= (restart.upAgainAt as number) + 3 * FAST.memberTimeout) owner.set(f, restart);
      else unattributed++;
    }
    for (const event of events) {
      const mine = failures.filter((f) => owner.get(f) === event);
      event.failed = mine.length;
      if (event === restart) {
        event.byKind = count(mine.map((f) => f.kind));
        continue;
      }
      const at = event.at as number;
      const ranThere = new Set(executed.filter((e) => e.member === event.member).map((e) => e.value as number));
      const after = mine.filter((f) => f.sentAt > at);
      // Sent before the event: held by the member when it died / stopped. Sent after: reached it
      // before anyone knew (the server still routing to a dead socket, or a stopped process that
      // NATS still sees as connected, until memberTimeout).
      event.failedSentBefore = mine.length - after.length;
      event.failedSentAfter = after.length;
      event.lastSentAfterMs = after.length ? Math.round(Math.max(...after.map((f) => f.sentAt - at))) : null;
      event.failedThatRanThere = mine.filter((f) => ranThere.has(f.value)).length;
      delete event.id;
    }
    const lastSecond = second(loadEndedAt) - 1; // the last whole second of the load
    const recoveryFrom = second(chaosOverAt) + 1;
    const okAfterChaos = okPerSecond.slice(recoveryFrom, lastSecond + 1).reduce((a, b) => a + (b ?? 0), 0);
    const seconds = Array.from({ length: second(loadEndedAt) + 1 }, (_, s) => okPerSecond[s] ?? 0);
    const failSeconds = Array.from({ length: second(loadEndedAt) + 1 }, (_, s) => failPerSecond[s] ?? 0);

    report('nats chaos', {
      callers: CALLERS,
      batchMs: BATCH_MS,
      heartbeatInterval: FAST.heartbeatInterval,
      memberTimeout: FAST.memberTimeout,
      durationMs: Math.round(loadEndedAt),
      chaosOverAtMs: Math.round(chaosOverAt),
      issued,
      ok,
      failed: failures.length,
      hung,
      hungAtEnd,
      settledAfterBound: lateSettled,
      wrong,
      executed: executed.length,
      executedTwice: twice.length,
      executedTwiceSample: twice.slice(0, 5),
      failedThatRanSomewhere: failures.filter((f) => seen.has(f.value)).length,
      startedAfterCallerFailed: startedAfterFailed.length,
      failedDistinct: failedValues.size,
      unattributed,
      codes,
      kinds,
      events,
      okPerSecond: seconds,
      failedPerSecond: failSeconds,
      okAfterChaos,
      okInLastSecond: seconds[lastSecond],
    });

    expect(hung).toBe(0);
    expect(twice).toEqual([]);
    expect(startedAfterFailed).toEqual([]);
    expect(wrong).toBe(0);
    expect(failures.filter((f) => !f.typed)).toEqual([]);
    expect(Object.keys(codes).filter((code) => code !== 'SERVING_UNAVAILABLE')).toEqual([]);
    expect(ok + failures.length).toBe(issued);
    // Throughput recovers: successes after the chaos, and in the last whole second of the load.
    expect(okAfterChaos).toBeGreaterThan(0);
    expect(seconds[lastSecond]).toBeGreaterThan(0);
  });
});

/** `promise`'s value, or undefined after `ms`; the timer does not outlive the wait. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function count(items: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[item] = (out[item] ?? 0) + 1;
  return out;
}
