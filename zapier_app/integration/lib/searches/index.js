'use strict';

const fields = require('../../generated/fields.json');
const { cleanInput, getData } = require('../http');
const { withImageFile } = require('../hydrators');

// Searches answer an array: [] means "not found" to Zapier.
const search = (path) => (z, bundle) =>
  getData(z, `/searches/${path}`, cleanInput(bundle.inputData));

const findJob = async (z, bundle) =>
  (await search('job')(z, bundle)).map((job) => withImageFile(z, job));

module.exports = [
  {
    key: 'find_job',
    noun: 'Job',
    display: {
      label: 'Find Job',
      description:
        'Finds a Pi job by its Job ID and returns its current status and result (an image as a file too).',
    },
    operation: {
      inputFields: fields.inputFields.find_job,
      perform: findJob,
      sample: fields.samples.image_job,
      outputFields: fields.outputFields.job,
    },
  },
  {
    // Also the search half of "Find or Extract Brand" (lib/search_or_creates.js).
    key: 'find_brand',
    noun: 'Brand',
    display: {
      label: 'Find Brand',
      description: 'Finds an extracted brand by its Brand ID or its domain.',
    },
    operation: {
      inputFields: fields.inputFields.find_brand,
      perform: search('brand'),
      sample: fields.samples.brand,
      outputFields: fields.outputFields.brand,
    },
  },
];
