/*
 * Why one instance of each per-call class lives as long as the process.
 *
 * V8 gives the objects of a class a hidden class (a map) per set of fields and field kinds, and
 * holds these maps only through the objects that have them (the constructor holds only the first,
 * empty one). Once no object has a map, it survives a couple of full collections more (V8's
 * --retain-maps-for-n-gc, 2), and none that reduces memory (the memory reducer's, when a process
 * goes idle after a burst). Then it is freed, and with it every piece of compiled code that checks
 * for it: for a dispatch or a batch, the whole compiled dispatch path. The next burst ran in the
 * interpreter while V8 compiled the path again (BENCHMARKS.md, "Wall clock: the compiled path
 * outlives a full collection"). DataLoader is spared: its per-call objects are object literals,
 * whose maps the literal's boilerplate (in its function's feedback) keeps.
 *
 * `keepShape` keeps one instance, which keeps its map and the maps it was built through. The kept
 * instance must reach the map the real ones have. A field that first holds a small integer (a Smi,
 * within ±2^31 in 64-bit Node) and later any other number (a fraction, such as a time) moves its objects to a new
 * map, which the kept one does not have; so such fields start as NaN, not 0. (A priority beyond
 * ±2^31 does that to `Batch.priority`: that serving then recompiles after idle spells, nothing
 * worse.) test/core/compiled-code.spec.ts checks the dispatch path after such collections.
 */

const kept: object[] = [];

/** A callback that does nothing, for the kept instances' constructors. */
export const noop = (): void => undefined;

/** Keeps `instance`, and so its class's map, alive for the life of the process. */
export function keepShape<T extends object>(instance: T): T {
  kept.push(instance);
  return instance;
}
