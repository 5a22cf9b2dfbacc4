'use strict';

// Pi Connector for Zapier. Field specs and samples come from generated/fields.json, which
// `python -m zapier_app.generate` writes from the connector's own request schemas.

const { version } = require('./package.json');
const { version: platformVersion } = require('zapier-platform-core');

const authentication = require('./lib/authentication');
const { addBearerHeader, handleErrors } = require('./lib/http');
const newBrand = require('./lib/triggers/new_brand');
const jobFinished = require('./lib/triggers/job_finished');
const creates = require('./lib/creates');
const searches = require('./lib/searches');

const byKey = (operations) =>
  Object.fromEntries(operations.map((operation) => [operation.key, operation]));

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addBearerHeader],
  afterResponse: [handleErrors],
  triggers: byKey([newBrand, jobFinished]),
  creates: byKey(creates),
  searches: byKey(searches),
};
