'use strict';

const fields = require('../../generated/fields.json');
const { getData, triggerLimit } = require('../http');

// Newest first; id = brand_id, so a brand fires once however often it is re-extracted.
const perform = (z, bundle) => getData(z, '/triggers/brands', { limit: triggerLimit(bundle) });

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
    outputFields: fields.outputFields.brand,
  },
};
