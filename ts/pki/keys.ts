/**
 * Key pairs for the CA and devices on Node's WebCrypto: RSA-2048
 * (RSASSA-PKCS1-v1_5 / SHA-256) or EC P-256 (ECDSA / SHA-256), the two key
 * types AWS IoT documents for device certificates.
 */
import { createPrivateKey, webcrypto } from 'node:crypto';
import { x509 } from './x509';
import { CamwireError } from '../errors';

export type KeyType = 'rsa' | 'ec';
export const KEY_TYPES: readonly KeyType[] = ['rsa', 'ec'];

export const RSA_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };

export interface KeyPair {
  type: KeyType;
  keys: CryptoKeyPair;
}

export function parseKeyType(value: string | undefined, fallback: KeyType = 'rsa'): KeyType {
  if (value === undefined) return fallback;
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw new CamwireError('PKI_BAD_KEY_TYPE', `unknown key type "${value}"; use rsa or ec`);
}

function importAlgorithm(type: KeyType): RsaHashedImportParams | EcKeyImportParams {
  return type === 'rsa' ? { name: RSA_ALGORITHM.name, hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
}

/** The algorithm a key of this type signs certificates with. */
export function signingAlgorithm(type: KeyType): Algorithm | EcdsaParams {
  return type === 'rsa' ? { name: RSA_ALGORITHM.name } : ({ name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams);
}

export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const algorithm = type === 'rsa' ? RSA_ALGORITHM : EC_ALGORITHM;
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  return { type, keys };
}

/** PKCS#8 PEM ("BEGIN PRIVATE KEY"), what OpenSSL, Mosquitto and AWS IoT all read. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/**
 * Reads a private key in any PEM form OpenSSL writes (PKCS#8, PKCS#1 RSA,
 * SEC1 EC) and imports it for signing. Only RSA >= 2048 and EC P-256 pass.
 */
export async function importPrivateKeyPem(pem: string, what = 'private key'): Promise<{ type: KeyType; key: CryptoKey }> {
  let keyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (e) {
    throw new CamwireError('PKI_BAD_KEY', `${what} is not a readable PEM private key (${(e as Error).message})`, { cause: e });
  }
  let type: KeyType;
  if (keyObject.asymmetricKeyType === 'rsa') {
    const bits = keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new CamwireError('PKI_BAD_KEY', `${what} is RSA-${bits}; AWS IoT needs at least 2048 bits`);
    type = 'rsa';
  } else if (keyObject.asymmetricKeyType === 'ec' && keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    type = 'ec';
  } else {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    throw new CamwireError('PKI_BAD_KEY', `${what} is ${keyObject.asymmetricKeyType}${curve ? ` (${curve})` : ''}; camwire signs with RSA-2048+ or EC P-256`);
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = (await webcrypto.subtle.importKey('pkcs8', der, importAlgorithm(type), true, ['sign'])) as unknown as CryptoKey;
  return { type, key };
}

/** The key type of a certificate's public key. */
export function certificateKeyType(cert: x509.X509Certificate | x509.Pkcs10CertificateRequest): KeyType {
  const name = cert.publicKey.algorithm.name;
  if (name === 'ECDSA' || name === 'ECDH') {
    const curve = (cert.publicKey.algorithm as EcKeyAlgorithm).namedCurve;
    if (curve !== 'P-256') throw new CamwireError('PKI_BAD_KEY', `public key is on curve ${curve}; camwire accepts EC P-256`);
    return 'ec';
  }
  if (name === 'RSASSA-PKCS1-v1_5' || name === 'RSA-PSS' || name === 'RSA-OAEP') {
    const bits = (cert.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength;
    if (bits < 2048) throw new CamwireError('PKI_BAD_KEY', `public key is RSA-${bits}; AWS IoT needs at least 2048 bits`);
    return 'rsa';
  }
  throw new CamwireError('PKI_BAD_KEY', `public key algorithm ${name} is not RSA or EC P-256`);
}
