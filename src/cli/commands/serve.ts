import type { Command } from 'commander';
import { HoardError } from '../../errors.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Run the REST API and dashboard (not built yet)')
    .option('--port <n>', 'port to listen on')
    .action(() => {
      throw new HoardError('USAGE', 'hoard serve is not built yet (see "Not done yet" in the README)');
    });
}
