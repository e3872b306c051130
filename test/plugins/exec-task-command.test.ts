import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HoardError } from '../../src/errors.js';
import { runCommand } from '../../src/plugins/exec-task/command.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoard-exec-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `promise`, expecting a HoardError with `code`, and returns it. */
async function rejection(promise: Promise<unknown>, code: string): Promise<HoardError> {
  const error = await promise.then(
    () => assert.fail(`expected a ${code} rejection`),
    (error: unknown) => error,
  );
  assert.ok(error instanceof HoardError, `expected a HoardError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/**
 * Whether the process is dead: gone, or a zombie waiting to be reaped. A killed grandchild is
 * reparented to init, and some container inits reap late; a zombie runs nothing.
 */
async function isDead(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

async function pidFrom(file: string): Promise<number> {
  const pid = Number((await readFile(file, 'utf8')).trim());
  assert.ok(Number.isInteger(pid) && pid > 0, `no pid in ${file}`);
  return pid;
}

/** Timers the process holds, so a test can check that runCommand left none behind. */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
}

describe('runCommand: success', () => {
  it('runs the command with /bin/sh, its env over process.env, in cwd', async () => {
    const result = await runCommand(
      'printf "%s %s %s" "$HOARD_HOOK" "$HOARD_RESOURCE_ID" "$(pwd)"; echo note >&2',
      {
        env: { HOARD_HOOK: 'prepareBegin', HOARD_RESOURCE_ID: 'app one' },
        cwd: dir,
      },
    );
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdoutTail, `prepareBegin app one ${dir}`);
    assert.equal(result.stderrTail, 'note\n');
    assert.ok(result.durationMs >= 0);
  });

  it('passes every chunk to onOutput, in order, per stream', async () => {
    const seen: Record<string, string> = { stdout: '', stderr: '' };
    await runCommand('echo one; echo two >&2; echo three', {
      onOutput: (stream, chunk) => {
        seen[stream] += chunk.toString();
      },
    });
    assert.deepEqual(seen, { stdout: 'one\nthree\n', stderr: 'two\n' });
  });

  it('leaves no timers and no abort listener behind, whether it succeeds or fails', async () => {
    const controller = new AbortController();
    const timers = activeTimers();
    await runCommand('true', { signal: controller.signal, timeoutMs: 5000 });
    await rejection(runCommand('exit 1', { signal: controller.signal, timeoutMs: 5000 }), 'HOOK_FAILED');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.equal(activeTimers(), timers);
  });

  it('does not wait for a background process that keeps stdout open', async () => {
    const pidFile = join(dir, 'daemon.pid');
    const started = performance.now();
    const result = await runCommand('sleep 1000 & echo $! > "$PID_FILE"; echo started', {
      env: { PID_FILE: pidFile },
    });
    const pid = await pidFrom(pidFile);
    process.kill(pid, 'SIGKILL');
    assert.equal(result.stdoutTail, 'started\n');
    assert.ok(performance.now() - started < 1500, 'resolved soon after the shell exited');
  });
});

describe('runCommand: failure', () => {
  it('a non-zero exit rejects with the exit code and the end of stderr', async () => {
    const error = await rejection(
      runCommand('echo "starting up" >&2; echo "disk full" >&2; exit 3', { env: { TOKEN: 's3cret-value' } }),
      'HOOK_FAILED',
    );
    assert.match(error.message, /^command "echo .*exit 3" exited with code 3: starting up \| disk full$/);
    assert.equal(error.details?.exitCode, 3);
    assert.equal(error.details?.signal, null);
    assert.equal(error.details?.stderrTail, 'starting up\ndisk full\n');
    assert.ok(
      !JSON.stringify(error.toJSON()).includes('s3cret-value'),
      'environment values stay out of errors',
    );
  });

  it('a command that does not exist fails with sh status 127 and says so', async () => {
    const error = await rejection(runCommand('hoard-no-such-command --flag'), 'HOOK_FAILED');
    assert.equal(error.details?.exitCode, 127);
    assert.match(
      error.message,
      /exited with code 127 \(command not found\): .*hoard-no-such-command.*not found/,
    );
  });

  it('death by a signal rejects with the signal', async () => {
    const error = await rejection(runCommand('kill -KILL $$'), 'HOOK_FAILED');
    assert.equal(error.details?.exitCode, null);
    assert.equal(error.details?.signal, 'SIGKILL');
    assert.match(error.message, /was killed by signal SIGKILL \(no stderr\)$/);
  });

  it('a missing working directory fails to start and names the directory', async () => {
    const cwd = join(dir, 'missing');
    const error = await rejection(runCommand('true', { cwd }), 'HOOK_FAILED');
    assert.match(error.message, new RegExp(`could not be started in "${cwd}"`));
  });

  it('an onOutput that throws kills the command and rejects with what it threw', async () => {
    const thrown = new Error('log sink closed');
    const pidFile = join(dir, 'sink.pid');
    await assert.rejects(
      runCommand('sleep 1000 & echo $! > "$PID_FILE"; echo go; wait', {
        env: { PID_FILE: pidFile },
        onOutput: () => {
          throw thrown;
        },
      }),
      (error) => error === thrown,
    );
    assert.ok(await isDead(await pidFrom(pidFile)));
  });
});

describe('runCommand: large output', () => {
  it('keeps only the tail of 20 MB of stderr, correct and in bounded memory', async () => {
    setFlagsFromString('--expose-gc');
    setFlagsFromString('--no-concurrent-array-buffer-sweeping');
    const gc = runInNewContext('gc') as () => void;
    const last = 2_800_000;
    let expectedBytes = 0;
    for (let digits = 1, low = 1; low <= last; digits++, low *= 10) {
      expectedBytes += (Math.min(last, low * 10 - 1) - low + 1) * (digits + 1);
    }
    let expectedTail = '';
    for (let n = last; expectedTail.length < 4096; n--) expectedTail = `${n}\n${expectedTail}`;
    expectedTail = expectedTail.slice(-4096);

    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    let received = 0;
    let heldMidway = Number.NaN;
    const result = await runCommand(`seq 1 ${last} >&2; echo done`, {
      onOutput: (stream, chunk) => {
        if (stream !== 'stderr') return;
        const before = received;
        received += chunk.length;
        if (before < 10_000_000 && received >= 10_000_000) {
          gc();
          heldMidway = process.memoryUsage().arrayBuffers - baseline;
        }
      },
    });
    assert.ok(expectedBytes > 20_000_000);
    assert.equal(received, expectedBytes);
    assert.equal(result.stderrTail, expectedTail);
    assert.equal(result.stdoutTail, 'done\n');
    assert.ok(heldMidway < 2_000_000, `held ${heldMidway} bytes after 10 MB of output`);
  });

  it('the tail never starts inside a UTF-8 character', async () => {
    // 'é' is two bytes; 5 bytes of "éé" cut one byte into the first character.
    const result = await runCommand(`printf 'ééé' >&2`, { stderrTailBytes: 5 });
    assert.equal(result.stderrTail, 'éé');
  });
});

describe('runCommand: timeout and abort', () => {
  it('a timeout kills the whole process group, background grandchild included', async () => {
    const pidFile = join(dir, 'timeout.pid');
    const started = performance.now();
    const error = await rejection(
      runCommand('sleep 1000 & echo $! > "$PID_FILE"; echo working >&2; wait', {
        env: { PID_FILE: pidFile },
        timeoutMs: 300,
      }),
      'HOOK_TIMEOUT',
    );
    assert.match(error.message, /^command ".*" did not finish within 300 ms; its process group was killed$/);
    assert.equal(error.details?.stderrTail, 'working\n');
    assert.ok(await isDead(await pidFrom(pidFile)), 'the background sleep is dead');
    assert.ok(performance.now() - started < 1500, 'SIGTERM was enough: no wait for the kill grace');
  });

  it('a group that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const pidFile = join(dir, 'stubborn.pid');
    await rejection(
      runCommand(`trap '' TERM; sleep 1000 & echo $! > "$PID_FILE"; wait`, {
        env: { PID_FILE: pidFile },
        timeoutMs: 200,
        killGraceMs: 200,
      }),
      'HOOK_TIMEOUT',
    );
    assert.ok(await isDead(await pidFrom(pidFile)));
  });

  it('aborting kills the process group and rejects with the signal reason', async () => {
    const pidFile = join(dir, 'abort.pid');
    const controller = new AbortController();
    const reason = new HoardError('TASK_CANCELLED', 'the run was cancelled');
    await assert.rejects(
      runCommand('sleep 1000 & echo $! > "$PID_FILE"; echo ready; wait', {
        env: { PID_FILE: pidFile },
        signal: controller.signal,
        onOutput: () => controller.abort(reason),
      }),
      (error) => error === reason,
    );
    assert.ok(await isDead(await pidFrom(pidFile)));
  });

  it('an abort without a reason rejects with TASK_CANCELLED', async () => {
    const controller = new AbortController();
    const error = await rejection(
      runCommand('echo ready; sleep 1000', { signal: controller.signal, onOutput: () => controller.abort() }),
      'TASK_CANCELLED',
    );
    assert.match(
      error.message,
      /^command "echo ready; sleep 1000" was cancelled and its process group was killed$/,
    );
  });

  it('an already aborted signal rejects without starting the command', async () => {
    const marker = join(dir, 'never');
    const error = await rejection(
      runCommand(`touch "${marker}"`, { signal: AbortSignal.abort() }),
      'TASK_CANCELLED',
    );
    assert.match(error.message, /before it started/);
    await assert.rejects(readFile(marker), { code: 'ENOENT' });
  });
});
