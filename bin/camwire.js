#!/usr/bin/env node
'use strict';
// camwire pins its AWS SDK packages in the lockfile and supports Node 20; the
// SDK's notice about future Node versions is not something a camwire user
// can act on, so the CLI keeps it off the terminal (set the variable to
// "false" to see it).
if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}
const cli = require('../dist/cli/main.js');
cli.main(process.argv).then(cli.finish);
