import { Command, Option } from 'commander';
import { positiveInt } from './args';
import { Output } from './output';
import { CamwireError } from '../errors';

type Out = () => Output;

/** `camwire testbench`: the local bench a camera's firmware is tested on (docs/testbench.md). */
export function testbenchCommand(out: Out): Command {
  const bench = new Command('testbench').description('the local bench that tests a camera: its CA, certificates and device configuration');
  bench
    .command('init')
    .description('a bench directory: CA, server certificate (SAN = --host), the device certificate and key, bench.json and device.json')
    .requiredOption('--out <dir>', 'the bench directory')
    .requiredOption('--thing <name>', 'the device under test (thing name, MQTT client id, certificate CN, KVS stream)')
    .option('--host <addr...>', 'host names or IPs the camera reaches the bench by (default 127.0.0.1; the first goes in device.json)')
    .addOption(new Option('--key-type <type>', 'key type').choices(['rsa', 'ec']).default('ec'))
    .addOption(new Option('--mqtt-port <n>', 'MQTT over mutual TLS').argParser(positiveInt))
    .addOption(new Option('--s3-port <n>', 'the S3 store').argParser(positiveInt))
    .addOption(new Option('--kvs-port <n>', 'the KVS endpoint').argParser(positiveInt))
    .addOption(new Option('--credentials-port <n>', 'the IoT credentials provider').argParser(positiveInt))
    .option('--force', 'replace an existing bench', false)
    .action(
      async (o: {
        out: string;
        thing: string;
        host?: string[];
        keyType: 'rsa' | 'ec';
        mqttPort?: number;
        s3Port?: number;
        kvsPort?: number;
        credentialsPort?: number;
        force: boolean;
      }) => {
        const { initBench } = require('../testbench') as typeof import('../testbench');
        const r = await initBench({
          out: o.out,
          thing: o.thing,
          ...(o.host ? { hosts: o.host } : {}),
          keyType: o.keyType,
          ports: {
            ...(o.mqttPort ? { mqtt: o.mqttPort } : {}),
            ...(o.s3Port ? { s3: o.s3Port } : {}),
            ...(o.kvsPort ? { kvs: o.kvsPort } : {}),
            ...(o.credentialsPort ? { iotCredentials: o.credentialsPort } : {}),
          },
          force: o.force,
        });
        const c = r.config;
        out().result(
          { dir: r.dir, thing: c.thing, hosts: c.hosts, ports: c.ports, deviceConfig: `${r.dir}/device.json`, files: r.written.length },
          `bench for ${c.thing} in ${r.dir}\n` +
            `  server certificate for ${c.hosts.join(', ')}; MQTT ${c.ports.mqtt}, S3 ${c.ports.s3}, KVS ${c.ports.kvs}, credentials ${c.ports.iotCredentials}\n` +
            `  the device: ${r.dir}/device.json (camwire device --config), its certificate and key in ${r.dir}/device/ (key 0600)`,
        );
      },
    );
  bench
    .command('run')
    .description('serve the bench and run its cases against the device; JUnit XML and HTML reports; exits 1 if a case failed')
    .requiredOption('--dir <dir>', 'the bench directory (testbench init)')
    .option('--device-cmd <cmd>', 'start the device with this command (sh -c, in the bench directory); the bench may kill and restart it')
    .option('--ptp <host:port>', "the device's PTP/IP address (default: device.json's ptp section)")
    .option('--cases <glob...>', 'only the cases whose id matches (e.g. "mqtt.*" upload.put)')
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--html <file>', 'write a one-page HTML report')
    .addOption(new Option('--wait <s>', 'how long to wait for the device to connect first').argParser(positiveInt))
    .action(async (o: { dir: string; deviceCmd?: string; ptp?: string; cases?: string[]; junit?: string; html?: string; wait?: number }) => {
      const { runBench, writeReports, jsonLine } = require('../testbench') as typeof import('../testbench');
      const output = out();
      const json = output.json;
      const tty = process.stderr.isTTY === true && !json;
      let current = '';
      const line = (s: string) => {
        if (tty) process.stderr.write(`\r\x1b[K${s.slice(0, (process.stderr.columns ?? 100) - 1)}`);
      };
      if (!o.deviceCmd && !json) output.info(`waiting for the device to connect to the bench (external device; ${o.wait ?? 300} s)…`);
      const report = await runBench({
        dir: o.dir,
        ...(o.deviceCmd ? { deviceCmd: o.deviceCmd } : {}),
        ...(o.ptp ? { ptp: o.ptp } : {}),
        ...(o.cases ? { cases: o.cases } : {}),
        firstConnectMs: (o.wait ?? (o.deviceCmd ? 60 : 300)) * 1000,
        onCaseStart: (c, i, n) => {
          current = `[${i + 1}/${n}] ${c.id}`;
          line(`${current}: ${c.title}`);
        },
        onNote: (_c, e) => line(`${current}: ${e.who}: ${e.what}`),
        onCaseEnd: (r) => {
          if (tty) process.stderr.write('\r\x1b[K');
          if (json) process.stdout.write(jsonLine(r) + '\n');
          else
            output.info(
              `${r.status === 'passed' ? 'PASS' : r.status === 'failed' ? 'FAIL' : 'SKIP'} ${r.id} (${(r.durationMs / 1000).toFixed(1)} s)${r.message ? `: ${r.message}` : ''}`,
            );
        },
      });
      writeReports(report, { ...(o.junit ? { junit: o.junit } : {}), ...(o.html ? { html: o.html } : {}) });
      const s = report.summary;
      const summary = `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped in ${(report.durationMs / 1000).toFixed(1)} s`;
      if (!json) output.info(summary + (o.junit ? `; JUnit ${o.junit}` : '') + (o.html ? `; HTML ${o.html}` : ''));
      else process.stdout.write(JSON.stringify({ summary: s, durationMs: report.durationMs }) + '\n');
      if (s.failed)
        throw new CamwireError(
          'TESTBENCH_FAILED',
          `${s.failed} of ${s.total} case(s) failed: ${report.cases
            .filter((c) => c.status === 'failed')
            .map((c) => c.id)
            .join(', ')}`,
        );
    });
  bench
    .command('list')
    .description('every case, in run order, with what it checks')
    .action(() => {
      const { benchCases } = require('../testbench') as typeof import('../testbench');
      const cases = benchCases().map((c) => ({ id: c.id, family: c.family, title: c.title, checks: c.checks }));
      out().result(cases, () => cases.map((c) => `${c.id.padEnd(26)} ${c.title}\n${' '.repeat(27)}${c.checks}`).join('\n'));
    });
  return bench;
}
