'use strict';

const fields = require('../../generated/fields.json');
const { baseUrl, cleanInput } = require('../http');

// Searches answer an array: [] means "not found" to Zapier.
const search = (path) => async (z, bundle) => {
  const response = await z.request({
    url: `${baseUrl()}/searches/${path}`,
    params: cleanInput(bundle.inputData),
  });
  return response.data;
};

module.exports = [
  {
    key: 'find_job',
    noun: 'Job',
    display: {
      label: 'Find Job',
      description: 'Finds a Pi job by its Job ID and returns its current status and result.',
    },
    operation: {
      inputFields: fields.inputFields.find_job,
      perform: search('job'),
      sample: fields.samples.brand_job,
      outputFields: fields.outputFields.object,
    },
  },
  {
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
      outputFields: fields.outputFields.object,
    },
  },
];
