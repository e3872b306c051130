/**
 * A protect that died mid-run, made the way an operator meets one: the real CLI, SIGKILLed
 * while a hook hangs. Its checkpoint stays `protecting` with a pending marker, a journal
 * that says the app was frozen (and the db's freeze started), and a lease whose holder is
 * gone; then the test runs the next protect in-process against the same bank.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBank } from '../../src/bank/index.js';
import { BUILTIN_PLUGINS } from '../../src/plugins/builtins.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import type { ProtectionPlugin } from '../../src/plugins/sdk.js';
import { LOCAL_PROVIDER_ID, type Provider } from '../../src/providers/provider.js';
import { spawnHoard } from '../cli/helpers.js';

export interface DeadProtect {
  dir: string;
  home: string;
  /** The dead checkpoint. */
  id: string;
  /** Lines the hooks wrote (`freeze app`, `thaw app` …), of every run against this home. */
  lines(): Promise<string[]>;
  /** The `local` provider of the home, in-process: built-in plugins, `without` left out, plus `extra`. */
  provider(options?: { without?: string[]; extra?: ProtectionPlugin[] }): Promise<Provider>;
}

/** Plan `dying`: exec.task app (frozen in prepareBegin, thawed in prepareFinish) with child db. */
export async function deadProtect(): Promise<DeadProtect> {
  const dir = await mkdtemp(join(tmpdir(), 'hoard-dead-'));
  const home = join(dir, 'home');
  const log = join(dir, 'hooks.log');
  const plan = join(dir, 'dying.yaml');
  const echo = (line: string) => `echo "${line}" >> ${log}`;
  await writeFile(
    plan,
    `name: dying
resources:
  - {type: exec.task, id: app, children: [db]}
  - {type: exec.task, id: db}
parameters:
  "exec.task#app":
    protect: {prepareBegin: '${echo('freeze app')}', prepareFinish: '${echo('thaw app')}'}
  "exec.task#db":
    protect: {prepareBegin: '${echo('freeze db')}; sleep 30', prepareFinish: '${echo('thaw db')}'}
`,
  );
  const lines = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  const { child, done } = spawnHoard(['--home', home, 'protect', plan]);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 20_000;
  while (!(await lines()).includes('freeze db')) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`the protect to kill never reached db's prepareBegin: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  await done;
  const bankPath = join(home, 'banks', 'local');
  const markers = await new FsBank(bankPath).list('index/pending/');
  if (markers.length !== 1) throw new Error(`expected one pending marker, found ${markers.join(', ')}`);
  const id = markers[0]!.slice('index/pending/'.length);
  return {
    dir,
    home,
    id,
    lines,
    async provider({ without = [], extra = [] } = {}) {
      const registry = new PluginRegistry('local');
      for (const [name, factory] of BUILTIN_PLUGINS)
        if (!without.includes(name)) registry.add(await factory({}));
      for (const plugin of extra) registry.add(plugin);
      return {
        id: LOCAL_PROVIDER_ID,
        name: 'local',
        description: 'the home of a dead protect, in-process',
        bankType: 'fs',
        encryption: 'none',
        bank: new FsBank(bankPath),
        registry,
        file: undefined,
        settings: {},
      };
    },
  };
}
