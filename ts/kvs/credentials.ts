/**
 * Temporary AWS credentials the way cameras get them: the AWS IoT credentials
 * provider exchanges the device's X.509 certificate (mutual TLS) for
 * short-lived credentials of an IAM role alias:
 *   GET https://{credentials endpoint}/role-aliases/{alias}/credentials
 *   x-amzn-iot-thingname: {thing}
 * Cached, and refreshed before they expire; concurrent callers share one fetch.
 */
import type httpsModule from 'node:https';
import { CamwireError } from '../errors';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface IotCredentialsOptions {
  /** Host (or https URL) from `aws iot describe-endpoint --endpoint-type iot:CredentialProvider`. */
  endpoint: string;
  roleAlias: string;
  thing: string;
  cert: string | Buffer;
  key: string | Buffer;
  /** CA for the endpoint's certificate (default: Node's roots). */
  ca?: string | Buffer;
  /** Fetch new credentials this long before they expire (default 5 minutes). */
  refreshBeforeMs?: number;
  timeoutMs?: number;
}

export class IotCredentialsProvider {
  private cached: AwsCredentials | undefined;
  private inflight: Promise<AwsCredentials> | undefined;
  /** How many times credentials were fetched (for tests and metrics). */
  fetches = 0;

  constructor(private readonly o: IotCredentialsOptions) {
    if (!/^[\w.-]+$/.test(o.roleAlias)) throw new CamwireError('KVS_BAD_OPTIONS', `"${o.roleAlias}" is not a role alias name`);
  }

  /** Valid credentials, fetching or refreshing when needed. */
  async get(): Promise<AwsCredentials> {
    const c = this.cached;
    const refreshBefore = this.o.refreshBeforeMs ?? 300_000;
    if (c && (!c.expiration || c.expiration.getTime() - Date.now() > refreshBefore)) return c;
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private fetch(): Promise<AwsCredentials> {
    const base = /^https:\/\//.test(this.o.endpoint) ? new URL(this.o.endpoint) : new URL(`https://${this.o.endpoint}`);
    const url = new URL(`/role-aliases/${encodeURIComponent(this.o.roleAlias)}/credentials`, base);
    this.fetches++;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- https (and Node's TLS with it) loads only when credentials are fetched: `kvs stream --out` never does
    const https = require('node:https') as typeof httpsModule;
    return new Promise<AwsCredentials>((resolve, reject) => {
      const req = https.get(
        url,
        {
          cert: this.o.cert,
          key: this.o.key,
          ...(this.o.ca ? { ca: this.o.ca } : {}),
          headers: { 'x-amzn-iot-thingname': this.o.thing, accept: 'application/json' },
          timeout: this.o.timeoutMs ?? 10_000,
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            if (body.length < 65536) body += d.toString();
          });
          res.on('end', () => {
            if (res.statusCode !== 200) {
              const code = res.statusCode === 403 || res.statusCode === 401 ? 'KVS_CREDENTIALS_DENIED' : 'KVS_CREDENTIALS_FAILED';
              reject(
                new CamwireError(code, `the IoT credentials provider answered ${res.statusCode} for role alias ${this.o.roleAlias} and thing ${this.o.thing}`, {
                  hint: 'the certificate must be attached to the thing, and its policy must allow iot:AssumeRoleWithCertificate on the role alias',
                }),
              );
              return;
            }
            try {
              const c = (JSON.parse(body) as { credentials?: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string; expiration?: string } })
                .credentials;
              if (!c?.accessKeyId || !c.secretAccessKey || !c.sessionToken || !c.expiration || Number.isNaN(Date.parse(c.expiration)))
                throw new Error('incomplete');
              this.cached = {
                accessKeyId: c.accessKeyId,
                secretAccessKey: c.secretAccessKey,
                sessionToken: c.sessionToken,
                expiration: new Date(c.expiration),
              };
              resolve(this.cached);
            } catch {
              reject(new CamwireError('KVS_CREDENTIALS_FAILED', 'the IoT credentials provider answered without complete credentials'));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const tls = /alert|certificate|SSL/i.test(`${e.code ?? ''} ${e.message}`);
        reject(
          new CamwireError(
            tls ? 'KVS_CREDENTIALS_TLS' : 'KVS_CREDENTIALS_UNREACHABLE',
            `IoT credentials provider ${url.host}: ${e.code ?? ''} ${e.message}`.trim(),
            { cause: e },
          ),
        );
      });
    });
  }
}

/**
 * The standard AWS credential chain (environment, shared config/credentials
 * files and profiles, SSO, process, container and instance metadata) through
 * the SDK's own small provider package, loaded only when asked for.
 */
export async function awsChainCredentials(o: { profile?: string } = {}): Promise<AwsCredentials> {
  // camwire pins the SDK in its lockfile: its notice about future releases needing Node 22 does not apply.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the AWS SDK loads only when the AWS chain is used (device path stays light)
  const { defaultProvider } = require('@aws-sdk/credential-provider-node') as typeof import('@aws-sdk/credential-provider-node');
  try {
    const c = await defaultProvider(o.profile ? { profile: o.profile } : {})();
    return {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
      ...(c.expiration ? { expiration: c.expiration } : {}),
    };
  } catch (e) {
    throw new CamwireError('KVS_NO_CREDENTIALS', `no AWS credentials found (${(e as Error).message.split('\n')[0]})`, {
      cause: e,
      hint: 'set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or use the IoT credentials provider with the device certificate',
    });
  }
}
