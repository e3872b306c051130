/**
 * The crash campaign, sized for CI: the real CLI, SIGKILLs at random moments and (with strace)
 * at chosen system calls of protect, delete, gc and prune, with other protects and a database
 * writer running; after every round the invariants of campaign.ts must hold.
 *
 * HOARD_CRASH_SEED replays a run (the seed is printed with every failure and at the end);
 * HOARD_CRASH_ROUNDS sets the rounds of each part (default 4); HOARD_CRASH_VERBOSE=1 prints
 * every operation as it ends.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Campaign } from './campaign.js';
import { straceUnusable } from './cli-runner.js';
import { campaignSeed, Prng } from './prng.js';

const SEED = campaignSeed();
const ROUNDS = Number(process.env.HOARD_CRASH_ROUNDS) || 4;
const TTL_MS = 2000;
const VERBOSE = process.env.HOARD_CRASH_VERBOSE === '1';
const ON_CI = process.env.CI === 'true';
const STRACE = straceUnusable();

/** Runs `body` against a fresh campaign; keeps its directory if it fails. */
async function withCampaign(
  t: TestContext,
  part: string,
  seed: number,
  body: (c: Campaign) => Promise<void>,
) {
  const dir = await mkdtemp(join(tmpdir(), `hoard-crash-${part}-`));
  const replay = `replay: HOARD_CRASH_SEED=${SEED} HOARD_CRASH_ROUNDS=${ROUNDS} node --test build/test/reliability/`;
  const campaign = new Campaign({
    dir,
    rng: new Prng(seed),
    replay,
    ttlMs: TTL_MS,
    log: (line) => {
      if (VERBOSE) process.stderr.write(`${part} ${line}\n`);
    },
  });
  const started = Date.now();
  let passed = false;
  try {
    await campaign.setup(300, 3);
    await body(campaign);
    passed = true;
  } finally {
    await campaign.stop();
    const s = campaign.stats;
    t.diagnostic(
      `seed ${SEED}, ${ROUNDS} rounds, ${((Date.now() - started) / 1000).toFixed(0)} s: ${s.operations} operations, ` +
        `${s.killed} killed (${s.injected} by strace; ${s.injectedMissed} strace runs ended before their call), ` +
        `${s.verified} verifies and ${s.restored} restores checked, ${s.orphanedLocks} orphaned lease locks`,
    );
    for (const line of s.unexpected) t.diagnostic(`un-killed run failed: ${line}`);
    if (passed) await rm(dir, { recursive: true, force: true });
    else t.diagnostic(`${replay}; work directory kept: ${dir}`);
  }
}

describe('crash campaign: every available checkpoint survives kills of everything around it', () => {
  it('random SIGKILLs of concurrent protects, deletes, gc, prunes and verifies', async (t) => {
    await withCampaign(t, 'random', SEED, async (campaign) => {
      for (let round = 1; round <= ROUNDS; round++) {
        await campaign.beginRound(`random ${round}`);
        await campaign.randomRound();
        await campaign.settleAndCheck();
      }
      await campaign.beginRound('random final');
      await campaign.settleAndCheck(true);
      await campaign.deleteAllAndCollect();
    });
  });

  it('SIGKILLs injected by strace at the N-th rename, unlink, fsync, link, mkdir or rmdir of protect, delete, gc and prune', {
    skip: STRACE && !ON_CI ? `${STRACE}: the targeted kills need it (apt-get install strace)` : false,
  }, async (t) => {
    assert.equal(STRACE, undefined, `CI must run the targeted kills: ${STRACE}`);
    await withCampaign(t, 'strace', (SEED ^ 0x5bd1e995) >>> 0, async (campaign) => {
      await campaign.beginRound('calibrate');
      await campaign.calibrate();
      await campaign.settleAndCheck();
      for (let round = 1; round <= ROUNDS; round++) {
        await campaign.beginRound(`strace ${round}`);
        await campaign.targetedRound();
        await campaign.settleAndCheck();
      }
      await campaign.beginRound('strace final');
      await campaign.settleAndCheck(true);
      await campaign.deleteAllAndCollect();
    });
  });
});
