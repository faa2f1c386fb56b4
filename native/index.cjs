'use strict';
// Loads the prebuilt addon for this platform, or the one node-gyp built in build/.
module.exports = require('node-gyp-build')(__dirname);
