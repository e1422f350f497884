/**
 * Tencent COS documents for the same upload path (docs/tencent-cos.md): the
 * CAM policy of the key the back end presigns with. The lifecycle rule is
 * bucketLifecycle() from aws-docs.ts: COS's SDK takes the same JSON.
 */
import { badArgument, checkName } from './aws-arn';

export interface CamPolicyDocument {
  version: '2.0';
  statement: Array<{ effect: 'allow' | 'deny'; action: string[]; resource: string[] }>;
}

export interface CosPresignerPolicyOptions {
  /** COS region, e.g. ap-guangzhou. */
  region: string;
  /** Bucket with its APPID suffix, e.g. examplebucket-1250000000. */
  bucket: string;
  /** Key prefix the back end presigns under (default `devices/`). */
  prefix?: string;
}

/**
 * The CAM policy for the sub-user (or temporary key) whose SecretId/SecretKey
 * `camwire presign --cos` signs with: the upload operations a target uses
 * (simple PUT; initiate, part, complete, abort of a multipart upload), on keys
 * under the prefix of one bucket. A pre-signed URL can do no more than that.
 */
export function cosPresignerPolicy(o: CosPresignerPolicyOptions): CamPolicyDocument {
  const region = checkName(o.region, /^[a-z]{2,}(-[a-z0-9]+)+$/, 'COS region', 'like ap-guangzhou');
  const m = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-(\d+)$/.exec(o.bucket);
  if (!m || o.bucket.length > 63) throw badArgument(`"${o.bucket}" is not a COS bucket name with its APPID (name-1250000000)`);
  const prefix = o.prefix ?? 'devices/';
  if (prefix.startsWith('/') || prefix.includes('*')) throw badArgument(`"${prefix}" is not a key prefix (no leading /, no *)`);
  return {
    version: '2.0',
    statement: [
      {
        effect: 'allow',
        action: [
          'name/cos:PutObject',
          'name/cos:InitiateMultipartUpload',
          'name/cos:UploadPart',
          'name/cos:CompleteMultipartUpload',
          'name/cos:AbortMultipartUpload',
        ],
        resource: [`qcs::cos:${region}:uid/${m[1]}:${o.bucket}/${prefix}*`],
      },
    ],
  };
}
