'use strict';

const fields = require('../../generated/fields.json');
const { getData } = require('../http');

// Feeds the Brand dropdowns of Generate Image and Render Campaign: one page of the account's
// brands, newest first. Zapier asks for page 0 first and bundle.meta.page + 1 on "Load more";
// the connector answers page × size onwards, [] past the last brand.
const perform = async (z, bundle) => {
  const page = Number.isInteger(bundle.meta && bundle.meta.page) ? bundle.meta.page : 0;
  if (page < 0 || page > fields.brandPages.maxPage) {
    return [];
  }
  return getData(z, '/triggers/brands', { page, limit: fields.brandPages.size });
};

module.exports = {
  key: 'brand_list',
  noun: 'Brand',
  display: {
    label: 'List Brands',
    description: 'Lists your extracted brands for the Brand dropdowns (hidden).',
    hidden: true,
  },
  operation: {
    type: 'polling',
    perform,
    canPaginate: true,
    sample: fields.samples.brand,
    outputFields: fields.outputFields.brand,
  },
};
