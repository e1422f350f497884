/**
 * JSON documents for the AWS side of an own-CA fleet: the IoT policy that
 * limits each camera to its own client id and `cameras/{thing}/...` topics,
 * and the Just-in-Time Provisioning template that creates the thing from the
 * certificate's CN on first connect.
 */
import { arnPartition, awsAccount, awsRegion, checkRoleAlias, checkRoleArn, PartitionHint } from './aws-arn';

const THING = '${iot:Connection.Thing.ThingName}';

export interface PolicyOptions {
  /** AWS region, e.g. eu-west-1 or cn-north-1 (its partition's ARNs: arn:aws-cn in China); `*` (any) when absent. */
  region?: string;
  /** Without a region: the partition of the ARNs (default aws; aws-cn for AWS China). */
  partition?: PartitionHint['partition'];
  /** 12-digit account id; `*` when absent. */
  accountId?: string;
  /** Topic root; DESIGN.md fixes `cameras`. */
  topicRoot?: string;
  /**
   * An IoT role alias the camera may exchange its certificate for temporary
   * credentials at (the credentials provider, for KVS): adds
   * iot:AssumeRoleWithCertificate on that alias.
   */
  roleAlias?: string;
}

export interface IotPolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{ Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: string | string[]; Condition?: Record<string, Record<string, string>> }>;
}

function arnPrefix(o: PolicyOptions & { roleArn?: string }): string {
  return `${arnPartition(o)}:iot:${awsRegion(o.region)}:${awsAccount(o.accountId)}`;
}

/**
 * The device policy: connect only as client id = own thing name (with the
 * certificate attached to that thing), publish, receive and subscribe only
 * under `cameras/{thing}/`, and keep the retained status topic; with
 * `roleAlias`, also take credentials from the credentials provider.
 */
export function iotPolicy(o: PolicyOptions = {}): IotPolicyDocument {
  const arn = arnPrefix(o);
  const root = o.topicRoot ?? 'cameras';
  const alias = o.roleAlias === undefined ? undefined : checkRoleAlias(o.roleAlias);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: `${arn}:client/${THING}`,
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      { Effect: 'Allow', Action: ['iot:Publish', 'iot:RetainPublish'], Resource: `${arn}:topic/${root}/${THING}/*` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${arn}:topic/${root}/${THING}/*` },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${arn}:topicfilter/${root}/${THING}/*` },
      ...(alias ? [{ Effect: 'Allow' as const, Action: 'iot:AssumeRoleWithCertificate', Resource: `${arn}:rolealias/${alias}` }] : []),
    ],
  };
}

export interface JitpOptions extends PolicyOptions {
  /** IAM role AWS IoT assumes to provision (managed policy AWSIoTThingsRegistration). */
  roleArn?: string;
  /** Attach this existing policy by name instead of an inline policy document. */
  policyName?: string;
  /** Optional thing type for provisioned things. */
  thingTypeName?: string;
}

export interface JitpTemplateBody {
  Parameters: Record<string, { Type: 'String'; Default?: string }>;
  Resources: Record<string, { Type: string; Properties: Record<string, unknown>; OverrideSettings?: Record<string, string> }>;
}

/** The provisioning template: thing name from the certificate CN, the certificate ACTIVE, the policy attached. */
export function jitpTemplateBody(o: JitpOptions = {}): JitpTemplateBody {
  const thingProps: Record<string, unknown> = { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' } };
  if (o.thingTypeName) thingProps['ThingTypeName'] = o.thingTypeName;
  const policyProps: Record<string, unknown> = o.policyName ? { PolicyName: o.policyName } : { PolicyDocument: JSON.stringify(iotPolicy(o)) };
  return {
    // Only parameters every camwire certificate carries: a declared parameter
    // the certificate lacks (Country, say) makes provisioning fail.
    Parameters: {
      'AWS::IoT::Certificate::CommonName': { Type: 'String' },
      'AWS::IoT::Certificate::Id': { Type: 'String' },
    },
    Resources: {
      thing: { Type: 'AWS::IoT::Thing', OverrideSettings: { ThingTypeName: 'REPLACE' }, Properties: thingProps },
      certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' } },
      policy: { Type: 'AWS::IoT::Policy', Properties: policyProps },
    },
  };
}

/**
 * The `registrationConfig` for `aws iot register-ca-certificate
 * --registration-config file://...`: the template body as a JSON string plus
 * the provisioning role.
 */
export function jitpRegistrationConfig(o: JitpOptions = {}): { templateBody: string; roleArn: string } {
  const roleArn = checkRoleArn(o.roleArn ?? `${arnPartition(o)}:iam::${o.accountId ?? '123456789012'}:role/camwire-jitp`);
  return { templateBody: JSON.stringify(jitpTemplateBody({ ...o, roleArn })), roleArn };
}
