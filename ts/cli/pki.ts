import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type * as PkiLib from '../pki';
import { positiveInt, readFile } from './args';
import { Output } from './output';

export { positiveInt, readFile } from './args';

// The PKI library (and @peculiar/x509 under it) loads only when a pki command runs:
// every other command starts faster.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = (): typeof PkiLib => require('../pki') as typeof PkiLib;

type Out = () => Output;

const keyTypeOption = () => new Option('--key-type <type>', 'key type').choices(['rsa', 'ec']).default('rsa');
const daysOption = (d: number) => new Option('--days <n>', 'validity in days').argParser(positiveInt).default(d);


function describe(file: string, what: string): { file: string; what: string } {
  return { file: path.resolve(file), what };
}

export function pkiCommand(out: Out): Command {
  const pki = new Command('pki').description('device identity: your own CA, device certificates, AWS IoT registration documents');

  pki.command('init-ca')
    .description('make a root CA (writes DIR/ca.pem and DIR/ca.key, mode 0600)')
    .requiredOption('--out <dir>', 'directory for ca.pem and ca.key')
    .addOption(keyTypeOption())
    .option('--cn <name>', 'CA common name', 'camwire Root CA')
    .option('--org <name>', 'CA organisation')
    .addOption(daysOption(3650))
    .option('--force', 'replace an existing CA in --out', false)
    .action(async (o: { out: string; keyType: string; cn: string; org?: string; days: number; force: boolean }) => {
      const { ca, certPem, keyPem } = await lib().CertificateAuthority.create({ keyType: lib().parseKeyType(o.keyType), commonName: o.cn, ...(o.org ? { organization: o.org } : {}), days: o.days });
      const certFile = path.join(o.out, 'ca.pem');
      const keyFile = path.join(o.out, 'ca.key');
      lib().writePrivateKey(keyFile, keyPem, { overwrite: o.force });
      lib().writePublicFile(certFile, certPem, { overwrite: o.force });
      const c = ca.certificate;
      out().result({ subject: c.subject, serialNumber: c.serialNumber, keyType: ca.keyType, notBefore: c.notBefore, notAfter: c.notAfter, files: [describe(certFile, 'CA certificate'), describe(keyFile, 'CA private key (0600)')] },
        `CA "${c.subject}" (${ca.keyType}, valid until ${c.notAfter.toISOString()})\n  ${certFile}\n  ${keyFile} (mode 0600: keep it offline)`);
    });

  pki.command('issue')
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
      out().result({ thing: o.thing, subject: d.subject, serialNumber: d.serialNumber, keyType: d.keyType, notBefore: d.notBefore, notAfter: d.notAfter,
        files: [describe(f('.pem'), 'device certificate'), describe(f('.key'), 'device private key (0600)'), describe(f('.chain.pem'), 'device + CA chain')] },
      `device certificate for ${o.thing} (${d.keyType}, serial ${d.serialNumber}, valid until ${d.notAfter.toISOString()})\n  ${f('.pem')}\n  ${f('.key')} (mode 0600)\n  ${f('.chain.pem')}`);
    });

  pki.command('sign-csr')
    .description('sign a CSR made on the camera (its key never leaves it): NAME.pem and NAME.chain.pem, NAME from the CSR\'s CN')
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
      out().result({ thing: d.thing, subject: d.subject, serialNumber: d.serialNumber, keyType: d.keyType, notBefore: d.notBefore, notAfter: d.notAfter,
        files: [describe(f('.pem'), 'device certificate'), describe(f('.chain.pem'), 'device + CA chain')] },
      `signed ${d.thing}'s CSR (${d.keyType}, serial ${d.serialNumber})\n  ${f('.pem')}\n  ${f('.chain.pem')}`);
    });

  pki.command('verification-cert')
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
      out().result({ subject: v.subject, files: [describe(certFile, 'verification certificate'), describe(keyFile, 'its key (0600)')],
        next: `aws iot register-ca-certificate --ca-certificate file://${path.join(o.ca, 'ca.pem')} --verification-cert file://${certFile} --set-as-active --allow-auto-registration` },
      `verification certificate ${v.subject}\n  ${certFile}\nnext:\n  aws iot register-ca-certificate --ca-certificate file://${path.join(o.ca, 'ca.pem')} --verification-cert file://${certFile} \\\n    --set-as-active --allow-auto-registration --registration-config file://jitp.json`);
    });

  const policyOptions = (c: Command) => c
    .option('--region <region>', 'AWS region (default: any)')
    .option('--account-id <id>', '12-digit AWS account id (default: any)')
    .option('--out <file>', 'write to a file instead of stdout');

  policyOptions(pki.command('policy')
    .description('the AWS IoT policy: client id = thing name, topics only under cameras/{thing}/'))
    .action((o: { region?: string; accountId?: string; out?: string }) => {
      emitJson(lib().iotPolicy(clean(o)), o.out, out());
    });

  policyOptions(pki.command('jitp-template')
    .description('the registration config for JITP (--registration-config of register-ca-certificate): thing from the certificate CN, policy attached')
    .option('--role-arn <arn>', 'IAM role IoT assumes to provision (managed policy AWSIoTThingsRegistration)')
    .option('--policy-name <name>', 'attach this existing policy instead of an inline one')
    .option('--thing-type <name>', 'thing type for provisioned things')
    .option('--body-only', 'print only the template body (for create-provisioning-template)', false))
    .action((o: { region?: string; accountId?: string; out?: string; roleArn?: string; policyName?: string; thingType?: string; bodyOnly: boolean }) => {
      const opts = { ...clean(o), ...(o.roleArn ? { roleArn: o.roleArn } : {}), ...(o.policyName ? { policyName: o.policyName } : {}), ...(o.thingType ? { thingTypeName: o.thingType } : {}) };
      emitJson(o.bodyOnly ? lib().jitpTemplateBody(opts) : lib().jitpRegistrationConfig(opts), o.out, out());
    });

  pki.command('crl')
    .description('a CRL revoking the given serial numbers (for brokers that check revocation, e.g. Mosquitto crlfile)')
    .requiredOption('--ca <dir>', 'CA directory')
    .option('--serial <hex...>', 'serial number(s) to revoke, as printed by `pki issue`', [])
    .requiredOption('--out <file>', 'CRL file (PEM)')
    .addOption(daysOption(30))
    .action(async (o: { ca: string; serial: string[]; out: string; days: number }) => {
      const ca = await lib().loadCaDir(o.ca);
      for (const s of o.serial) if (!/^[0-9a-fA-F]{1,40}$/.test(s)) throw new CamwireError('CLI_BAD_ARGUMENT', `"${s}" is not a hexadecimal serial number`);
      lib().writePublicFile(o.out, await ca.createCrl(o.serial.map((s) => s.toLowerCase()), { days: o.days }), { overwrite: true });
      out().result({ file: path.resolve(o.out), revoked: o.serial }, `CRL with ${o.serial.length} revoked certificate(s): ${o.out}`);
    });

  return pki;
}

function clean(o: { region?: string; accountId?: string }): { region?: string; accountId?: string } {
  return { ...(o.region ? { region: o.region } : {}), ...(o.accountId ? { accountId: o.accountId } : {}) };
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

