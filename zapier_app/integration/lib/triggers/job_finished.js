'use strict';

const fields = require('../../generated/fields.json');
const { baseUrl, requestBody, triggerLimit } = require('../http');

const DEFAULT_EVENT = 'job.completed';

const eventOf = (bundle) => (bundle.inputData && bundle.inputData.event) || DEFAULT_EVENT;

// Zapier gives us a target URL; the connector POSTs each matching finished job there.
const performSubscribe = async (z, bundle) => {
  const response = await z.request({
    method: 'POST',
    url: `${baseUrl()}/hooks`,
    body: { target_url: bundle.targetUrl, event: eventOf(bundle) },
  });
  return response.data; // becomes bundle.subscribeData: {id, event, target_url}
};

const performUnsubscribe = async (z, bundle) => {
  const hookId = bundle.subscribeData && bundle.subscribeData.id;
  const response = await z.request({
    method: 'DELETE',
    url: `${baseUrl()}/hooks/${encodeURIComponent(hookId)}`,
    // A hook the connector already dropped (its target answered 410) is as good as deleted.
    skipThrowForStatus: true,
  });
  if (response.status !== 404) {
    response.throwForStatus();
  }
  return response.data || {};
};

const perform = async (z, bundle) => {
  const body = bundle.cleanedRequest;
  if (Array.isArray(body)) {
    return body;
  }
  return [requestBody(body)];
};

// Samples for the Zap editor: the account's latest finished jobs for this event.
const performList = async (z, bundle) => {
  const response = await z.request({
    url: `${baseUrl()}/triggers/jobs`,
    params: { event: eventOf(bundle), limit: triggerLimit(bundle) },
  });
  return response.data;
};

module.exports = {
  key: 'job_finished',
  noun: 'Job',
  display: {
    label: 'Job Finished',
    description:
      'Triggers instantly when a Pi job (brand extraction, image or campaign) completes or fails.',
  },
  operation: {
    type: 'hook',
    inputFields: fields.inputFields.job_finished,
    performSubscribe,
    performUnsubscribe,
    perform,
    performList,
    sample: fields.samples.job_event,
    outputFields: fields.outputFields.event,
  },
};
