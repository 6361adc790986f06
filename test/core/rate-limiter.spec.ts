import { RateLimiter } from '../../lib/core/rate-limiter';

/** A batch of `cost` that started and finished at `at`. */
const ran = (limiter: RateLimiter, cost: number, at: number) => {
  limiter.record(cost).finishedAt = at;
};

describe('RateLimiter, a sliding window of batch starts and their cost', () => {
  it('keeps a batch in the window until `per` ms after it finished: the provider may count it late', () => {
    const limiter = new RateLimiter({ per: 1000, batches: 1 });
    const running = limiter.record(1);
    expect(limiter.delay(1, 5000)).toBe(Infinity);
    running.finishedAt = 300;
    expect(limiter.delay(1, 800)).toBe(500);
    expect(limiter.delay(1, 1300)).toBe(0);
  });

  it('lets batches start until the window holds `batches` of them, then says when the oldest leaves', () => {
    const limiter = new RateLimiter({ per: 1000, batches: 2 });
    expect(limiter.delay(1, 0)).toBe(0);
    ran(limiter, 1, 0);
    expect(limiter.delay(1, 100)).toBe(0);
    ran(limiter, 1, 100);
    expect(limiter.delay(1, 500)).toBe(500);
    expect(limiter.delay(1, 999)).toBe(1);
    expect(limiter.delay(1, 1000)).toBe(0);
  });

  it('slides: a start leaves the window exactly `per` ms after it, not at a reset', () => {
    const limiter = new RateLimiter({ per: 60_000, batches: 1 });
    ran(limiter, 1, 59_000);
    // A fixed per-minute window would reset at 60 000 and let a second batch through.
    expect(limiter.delay(1, 60_001)).toBe(58_999);
    expect(limiter.delay(1, 119_000)).toBe(0);
  });

  it('counts cost: a batch starts when the window, with it, costs at most `cost`', () => {
    const limiter = new RateLimiter({ per: 1000, cost: 100 });
    ran(limiter, 60, 0);
    ran(limiter, 30, 200);
    expect(limiter.delay(10, 300)).toBe(0);
    // 41 more needs the 60 of t=0 gone (at 1000); the 30 of t=200 may stay.
    expect(limiter.delay(41, 300)).toBe(700);
    // 80 needs both gone: the 30 of t=200 leaves at 1200.
    expect(limiter.delay(80, 300)).toBe(900);
    expect(limiter.used(1000)).toEqual({ batches: 1, cost: 30 });
  });

  it('holds a batch until both limits allow it', () => {
    const limiter = new RateLimiter({ per: 1000, batches: 3, cost: 100 });
    ran(limiter, 10, 0);
    ran(limiter, 10, 100);
    ran(limiter, 10, 200);
    expect(limiter.delay(10, 300)).toBe(700); // by count
    const byCost = new RateLimiter({ per: 1000, batches: 3, cost: 100 });
    ran(byCost, 90, 0);
    expect(byCost.delay(20, 300)).toBe(700);
  });

  it('lets a batch that costs more than the whole window start once the window is empty', () => {
    const limiter = new RateLimiter({ per: 1000, cost: 100 });
    limiter.share = 0.25;
    expect(limiter.cost).toBe(25);
    ran(limiter, 20, 0);
    expect(limiter.delay(40, 10)).toBe(990);
    expect(limiter.delay(40, 1000)).toBe(0);
  });

  it('takes its share of a fleet-wide limit', () => {
    const limiter = new RateLimiter({ per: 1000, batches: 10, cost: 1000 });
    limiter.share = 0.3;
    expect(limiter.batches).toBe(3);
    expect(limiter.cost).toBeCloseTo(300);
    for (let t = 0; t < 3; t++) (expect(limiter.delay(1, t)).toBe(0), ran(limiter, 1, t));
    expect(limiter.delay(1, 3)).toBe(997);
    limiter.share = 1;
    expect(limiter.delay(1, 3)).toBe(0);
    limiter.share = 0;
    expect(limiter.delay(1, 5000)).toBe(Infinity);
  });

  it('keeps any number of starts in order as its ring grows', () => {
    const limiter = new RateLimiter({ per: 100, batches: 50 });
    for (let t = 0; t < 50; t++) ran(limiter, 1, t);
    expect(limiter.delay(1, 50)).toBe(50);
    for (let t = 100; t < 120; t++) ran(limiter, 1, t);
    // Starts 0 … 20 have left; 21 … 49 and 100 … 119 remain.
    expect(limiter.used(120)).toEqual({ batches: 49, cost: 49 });
    expect(limiter.delay(1, 120)).toBe(0);
    ran(limiter, 1, 120);
    expect(limiter.delay(1, 120)).toBe(1);
  });
});
