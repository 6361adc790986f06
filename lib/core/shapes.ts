/*
 * Why one instance of each per-call class lives as long as the process.
 *
 * V8 gives the objects of a class a hidden class (a map) per set of fields, and holds these maps
 * only through the objects that have them (the constructor holds only the first, empty one). A
 * full garbage collection that reduces memory (V8's memory reducer, once a process goes idle after
 * a burst, and `global.gc()`) frees a map whose objects are all gone, and with it every piece of
 * compiled code that checks for that map: for a dispatch or a batch, that is the whole compiled
 * dispatch path. The next burst then ran in the interpreter while V8 compiled it again: in
 * bench/overhead.js, whose rounds are such bursts, 1.3-1.4x DataLoader instead of 1.0-1.1x.
 * DataLoader is spared because its per-call objects are object literals, whose maps V8 holds.
 *
 * `keepShape` keeps one instance, which keeps its map and the maps it was built through. The
 * instance must reach the same map as the real ones: a field that starts as a small integer and
 * later holds a fraction (a time) gets a new map, so such fields start as a fraction (NaN).
 * test/core/compiled-code.spec.ts checks that the dispatch path outlives a full collection.
 */

const kept: object[] = [];

/** Keeps `instance`, and so its class's map, alive for the life of the process. */
export function keepShape<T extends object>(instance: T): T {
  kept.push(instance);
  return instance;
}
