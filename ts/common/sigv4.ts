/**
 * SigV4 header signing by the C++ core (the signer PutMedia uses), for tools
 * and tests that need to sign as the producer does.
 */
import { fromNative, native, NativeSignRequest, NativeSigned } from '../native';

export type SignRequest = NativeSignRequest;
export type SignResult = NativeSigned;

/** Signs a request; errors are CamwireError (SIGV4_BAD_DATE, SIGV4_NO_HOST, ...). */
export function signV4(request: SignRequest): SignResult {
  try {
    return native().signV4(request);
  } catch (e) {
    throw fromNative(e, new Error().stack);
  }
}
