import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type * as CloudLib from '../cloud';
import type * as PkiLib from '../pki';
import { positiveInt, readFile } from './args';
import { Output } from './output';

export { positiveInt, readFile } from './args';

// The PKI library (and @peculiar/x509 under it) loads only when a pki command runs:
// every other command starts faster.
const lib = (): typeof PkiLib => require('../pki') as typeof PkiLib;
const docs = (): typeof CloudLib => require('../cloud') as typeof CloudLib;

type Out = () => Output;

const keyTypeOption = () => new Option('--key-type <type>', 'key type').choices(['rsa', 'ec']).default('rsa');
const daysOption = (d: number) => new Option('--days <n>', 'validity in days').argParser(positiveInt).default(d);

function describe(file: string, what: string): { file: string; what: string } {
  return { file: path.resolve(file), what };
}

export function pkiCommand(out: Out): Command {
  const pki = new Command('pki').description('device identity: your own CA, device certificates; the cloud documents (AWS IoT, IAM, S3, Tencent COS) as JSON');

  pki
    .command('init-ca')
    .description('make a root CA (writes DIR/ca.pem and DIR/ca.key, mode 0600)')
    .requiredOption('--out <dir>', 'directory for ca.pem and ca.key')
    .addOption(keyTypeOption())
    .option('--cn <name>', 'CA common name', 'camwire Root CA')
    .option('--org <name>', 'CA organisation')
    .addOption(daysOption(3650))
    .option('--force', 'replace an existing CA in --out', false)
    .action(async (o: { out: string; keyType: string; cn: string; org?: string; days: number; force: boolean }) => {
      const { ca, certPem, keyPem } = await lib().CertificateAuthority.create({
        keyType: lib().parseKeyType(o.keyType),
        commonName: o.cn,
        ...(o.org ? { organization: o.org } : {}),
        days: o.days,
      });
      const certFile = path.join(o.out, 'ca.pem');
      const keyFile = path.join(o.out, 'ca.key');
      lib().writePrivateKey(keyFile, keyPem, { overwrite: o.force });
      lib().writePublicFile(certFile, certPem, { overwrite: o.force });
      const c = ca.certificate;
      out().result(
        {
          subject: c.subject,
          serialNumber: c.serialNumber,
          keyType: ca.keyType,
          notBefore: c.notBefore,
          notAfter: c.notAfter,
          files: [describe(certFile, 'CA certificate'), describe(keyFile, 'CA private key (0600)')],
        },
        `CA "${c.subject}" (${ca.keyType}, valid until ${c.notAfter.toISOString()})\n  ${certFile}\n  ${keyFile} (mode 0600: keep it offline)`,
      );
    });

  pki
    .command('issue')
    .description('issue a device key and certificate: NAME.pem, NAME.key (0600), NAME.chain.pem (device + CA, for JITP)')
    .requiredOption('--ca <dir>', 'CA directory (ca.pem, ca.key)')
    .requiredOption('--thing <name>', 'thing name: the certificate CN and the MQTT client id')
    .requiredOption('--out <dir>', 'output directory')
    .addOption(keyTypeOption())
    .addOption(daysOption(365))
    .option('--force', 'replace existing files', false)
    .action(async (o: { ca: string; thing: string; out: string; keyType: string; days: number; force: boolean }) => {
      const ca = await lib().loadCaDir(o.ca);
      const d = await ca.issueDevice(o.thing, { keyType: lib().parseKeyType(o.keyType), days: o.days });
      const f = (ext: string) => path.join(o.out, `${o.thing}${ext}`);
      lib().writePrivateKey(f('.key'), d.keyPem, { overwrite: o.force });
      lib().writePublicFile(f('.pem'), d.certPem, { overwrite: o.force });
      lib().writePublicFile(f('.chain.pem'), d.chainPem, { overwrite: o.force });
      out().result(
        {
          thing: o.thing,
          subject: d.subject,
          serialNumber: d.serialNumber,
          keyType: d.keyType,
          notBefore: d.notBefore,
          notAfter: d.notAfter,
          files: [describe(f('.pem'), 'device certificate'), describe(f('.key'), 'device private key (0600)'), describe(f('.chain.pem'), 'device + CA chain')],
        },
        `device certificate for ${o.thing} (${d.keyType}, serial ${d.serialNumber}, valid until ${d.notAfter.toISOString()})\n  ${f('.pem')}\n  ${f('.key')} (mode 0600)\n  ${f('.chain.pem')}`,
      );
    });

  pki
    .command('issue-server')
    .description('issue a TLS server certificate for your broker, signed by the CA: NAME.pem, NAME.key (0600); serverAuth, SAN = every --host, CN = the first')
    .requiredOption('--ca <dir>', 'CA directory (ca.pem, ca.key)')
    .requiredOption('--host <name-or-ip...>', 'DNS name or IP address clients connect to (repeat --host for more)')
    .requiredOption('--out <dir>', 'output directory')
    .addOption(keyTypeOption())
    .addOption(daysOption(365))
    .option('--name <basename>', 'file name without extension', 'server')
    .option('--force', 'replace existing files', false)
    .action(async (o: { ca: string; host: string[]; out: string; keyType: string; days: number; name: string; force: boolean }) => {
      if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(o.name))
        throw new CamwireError('CLI_BAD_ARGUMENT', `"${o.name}" is not a plain file name (letters, digits, . _ -)`);
      const certFile = path.join(o.out, `${o.name}.pem`);
      const keyFile = path.join(o.out, `${o.name}.key`);
      // Before the key is made: a refusal costs nothing and leaves nothing.
      lib().refuseExisting([certFile, keyFile], { overwrite: o.force });
      const ca = await lib().loadCaDir(o.ca);
      const s = await ca.issueServer(o.host[0] ?? '', o.host, { keyType: lib().parseKeyType(o.keyType), days: o.days });
      lib().writePrivateKey(keyFile, s.keyPem, { overwrite: o.force });
      lib().writePublicFile(certFile, s.certPem, { overwrite: o.force });
      out().result(
        {
          subject: s.subject,
          hosts: o.host,
          serialNumber: s.serialNumber,
          keyType: s.keyType,
          notBefore: s.notBefore,
          notAfter: s.notAfter,
          files: [describe(certFile, 'server certificate'), describe(keyFile, 'server private key (0600)')],
        },
        `server certificate for ${o.host.join(', ')} (${s.keyType}, serial ${s.serialNumber}, valid until ${s.notAfter.toISOString()})\n  ${certFile}\n  ${keyFile} (mode 0600)`,
      );
    });

  pki
    .command('sign-csr')
    .description("sign a CSR made on the camera (its key never leaves it): NAME.pem and NAME.chain.pem, NAME from the CSR's CN")
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--csr <file>', 'PEM certificate request (- for stdin)')
    .requiredOption('--out <dir>', 'output directory')
    .addOption(daysOption(365))
    .option('--force', 'replace existing files', false)
    .action(async (o: { ca: string; csr: string; out: string; days: number; force: boolean }) => {
      const ca = await lib().loadCaDir(o.ca);
      const csrPem = o.csr === '-' ? fs.readFileSync(0, 'utf8') : readFile(o.csr, 'CSR');
      const d = await ca.signCsr(csrPem, { days: o.days });
      const f = (ext: string) => path.join(o.out, `${d.thing}${ext}`);
      lib().writePublicFile(f('.pem'), d.certPem, { overwrite: o.force });
      lib().writePublicFile(f('.chain.pem'), d.chainPem, { overwrite: o.force });
      out().result(
        {
          thing: d.thing,
          subject: d.subject,
          serialNumber: d.serialNumber,
          keyType: d.keyType,
          notBefore: d.notBefore,
          notAfter: d.notAfter,
          files: [describe(f('.pem'), 'device certificate'), describe(f('.chain.pem'), 'device + CA chain')],
        },
        `signed ${d.thing}'s CSR (${d.keyType}, serial ${d.serialNumber})\n  ${f('.pem')}\n  ${f('.chain.pem')}`,
      );
    });

  pki
    .command('verification-cert')
    .description('the certificate AWS IoT asks for to register your CA in DEFAULT mode (CN = registration code)')
    .requiredOption('--ca <dir>', 'CA directory')
    .requiredOption('--registration-code <code>', 'from `aws iot get-registration-code`')
    .requiredOption('--out <dir>', 'output directory (verification.pem, verification.key)')
    .option('--force', 'replace existing files', false)
    .action(async (o: { ca: string; registrationCode: string; out: string; force: boolean }) => {
      const ca = await lib().loadCaDir(o.ca);
      const v = await ca.verificationCertificate(o.registrationCode);
      const certFile = path.join(o.out, 'verification.pem');
      const keyFile = path.join(o.out, 'verification.key');
      lib().writePrivateKey(keyFile, v.keyPem, { overwrite: o.force });
      lib().writePublicFile(certFile, v.certPem, { overwrite: o.force });
      out().result(
        {
          subject: v.subject,
          files: [describe(certFile, 'verification certificate'), describe(keyFile, 'its key (0600)')],
          next: `aws iot register-ca-certificate --ca-certificate file://${path.join(o.ca, 'ca.pem')} --verification-certificate file://${certFile} --set-as-active --allow-auto-registration`,
        },
        `verification certificate ${v.subject}\n  ${certFile}\nnext:\n  aws iot register-ca-certificate --ca-certificate file://${path.join(o.ca, 'ca.pem')} --verification-certificate file://${certFile} \\\n    --set-as-active --allow-auto-registration --registration-config file://jitp.json`,
      );
    });

  const policyOptions = (c: Command) =>
    outOption(
      partitionOption(
        c.option('--region <region>', 'AWS region, e.g. cn-north-1 (default: any)').option('--account-id <id>', '12-digit AWS account id (default: any)'),
      ),
    ).option('--role-alias <name>', 'also allow iot:AssumeRoleWithCertificate on this IoT role alias (credentials for KVS)');

  policyOptions(pki.command('policy').description('the AWS IoT policy: client id = thing name, topics only under cameras/{thing}/')).action(
    (o: { region?: string; partition?: Partition; accountId?: string; roleAlias?: string; out?: string }) => {
      emitJson(docs().iotPolicy(clean(o)), o.out, out());
    },
  );

  policyOptions(
    pki
      .command('jitp-template')
      .description('the registration config for JITP (--registration-config of register-ca-certificate): thing from the certificate CN, policy attached')
      .option('--role-arn <arn>', 'IAM role IoT assumes to provision (managed policy AWSIoTThingsRegistration)')
      .option('--policy-name <name>', 'attach this existing policy instead of an inline one')
      .option('--thing-type <name>', 'thing type for provisioned things')
      .option('--body-only', 'print only the template body (for create-provisioning-template)', false),
  ).action(
    (o: {
      region?: string;
      partition?: Partition;
      accountId?: string;
      roleAlias?: string;
      out?: string;
      roleArn?: string;
      policyName?: string;
      thingType?: string;
      bodyOnly: boolean;
    }) => {
      const opts = {
        ...clean(o),
        ...(o.roleArn ? { roleArn: o.roleArn } : {}),
        ...(o.policyName ? { policyName: o.policyName } : {}),
        ...(o.thingType ? { thingTypeName: o.thingType } : {}),
      };
      emitJson(o.bodyOnly ? docs().jitpTemplateBody(opts) : docs().jitpRegistrationConfig(opts), o.out, out());
    },
  );

  pki.addCommand(awsDocsCommand(out));
  pki.addCommand(cosDocsCommand(out));

  pki
    .command('crl')
    .description(
      'a CRL revoking the given serial numbers (for brokers that check revocation, e.g. Mosquitto crlfile); its cRLNumber counts up in DIR/crlnumber',
    )
    .requiredOption('--ca <dir>', 'CA directory')
    .option('--serial <hex...>', 'serial number(s) to revoke, as printed by `pki issue`', [])
    .requiredOption('--out <file>', 'CRL file (PEM)')
    .addOption(daysOption(30))
    .action(async (o: { ca: string; serial: string[]; out: string; days: number }) => {
      const ca = await lib().loadCaDir(o.ca);
      for (const s of o.serial) if (!/^[0-9a-fA-F]{1,40}$/.test(s)) throw new CamwireError('CLI_BAD_ARGUMENT', `"${s}" is not a hexadecimal serial number`);
      const crlNumber = lib().nextCrlNumber(o.ca);
      lib().writePublicFile(
        o.out,
        await ca.createCrl(
          o.serial.map((s) => s.toLowerCase()),
          { days: o.days, crlNumber },
        ),
        { overwrite: true },
      );
      // A number in JSON while it is exact there; beyond 2^53 its decimal string.
      const n = crlNumber <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(crlNumber) : crlNumber.toString();
      out().result(
        { file: path.resolve(o.out), crlNumber: n, revoked: o.serial },
        `CRL number ${crlNumber} with ${o.serial.length} revoked certificate(s): ${o.out}`,
      );
    });

  return pki;
}

type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

function clean(o: { region?: string; partition?: Partition; accountId?: string; roleAlias?: string }): {
  region?: string;
  partition?: Partition;
  accountId?: string;
  roleAlias?: string;
} {
  return {
    ...(o.region ? { region: o.region } : {}),
    ...(o.partition ? { partition: o.partition } : {}),
    ...(o.accountId ? { accountId: o.accountId } : {}),
    ...(o.roleAlias ? { roleAlias: o.roleAlias } : {}),
  };
}

/** For documents without --region: the partition of their ARNs (the region decides when given). */
const partitionOption = (c: Command) =>
  c.addOption(new Option('--partition <name>', 'partition of the ARNs when no --region is given (AWS China: aws-cn)').choices(['aws', 'aws-cn', 'aws-us-gov']));

const outOption = (c: Command) => c.option('--out <file>', 'write to a file instead of stdout');
const regionAccount = (c: Command, required: boolean) =>
  required
    ? c.requiredOption('--region <region>', 'AWS region').requiredOption('--account-id <id>', '12-digit AWS account id')
    : partitionOption(c.option('--region <region>', 'AWS region (default: any)').option('--account-id <id>', '12-digit AWS account id (default: any)'));
const prefixOption = (c: Command) => c.option('--prefix <prefix>', "object key prefix ('' for the whole bucket)", 'devices/');
const abortDaysOption = (c: Command) =>
  c.addOption(new Option('--days <n>', 'abort multipart uploads unfinished after this many days').argParser(positiveInt).default(7));

/** `camwire pki aws <doc>`: the IAM, IoT rule, S3 and Route53 documents of docs/aws-setup.md. */
function awsDocsCommand(out: Out): Command {
  const aws = new Command('aws').description(
    "JSON for the AWS side beyond the IoT policy: IAM roles (JITP, KVS credentials, topic rule), the uploads rule, S3 lifecycle, the back end's policy, a Route53 CNAME",
  );
  type RA = { region?: string; partition?: Partition; accountId?: string; out?: string };
  const ra = (o: RA) => ({
    ...(o.region ? { region: o.region } : {}),
    ...(o.partition ? { partition: o.partition } : {}),
    ...(o.accountId ? { accountId: o.accountId } : {}),
  });
  const queueOption = (c: Command) => c.option('--queue <name>', 'standard SQS queue name', docs().DEFAULT_UPLOADS_QUEUE);

  outOption(
    aws
      .command('jitp-role-trust')
      .description('trust policy of the JITP provisioning role (aws iam create-role --assume-role-policy-document): AWS IoT may assume it'),
  ).action((o: { out?: string }) => emitJson(docs().jitpRoleTrustPolicy(), o.out, out()));

  outOption(
    aws
      .command('kvs-role-trust')
      .description('trust policy of the role behind the IoT role alias: the credentials provider (credentials.iot.amazonaws.com) may assume it'),
  ).action((o: { out?: string }) => emitJson(docs().kvsRoleTrustPolicy(), o.out, out()));

  outOption(
    regionAccount(
      aws.command('kvs-role-policy').description('permissions of that role: DescribeStream, GetDataEndpoint, PutMedia on the stream named like the thing'),
      false,
    ),
  ).action((o: RA) => emitJson(docs().kvsRolePolicy(ra(o)), o.out, out()));

  outOption(
    regionAccount(
      aws.command('rule-role-trust').description('trust policy of the role the uploads topic rule runs as: AWS IoT, for that rule of this account only'),
      true,
    ).option('--rule <name>', 'topic rule name', docs().DEFAULT_UPLOADS_RULE),
  ).action((o: RA & { rule: string }) =>
    emitJson(docs().uploadsRuleTrustPolicy({ region: o.region!, accountId: o.accountId!, ruleName: o.rule }), o.out, out()),
  );

  outOption(queueOption(regionAccount(aws.command('rule-role-policy').description('permissions of that role: sqs:SendMessage on the queue'), true))).action(
    (o: RA & { queue: string }) => emitJson(docs().uploadsRuleRolePolicy({ region: o.region!, accountId: o.accountId!, queue: o.queue }), o.out, out()),
  );

  outOption(
    queueOption(
      regionAccount(aws.command('uploads-rule').description('the --topic-rule-payload of aws iot create-topic-rule: cameras/+/uploads to the SQS queue'), true),
    ).option('--role-arn <arn>', `role the rule runs as (default arn:PARTITION:iam::ACCOUNT:role/${docs().DEFAULT_UPLOADS_RULE_ROLE}, the region's partition)`),
  ).action((o: RA & { queue: string; roleArn?: string }) =>
    emitJson(
      docs().uploadsTopicRule({ region: o.region!, accountId: o.accountId!, queue: o.queue, ...(o.roleArn ? { roleArn: o.roleArn } : {}) }),
      o.out,
      out(),
    ),
  );

  outOption(
    abortDaysOption(
      prefixOption(
        aws
          .command('s3-lifecycle')
          .description('the --lifecycle-configuration of aws s3api put-bucket-lifecycle-configuration: abort unfinished multipart uploads'),
      ),
    ),
  ).action((o: { prefix: string; days: number; out?: string }) => emitJson(docs().bucketLifecycle({ prefix: o.prefix, days: o.days }), o.out, out()));

  outOption(
    prefixOption(
      regionAccount(
        aws
          .command('backend-policy')
          .description("the back end's IAM policy: presign uploads under the prefix, publish upload targets, optionally read the results queue"),
        false,
      ).requiredOption('--bucket <name>', 'S3 bucket'),
    ).option('--queue <name>', 'also receive and delete messages of this SQS queue'),
  ).action((o: RA & { bucket: string; prefix: string; queue?: string }) =>
    emitJson(docs().backendPolicy({ ...ra(o), bucket: o.bucket, prefix: o.prefix, ...(o.queue ? { queue: o.queue } : {}) }), o.out, out()),
  );

  outOption(
    aws
      .command('dns-cname')
      .description('the --change-batch of aws route53 change-resource-record-sets for one CNAME (custom IoT domain, or ACM validation)')
      .requiredOption('--name <fqdn>', 'the record name, e.g. iot.example.com')
      .requiredOption('--value <fqdn>', 'what it points to, e.g. the iot:Data-ATS endpoint')
      .addOption(new Option('--ttl <s>', 'TTL in seconds').argParser(positiveInt).default(300)),
  ).action((o: { name: string; value: string; ttl: number; out?: string }) =>
    emitJson(docs().route53Cname({ name: o.name, value: o.value, ttl: o.ttl }), o.out, out()),
  );

  return aws;
}

/** `camwire pki cos <doc>`: the documents of docs/tencent-cos.md. */
function cosDocsCommand(out: Out): Command {
  const cos = new Command('cos').description('JSON for Tencent COS: the CAM policy of the presigning key, the bucket lifecycle');
  outOption(
    prefixOption(
      cos
        .command('cam-policy')
        .description('CAM policy for the key camwire presign --cos signs with: upload operations under the prefix of one bucket')
        .requiredOption('--region <region>', 'COS region, e.g. ap-guangzhou')
        .requiredOption('--bucket <name-appid>', 'bucket with its APPID, e.g. examplebucket-1250000000'),
    ),
  ).action((o: { region: string; bucket: string; prefix: string; out?: string }) =>
    emitJson(docs().cosPresignerPolicy({ region: o.region, bucket: o.bucket, prefix: o.prefix }), o.out, out()),
  );
  outOption(
    abortDaysOption(
      prefixOption(cos.command('lifecycle').description("the lifecycle rules for the COS SDK's putBucketLifecycle: abort unfinished multipart uploads")),
    ),
  ).action((o: { prefix: string; days: number; out?: string }) => emitJson(docs().bucketLifecycle({ prefix: o.prefix, days: o.days }), o.out, out()));
  return cos;
}

/** Policy-type documents are JSON whatever --json says: they are meant to be pasted into AWS. */
function emitJson(doc: unknown, file: string | undefined, o: Output): void {
  const text = JSON.stringify(doc, null, 2) + '\n';
  if (file) {
    lib().writePublicFile(file, text, { overwrite: true });
    o.info(`wrote ${file}`);
    if (o.json) process.stdout.write(JSON.stringify({ file: path.resolve(file) }) + '\n');
  } else {
    process.stdout.write(text);
  }
}
