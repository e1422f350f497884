/**
 * The one place @peculiar/x509 is imported. Its v2 dependency injection needs a
 * Reflect metadata polyfill loaded first, and its crypto provider set to
 * Node's WebCrypto; doing both here keeps every other file import-order safe.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
