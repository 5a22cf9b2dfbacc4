'use strict';

// Pi Connector for Zapier. Field specs and samples come from generated/fields.json, which
// `python -m zapier_app.generate` writes from the connector's own request schemas.

const { version } = require('./package.json');
const { version: platformVersion } = require('zapier-platform-core');

const authentication = require('./lib/authentication');
const { addBearerHeader, handleErrors } = require('./lib/http');
const { hydrators } = require('./lib/hydrators');
const newBrand = require('./lib/triggers/new_brand');
const brandList = require('./lib/triggers/brand_list');
const jobFinished = require('./lib/triggers/job_finished');
const creates = require('./lib/creates');
const searches = require('./lib/searches');
const searchOrCreates = require('./lib/search_or_creates');

const byKey = (operations) =>
  Object.fromEntries(operations.map((operation) => [operation.key, operation]));

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addBearerHeader],
  afterResponse: [handleErrors],
  hydrators,
  triggers: byKey([newBrand, brandList, jobFinished]),
  creates: byKey(creates),
  searches: byKey(searches),
  searchOrCreates: byKey(searchOrCreates),
};
