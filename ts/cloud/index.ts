/**
 * The deployment documents camwire writes for the cloud side of the path, as
 * plain JSON: the AWS IoT policy and JITP template, the IAM trust and
 * permission documents, the uploads topic rule, the bucket lifecycle, the
 * back end's policy, a Route 53 change, and the Tencent CAM policy for a COS
 * presigner. No SDK and no network: `camwire pki aws …` prints them.
 */
export * from './aws';
export * from './aws-docs';
export * from './cos-docs';
