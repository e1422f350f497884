/** The `camwire` command line. Every command has --help; --json prints machine output. */
import { Command, CommanderError, Option } from 'commander';
import { native, nativePath, packageSourceHash } from '../native';
import { CamwireError } from '../errors';
import { makeOutput, Output, printError } from './output';

const { version } = require('../../package.json') as { version: string };

/**
 * The command groups, in the order of the help, each built (and its module
 * loaded) only when asked for: a process runs one command, and building
 * every group's commands and options cost about a quarter of a short
 * command's JavaScript time (commander and the modules under them).
 */
const GROUPS: Array<{ names: string[]; build: (out: () => Output) => Command[] }> = [
  { names: ['pki'], build: (out) => [(require('./pki') as typeof import('./pki')).pkiCommand(out)] },
  { names: ['mqtt'], build: (out) => [(require('./mqtt') as typeof import('./mqtt')).mqttCommand(out)] },
  {
    names: ['upload', 'presign'],
    build: (out) => {
      const u = require('./upload') as typeof import('./upload');
      return [u.uploadCommand(out), u.presignCommand()];
    },
  },
  { names: ['kvs'], build: (out) => [(require('./kvs') as typeof import('./kvs')).kvsCommand(out)] },
  { names: ['ptp'], build: (out) => [(require('./ptp') as typeof import('./ptp')).ptpCommand(out)] },
  { names: ['demo'], build: (out) => [(require('./demo') as typeof import('./demo')).demoCommand(out)] },
  { names: ['device'], build: (out) => [(require('./device') as typeof import('./device')).deviceCommand(out)] },
  { names: ['testbench'], build: (out) => [(require('./testbench') as typeof import('./testbench')).testbenchCommand(out)] },
  {
    names: ['fleet'],
    build: (out) => {
      // `fleet run` (the engine, ts/cli/fleet-run.ts) joins the fleet command here; the page is ts/fleet/html.ts, loaded when asked for.
      const fleet = (require('./fleet') as typeof import('./fleet')).fleetCommand(out);
      (require('./fleet-run') as typeof import('./fleet-run')).addFleetRun(fleet, out, (r) =>
        (require('../fleet/html') as typeof import('../fleet/html')).renderFleetHtml(r),
      );
      return [fleet];
    },
  },
];

/**
 * The groups a command line needs: the one its first word names; none for
 * `probe` or a bare --version; every group otherwise (no argv, no command,
 * `help`, a command that does not exist), so help and suggestions stay whole.
 */
function groupsFor(argv: string[] | undefined): typeof GROUPS {
  if (!argv) return GROUPS;
  const word = argv.slice(2).find((a) => !a.startsWith('-'));
  if (word === 'probe' || (word === undefined && argv.some((a) => a === '--version' || a === '-V'))) return [];
  const named = GROUPS.find((g) => word !== undefined && g.names.includes(word));
  return named ? [named] : GROUPS;
}

/**
 * The program. With `argv`, only the command group it names is built (every
 * group when it names none, or one that does not exist, so help and
 * suggestions stay whole); without, every group.
 */
export function buildProgram(argv?: string[]): Command {
  const program = new Command('camwire')
    .description('camera-to-cloud toolkit: own-CA identity, MQTT over mutual TLS, pre-signed uploads, PTP and KVS')
    .version(version)
    .option('--json', 'machine-readable output', false)
    .showHelpAfterError()
    .exitOverride();
  const out = (): Output => makeOutput(program.opts<{ json: boolean }>().json);

  for (const g of groupsFor(argv)) for (const c of g.build(out)) program.addCommand(c);
  program
    .command('probe')
    .description('show the native addon: where it loaded from, its modules, the libraries it runs with, the sources it was built from')
    .action(() => {
      const p = native().probe();
      const shipped = packageSourceHash();
      const sourcesMatch = shipped === undefined ? null : shipped === p.sourceHash;
      const inside = p.dependencies === 'static' ? 'inside the addon' : "the system's";
      out().result(
        { file: nativePath(), ...p, packageSourceHash: shipped ?? null, sourcesMatch },
        [
          `addon    ${nativePath()}`,
          `version  ${p.version} (core C++ ${p.coreCxxStandard}, N-API ${p.napiVersion})`,
          `modules  ${p.modules.length ? p.modules.join(', ') : '(none yet)'}`,
          `openssl  ${p.openssl.runtime}, Node's own (built against ${p.openssl.compiled})`,
          `libcurl  ${p.libcurl.runtime}, ${inside}`,
          `libusb   ${p.libusb ? `${p.libusb.runtime} (${p.libusb.compiled}), ${inside}` : 'not compiled in'}`,
          `sources  ${p.sourceHash}${sourcesMatch === null ? '' : sourcesMatch ? " (the package's cpp/ and binding/)" : ` (NOT the package's: ${shipped}; rebuild)`}`,
        ].join('\n'),
      );
    });

  // Commands built apart from the program do not inherit exitOverride.
  for (const c of allCommands(program)) c.exitOverride().showHelpAfterError('(add --help for usage)');
  for (const c of [program, ...allCommands(program)]) for (const o of c.options) nameOptionInErrors(o);
  return program;
}

/** A value an option's parser refuses is reported with the option's name: `--rate: "abc" is not a positive number`. */
function nameOptionInErrors(o: Option): void {
  const parse = o.parseArg;
  if (!parse) return;
  o.parseArg = <T>(value: string, previous: T): T => {
    try {
      return parse.call(o, value, previous) as T;
    } catch (e) {
      if (e instanceof CamwireError && e.code === 'CLI_BAD_ARGUMENT') {
        throw new CamwireError('CLI_BAD_ARGUMENT', `${o.long ?? o.flags}: ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
      }
      throw e;
    }
  };
}

export function allCommands(c: Command): Command[] {
  return c.commands.flatMap((s) => [s, ...allCommands(s)]);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(argv);
  // --json is global but people type it after the subcommand too.
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (json) args.splice(2, 0, '--json');
  // With --json a usage error is one JSON error document, like every other error.
  if (json) for (const c of [program, ...allCommands(program)]) c.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  try {
    await program.parseAsync(args);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; without --json usage errors were already printed by commander
      if (json && e.exitCode !== 0) {
        printError(new CamwireError('CLI_USAGE', e.message.replace(/^error: /, ''), { hint: 'add --help for usage', details: { commander: e.code } }), true);
      }
      return e.exitCode;
    }
    printError(e, json);
    return 1;
  }
}

/**
 * Ends the process once a command's outcome is decided. Node exits by itself
 * when nothing is left to do; if something still holds the event loop (a
 * socket a failed peer never closed, a forgotten timer), the process ends
 * anyway after `graceMs` with the command's exit code, so a decided command
 * can never hang. CAMWIRE_DEBUG names what was still open.
 */
export function finish(code: number, graceMs = Number(process.env['CAMWIRE_EXIT_GRACE_MS'] ?? 2000)): void {
  process.exitCode = code;
  // Once the loop is empty, leave through process.exit: Node 20's own teardown
  // after a natural exit (FreeEnvironment -> CleanupHandles) was seen spinning
  // at 100% CPU forever now and then after `testbench run` (every thread idle,
  // one socket handle left); process.exit does not take that path.
  process.once('beforeExit', () => process.exit(code));
  const timer = setTimeout(() => {
    if (process.env['CAMWIRE_DEBUG']) {
      const open = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'TTYWrap');
      process.stderr.write(`camwire: still open ${graceMs} ms after the command ended: ${open.join(', ') || 'timers'}; exiting\n`);
    }
    process.exit(code);
  }, graceMs);
  timer.unref();
}

if (require.main === module) {
  void main(process.argv).then(finish);
}
