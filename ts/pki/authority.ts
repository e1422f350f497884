/**
 * The camera fleet's own certificate authority: a root CA, device
 * certificates (CN = thing name) issued from fresh keys or from a CSR made on
 * the device, and the verification certificate AWS IoT asks for when a CA is
 * registered in DEFAULT mode.
 */
import { isIP } from 'node:net';
import { createPrivateKey, randomBytes, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { x509 } from './x509';
import { CamwireError } from '../errors';
import { certificateKeyType, exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem, KeyType, signingAlgorithm } from './keys';
import { checkThingName } from '../common/thing-name';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so a device clock running behind still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface Validity {
  /** Days from now (default per kind); ignored when notAfter is given. */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssuedCertificate {
  certPem: string;
  /** Absent when the key stayed on the device (sign-csr). */
  keyPem?: string;
  /** Leaf then issuing CA: what a device presents for JITP. */
  chainPem: string;
  serialNumber: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  keyType: KeyType;
}

/** A random positive 128-bit serial: top bit clear, second bit set so no leading zero is trimmed. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b.toString('hex');
}

function validity(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  const notBefore = v.notBefore ?? new Date(now - BACKDATE_MS);
  const days = v.days ?? defaultDays;
  if (v.notAfter === undefined && (!Number.isFinite(days) || days <= 0 || days > 36500)) {
    throw new CamwireError('PKI_BAD_VALIDITY', `validity of ${days} days is out of range (1-36500)`);
  }
  const notAfter = v.notAfter ?? new Date(now + days * DAY_MS);
  if (notAfter <= notBefore) throw new CamwireError('PKI_BAD_VALIDITY', 'notAfter must be later than notBefore');
  // X.509 times have whole seconds.
  return { notBefore: new Date(Math.floor(notBefore.getTime() / 1000) * 1000), notAfter: new Date(Math.floor(notAfter.getTime() / 1000) * 1000) };
}

function dnEscape(value: string): string {
  return value.replace(/([,+"\\<>;=#])/g, '\\$1');
}

/** A host name of letters, digits and hyphens (RFC 1123), optionally a leading `*.` wildcard. */
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Checks that each name is an IP address or a DNS name, before any key is made. */
function checkHostNames(names: string[]): void {
  if (names.length === 0) throw new CamwireError('PKI_BAD_NAME', 'a server certificate needs at least one host name or IP address');
  for (const n of names) {
    if (isIP(n)) continue;
    if (n.length > 253 || !DNS_NAME.test(n)) {
      throw new CamwireError('PKI_BAD_NAME', `"${n}" is neither an IP address nor a DNS name`, {
        hint: 'give the name or address clients connect to, e.g. --host mqtt.example.com --host 192.0.2.10',
      });
    }
  }
}

/** RFC 5280: a CRL number is a non-negative INTEGER of at most 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;

/** The cRLNumber extension (2.5.29.20); @peculiar/x509 has no class for it, so its DER is built here. */
function crlNumberExtension(n: bigint): x509.Extension {
  if (n < 0n || n > MAX_CRL_NUMBER) throw new CamwireError('PKI_BAD_CRL_NUMBER', `CRL number ${n} is out of range (0 to 2^159-1, at most 20 octets)`);
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  // A leading 0x80 bit would make the INTEGER negative.
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = '00' + hex;
  const content = Buffer.from(hex, 'hex');
  return new x509.Extension('2.5.29.20', false, Buffer.concat([Buffer.from([0x02, content.length]), content]));
}

export interface InitCaOptions extends Validity {
  keyType?: KeyType;
  commonName?: string;
  organization?: string;
}

export class CertificateAuthority {
  private constructor(
    readonly certificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    readonly keyType: KeyType,
  ) {}

  /** Makes a new root CA: basicConstraints CA:TRUE critical, keyCertSign+cRLSign, SKI/AKI. */
  static async create(options: InitCaOptions = {}): Promise<{ ca: CertificateAuthority; certPem: string; keyPem: string }> {
    const keyType = options.keyType ?? 'rsa';
    const cn = options.commonName ?? 'camwire Root CA';
    if (!cn.trim()) throw new CamwireError('PKI_BAD_NAME', 'the CA common name is empty');
    const { notBefore, notAfter } = validity(options, 3650);
    const pair = await generateKeyPair(keyType);
    const name = `CN=${dnEscape(cn)}${options.organization ? `, O=${dnEscape(options.organization)}` : ''}`;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name,
      notBefore,
      notAfter,
      keys: pair.keys,
      signingAlgorithm: signingAlgorithm(keyType),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(pair.keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(pair.keys.publicKey),
      ],
    });
    const ca = new CertificateAuthority(cert, pair.keys.privateKey, keyType);
    return { ca, certPem: cert.toString('pem') + '\n', keyPem: await exportPrivateKeyPem(pair.keys.privateKey) };
  }

  /** Loads a CA from its certificate and key PEM; checks that they belong together and that it is a CA. */
  static async load(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    try {
      cert = new x509.X509Certificate(certPem);
    } catch (e) {
      throw new CamwireError('PKI_BAD_CERT', `the CA certificate is not a readable PEM certificate (${(e as Error).message})`, { cause: e });
    }
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) throw new CamwireError('PKI_NOT_A_CA', `"${cert.subject}" is not a CA certificate (basicConstraints CA:TRUE missing)`);
    const { type, key } = await importPrivateKeyPem(keyPem, 'the CA key');
    const matches = new NodeX509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
    if (!matches) throw new CamwireError('PKI_KEY_MISMATCH', `the CA key does not belong to the CA certificate "${cert.subject}"`);
    return new CertificateAuthority(cert, key, type);
  }

  get certPem(): string {
    return this.certificate.toString('pem') + '\n';
  }

  /** Issues a device certificate for thing `thing` with a fresh key pair. */
  async issueDevice(thing: string, options: Validity & { keyType?: KeyType } = {}): Promise<IssuedCertificate & { keyPem: string }> {
    checkThingName(thing);
    const keyType = options.keyType ?? 'rsa';
    const pair = await generateKeyPair(keyType);
    const issued = await this.sign(`CN=${dnEscape(thing)}`, pair.keys.publicKey, keyType, clientExtensions(keyType), options, 365);
    return { ...issued, keyPem: await exportPrivateKeyPem(pair.keys.privateKey) };
  }

  /**
   * Issues a TLS server certificate (serverAuth, SAN for each DNS name or IP),
   * for the brokers and stores camwire runs locally (tests, `camwire demo`)
   * and yours (`camwire pki issue-server`). Each alt name must be an IP
   * address or a DNS name (PKI_BAD_NAME otherwise).
   */
  async issueServer(commonName: string, altNames: string[], options: Validity & { keyType?: KeyType } = {}): Promise<IssuedCertificate & { keyPem: string }> {
    checkHostNames(altNames);
    const keyType = options.keyType ?? 'rsa';
    const pair = await generateKeyPair(keyType);
    const usage = keyType === 'rsa' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
    const san = new x509.SubjectAlternativeNameExtension(
      altNames.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
    );
    const issued = await this.sign(
      `CN=${dnEscape(commonName)}`,
      pair.keys.publicKey,
      keyType,
      [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usage, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        san,
      ],
      options,
      365,
    );
    return { ...issued, keyPem: await exportPrivateKeyPem(pair.keys.privateKey) };
  }

  /**
   * A CRL listing the given serial numbers (hex) as revoked, for brokers that
   * check revocation (Mosquitto's `crlfile`), with the cRLNumber and Authority
   * Key Identifier RFC 5280 requires. `crlNumber` must grow with each CRL of
   * this CA (`nextCrlNumber` keeps a counter beside the CA); without it the
   * current time in milliseconds is used, which grows as long as the clock does.
   */
  async createCrl(revokedSerials: string[], options: { days?: number; crlNumber?: bigint } = {}): Promise<string> {
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 - BACKDATE_MS);
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.certificate.subjectName,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + (options.days ?? 30) * DAY_MS),
      signingKey: this.signingKey,
      signingAlgorithm: signingAlgorithm(this.keyType),
      entries: revokedSerials.map((serialNumber) => ({ serialNumber, revocationDate: now })),
      extensions: [crlNumberExtension(options.crlNumber ?? BigInt(Date.now())), await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey)],
    });
    return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
  }

  /**
   * Signs a device's CSR with the same rules as issueDevice: the CSR's
   * signature must verify, its CN must be a thing name, and only the public
   * key and CN are taken from it (requested extensions are ignored).
   */
  async signCsr(csrPem: string, options: Validity = {}): Promise<IssuedCertificate & { thing: string }> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (e) {
      throw new CamwireError('PKI_BAD_CSR', `not a readable PEM certificate request (${(e as Error).message})`, { cause: e });
    }
    if (!(await csr.verify())) throw new CamwireError('PKI_BAD_CSR', 'the CSR signature does not verify: it was not made with the key it carries');
    const cns = csr.subjectName.getField('CN');
    if (cns.length !== 1) throw new CamwireError('PKI_BAD_CSR', `the CSR subject "${csr.subject}" must have exactly one CN (the thing name)`);
    const thing = checkThingName(cns[0]!);
    const keyType = certificateKeyType(csr);
    const issued = await this.sign(`CN=${dnEscape(thing)}`, csr.publicKey, keyType, clientExtensions(keyType), options, 365);
    return { ...issued, thing };
  }

  /**
   * The certificate that proves possession of this CA's key to AWS IoT
   * (RegisterCACertificate, DEFAULT mode): CN = the account's registration code.
   */
  async verificationCertificate(registrationCode: string, options: Validity = {}): Promise<IssuedCertificate & { keyPem: string }> {
    if (!/^[A-Za-z0-9]{8,128}$/.test(registrationCode)) {
      throw new CamwireError(
        'PKI_BAD_REGISTRATION_CODE',
        `"${registrationCode}" does not look like an AWS IoT registration code (letters and digits, from \`aws iot get-registration-code\`)`,
      );
    }
    const pair = await generateKeyPair(this.keyType);
    const issued = await this.sign(
      `CN=${registrationCode}`,
      pair.keys.publicKey,
      this.keyType,
      [new x509.BasicConstraintsExtension(false, undefined, true)],
      options,
      30,
    );
    return { ...issued, keyPem: await exportPrivateKeyPem(pair.keys.privateKey) };
  }

  private async sign(
    subject: string,
    publicKey: x509.PublicKeyType,
    keyType: KeyType,
    extensions: x509.Extension[],
    v: Validity,
    defaultDays: number,
  ): Promise<IssuedCertificate> {
    const { notBefore, notAfter } = validity(v, defaultDays);
    const serialNumber = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject,
      issuer: this.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: signingAlgorithm(this.keyType),
      extensions: [
        ...extensions,
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
      ],
    });
    const certPem = cert.toString('pem') + '\n';
    return { certPem, chainPem: certPem + this.certPem, serialNumber, subject: cert.subject, notBefore: cert.notBefore, notAfter: cert.notAfter, keyType };
  }
}

function clientExtensions(keyType: KeyType): x509.Extension[] {
  const usage = keyType === 'rsa' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
  ];
}
