// docs/writing-a-driver.md: every code snippet tagged with a file is an exact excerpt of that file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const doc = readFileSync('docs/writing-a-driver.md', 'utf8');
const fence = /```ts file=(\S+)\n([\s\S]*?)\n```/g;
const snippets = [...doc.matchAll(fence)].map((m) => ({ file: m[1]!, code: m[2]! }));

test('the tutorial has its snippets', () => {
  assert.ok(snippets.length >= 6, `${snippets.length} snippets`);
});

for (const [i, s] of snippets.entries()) {
  test(`snippet ${i + 1} is an excerpt of ${s.file}`, () => {
    const src = readFileSync(s.file, 'utf8');
    assert.ok(src.includes(s.code), `snippet ${i + 1} no longer matches ${s.file}`);
  });
}
