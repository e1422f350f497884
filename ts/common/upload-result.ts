/**
 * The result message contract (DESIGN.md, version 1): what a camera publishes
 * on cameras/{thing}/uploads at QoS 1 once an upload target has been carried
 * out, uploaded or failed.
 */
export interface UploadResult {
  version: 1;
  id: string;
  thing?: string;
  status: 'uploaded' | 'failed';
  objectUrl?: string;
  bytes: number;
  sha256?: string;
  etag?: string;
  contentType?: string;
  parts: number;
  source?: string;
  startedAt: string;
  completedAt: string;
  /** The target's pre-signed GET of the object (its share), when it had one. */
  shareUrl?: string;
  shareExpiresAt?: string;
  error?: { code: string; message: string };
}
