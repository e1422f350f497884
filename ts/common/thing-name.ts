import { CamwireError } from '../errors';

/** AWS IoT thing names: 1-128 characters from [a-zA-Z0-9:_-]. */
export const THING_NAME_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;

/** Throws PKI_BAD_THING_NAME unless name is a valid AWS IoT thing name. */
export function checkThingName(name: string): string {
  if (THING_NAME_PATTERN.test(name)) return name;
  const why =
    name.length === 0
      ? 'it is empty'
      : name.length > 128
        ? `it is ${name.length} characters long (at most 128)`
        : `it contains ${JSON.stringify([...name].find((c) => !/[a-zA-Z0-9:_-]/.test(c)))}`;
  throw new CamwireError('PKI_BAD_THING_NAME', `"${name}" is not a valid AWS IoT thing name: ${why}`, {
    hint: 'thing names use letters, digits, colon, underscore and hyphen, 1-128 characters; the name is also the MQTT client id and the CN',
  });
}
