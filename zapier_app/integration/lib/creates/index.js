'use strict';

const fields = require('../../generated/fields.json');
const { jobCreate } = require('./job_create');

module.exports = [
  jobCreate({
    key: 'extract_brand',
    noun: 'Brand',
    label: 'Extract Brand',
    description:
      "Extracts a brand's name, colours and logo from its website and returns a stable Brand ID.",
    sample: fields.samples.brand_job,
  }),
  jobCreate({
    key: 'generate_image',
    noun: 'Image',
    label: 'Generate Image',
    description: 'Generates an on-brand image from a prompt and returns it as a file and a URL.',
    sample: fields.samples.image_job,
    imageFile: true,
  }),
  jobCreate({
    key: 'render_campaign',
    noun: 'Campaign',
    label: 'Render Campaign',
    description:
      'Renders a campaign visual for a brand from a prompt and returns it as a file and a URL.',
    sample: fields.samples.campaign_job,
    imageFile: true,
  }),
];
