/** Runs several test files in one process (the importing is the running: node:test reports when they finish). */

for (const f of process.argv.slice(2)) await import(new URL(f, `file://${process.cwd()}/`).href);
