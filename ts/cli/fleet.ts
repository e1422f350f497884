/**
 * `camwire fleet`: certificates for N cameras, the merge of shard reports and
 * the Kubernetes Job (docs/fleet.md). `fleet run` (the engine) is added to
 * this command by ts/cli/fleet-run.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import type * as Certs from '../fleet/certs';
import type * as Report from '../fleet/report';
import type * as Html from '../fleet/html';
import type * as K8s from '../fleet/k8s';
import type { FleetReport } from '../fleet/report-types';
import { nonNegativeNumber, positiveInt } from './args';
import { Output, Progress } from './output';

type Out = () => Output;

// Each library loads only when its command runs.
const certs = () => require('../fleet/certs') as typeof Certs;
const report = () => require('../fleet/report') as typeof Report;
const html = () => require('../fleet/html') as typeof Html;
const k8s = () => require('../fleet/k8s') as typeof K8s;

/** The report's HTML page, its module loaded on first use (what `fleet run --html` is given). */
export function renderFleetHtml(r: FleetReport): string {
  return html().renderFleetHtml(r);
}

/** Writes a report's JSON and, when asked, its HTML page (both whole, through a temp file). */
function writeReportFiles(r: FleetReport, reportFile: string, htmlFile: string | undefined): string[] {
  const { writePublicFile } = require('../pki') as typeof import('../pki');
  writePublicFile(reportFile, JSON.stringify(r, null, 2) + '\n', { overwrite: true });
  const files = [path.resolve(reportFile)];
  if (htmlFile) {
    writePublicFile(htmlFile, renderFleetHtml(r), { overwrite: true });
    files.push(path.resolve(htmlFile));
  }
  return files;
}

export function fleetCommand(out: Out): Command {
  const fleet = new Command('fleet').description(
    'simulated camera fleets: certificates for N cameras, `fleet run` (thousands of mTLS cameras per process), merged shard reports, a Kubernetes Indexed Job',
  );

  fleet
    .command('certs')
    .description('N device certificates {prefix}{index:05}.pem + .key (0600) signed by the CA, with ca.pem and fleet.json; valid existing ones are reused')
    .requiredOption('--ca <dir>', 'CA directory (ca.pem, ca.key), as `camwire pki init-ca` writes it')
    .requiredOption('--count <n>', 'devices 0 … n-1', positiveInt)
    .requiredOption('--out <dir>', 'the certificates directory (what `fleet run --certs` reads)')
    .option('--prefix <prefix>', 'thing-name prefix', 'cam')
    .addOption(new Option('--key <type>', 'device key type').choices(['ec', 'rsa']).default('ec'))
    .addOption(new Option('--days <n>', 'validity in days').argParser(positiveInt).default(365))
    .option('--subscriber', 'also the fleet-side subscriber identity fleet-subscriber.pem/.key (for `fleet run --subscriber`)', false)
    .action(async (o: { ca: string; count: number; out: string; prefix: string; key: 'ec' | 'rsa'; days: number; subscriber: boolean }) => {
      const output = out();
      const progress = new Progress('certs', !output.json);
      let r: Certs.MakeFleetCertsResult;
      try {
        r = await certs().makeFleetCerts({
          caDir: o.ca,
          count: o.count,
          outDir: o.out,
          prefix: o.prefix,
          keyType: o.key,
          days: o.days,
          subscriber: o.subscriber,
          onProgress: (done, total) => progress.update(done, total),
        });
      } finally {
        progress.end();
      }
      const rate = r.issued > r.reused ? `, ${r.perSecond.toFixed(0)} certificates/s` : '';
      out().result(
        { ...r, ms: Math.round(r.ms), perSecond: Math.round(r.perSecond) },
        `${r.count} device certificates in ${r.dir}: ${r.issued} issued, ${r.reused} reused${rate}\n  ${r.index}`,
      );
    });

  fleet
    .command('merge')
    .description('one report from the reports of many shards: counts summed, histograms merged (percentiles recomputed, never averaged)')
    .argument('<report...>', 'shard reports (JSON from `fleet run --report`, or pod logs of a `fleet k8s` Job)')
    .requiredOption('--report <file>', 'the merged report (JSON)')
    .option('--html <file>', 'also the merged report as an HTML page')
    .action((files: string[], o: { report: string; html?: string }) => {
      const r = report().mergeReports(files.map((f) => report().readReport(f)));
      const written = writeReportFiles(r, o.report, o.html);
      out().result(
        {
          devices: r.devices,
          shards: r.shards.length,
          published: r.published,
          acknowledged: r.acknowledged,
          errors: r.errors,
          latency: summaryOnly(r),
          files: written,
        },
        [
          `merged ${files.length} report(s): ${r.shards.length} shard(s), ${r.devices} devices, ${r.published} published, ${r.acknowledged} acknowledged`,
          `  connect p99 ${r.latency.connect.p99} ms, puback p99 ${r.latency.publish.p99} ms${r.latency.delivery ? `, delivery p99 ${r.latency.delivery.p99} ms` : ''}`,
          ...written.map((f) => `  ${f}`),
        ].join('\n'),
      );
    });

  fleet
    .command('k8s')
    .description('a Kubernetes batch/v1 Indexed Job: pod I of S runs `fleet run --shard I/S` and prints its report at the end of its log')
    .requiredOption('--devices <n>', 'devices over every shard', positiveInt)
    .requiredOption('--shards <s>', 'pods (completions = parallelism)', positiveInt)
    .requiredOption('--image <image>', 'an image with camwire on its PATH (deploy/fleet/Dockerfile)')
    .requiredOption('--broker <url>', 'mqtts://HOST:PORT as the pods reach it')
    .option('--broker-ca-secret <name>', "Secret with ca.pem, the CA of the broker's certificate (else the image's system roots)")
    .option('--certs-secret <name>', 'Secret holding a `fleet certs` directory (at most 1 MiB: about 900 EC devices)')
    .option('--ca-secret <name>', 'Secret holding the device CA (ca.pem, ca.key): each pod makes the certificates in an initContainer')
    .option('--prefix <prefix>', 'thing-name prefix of certificates made in the pods', 'cam')
    .addOption(new Option('--key <type>', 'key type of certificates made in the pods').choices(['ec', 'rsa']).default('ec'))
    .option('--namespace <ns>', 'namespace of the Job')
    .option('--name <name>', 'Job name', 'camwire-fleet')
    .addOption(new Option('--duration <s>', '`fleet run --duration`').argParser(nonNegativeNumber))
    .addOption(new Option('--rate <n>', '`fleet run --rate` (per pod)').argParser(nonNegativeNumber))
    .addOption(new Option('--publish-interval <s>', '`fleet run --publish-interval`').argParser(nonNegativeNumber))
    .option('--reports-claim <pvc>', 'a ReadWriteMany PersistentVolumeClaim the pods also write shard-I.json to')
    .option('--cpu <quantity>', 'CPU request and limit of each pod, e.g. 2')
    .option('--memory <quantity>', 'memory request and limit of each pod, e.g. 1Gi')
    .option('--out <file>', 'write the manifest to a file instead of stdout')
    .argument('[run-options...]', 'further `fleet run` options after --, e.g. -- --subscriber --workers 2')
    .action(
      (
        runArgs: string[],
        o: {
          devices: number;
          shards: number;
          image: string;
          broker: string;
          brokerCaSecret?: string;
          certsSecret?: string;
          caSecret?: string;
          prefix: string;
          key: 'ec' | 'rsa';
          namespace?: string;
          name: string;
          duration?: number;
          rate?: number;
          publishInterval?: number;
          reportsClaim?: string;
          cpu?: string;
          memory?: string;
          out?: string;
        },
      ) => {
        const yaml = k8s().fleetJobYaml({
          devices: o.devices,
          shards: o.shards,
          image: o.image,
          broker: o.broker,
          name: o.name,
          prefix: o.prefix,
          keyType: o.key,
          runArgs,
          ...(o.brokerCaSecret ? { brokerCaSecret: o.brokerCaSecret } : {}),
          ...(o.certsSecret ? { certsSecret: o.certsSecret } : {}),
          ...(o.caSecret ? { caSecret: o.caSecret } : {}),
          ...(o.namespace ? { namespace: o.namespace } : {}),
          ...(o.duration !== undefined ? { durationS: o.duration } : {}),
          ...(o.rate !== undefined ? { rate: o.rate } : {}),
          ...(o.publishInterval !== undefined ? { publishIntervalS: o.publishInterval } : {}),
          ...(o.reportsClaim ? { reportsClaim: o.reportsClaim } : {}),
          ...(o.cpu ? { cpu: o.cpu } : {}),
          ...(o.memory ? { memory: o.memory } : {}),
        });
        if (!o.out) {
          process.stdout.write(yaml);
          return;
        }
        fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
        (require('../pki') as typeof import('../pki')).writePublicFile(o.out, yaml, { overwrite: true });
        out().result(
          { file: path.resolve(o.out), bytes: Buffer.byteLength(yaml) },
          `wrote ${o.out} (${Buffer.byteLength(yaml)} bytes): kubectl apply -f ${o.out}`,
        );
      },
    );

  return fleet;
}

/** The percentiles without the histograms (the command's summary; the file has them). */
function summaryOnly(r: FleetReport): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(r.latency).map(([k, s]) => [k, s ? { count: s.count, p50: s.p50, p90: s.p90, p99: s.p99, p999: s.p999, max: s.max } : s]),
  );
}
