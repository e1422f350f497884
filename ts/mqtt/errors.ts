/**
 * Turns what Node's TLS stack, the socket and MQTT.js report into a
 * CamwireError with a stable code and one human line. `fatal` marks failures
 * that retrying with the same identity cannot fix.
 */
import { CamwireError, CamwireErrorCode } from '../errors';

export interface ClassifiedError {
  error: CamwireError;
  /** Retrying with the same certificate and key cannot succeed. */
  fatal: boolean;
}

interface ErrLike {
  code?: string | number;
  message?: string;
  reason?: string;
  errno?: number;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL']);
const SERVER_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** CONNACK return codes of MQTT 3.1.1 and reason codes of MQTT 5 that mean "you may not". */
const NOT_AUTHORIZED_CONNACK = new Set([4, 5, 0x86, 0x87, 0x8a /* banned */]);

export function classifyMqttError(err: unknown, ctx: { url: string; thing: string }): ClassifiedError {
  if (err instanceof CamwireError) return { error: err, fatal: FATAL_CODES.has(err.code) };
  const e = (err ?? {}) as ErrLike;
  const code = typeof e.code === 'string' ? e.code : '';
  const msg = e.message ?? String(err);
  const where = ctx.url;
  const mk = (c: CamwireErrorCode, m: string, hint?: string) =>
    new CamwireError(c, m, { cause: err, ...(hint ? { hint } : {}), details: { url: ctx.url, thing: ctx.thing } });

  if (UNREACHABLE.has(code)) {
    return {
      error: mk('MQTT_UNREACHABLE', `broker ${where} is unreachable (${code})`, 'check the host and port, and that the broker is running'),
      fatal: false,
    };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return {
      error: mk(
        'MQTT_CONNECTION_LOST',
        `broker ${where} closed the connection (${code})`,
        'a first connection closed by AWS IoT JITP is expected; camwire retries',
      ),
      fatal: false,
    };
  }
  // Alerts the broker sends when it refuses the client certificate. With TLS
  // 1.3 they arrive on the first read after the handshake.
  if (/ALERT_UNKNOWN_CA/i.test(code) || /alert unknown ca/i.test(msg)) {
    return {
      error: mk(
        'MQTT_UNKNOWN_CA',
        `broker ${where} does not know the CA that signed the certificate of ${ctx.thing}`,
        'register the CA with the broker (AWS: register-ca-certificate) or use a certificate from the CA the broker trusts',
      ),
      fatal: true,
    };
  }
  if (/ALERT_CERTIFICATE_EXPIRED/i.test(code) || /alert certificate expired/i.test(msg)) {
    return {
      error: mk(
        'MQTT_CERT_EXPIRED',
        `broker ${where} refused the certificate of ${ctx.thing}: it has expired (or is not valid yet)`,
        'issue a new device certificate: camwire pki issue',
      ),
      fatal: true,
    };
  }
  if (/ALERT_CERTIFICATE_REVOKED/i.test(code) || /alert certificate revoked/i.test(msg)) {
    return {
      error: mk('MQTT_CERT_REVOKED', `broker ${where} refused the certificate of ${ctx.thing}: it has been revoked`, 'issue a new device certificate'),
      fatal: true,
    };
  }
  if (
    /ALERT_(BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|DECRYPT_ERROR)/i.test(code) ||
    /alert (bad certificate|unsupported certificate|certificate unknown|certificate required)/i.test(msg)
  ) {
    return {
      error: mk(
        'MQTT_CERT_REJECTED',
        `broker ${where} refused the client certificate of ${ctx.thing} (${msg})`,
        'check that --cert is a client certificate (extKeyUsage clientAuth) from a CA the broker trusts',
      ),
      fatal: true,
    };
  }
  if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' || /key values mismatch/i.test(msg)) {
    return {
      error: mk('MQTT_KEY_MISMATCH', `the private key does not belong to the certificate of ${ctx.thing}`, 'pass the key made together with this certificate'),
      fatal: true,
    };
  }
  if (SERVER_UNTRUSTED.has(code) || code === 'CERT_HAS_EXPIRED' || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /TLS not authorized/.test(msg)) {
    const what =
      code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'its certificate is not for this host name'
        : code === 'CERT_HAS_EXPIRED'
          ? 'its certificate has expired'
          : `its certificate does not chain to the trusted CA (${code || msg})`;
    return {
      error: mk(
        'MQTT_SERVER_UNTRUSTED',
        `broker ${where} is not trusted: ${what}`,
        "pass the broker's CA with --ca (for AWS IoT: Amazon Root CA 1); TLS verification stays on",
      ),
      fatal: true,
    };
  }
  if (typeof e.code === 'number' && NOT_AUTHORIZED_CONNACK.has(e.code)) {
    return {
      error: mk(
        'MQTT_NOT_AUTHORIZED',
        `broker ${where} refused ${ctx.thing}: not authorised (CONNACK ${e.code}${msg ? `: ${msg}` : ''})`,
        'check the broker ACL / IoT policy: client id must equal the thing name',
      ),
      fatal: true,
    };
  }
  if (/Connection refused: Not authorized|Not authorized|Bad username or password/i.test(msg)) {
    return {
      error: mk(
        'MQTT_NOT_AUTHORIZED',
        `broker ${where} refused ${ctx.thing}: ${msg}`,
        'check the broker ACL / IoT policy: client id must equal the thing name',
      ),
      fatal: true,
    };
  }
  if (/Unsupported protocol version|unacceptable protocol version/i.test(msg) || e.code === 1 || e.code === 0x84) {
    return { error: mk('MQTT_PROTOCOL', `broker ${where} does not accept this MQTT version (${msg})`, 'try --mqtt-version 4 (3.1.1) or 5'), fatal: true };
  }
  if (/connack timeout|connect timeout/i.test(msg)) {
    return {
      error: mk(
        'MQTT_CONNECT_TIMEOUT',
        `broker ${where} did not answer CONNECT in time`,
        'on port 443 AWS IoT needs ALPN x-amzn-mqtt-ca; check that the port speaks MQTT',
      ),
      fatal: false,
    };
  }
  if (/^ERR_SSL_|^ERR_OSSL_/.test(code)) {
    return { error: mk('MQTT_TLS', `TLS with ${where} failed: ${msg}`), fatal: false };
  }
  return { error: mk('MQTT_CONNECTION_LOST', `connection to ${where} failed: ${msg}`), fatal: false };
}

const FATAL_CODES = new Set([
  'MQTT_UNKNOWN_CA',
  'MQTT_CERT_EXPIRED',
  'MQTT_CERT_REVOKED',
  'MQTT_CERT_REJECTED',
  'MQTT_KEY_MISMATCH',
  'MQTT_SERVER_UNTRUSTED',
  'MQTT_NOT_AUTHORIZED',
  'MQTT_PROTOCOL',
  'MQTT_BAD_OPTIONS',
]);
