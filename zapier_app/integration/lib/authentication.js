'use strict';

const { baseUrl } = require('./http');

const test = async (z) => {
  const response = await z.request({ url: `${baseUrl()}/me` });
  return response.data;
};

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'apiKey',
      label: 'Pi API Key',
      type: 'password',
      required: true,
      helpText:
        'Your Pi API key (it starts with `pi_live_` or `pi_test_`). Find it in your Pi dashboard under **API keys**.',
    },
  ],
  test,
  // The /me answer names the account by a hash suffix, never by the key.
  connectionLabel: (z, bundle) => bundle.inputData.label,
};
