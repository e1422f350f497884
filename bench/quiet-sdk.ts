/**
 * Imported first by benches that load the AWS SDK: the SDK's notice about
 * future Node versions is kept off the output, as the camwire CLI does (and
 * as ava's environment does for the tests). Set the variable to "false" to see it.
 */
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
