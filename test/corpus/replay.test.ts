// Every saved fuzz reproducer (test/corpus/<fs>/*.json) is replayed: the invariants must hold on it now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadReproducers } from '../../src/testing/corpus.js';
import { runImage } from '../../src/testing/fuzz.js';
import { allComponents } from '../../src/fs/all.js';

const cases = loadReproducers('test/corpus');

test('the corpus loads', () => {
  for (const c of cases) assert.ok(c.image.length > 0, c.path);
});

for (const c of cases) {
  test(`reproducer ${c.path} (${c.note.violation.kind}) no longer violates`, async () => {
    const component = allComponents.find((x) => x.name === c.note.fs || (x.aliases ?? []).includes(c.note.fs));
    assert.ok(component, `component ${c.note.fs} exists`);
    const v = await runImage({ component, image: c.image, writable: true }, c.image);
    assert.equal(v, null, v ? `${v.kind}: ${v.message}` : '');
  });
}
