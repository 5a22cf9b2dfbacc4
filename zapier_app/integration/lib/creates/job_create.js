'use strict';

const fields = require('../../generated/fields.json');
const { baseUrl, cleanInput, isTrue, requestBody } = require('../http');
const { withImageFile } = require('../hydrators');

// A failed Pi job fails the Zap step, so the user is told (and Zapier can replay it).
const failIfJobFailed = (z, object) => {
  if (object && object.status === 'failed') {
    throw new z.errors.Error(
      `Pi could not finish the job: ${object.error || 'unknown error'}`,
      'job_failed',
    );
  }
  return object;
};

// Build a create that submits one job; with "Wait for the Result" it pauses the Zap on a
// callback URL (performResume runs when the connector POSTs the final object there),
// otherwise the connector waits up to 25 s itself. With `imageFile`, outputs also carry the
// image as a Zapier file.
const jobCreate = ({ key, noun, label, description, sample, imageFile = false }) => {
  const output = (z, object) => (imageFile ? withImageFile(z, object) : object);

  const perform = async (z, bundle) => {
    const { wait_for_result: waitForResult, ...input } = bundle.inputData || {};
    const body = cleanInput(input);
    if (isTrue(waitForResult, true)) {
      body.callback_url = z.generateCallbackUrl();
    }
    const response = await z.request({
      method: 'POST',
      url: `${baseUrl()}/actions/${key}`,
      body,
    });
    const object = body.callback_url ? response.data : failIfJobFailed(z, response.data);
    return output(z, object);
  };

  const performResume = async (z, bundle) =>
    output(
      z,
      failIfJobFailed(z, { ...bundle.outputData, ...requestBody(bundle.cleanedRequest) }),
    );

  return {
    key,
    noun,
    display: { label, description },
    operation: {
      inputFields: fields.inputFields[key],
      perform,
      performResume,
      sample,
      outputFields: imageFile ? fields.outputFields.job : fields.outputFields.object,
    },
  };
};

module.exports = { jobCreate, failIfJobFailed };
