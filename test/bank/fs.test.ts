import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { HOST_KEY } from '../../src/bank/holder.js';
import { FsBank } from '../../src/bank/index.js';
import { bankConformance, rejectsWith } from './conformance.js';

bankConformance('FsBank', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hoard-bank-'));
  let now = Date.now();
  const clock = () => now;
  return {
    bank: new FsBank(root, { now: clock }),
    advance: (ms) => {
      now += ms;
    },
    reopen: () => new FsBank(root, { now: clock }),
    close: () => rm(root, { recursive: true, force: true }),
  };
});

/** Every file and directory under `dir`, relative, '/'-separated, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => e.split('\\').join('/')).sort();
}

describe('FsBank on disk', () => {
  let root: string;
  let bank: FsBank;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hoard-fsbank-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  const fresh = async (name: string) => {
    const dir = join(root, name);
    await mkdir(dir);
    bank = new FsBank(dir);
    return dir;
  };

  it('stores each key as a file under the root, its segments directories', async () => {
    const dir = await fresh('layout');
    await bank.put('checkpoints/id-1/meta.json', '{"a":1}');
    await bank.section('checkpoints/id-1/resources').put('type#x%2Fy/data', 'bytes');
    assert.equal(await readFile(join(dir, 'checkpoints', 'id-1', 'meta.json'), 'utf8'), '{"a":1}');
    assert.equal(
      await readFile(join(dir, 'checkpoints', 'id-1', 'resources', 'type#x%2Fy', 'data'), 'utf8'),
      'bytes',
    );
    assert.deepEqual(await tree(dir), [
      'checkpoints',
      'checkpoints/id-1',
      'checkpoints/id-1/meta.json',
      'checkpoints/id-1/resources',
      'checkpoints/id-1/resources/type#x%2Fy',
      'checkpoints/id-1/resources/type#x%2Fy/data',
    ]);
  });

  it('a lease is a JSON file under .leases/ named after the lease, with "/" as "!"', async () => {
    const dir = await fresh('lease-layout');
    const lease = await bank.section('sec').acquireLease('job', { owner: 'alice', ttlMs: 60_000 });
    const record = JSON.parse(await readFile(join(dir, '.leases', 'sec!job'), 'utf8'));
    assert.deepEqual(record, {
      owner: 'alice',
      token: lease.token,
      expiresAt: lease.expiresAt,
      holder: `${HOST_KEY}:${process.pid}`,
    });
    await bank.section('sec').renewLease(lease);
    await bank.section('sec').releaseLease(lease);
    assert.deepEqual(await tree(dir), ['.leases']);
  });

  it('sweep removes temporary files and empty directories crashes left, older than asked, and nothing else', async () => {
    const dir = await fresh('sweep');
    await bank.put('store/packs/ab/pack', 'pack');
    await bank.put('checkpoints/c1/meta.json', '{}');
    const old = new Date(Date.now() - 3_600_000);
    const plant = async (path: string, isDir = false) => {
      const full = join(dir, ...path.split('/'));
      if (isDir) await mkdir(full, { recursive: true });
      else await writeFile(full, 'partial');
      return full;
    };
    const stale = [
      await plant('store/packs/ab/.tmp-0123456789abcdef'),
      await plant('checkpoints/c1/.tmp-fedcba9876543210'),
      await plant('.tmp-1111111111111111'),
    ];
    const fresh1 = await plant('store/packs/ab/.tmp-2222222222222222');
    const emptyOld = await plant('checkpoints/c2/resources', true);
    for (const path of [...stale, emptyOld, join(dir, 'checkpoints', 'c2')]) await utimes(path, old, old);
    const report = await bank.sweep(60_000);
    assert.deepEqual(report, { temporary: 3, directories: 2, leases: 0 });
    assert.deepEqual(await tree(dir), [
      'checkpoints',
      'checkpoints/c1',
      'checkpoints/c1/meta.json',
      'store',
      'store/packs',
      'store/packs/ab',
      'store/packs/ab/.tmp-2222222222222222',
      'store/packs/ab/pack',
    ]);
    assert.ok(fresh1);
    assert.deepEqual(await bank.list(''), ['checkpoints/c1/meta.json', 'store/packs/ab/pack']);
  });

  it('stage writes a temporary in the prefix directory that no key shows; commit names it, discard and sweep remove it', async () => {
    const dir = await fresh('stage');
    const section = bank.section('store');
    const temps = async () => (await tree(dir)).filter((path) => path.includes('.tmp-'));
    const staged = section.stage!('packs/')!;
    await staged.write(Buffer.from('hello '));
    await staged.write(Buffer.from('world'));
    assert.deepEqual(await bank.list(''), [], 'nothing looks stored before the commit');
    const [temp, ...more] = await temps();
    assert.match(temp!, /^store\/packs\/\.tmp-[0-9a-f]{16}$/);
    assert.deepEqual(more, []);
    await staged.commit('packs/ab/pack');
    assert.equal((await bank.get('store/packs/ab/pack')).toString(), 'hello world');
    assert.deepEqual(await temps(), []);
    await assert.rejects(staged.write(Buffer.from('more')), /spent/);

    const dropped = section.stage!('packs/')!;
    await dropped.write(Buffer.from('partial'));
    await dropped.discard();
    assert.deepEqual(await temps(), []);

    // A process that died while writing leaves its temporary, which sweep removes once old.
    const crashed = section.stage!('packs/')!;
    await crashed.write(Buffer.from('partial'));
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(dir, ...(await temps())[0]!.split('/')), old, old);
    assert.equal((await bank.sweep(60_000)).temporary, 1);
    assert.deepEqual(await temps(), []);
    assert.deepEqual(await bank.list(''), ['store/packs/ab/pack']);

    assert.equal(bank.section('store', { readOnly: true }).stage!('packs/'), undefined);
  });

  it("a staged object's temporary stays fresh while it waits, so gc's sweep leaves it", async () => {
    const dir = await fresh('stage-fresh');
    const temps = async () => (await tree(dir)).filter((path) => path.includes('.tmp-'));
    const waiting = bank.section('store').stage!('packs/')!;
    await waiting.write(Buffer.from('half a pack'));
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(dir, ...(await temps())[0]!.split('/')), old, old);
    await sleep(1_200); // a pack waiting for the next resource's blobs
    assert.equal((await bank.sweep(60_000)).temporary, 0);
    await waiting.write(Buffer.from(', then the rest'));
    await waiting.commit('packs/cd/pack');
    assert.equal((await bank.get('store/packs/cd/pack')).toString(), 'half a pack, then the rest');
  });

  it('an encrypting FsBank does not stage (an object is sealed under a key bound to its name)', async () => {
    const dir = await fresh('stage-encrypted');
    process.env.HOARD_KDF_N ??= '1024';
    const encryption = { mode: 'password' as const, where: 'the test bank', password: async () => 'pw' };
    const encrypted = new FsBank(dir, { encryption });
    assert.equal(encrypted.stage!('packs/'), undefined);
    await encrypted.put('a', 'sealed');
    // Mode none stages, but refuses to commit into a bank that is encrypted, as its put does.
    const none = new FsBank(dir, { encryption: { mode: 'none' as const, where: 'the test bank' } });
    const staged = none.stage!('packs/')!;
    await staged.write(Buffer.from('plain'));
    await rejectsWith(staged.commit('packs/ab/pack'), 'ENCRYPTION_MISMATCH');
    assert.deepEqual(
      (await tree(dir)).filter((path) => path.startsWith('packs/')),
      [],
      'neither the object nor its temporary',
    );
  });

  it('a put refused before it reads its stream closes the stream (no file left for the garbage collector)', async () => {
    const dir = await fresh('refused-stream');
    await bank.put('a/b', 'under a');
    const source = join(dir, '..', 'refused-source');
    await writeFile(source, 'data');
    const stream = createReadStream(source);
    await rejectsWith(bank.put('a', stream), 'BANK_KEY_CONFLICT');
    assert.equal(stream.destroyed, true);
  });

  it('leaseInfo is visible to a second FsBank on the same root', async () => {
    const dir = await fresh('second');
    const lease = await bank.acquireLease('job', { owner: 'first', ttlMs: 60_000 });
    const second = new FsBank(dir);
    assert.deepEqual(await second.leaseInfo('job'), {
      owner: 'first',
      expiresAt: lease.expiresAt,
      live: true,
    });
    await rejectsWith(second.acquireLease('job', { owner: 'second', ttlMs: 1000 }), 'LEASE_HELD', /"first"/);
  });

  it('a put leaves no temporary file behind, and no reader or listing ever sees one', async () => {
    const dir = await fresh('atomic');
    const size = 1024 * 1024;
    await bank.put('obj', Buffer.alloc(size, 0));
    let writing = true;
    const writers = (async () => {
      await Promise.all(Array.from({ length: 24 }, (_, i) => bank.put('obj', Buffer.alloc(size, i + 1))));
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const [data, keys] = await Promise.all([bank.get('obj'), bank.list('')]);
      assert.equal(data.length, size);
      assert.ok(data.equals(Buffer.alloc(size, data[0])), 'a read mixed two versions');
      assert.deepEqual(keys, ['obj']);
      reads++;
    }
    await writers;
    assert.ok(reads > 0);
    assert.deepEqual(await tree(dir), ['obj']);
  });

  it('a temp file left by a crash is never a key, and does not stop later writes', async () => {
    const dir = await fresh('crash');
    await bank.put('d/k', 'kept');
    await writeFile(join(dir, '.tmp-0123456789abcdef'), 'half a write');
    await writeFile(join(dir, 'd', '.tmp-fedcba9876543210'), 'half a write');
    assert.deepEqual(await bank.list(''), ['d/k']);
    assert.deepEqual(await bank.list('d/', { order: 'desc' }), ['d/k']);
    await rejectsWith(bank.get('d/.tmp-fedcba9876543210'), 'BANK_KEY_INVALID');
    await bank.put('d/k', 'replaced');
    assert.equal((await bank.get('d/k')).toString(), 'replaced');
  });

  it('files that cannot be keys (dot names, bad characters, symlinks) are not listed', async () => {
    const dir = await fresh('foreign');
    await bank.put('real', 'x');
    await writeFile(join(dir, 'has space'), 'x');
    await mkdir(join(dir, '.hidden'));
    await writeFile(join(dir, '.hidden', 'k'), 'x');
    await symlink(join(dir, 'real'), join(dir, 'link'));
    assert.deepEqual(await bank.list(''), ['real']);
  });

  it('deleting a key removes the directories it leaves empty, but not the root', async () => {
    const dir = await fresh('prune');
    await bank.put('a/b/c/k', 'x');
    await bank.put('a/x', 'x');
    await bank.delete('a/b/c/k');
    assert.deepEqual(await tree(dir), ['a', 'a/x']);
    await bank.delete('a/x');
    assert.deepEqual(await tree(dir), []);
    await bank.put('a/b', 'x');
    assert.deepEqual(await tree(dir), ['a', 'a/b']);
  });

  it('a put and a delete racing in the same directory both succeed', async () => {
    await fresh('race');
    for (let i = 0; i < 40; i++) {
      await bank.put('r/s/old', 'x');
      await Promise.all([bank.delete('r/s/old'), bank.put('r/s/new', String(i))]);
      assert.equal((await bank.get('r/s/new')).toString(), String(i));
      assert.deepEqual(await bank.list(''), ['r/s/new']);
      await bank.delete('r/s/new');
    }
  });

  it('a leftover empty directory does not stop a key of the same name', async () => {
    const dir = await fresh('empty-dir');
    await mkdir(join(dir, 'k'));
    await bank.put('k', 'object');
    assert.equal((await bank.get('k')).toString(), 'object');
  });

  it('a narrow prefix or a small limit reads only the directories it needs', async () => {
    await fresh('lazy');
    for (const a of ['a', 'b', 'c']) {
      for (const b of ['1', '2', '3']) await bank.put(`${a}/${b}/k`, 'x');
    }
    const listed = async (prefix: string, options = {}) => {
      const { value: keys, reads } = await readsDuring(() => bank.list(prefix, options));
      return { keys, reads };
    };
    assert.deepEqual(await listed('b/2/'), { keys: ['b/2/k'], reads: ['/b/2'] });
    assert.deepEqual(await listed('b/2'), { keys: ['b/2/k'], reads: ['/b', '/b/2'] });
    assert.deepEqual(await listed('', { limit: 2 }), {
      keys: ['a/1/k', 'a/2/k'],
      reads: ['/', '/a', '/a/1', '/a/2'],
    });
    assert.deepEqual(await listed('', { limit: 1, order: 'desc' }), {
      keys: ['c/3/k'],
      reads: ['/', '/c', '/c/3'],
    });
    assert.deepEqual(await listed('', { limit: 1, marker: 'b/2/k' }), {
      keys: ['b/3/k'],
      reads: ['/', '/b', '/b/2', '/b/3'],
    });
  });

  /** Counts the directories `bank` reads while `fn` runs (readdir, through the CJS module). */
  async function readsDuring<T>(fn: () => Promise<T>): Promise<{ value: T; reads: string[] }> {
    const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
    const original = fsp.readdir;
    const reads: string[] = [];
    fsp.readdir = ((path: string, options: unknown) => {
      reads.push(path.slice(bank.root.length).split('\\').join('/') || '/');
      return (original as (p: string, o: unknown) => Promise<unknown>)(path, options);
    }) as typeof fsp.readdir;
    syncBuiltinESMExports();
    try {
      return { value: await fn(), reads };
    } finally {
      fsp.readdir = original;
      syncBuiltinESMExports();
    }
  }

  it('a directory unchanged for 2 s is listed from memory until anyone, in any process, changes it', async () => {
    const dir = await fresh('kept');
    for (const k of ['a/1', 'a/2', 'b/1']) await bank.put(k, 'x');
    // Another bank on the same root: its own memory, as another process would have.
    const other = new FsBank(dir);
    // Changed just now: a change in the same tick of the file system's clock would leave the
    // mtime as it is, so each listing reads the directories again.
    assert.deepEqual(await bank.list(''), ['a/1', 'a/2', 'b/1']);
    assert.deepEqual((await readsDuring(() => bank.list(''))).reads, ['/', '/a', '/b']);
    await new Promise((r) => setTimeout(r, 2100)); // the listings are kept once 2 s old
    assert.deepEqual(await bank.list(''), ['a/1', 'a/2', 'b/1']);
    const again = await readsDuring(() => bank.list(''));
    assert.deepEqual(again, { value: ['a/1', 'a/2', 'b/1'], reads: [] });

    await other.put('a/3', 'x');
    const added = await readsDuring(() => bank.list(''));
    assert.deepEqual(added, { value: ['a/1', 'a/2', 'a/3', 'b/1'], reads: ['/a'] });
    await other.delete('b/1'); // removes b/, which changes the root
    assert.deepEqual(await bank.list(''), ['a/1', 'a/2', 'a/3']);
    // A status change: a new name in place of the old one.
    await other.put('a/2.available', 'x');
    await other.delete('a/2');
    assert.deepEqual(await bank.list('a/'), ['a/1', 'a/2.available', 'a/3']);
    assert.deepEqual(await bank.list('a/', { order: 'desc' }), ['a/3', 'a/2.available', 'a/1']);
  });

  it('changes made in quick succession by another bank are each seen at once', async () => {
    await fresh('quick');
    const other = new FsBank(bank.root);
    for (let i = 0; i < 200; i++) {
      await other.put(`q/${String(i).padStart(3, '0')}`, 'x');
      if (i > 0) await other.delete(`q/${String(i - 1).padStart(3, '0')}`);
      assert.deepEqual(await bank.list('q/'), [`q/${String(i).padStart(3, '0')}`]);
    }
  });

  it('a damaged lease file counts as expired and is broken by the next acquirer', async () => {
    const dir = await fresh('damaged');
    await mkdir(join(dir, '.leases'));
    await writeFile(join(dir, '.leases', 'job'), '{"owner": "half');
    assert.equal(await bank.leaseInfo('job'), undefined);
    const lease = await bank.acquireLease('job', { owner: 'alice', ttlMs: 60_000 });
    assert.equal(await bank.isLeaseValid(lease), true);
  });

  it('a lock on a lease older than 30 s is left by a dead process and is removed', async () => {
    const dir = await fresh('stale-lock');
    const past = new FsBank(dir, { now: () => Date.now() - 3_600_000 });
    await past.acquireLease('job', { owner: 'dead', ttlMs: 1000 });
    const lock = join(dir, '.leases', '.lock-job');
    await mkdir(lock);
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(lock, minuteAgo, minuteAgo);
    const lease = await bank.acquireLease('job', { owner: 'alive', ttlMs: 60_000 });
    assert.equal((await bank.leaseInfo('job'))?.owner, 'alive');
    assert.equal(await bank.isLeaseValid(lease), true);
    assert.deepEqual(await tree(join(dir, '.leases')), ['job']);
  });

  it('a breaker that finds the lease locked does not remove what the lock holder put there', async () => {
    const dir = await fresh('live-lock');
    const past = new FsBank(dir, { now: () => Date.now() - 3_600_000 });
    await past.acquireLease('job', { owner: 'dead', ttlMs: 1000 });
    const lock = join(dir, '.leases', '.lock-job');
    await mkdir(lock);
    const acquiring = bank.acquireLease('job', { owner: 'late', ttlMs: 60_000 });
    // What a lock holder does: replace the stale lease, then unlock.
    const record = { owner: 'holder', token: 't'.repeat(32), expiresAt: Date.now() + 60_000 };
    await writeFile(join(dir, '.leases', '.tmp-holder'), JSON.stringify(record));
    await rename(join(dir, '.leases', '.tmp-holder'), join(dir, '.leases', 'job'));
    await rmdir(lock);
    await rejectsWith(acquiring, 'LEASE_HELD', /"holder"/);
    assert.equal((await bank.leaseInfo('job'))?.owner, 'holder');
  });
});

describe('FsBank shared by processes', () => {
  const bankModule = new URL('../../src/bank/index.js', import.meta.url).href;
  const child = `
    import { FsBank } from ${JSON.stringify(bankModule)};
    const bank = new FsBank(process.env.BANK_ROOT);
    process.stdout.write('ready\\n');
    process.stdin.once('data', async () => {
      let result;
      try {
        const lease = await bank.acquireLease(process.env.LEASE, { owner: 'child-' + process.pid, ttlMs: 60000 });
        result = { won: true, owner: lease.owner };
      } catch (error) {
        result = { won: false, code: error.code, message: error.message };
      }
      process.stdout.write(JSON.stringify(result) + '\\n');
      // Alive until told: a lease whose holder has exited is void, and the race is over only
      // once every child has tried.
      process.stdin.once('end', () => process.exit(0));
    });
  `;

  interface Outcome {
    won: boolean;
    owner?: string;
    code?: string;
    message?: string;
  }

  /** Starts `count` processes, lets them all acquire `lease` at once, and gives what each got. */
  async function race(root: string, lease: string, count: number): Promise<Outcome[]> {
    const children = Array.from({ length: count }, () => {
      const proc = spawn(process.execPath, ['--input-type=module', '-e', child], {
        env: { ...process.env, BANK_ROOT: root, LEASE: lease },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let out = '';
      const ready = new Promise<void>((resolve, reject) => {
        proc.stdout.setEncoding('utf8');
        proc.stdout.on('data', (chunk: string) => {
          out += chunk;
          if (out.startsWith('ready\n')) resolve();
        });
        proc.on('error', reject);
        proc.on('exit', (code) => reject(new Error(`child exited with ${code} before it was ready`)));
      });
      const answered = new Promise<Outcome>((resolve, reject) => {
        proc.stdout.on('data', () => {
          const line = out.slice('ready\n'.length);
          if (line.endsWith('\n')) resolve(JSON.parse(line) as Outcome);
        });
        proc.on('close', (code) => reject(new Error(`child exited with ${code}: ${out}`)));
      });
      const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
      return { proc, ready, answered, exited };
    });
    try {
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.proc.stdin.write('go\n');
      const outcomes = await Promise.all(children.map((c) => c.answered));
      for (const c of children) c.proc.stdin.end();
      await Promise.all(children.map((c) => c.exited));
      return outcomes;
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    }
  }

  function exactlyOneWinner(outcomes: Outcome[]): string {
    const winners = outcomes.filter((o) => o.won);
    assert.equal(winners.length, 1, JSON.stringify(outcomes));
    const owner = winners[0]!.owner!;
    for (const loser of outcomes.filter((o) => !o.won)) {
      assert.equal(loser.code, 'LEASE_HELD', loser.message);
      assert.ok(loser.message?.includes(`"${owner}"`), loser.message);
    }
    return owner;
  }

  it('a lease whose holder was killed is broken at once; one held elsewhere waits out its time', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-dead-'));
    try {
      const holder = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { FsBank } from ${JSON.stringify(bankModule)};
           await new FsBank(process.env.BANK_ROOT).acquireLease('gc', { owner: 'killed gc', ttlMs: 600000 });
           process.stdout.write('held\\n');
           setInterval(() => {}, 1000);`,
        ],
        { env: { ...process.env, BANK_ROOT: root }, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const bank = new FsBank(root);
      await rejectsWith(
        bank.acquireLease('gc', { owner: 'next gc', ttlMs: 1000 }),
        'LEASE_HELD',
        /killed gc/,
      );
      assert.equal((await bank.leaseInfo('gc'))?.holderGone, undefined);
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      const info = await bank.leaseInfo('gc');
      assert.equal(info?.holderGone, true);
      assert.ok(info!.expiresAt <= Date.now(), "a dead holder's lease reads as ended");
      const taken = await bank.acquireLease('gc', { owner: 'next gc', ttlMs: 1000 });
      assert.equal(taken.owner, 'next gc');
      await bank.releaseLease(taken);

      // The same record from another machine (another boot), or with no holder: only time ends it.
      for (const other of [`00000000-0000-0000-0000-000000000000/1:${holder.pid}`, undefined]) {
        const record = {
          owner: 'far away',
          token: 't',
          expiresAt: Date.now() + 600_000,
          ...(other ? { holder: other } : {}),
        };
        await writeFile(join(root, '.leases', 'far'), JSON.stringify(record));
        await rejectsWith(bank.acquireLease('far', { owner: 'here', ttlMs: 1000 }), 'LEASE_HELD', /far away/);
        await rm(join(root, '.leases', 'far'));
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('of six processes racing to break one stale lease, exactly one wins', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-race-'));
    try {
      const past = new FsBank(root, { now: () => Date.now() - 3_600_000 });
      for (const round of [1, 2, 3]) {
        await past.acquireLease(`job-${round}`, { owner: 'crashed', ttlMs: 1000 });
        const owner = exactlyOneWinner(await race(root, `job-${round}`, 6));
        assert.equal((await new FsBank(root).leaseInfo(`job-${round}`))?.owner, owner);
      }
      assert.deepEqual(await tree(join(root, '.leases')), ['job-1', 'job-2', 'job-3']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('of six processes racing to create one lease, exactly one wins', async () => {
    const root = await mkdtemp(join(tmpdir(), 'hoard-race-'));
    try {
      const owner = exactlyOneWinner(await race(root, 'fresh', 6));
      assert.equal((await new FsBank(root).leaseInfo('fresh'))?.owner, owner);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
