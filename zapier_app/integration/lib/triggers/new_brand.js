'use strict';

const fields = require('../../generated/fields.json');
const { baseUrl, triggerLimit } = require('../http');

// Newest first; id = brand_id, so a brand fires once however often it is re-extracted.
const perform = async (z, bundle) => {
  const response = await z.request({
    url: `${baseUrl()}/triggers/brands`,
    params: { limit: triggerLimit(bundle) },
  });
  return response.data;
};

module.exports = {
  key: 'new_brand',
  noun: 'Brand',
  display: {
    label: 'New Brand Extracted',
    description:
      'Triggers when Pi finishes extracting a brand (name, colours, logo) for your account.',
  },
  operation: {
    type: 'polling',
    inputFields: fields.inputFields.new_brand,
    perform,
    sample: fields.samples.brand,
    outputFields: fields.outputFields.object,
  },
};
