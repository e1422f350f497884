/**
 * camwire/local: the local stand-ins for the cloud a camera talks to, each on
 * 127.0.0.1 with a port the OS picks, for tests, the demo and the bench;
 * LocalCloud starts any set of them, each behind a FaultProxy. Not
 * exported from the main barrel: a device or a back end that imports
 * 'camwire' loads none of them (nor aedes).
 */
export { LocalBroker } from './broker';
export type { LocalBrokerOptions, LocalBrokerEvents, ConnectInfo } from './broker';
export { LocalS3Store } from './s3';
export type { LocalS3Options, LocalS3Request } from './s3';
export { LocalKvsEndpoint } from './kvs-endpoint';
export type { LocalKvsCredentials, LocalKvsFaults, LocalKvsOptions, StoredFragment, SessionRecord } from './kvs-endpoint';
export { LocalIotCredentialsEndpoint } from './iot-credentials';
export type { LocalCredentialsOptions } from './iot-credentials';
export { LocalCloud } from './cloud';
export type { LocalCloudOptions, LocalCloudUrls, LocalService } from './cloud';
export { FaultProxy, HttpFaults } from './faults';
export type { ProxyFault, FaultProxyEvents, HttpFault } from './faults';
export { listenLocal, closeServer, readBody } from './server';
