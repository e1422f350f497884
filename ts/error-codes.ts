/**
 * The catalogue of every code a CamwireError can carry, from TypeScript or
 * from the native core (cpp/, binding/), with what it means and what to do.
 * docs/errors.md is written from it (`npm run docs:errors`), and
 * test/error-codes.test.ts holds both ways: every code the sources can raise
 * is here, and every code here is raised somewhere.
 *
 * `warning` marks codes that usually arrive as a warning or event while the
 * work goes on (a retry, a reconnect), not as the final error.
 */
export interface ErrorCodeInfo {
  readonly area: ErrorArea;
  readonly meaning: string;
  readonly action: string;
  readonly warning?: true;
}

export type ErrorArea =
  'native' | 'cli' | 'device' | 'demo' | 'pki' | 'mqtt' | 'upload' | 'presign' | 'local' | 'kvs' | 'sigv4' | 'ptp' | 'testbench' | 'fleet';

export const ERROR_AREAS: Record<ErrorArea, string> = {
  native: 'The native addon',
  cli: 'Command line',
  device: 'Device agent and its configuration',
  demo: 'camwire demo',
  pki: 'Certificates, keys and the deployment documents',
  mqtt: 'MQTT connection and the durable outbox',
  upload: 'Uploads through pre-signed URLs',
  presign: "The back end's presigners (S3, COS)",
  local: 'Local stand-ins (camwire/local)',
  kvs: 'Kinesis Video Streams producer, packaging and credentials',
  sigv4: 'SigV4 signing in the native core',
  ptp: 'PTP: the simulated camera and the initiator, PTP/IP and USB',
  testbench: 'The device test bench (camwire testbench)',
  fleet: 'Simulated camera fleets (camwire fleet)',
};

const e = (area: ErrorArea, meaning: string, action: string): ErrorCodeInfo => ({ area, meaning, action });
const w = (area: ErrorArea, meaning: string, action: string): ErrorCodeInfo => ({ area, meaning, action, warning: true });

export const ERROR_CODES = {
  // native
  NATIVE_NOT_FOUND: e(
    'native',
    'No native addon for this platform: no matching prebuild and no source build.',
    'Use linux-x64, linux-arm64 or linux-arm (armv7) with glibc, or build from source with `npm rebuild camwire` (cmake, g++, pkg-config, libssl-dev, libusb-1.0-0-dev, libcurl4-openssl-dev).',
  ),
  NATIVE_LOAD_FAILED: e(
    'native',
    'The addon file exists but the dynamic loader refused it (wrong architecture, missing library, ABI).',
    "Read the loader's message in the error; `camwire probe` shows which file was tried. Rebuild with `npm rebuild camwire` if you changed Node or the system libraries.",
  ),
  INTERNAL: e('native', 'An internal invariant of the native core failed.', 'A bug: report it with the message and `camwire probe`.'),

  // cli
  CLI_USAGE: e(
    'cli',
    'The options given to a command do not fit together (a missing companion option, two that exclude each other).',
    'Read the message and `camwire COMMAND --help`.',
  ),
  CLI_BAD_ARGUMENT: e(
    'cli',
    'An option value is not of the form the option takes (e.g. not a positive whole number).',
    "Fix the value; `--help` shows each option's form.",
  ),
  CLI_FILE_NOT_FOUND: e('cli', 'A file named on the command line cannot be read.', 'Check the path and its permissions.'),

  // device agent
  CONFIG_NOT_FOUND: e('device', 'The device configuration file cannot be read.', 'Check the path given to `camwire device --config`.'),
  CONFIG_INVALID: e(
    'device',
    'The device configuration has problems; every one is listed in the message and in details.problems.',
    'Fix each listed field (docs/device.md describes the format).',
  ),
  AGENT_BAD_JOB: w(
    'device',
    "A job file in the agent's job directory is unreadable; it was set aside and the agent goes on.",
    'Look at the file that was set aside; a new target for the same upload can be sent again.',
  ),
  AGENT_PATH_OUTSIDE_STORAGE: e(
    'device',
    "An upload target names an object path outside the camera's storage directory (.. or an absolute path).",
    'Send object paths relative to the storage, as PTP lists them.',
  ),
  AGENT_STOP: w(
    'device',
    'Something failed while the agent was stopping (an upload checkpoint, the stream, the outbox).',
    'The message says which part; what was not flushed is retried on the next start.',
  ),

  // demo
  DEMO_FAILED: e('demo', 'A step of `camwire demo` failed; the timeline above it says which and where it ran.', 'Run again with CAMWIRE_DEBUG=1.'),
  DEMO_TIMEOUT: e(
    'demo',
    'An expected step (a result, an event) did not come in time.',
    "Run again with CAMWIRE_DEBUG=1; on a very slow machine the demo's timeouts may be too short.",
  ),
  DEMO_INTERRUPTED: e('demo', 'The demo was stopped by SIGINT or SIGTERM.', 'Nothing to do; its temp files are removed.'),
  DEMO_FFMPEG_FAILED: e('demo', "ffmpeg could not make the demo's sample media.", "Run with `--no-ffmpeg` to use camwire's own samples."),
  DEMO_NOT_LISTED: e(
    'demo',
    'The simulated camera did not list a sample file over PTP.',
    'A bug in the PTP path: report it with the output of CAMWIRE_DEBUG=1.',
  ),
  DEMO_WRONG_SIZE: e('demo', 'The camera lists a sample with another size than the file has.', 'A bug in the PTP path: report it.'),
  DEMO_UPLOAD_FAILED: e('demo', "The camera's upload result says failed; the result's own error code follows.", 'Look up that code here.'),
  DEMO_DOWNLOAD_FAILED: e('demo', 'The uploaded object could not be fetched back from the store.', 'A bug in the store or the URL: report it.'),
  DEMO_SHA256_MISMATCH: e('demo', "The object fetched back differs from the camera's file.", 'A data-path bug: report it.'),
  DEMO_STREAM_FAILED: e('demo', 'The live stream ended with an error; its code follows.', 'Look up that code here.'),
  DEMO_STREAM_SHORT: e('demo', 'Fewer frames were stored by the KVS endpoint than were streamed.', 'A producer bug: report it.'),
  DEMO_STREAM_NOT_PERSISTED: e('demo', 'Not every fragment was acknowledged PERSISTED, or frames were dropped.', 'A producer bug: report it.'),

  // pki
  PKI_BAD_ARGUMENT: e(
    'pki',
    'A value for a deployment document is not of the form AWS takes (region, account id, role ARN, names).',
    'Fix the value; the message names the expected form.',
  ),
  PKI_PARTITION_MISMATCH: e(
    'pki',
    'A region and a role (or an explicit partition) from different AWS partitions: AWS China (aws-cn) has its own accounts, roles and ARNs.',
    "Use a role of the region's partition (arn:aws-cn:iam::… with cn-north-1 or cn-northwest-1), or the region the role belongs to.",
  ),
  PKI_BAD_KEY_TYPE: e('pki', 'Unknown key type.', 'Use rsa or ec.'),
  PKI_BAD_VALIDITY: e('pki', 'The validity in days is out of range (1 to 36500).', 'Choose a validity in range.'),
  PKI_BAD_NAME: e(
    'pki',
    "A server certificate's host is neither a DNS name nor an IP address, or none was given.",
    'Pass each `--host` as a DNS name or an IP address.',
  ),
  PKI_BAD_THING_NAME: e(
    'pki',
    'Not a valid AWS IoT thing name (1-128 characters from letters, digits, colon, underscore, hyphen).',
    'Choose a name of that form; it is also the MQTT client id and the certificate CN.',
  ),
  PKI_BAD_REGISTRATION_CODE: e('pki', 'Not an AWS IoT registration code.', 'Take it from `aws iot get-registration-code`.'),
  PKI_BAD_CERT: e('pki', 'A certificate is not readable PEM.', 'Check that the file is a PEM certificate (BEGIN CERTIFICATE).'),
  PKI_BAD_CSR: e('pki', 'A certificate request is not readable PEM.', 'Check that the file is a PEM CSR (BEGIN CERTIFICATE REQUEST).'),
  PKI_BAD_KEY: e('pki', 'A private key is not readable PEM.', 'Check that the file is a PEM private key (PKCS#8 or traditional).'),
  PKI_BAD_CRL_NUMBER: e(
    'pki',
    "The CA directory's crlnumber file is corrupt or out of range.",
    'Repair CA/crlnumber (the next number in hex, as `openssl ca` keeps it).',
  ),
  PKI_CA_NOT_FOUND: e('pki', 'The CA directory has no CA certificate or key.', 'Make a CA first: `camwire pki init-ca --out DIR`.'),
  PKI_NOT_A_CA: e('pki', 'The certificate given as the CA has no basicConstraints CA:TRUE.', 'Use the CA certificate, not a device or server one.'),
  PKI_KEY_MISMATCH: e('pki', 'The CA key does not belong to the CA certificate.', 'Use the key made with that certificate.'),
  PKI_FILE_EXISTS: e('pki', 'A file camwire would write already exists; nothing was written.', 'Pass `--force` to replace it, or choose another `--out`.'),

  // mqtt
  MQTT_BAD_OPTIONS: e(
    'mqtt',
    'The connection options are wrong (not a URL, a CA without a certificate, conflicting settings).',
    'Fix the option the message names.',
  ),
  MQTT_KEY_MISMATCH: e('mqtt', "The device's private key does not belong to its certificate.", 'Pass the key made with that certificate.'),
  MQTT_UNREACHABLE: w(
    'mqtt',
    'The broker cannot be reached (DNS, refused, no route); camwire keeps retrying with backoff.',
    'Check the host and port, and that the broker runs.',
  ),
  MQTT_CONNECTION_LOST: w(
    'mqtt',
    'The broker closed the connection; camwire reconnects with backoff. A first connection closed by AWS IoT JITP is expected.',
    "If it repeats, check the broker's logs and the IoT policy.",
  ),
  MQTT_CONNECT_TIMEOUT: e('mqtt', 'No connection within the timeout; the last cause is in the message.', 'Look at the cause; raise the timeout on slow links.'),
  MQTT_TLS: w(
    'mqtt',
    'The TLS handshake failed for another reason than trust or the certificate.',
    'Read the message; check the port (8883 or 443 with ALPN).',
  ),
  MQTT_SERVER_UNTRUSTED: e(
    'mqtt',
    "The broker's certificate is not trusted, or not for this host name. TLS verification stays on.",
    "Pass the broker's CA with `--ca` (AWS IoT: Amazon Root CA 1), and connect by a name in its certificate.",
  ),
  MQTT_UNKNOWN_CA: e(
    'mqtt',
    'The broker does not know the CA that signed the device certificate.',
    'Register the CA with the broker (AWS: register-ca-certificate) or use a certificate from a CA it trusts.',
  ),
  MQTT_CERT_EXPIRED: e(
    'mqtt',
    'The broker refused the device certificate: expired or not yet valid.',
    'Issue a new device certificate (`camwire pki issue`); check the device clock.',
  ),
  MQTT_CERT_REVOKED: e('mqtt', 'The broker refused the device certificate: revoked.', 'Issue a new device certificate.'),
  MQTT_CERT_REJECTED: e(
    'mqtt',
    'The broker refused the client certificate for another reason.',
    'Check it is a client certificate (extKeyUsage clientAuth) from a CA the broker trusts.',
  ),
  MQTT_NOT_AUTHORIZED: e(
    'mqtt',
    'The broker refused the connection: not authorised (CONNACK).',
    'Check the broker ACL or IoT policy: the client id must be the thing name.',
  ),
  MQTT_PROTOCOL: e('mqtt', 'The broker does not accept this MQTT version.', 'Try `--mqtt-version 4` (3.1.1) or 5.'),
  MQTT_NOT_CONNECTED: e('mqtt', 'A QoS 0 message while offline: it is not queued.', 'Use QoS 1 (queued in the outbox) or wait for the connection.'),
  MQTT_PUBLISH_NOT_AUTHORIZED: e(
    'mqtt',
    'The broker refused a publish: the topic is not allowed (reason 0x87).',
    'A camera may publish only under cameras/{thing}/; check the policy.',
  ),
  MQTT_PUBLISH_REFUSED: e('mqtt', 'The broker refused a publish with another reason code.', 'The reason code is in the message.'),
  MQTT_SUBSCRIBE_REFUSED: e('mqtt', 'The broker refused a subscription.', 'A camera may subscribe only under cameras/{thing}/; check the policy.'),
  MQTT_TIMEOUT: e('mqtt', '`camwire mqtt sub --timeout` ended before `--count` messages came.', 'Raise `--timeout`, or check that someone publishes.'),
  MQTT_CLOSED: e(
    'mqtt',
    'The connection was closed with messages still unacknowledged; they stay in the outbox.',
    'They are sent on the next connection with the same outbox.',
  ),
  OUTBOX_CLOSED: e('mqtt', 'A publish on an outbox already closed.', 'Publish before close().'),
  OUTBOX_CORRUPT: e(
    'mqtt',
    'A line of the outbox journal is not a record (not a torn last line, which is dropped quietly).',
    'Move the file aside to start a fresh outbox; readable lines can be recovered by hand.',
  ),
  OUTBOX_WRITE_FAILED: e(
    'mqtt',
    'The outbox journal could not be written or synced; the message was not accepted.',
    'Check free space and permissions of the outbox directory.',
  ),

  // upload
  UPLOAD_TARGET_INVALID: e(
    'upload',
    'The upload target is not JSON or breaks the contract; every problem is listed.',
    'Send a version 1 target (DESIGN: exactly one of put and multipart, https URLs, ...).',
  ),
  UPLOAD_FILE_NOT_FOUND: e('upload', 'The file to upload cannot be read.', 'Check the path.'),
  UPLOAD_FILE_CHANGED: e('upload', 'The file shrank while it was uploaded.', 'Upload files that are complete; the camera should write then hand over.'),
  UPLOAD_EXPIRED: e(
    'upload',
    'The pre-signed URL has expired (checked before every attempt and answered by the store).',
    'Ask the back end for a fresh target.',
  ),
  UPLOAD_SIGNATURE_MISMATCH: e(
    'upload',
    'The store refused the signature: a header differs from what was signed, or the URL was altered.',
    'Send exactly the headers the target lists (byte for byte), or ask for a fresh target.',
  ),
  UPLOAD_PART_TOO_SMALL: e('upload', "A multipart part is below the store's minimum.", 'Ask for a larger partSize (S3: 5 MiB except the last; COS: 1 MB).'),
  UPLOAD_NO_SUCH_UPLOAD: e('upload', 'The multipart upload no longer exists (completed or aborted).', 'Ask the back end for a new target.'),
  UPLOAD_CHECKSUM_MISMATCH: e(
    'upload',
    "The store's checksum of the body differs from the one sent.",
    'The file changed while it was read, or the target carries a wrong checksum.',
  ),
  UPLOAD_HTTP_ERROR: e(
    'upload',
    'The store answered an error not retried (4xx other than the cases above); its text is in the message.',
    "Read the store's error; 5xx, 408 and 429 are retried for the retry budget first.",
  ),
  UPLOAD_NETWORK: w(
    'upload',
    'The network failed during a request (reset, idle timeout, unreachable); retried with backoff until the budget is spent.',
    'Check connectivity; `--retry-for` sets the budget.',
  ),
  UPLOAD_ABORTED: e(
    'upload',
    'The upload was stopped by its abort signal (a shutdown); the journal keeps the confirmed parts.',
    'The same target later sends only the rest.',
  ),
  UPLOAD_FAILED: e('upload', 'An upload failed with an error that carried no code of its own.', 'The message has the cause.'),

  // presign
  PRESIGN_BAD_ARGUMENT: e('presign', 'A presigner input is wrong (bucket name, part size under the store minimum, size).', 'Fix the value the message names.'),
  PRESIGN_NO_CREDENTIALS: e('presign', 'No credentials for the presigner.', 'Set COS_SECRET_ID/COS_SECRET_KEY for COS, or the AWS credential chain for S3.'),
  PRESIGN_FAILED: e(
    'presign',
    "The presigner's request to the store (e.g. InitiateMultipartUpload) failed.",
    "Read the store's answer in the message; check the bucket, region and credentials.",
  ),

  // local stand-ins
  MQTT_BROKER_LISTEN: e('local', 'The local broker could not listen.', 'Choose another port, or 0 for a free one.'),
  S3_BAD_BUCKET: e(
    'local',
    'Not a valid S3 bucket name for the local store.',
    'Use 3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.',
  ),

  // kvs
  KVS_BAD_OPTIONS: e('kvs', 'The stream options are wrong (a name, a role alias, a number out of range).', 'Fix the option the message names.'),
  KVS_NO_CREDENTIALS: e(
    'kvs',
    "No AWS credentials for the stream (or for `kvs serve-local`'s check).",
    'Set the AWS credential chain, or use `--iot-credentials` with the device certificate.',
  ),
  KVS_CREDENTIALS_DENIED: e(
    'kvs',
    'The IoT credentials provider refused the device (401/403).',
    "Check the role alias, the policy's iot:AssumeRoleWithCertificate and the thing name header.",
  ),
  KVS_CREDENTIALS_FAILED: e('kvs', 'The IoT credentials provider answered an error or an unreadable body.', 'Read the status in the message.'),
  KVS_CREDENTIALS_TLS: e(
    'kvs',
    'TLS with the IoT credentials provider failed (trust or the client certificate).',
    "Check `--iot-ca` (the provider's CA; default Node's roots) and the device certificate.",
  ),
  KVS_CREDENTIALS_UNREACHABLE: e(
    'kvs',
    'The IoT credentials provider cannot be reached.',
    'Check the endpoint (`aws iot describe-endpoint --endpoint-type iot:CredentialProvider`).',
  ),
  KVS_STORE_RECOVERED: e(
    'kvs',
    'A warning: the store directory held fragments not yet PERSISTED from an earlier run; they are sent first, in order.',
    'Nothing to do; the metrics say how many frames (framesRecovered).',
  ),
  KVS_STORE_EVICTED: e(
    'kvs',
    'A warning: the on-disk store reached its bound (storeBytes) during an outage; the oldest fragments were dropped to keep the newest.',
    'Give the store more room (--store-mb) if the outage was expected.',
  ),
  KVS_CLOCK_SKEW: e(
    'kvs',
    'A warning: KVS refused the signing time (403 "Signature expired" / "not yet current"); the producer measured the offset from the service\'s Date header and signs with the corrected time from then on.',
    'Nothing is lost; set up NTP on the camera (the offset is in the metrics as clockOffsetMs).',
  ),
  KVS_NOT_AUTHORIZED: e('kvs', 'KVS refused the signature or the credentials (401/403).', 'Check the access key, secret, session token and the device clock.'),
  KVS_REGION_UNSUPPORTED: e(
    'kvs',
    'Kinesis Video Streams is not offered in that region (in AWS China: Beijing, cn-north-1, only); refused before any request.',
    'Stream to the region the message names (--region cn-north-1), or give --endpoint explicitly.',
  ),
  KVS_STREAM_NOT_FOUND: e(
    'kvs',
    'The stream does not exist (404).',
    'Create it: `aws kinesisvideo create-stream --stream-name NAME --data-retention-in-hours 24`.',
  ),
  KVS_INVALID_ARGUMENT: e('kvs', 'KVS refused the request as invalid (400, not a limit).', "Read the service's message."),
  KVS_LIMIT_EXCEEDED: w(
    'kvs',
    'KVS throttled the producer (ClientLimitExceeded, ConnectionLimitExceeded); it backs off and retries.',
    'Fewer connections or a lower rate; it recovers by itself.',
  ),
  KVS_SERVICE_ERROR: w('kvs', 'KVS answered a 5xx; the producer backs off and retries.', 'Nothing unless it persists.'),
  KVS_BAD_RESPONSE: w('kvs', 'A KVS answer could not be read (e.g. GetDataEndpoint without a URL); retried.', 'Check the endpoint URL.'),
  KVS_CURL: e(
    'kvs',
    'libcurl could not create a handle (out of memory or a broken libcurl).',
    "Check the process's memory; `camwire probe` shows the libcurl in use.",
  ),
  KVS_TLS: e(
    'kvs',
    "The KVS endpoint's TLS certificate is not trusted.",
    "Pass the endpoint's CA (`--endpoint-ca`, or kvs.caFile in a device configuration); Node's roots are used by default; verification stays on.",
  ),
  KVS_UNREACHABLE: w(
    'kvs',
    'The KVS endpoint cannot be reached; retried with backoff while frames wait in the store.',
    "Check connectivity and the region's endpoint.",
  ),
  KVS_CONNECTION_DROPPED: w('kvs', 'A PutMedia connection broke; the producer reconnects and re-sends what was not PERSISTED.', 'Nothing unless it repeats.'),
  KVS_CONNECTION_ENDED: w(
    'kvs',
    'A PutMedia session ended with fragments sent and not PERSISTED; they are re-sent after a backoff.',
    'Nothing unless it repeats; it may mean acks are not coming.',
  ),
  KVS_CONNECTION_STALE: w('kvs', 'No BUFFERING ack for too long; the connection is replaced.', 'Nothing unless it repeats.'),
  KVS_ACK_ERROR: w(
    'kvs',
    'KVS answered an ERROR ack for a fragment; the session ends and the fragment is re-sent.',
    "The ack's error id is in the message (e.g. 4006 INVALID_MKV_DATA).",
  ),
  KVS_BAD_ACK: w('kvs', 'An ack could not be parsed; the session ends and is restarted.', 'Report it if it repeats.'),
  KVS_ACK_MALFORMED: w('kvs', 'The ack stream is not the JSON objects KVS sends.', 'Report it with the endpoint in use.'),
  KVS_ACK_TOO_LONG: w('kvs', 'An ack longer than 1024 bytes (no KVS ack is).', 'Check that the endpoint is KVS.'),
  KVS_PERSIST_TIMEOUT: e('kvs', 'close() waited and some fragments were never PERSISTED.', 'Check the endpoint; raise the close timeout on slow links.'),
  KVS_STORE_FULL: e(
    'kvs',
    'The fragment store is full and the overflow policy is block: the frame was not taken (with the drop policy frames are dropped and counted instead).',
    'Wait for acks, or raise storeBytes.',
  ),
  KVS_FILE_IO: e(
    'kvs',
    'The offline packager could not create, write or rename its output (the message names the path and the reason, e.g. ENOSPC); the output is left as it was.',
    'Free space where the output goes, or check its permissions; nothing is written over the output until the MKV is whole.',
  ),
  KVS_STORE_IO: e(
    'kvs',
    "The fragment journal could not create, write, sync or rename a file in its directory (the message names the path and the system's reason, e.g. No space left on device); a failed write leaves the file at its last whole record.",
    'Free space on the journal directory, or check its permissions and file system.',
  ),
  KVS_STORE_LOCKED: e(
    'kvs',
    'Another producer holds the fragment journal directory (its lock file is locked).',
    'Give each stream its own journal directory, or stop the other producer.',
  ),
  KVS_STORE_CORRUPT: e(
    'kvs',
    'A journalled fragment failed its CRC check when it was read back (the file was changed or damaged after it was written).',
    'Check the storage medium; the fragment cannot be sent.',
  ),
  KVS_STORE_BAD_OPTIONS: e(
    'kvs',
    'The fragment journal was misused: no directory, a fragment timecode that does not increase, a frame with no fragment open, or a record over the 64 MiB bound.',
    'Fix the call the message names.',
  ),
  KVS_CLOSED: e('kvs', 'A frame put after close() or abort().', 'Put frames before close().'),
  KVS_ABORTED: e('kvs', 'The stream was aborted; fragments not yet persisted were discarded.', 'Nothing: it is what abort() does.'),
  KVS_FAILED: e('kvs', 'The stream failed with an error that carried no code of its own.', 'The message has the cause.'),
  KVS_MIXED_INPUT: e('kvs', 'putFrame and putAnnexB on the same stream.', 'Use one KvsStream per input style.'),
  KVS_NOT_ANNEXB: e(
    'kvs',
    'putFrame was given bytes that are not an H.264 access unit in Annex-B form.',
    'Give access units starting with 00 00 01 or 00 00 00 01.',
  ),
  KVS_B_FRAMES_UNSUPPORTED: e('kvs', 'dts differs from pts: B-frames.', 'Encode without B-frames (x264: -bf 0).'),
  KVS_NEEDS_KEYFRAME: e('kvs', 'A stream (and every fragment) must start with a key frame.', 'Start with an IDR frame.'),
  KVS_NO_FRAMES: e('kvs', 'The H.264 input has no key frame.', 'Give H.264 with SPS, PPS and IDR frames.'),
  KVS_NO_CODEC_DATA: e(
    'kvs',
    'The input held no H.264 frames, or no SPS/PPS before the first frame.',
    'Give raw H.264 in Annex-B form with SPS and PPS (ffmpeg ... -bsf:v h264_mp4toannexb -f h264).',
  ),
  KVS_FRAME_TOO_LARGE: e('kvs', 'No access unit boundary within the frame size limit (not H.264, or a huge frame).', 'Check the input is Annex-B H.264.'),
  KVS_FRAGMENT_TOO_LONG: e('kvs', 'No key frame for 32.7 s: an MKV cluster cannot hold more.', 'Send key frames more often (every 1-10 s).'),
  KVS_TIMECODE_RANGE: e('kvs', "A frame's time is too far from its fragment's start for an MKV block.", 'Send key frames more often; check the timestamps.'),
  KVS_TIMESTAMP_NOT_INCREASING: e('kvs', "A frame's timestamp is not after the previous one's.", 'Give increasing presentation times.'),
  KVS_BAD_METADATA: e('kvs', 'Fragment metadata breaks KVS limits (at most 10 items, name and value sizes).', 'Send fewer or shorter tags.'),
  KVS_MKV_MALFORMED: e('kvs', 'MKV bytes (a PutMedia body read by the local endpoint or the reader) are malformed.', 'Check the producer that wrote them.'),
  H264_MALFORMED_SPS: e('kvs', 'An H.264 SPS could not be parsed.', 'Check the encoder output; camwire needs SPS for the codec private data.'),
  H264_MALFORMED_PPS: e('kvs', 'An H.264 PPS could not be parsed.', 'Check the encoder output.'),
  H265_MALFORMED_SPS: e(
    'kvs',
    'An H.265 SPS could not be parsed (profile/tier/level, picture size, conformance window, bit depth).',
    'Check the encoder output; camwire needs VPS, SPS and PPS for the hvcC record.',
  ),
  H265_MALFORMED_VPS: e('kvs', 'An H.265 VPS is not one (wrong NAL type or size).', 'Check the encoder output.'),
  H265_MALFORMED_PPS: e('kvs', 'An H.265 PPS is not one (wrong NAL type or size).', 'Check the encoder output.'),
  AAC_NO_SYNC: e('kvs', 'The audio input holds no ADTS frame (no sync word within 64 KiB).', 'Give AAC with ADTS headers (ffmpeg ... -c:a aac -f adts).'),
  AAC_BAD_HEADER: e(
    'kvs',
    'An ADTS header is malformed (sync word, layer, frame length); the message gives the byte offset.',
    'Check the encoder output; camwire does not resynchronise silently.',
  ),
  AAC_UNSUPPORTED: e(
    'kvs',
    'An ADTS stream camwire cannot store: a reserved sampling index, an in-band channel configuration (PCE) or several raw blocks per frame.',
    'Re-encode with a plain AAC-LC configuration (ffmpeg -c:a aac).',
  ),
  AAC_CONFIG_CHANGED: e(
    'kvs',
    "The AAC configuration (object type, rate or channels) changed mid-stream; Matroska's CodecPrivate holds one.",
    'Keep the encoder settings for the whole stream, or start a new one.',
  ),
  AAC_TRUNCATED: e('kvs', 'The ADTS stream ends inside a frame.', 'The last frame is incomplete; check that the whole file was written.'),

  // sigv4
  SIGV4_NO_CREDENTIALS: e('sigv4', 'No access key id or secret to sign with.', 'Give credentials.'),
  SIGV4_BAD_SCOPE: e('sigv4', 'Region or service missing from the signing scope.', 'Give both.'),
  SIGV4_BAD_DATE: e('sigv4', 'x-amz-date is not of the form 20150830T123600Z.', 'Give a UTC basic-format date.'),
  SIGV4_BAD_PAYLOAD_HASH: e('sigv4', 'The payload hash is not 64 lower-case hex digits or UNSIGNED-PAYLOAD.', "Give the body's SHA-256 in hex."),
  SIGV4_NO_HOST: e('sigv4', 'The host header is not among the signed headers.', 'Sign the host header.'),

  // ptp
  PTP_STORAGE: e('ptp', "The simulated camera's storage directory does not exist.", 'Create it, or point `--storage` at an existing directory.'),
  PTP_BAD_ADDRESS: e('ptp', 'Not a camera address.', 'Use ptpip:IPv4[:PORT], usb or usb:BUS:DEV.'),
  PTP_ADDRESS_IN_USE: e(
    'ptp',
    "The simulated camera cannot listen on that address (in use, or not this machine's).",
    'Choose another port (0 picks a free one) or stop the other listener.',
  ),
  PTP_UNREACHABLE: e(
    'ptp',
    'The camera cannot be reached over PTP/IP (refused, no route).',
    'Check the address; is the camera on the same network and in PTP/IP mode?',
  ),
  PTP_TIMEOUT: e('ptp', 'A PTP step did not finish in time (an answer, a handshake, an idle session).', 'Check the link; raise the timeout for slow cameras.'),
  PTP_REJECTED: e('ptp', 'The camera rejected this initiator in the PTP/IP handshake (not paired?).', 'Pair the initiator on the camera.'),
  PTP_INIT_FAILED: e('ptp', 'The camera refused the PTP/IP connection (Init Fail) for another reason.', 'The reason is in the message.'),
  PTP_BUSY: e('ptp', 'The camera answered Device Busy (it serves one session at a time).', 'Close the other session (or wait) and try again.'),
  PTP_NOT_SUPPORTED: e('ptp', 'The camera does not support that operation.', 'Check the operations in its DeviceInfo.'),
  PTP_RESPONSE: e('ptp', 'The camera answered an operation with an error response code.', 'The code is in the message (PTP 1.1 table of response codes).'),
  PTP_BAD_PACKET: e('ptp', 'The peer sent a packet that breaks PTP or PTP/IP (length, type, transaction).', 'A peer bug: the message says which field.'),
  PTP_BAD_DATASET: e('ptp', 'A PTP dataset (DeviceInfo, ObjectInfo, ...) is malformed.', 'A peer bug: the message names the dataset and field.'),
  PTP_BAD_VALUE: e('ptp', 'A property value does not match its declared datatype.', 'A peer bug: the message names the property.'),
  PTP_UNSUPPORTED_DATATYPE: e('ptp', 'A PTP datatype camwire does not read.', 'Report it with the camera model.'),
  PTP_TOO_LARGE: e('ptp', 'A data phase larger than allowed for that operation.', 'A peer bug, or a limit to raise for that operation.'),
  PTP_INCOMPLETE: e('ptp', 'An object download ended short (the camera sent no more bytes).', 'Retry; the partial file is not kept under the final name.'),
  PTP_CLOSED: e('ptp', 'The session or the host went away.', 'Reconnect.'),
  PTP_CANCELLED: e('ptp', 'The USB host cancelled the transaction.', 'Nothing: the host asked for it.'),
  PTP_NOT_CONNECTED: e('ptp', 'A client call before connect, or after the connection closed.', 'Connect first.'),
  PTP_IS_FOLDER: e('ptp', 'A folder was asked for as a file.', 'Give a file path (`camwire ptp ls` shows them).'),
  PTP_NO_SUCH_FILE: e('ptp', 'No such file on the camera.', '`camwire ptp ls --to …` shows the paths.'),
  PTP_INVALID_HANDLE: e('ptp', "No object with that handle in the simulated camera's store.", 'List the objects again; handles change when files go.'),
  PTP_INVALID_PARENT: e('ptp', 'No folder with that handle to send an object into.', 'Use a folder handle from the listing.'),
  PTP_STORE_FULL: e('ptp', 'The simulated camera found no free name for a received object.', 'Clear space in the storage directory.'),
  PTP_IO: e('ptp', 'A file operation failed (open, read, write, rename).', 'The message has the OS error; check space and permissions.'),
  PTP_NO_DEVICE: e('ptp', 'No PTP camera (USB class 6/1/1) at that address.', '`camwire ptp devices` shows what libusb sees.'),
  PTP_USB_ACCESS: e('ptp', 'No permission for the USB device.', 'Add a udev rule for the camera, or run as root.'),
  PTP_USB: e('ptp', 'A libusb call failed.', 'The libusb error name is in the message.'),
  PTP_STALL: e('ptp', 'A USB endpoint stalled.', 'Reconnect the camera; report it if it repeats.'),
  PTP_NO_LIBUSB: e('ptp', 'This build of camwire has no libusb.', 'Use a prebuild (libusb inside) or build with libusb-1.0-0-dev.'),
  PTP_NO_UMOCKDEV: e('ptp', 'The virtual USB camera needs umockdev 0.16 or later.', 'apt-get install umockdev'),
  // testbench
  TESTBENCH_NO_BENCH: e('testbench', 'The directory holds no bench.json of version 1.', 'Make the bench with `camwire testbench init --out DIR --thing NAME`.'),
  TESTBENCH_PORT_BUSY: e(
    'testbench',
    'A port the bench serves on (bench.json) is taken: another testbench run, or another program.',
    'Stop the other run, or make the bench with other ports (`testbench init --mqtt-port … --force`).',
  ),
  TESTBENCH_NO_CASES: e('testbench', '--cases matched no case.', '`camwire testbench list` shows every case id; globs such as `mqtt.*` work.'),
  TESTBENCH_FAILED: e('testbench', 'At least one case failed.', 'The report says which and why (evidence and timeline per case).'),
  // fleet run
  FLEET_FD_LIMIT: e(
    'fleet',
    'Too few file descriptors for the devices of this process (RLIMIT_NOFILE), or EMFILE/ENFILE while connecting.',
    'Raise the hard limit (limits.conf nofile, systemd LimitNOFILE=, docker --ulimit nofile=N:N), or split the fleet with --workers or --shard.',
  ),
  FLEET_PORTS_EXHAUSTED: w(
    'fleet',
    'EADDRNOTAVAIL: no local port left towards the broker address (about 28,000 per destination with the default port range).',
    'Widen net.ipv4.ip_local_port_range, give the broker more addresses, or shard across machines (`fleet k8s`).',
  ),
  FLEET_CONNECT_FAILED: w(
    'fleet',
    'A camera could not connect (TCP, TLS or the broker closing before CONNACK); the first cause is in the notes.',
    'Check the broker address, its CA (--broker-ca) and that it trusts the device CA.',
  ),
  FLEET_CONNECT_TIMEOUT: w(
    'fleet',
    'No CONNACK (or SUBACK, for the subscriber) within the connect timeout.',
    'Lower --rate, or look at the broker: it is overloaded or dropping handshakes.',
  ),
  FLEET_CONNACK_REFUSED: w(
    'fleet',
    'The broker answered CONNECT with a refusal (return code in the message).',
    'Code 5 (not authorised): the broker does not accept the certificate as an identity, or its ACL refuses the client id.',
  ),
  FLEET_CONNECTION_LOST: w(
    'fleet',
    'A connected camera lost its connection; it reconnects with backoff.',
    'Look at the broker log around that time (keep-alive, max_connections, memory).',
  ),
  FLEET_SUBSCRIBE_REFUSED: w(
    'fleet',
    'The broker refused a subscription (SUBACK 0x80): upload targets of a camera, or cameras/+/telemetry of the fleet-side subscriber.',
    "Grant the identity read on that topic in the broker's ACL.",
  ),
  FLEET_PROTOCOL: w(
    'fleet',
    'The broker sent bytes that are not MQTT 3.1.1 as expected (a length out of range, an unexpected packet).',
    'Check that the URL points at an MQTT broker; report it if it is one.',
  ),
  FLEET_STREAM_FAILED: w(
    'fleet',
    'A live KVS stream of `fleet run --streams` failed (its producer stopped with an error, or its last fragments were not PERSISTED within the stop wait); the first cause is in the notes.',
    'Check --kvs-endpoint, --kvs-region, --kvs-ca and the AWS credentials (environment chain); the stream names are {--kvs-stream-prefix}{thing}.',
  ),
  FLEET_UPLOAD_FAILED: w(
    'fleet',
    'An upload cycle of `fleet run --uploads` did not end with its result acknowledged: the result was not acknowledged by the end of the run, it did not match the contract, or the cycle was still under way at the stop. (A failed PUT or presign is counted under its own code, UPLOAD_* or PRESIGN_*.)',
    'See the first occurrence in the notes; a longer --duration lets the last cycles finish.',
  ),
  FLEET_WORKER_FAILED: e(
    'fleet',
    'A worker process of `fleet run --workers` exited without its report.',
    'Its error is printed above; run with --workers 1 to see it directly.',
  ),
  // fleet certs, merge, k8s
  FLEET_BAD_OPTIONS: e(
    'fleet',
    'An option of a fleet command is out of range or malformed (--count, --prefix, --shards, --shard I/N, --broker mqtts://…, --rate, --workers, a name).',
    'Correct the option; `camwire fleet <command> --help` lists them.',
  ),
  FLEET_CERTS_NOT_FOUND: e(
    'fleet',
    'The certificates directory is unreadable, has a broken fleet.json, holds fewer devices than asked for, or lacks the fleet-side subscriber identity.',
    'Make them with `camwire fleet certs --ca CA_DIR --count N --out DIR [--subscriber]`; existing devices are reused. The subscriber needs read on cameras/+/telemetry.',
  ),
  FLEET_REPORT_INVALID: e(
    'fleet',
    'A fleet report is not readable JSON or does not match the report schema (kind camwire.fleet.report, version 1).',
    'Give the files `fleet run --report` wrote; the message names the first field that is wrong.',
  ),
  FLEET_SHARDS_OVERLAP: e(
    'fleet',
    'Two reports given to `fleet merge` cover overlapping device ranges (the same shard twice, or shards of different fleet sizes).',
    'Merge each shard once; shards of one fleet come from one `--shard I/N` split over the same --devices.',
  ),
} as const satisfies Record<string, ErrorCodeInfo>;

/** Every code a CamwireError can carry. */
export type CamwireErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is CamwireErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
