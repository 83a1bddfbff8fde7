/** The bridge's node table: paths follow renames, hard links share a node, FORGET frees, reused inode numbers get new ids. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeTable } from '../../src/p2k/nodes.js';

const DIR = 0o040000;
const REG = 0o100000;

test('paths are rebuilt from parents, so a directory rename moves its whole subtree', () => {
  const t = new NodeTable('/mnt', 2);
  const a = t.found(t.root, 'a', 10, DIR);
  const b = t.found(a, 'b', 11, DIR);
  const f = t.found(b, 'f', 12, REG);
  assert.equal(t.path(f), '/mnt/a/b/f');
  t.renamed(t.root, 'a', t.root, 'z', false);
  assert.equal(t.path(f), '/mnt/z/b/f');
  assert.equal(t.child(t.root, 'a'), undefined);
  assert.equal(t.child(t.root, 'z'), a);
  t.renamed(b, 'f', t.root, 'g', false);
  assert.equal(t.path(f), '/mnt/g');
});

test('hard links share one node id; unlinking one name keeps the other', () => {
  const t = new NodeTable('/', 2);
  const f = t.found(t.root, 'x', 20, REG);
  const g = t.found(t.root, 'y', 20, REG);
  assert.equal(f, g);
  assert.equal(f.nlookup, 2);
  t.unlinkEntry(t.root, 'x');
  assert.equal(t.path(f), '/y');
  t.unlinkEntry(t.root, 'y');
  assert.equal(t.path(f), null, 'detached');
  // The inode number is reused by a new file: a new node id, while the old one lives until FORGET.
  const h = t.found(t.root, 'new', 20, REG);
  assert.notEqual(h.id, f.id);
  assert.ok(t.get(f.id));
  t.forget(f.id, 2);
  assert.equal(t.get(f.id), undefined);
});

test('FORGET frees nodes, and a parent lives while a child names it', () => {
  const t = new NodeTable('/mnt', 2);
  const d = t.found(t.root, 'd', 30, DIR);
  const f = t.found(d, 'f', 31, REG);
  t.forget(d.id, 1);
  assert.ok(t.get(d.id), 'kept for its child');
  assert.equal(t.path(f), '/mnt/d/f');
  t.forget(f.id, 1);
  assert.equal(t.get(f.id), undefined);
  assert.equal(t.get(d.id), undefined);
  assert.equal(t.size, 1);
  t.forget(1, 100);
  assert.ok(t.get(1), 'the root is never forgotten');
});

test('rename over an existing name detaches the replaced file; exchange swaps', () => {
  const t = new NodeTable('/mnt', 2);
  const a = t.found(t.root, 'a', 40, REG);
  const b = t.found(t.root, 'b', 41, REG);
  t.renamed(t.root, 'a', t.root, 'b', false);
  assert.equal(t.path(a), '/mnt/b');
  assert.equal(t.path(b), null);
  const c = t.found(t.root, 'c', 42, DIR);
  t.renamed(t.root, 'b', t.root, 'c', true);
  assert.equal(t.path(a), '/mnt/c');
  assert.equal(t.path(c), '/mnt/b');
  assert.equal(t.child(t.root, 'b'), c);
  // A name found holding a different file (changed behind our back) is re-associated.
  const d = t.found(t.root, 'c', 99, REG);
  assert.notEqual(d, a);
  assert.equal(t.path(a), null);
});
