/** The topics of DESIGN.md, one function each so no caller spells them by hand. */
import { checkThingName } from './thing-name';

export const topics = {
  uploadTargets: (thing: string) => `cameras/${checkThingName(thing)}/upload-targets`,
  uploads: (thing: string) => `cameras/${checkThingName(thing)}/uploads`,
  streams: (thing: string) => `cameras/${checkThingName(thing)}/streams`,
  status: (thing: string) => `cameras/${checkThingName(thing)}/status`,
  /** Out: periodic telemetry (fleet and test bench). */
  telemetry: (thing: string) => `cameras/${checkThingName(thing)}/telemetry`,
  /** Every camera's telemetry: what a fleet-side observer subscribes to. */
  allTelemetry: () => 'cameras/+/telemetry',
  /** Everything of one camera: what the broker ACL and the IoT policy allow it. */
  all: (thing: string) => `cameras/${checkThingName(thing)}/#`,
};
