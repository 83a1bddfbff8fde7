// Loaded into every test process by run-tests.js, before node:test.
//
// Node 20's test harness enables an async hook with a destroy callback for the whole process, only to
// attribute an uncaught error to the test whose asynchronous activity raised it. With that hook on,
// every promise pays an init call and a destroy-tracking weak reference; the kernel creates millions
// of promises, and the tracking cost a third of the suite's CPU time. This turns that one hook into a
// no-op. An uncaught error or unhandled rejection still fails its file: the harness reports it as a
// top-level diagnostic naming the error and sets a failing exit code; it just cannot name the test.
import asyncHooks from 'node:async_hooks';

const createHook = asyncHooks.createHook;
asyncHooks.createHook = function (callbacks) {
  if (new Error().stack?.includes('internal/test_runner/harness')) {
    asyncHooks.createHook = createHook;
    return { enable() { return this; }, disable() { return this; } };
  }
  return createHook.call(this, callbacks);
};
