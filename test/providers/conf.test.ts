import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HoardError } from '../../src/errors.js';
import { maskSecrets, parseConf } from '../../src/providers/conf.js';

describe('provider files', () => {
  it('reads the seed format, with repeated keys collected in order', () => {
    const conf = parseConf(
      `# a provider
[provider]
name = local
id = 2e0c8826-81d6-44f5-bbe5-8f46a98c5845
description = Local filesystem bank with all built-in plugins
bank = fs
plugin = exec.task
plugin = fs.directory
[fs]
path = /var/lib/hoard/bank
`,
      'local.conf',
    );
    assert.deepEqual(conf.provider!.plugin, ['exec.task', 'fs.directory']);
    assert.equal(conf.fs!.path, '/var/lib/hoard/bank');
  });

  it('names file and line of a broken line', () => {
    assert.throws(
      () => parseConf('[provider]\nname = x\nthis line is wrong\n', '/etc/hoard/providers/x.conf'),
      (e: unknown) =>
        e instanceof HoardError &&
        e.code === 'PROVIDER_INVALID' &&
        e.message.startsWith('/etc/hoard/providers/x.conf:3: expected'),
    );
    assert.throws(
      () => parseConf('name = x\n', 'y.conf'),
      /y\.conf:1: a "key = value" line before any \[section\]/,
    );
  });

  it('never shows secrets', () => {
    assert.deepEqual(
      maskSecrets({ path: '/b', password: 'hunter2', secret_key: 's', access_key: 'AK', region: 'eu' }),
      {
        path: '/b',
        password: '********',
        secret_key: '********',
        access_key: '********',
        region: 'eu',
      },
    );
  });
});
