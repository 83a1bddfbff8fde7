/**
 * Values that are there at once or only after a wait. Calls that usually find what they need in memory
 * return the value itself and a promise only when they had to wait: an `await` on every call, even of a
 * value already there, costs a promise and a turn of the microtask queue, several times the work of a
 * system call answered from memory.
 */

/** A value now, or a promise of it when getting it had to wait. */
export type Awaitable<T> = T | Promise<T>;

/** Applies `f` to `v` at once when `v` is a value, once it resolves when it is a promise. */
export function andThen<T, U>(v: Awaitable<T>, f: (t: T) => Awaitable<U>): Awaitable<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}
