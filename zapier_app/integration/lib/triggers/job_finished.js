'use strict';

const fields = require('../../generated/fields.json');
const { baseUrl, getData, requestBody, triggerLimit } = require('../http');
const { withImageFile } = require('../hydrators');

const DEFAULT_EVENT = 'job.completed';

const eventOf = (bundle) => (bundle.inputData && bundle.inputData.event) || DEFAULT_EVENT;
const kindOf = (bundle) => (bundle.inputData && bundle.inputData.kind) || null;

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

// A hook subscription is per event, so the connector POSTs every kind: the Kind filter is
// applied here, and [] tells Zapier not to run the Zap for that delivery.
const perform = async (z, bundle) => {
  const body = bundle.cleanedRequest;
  const items = Array.isArray(body) ? body : [requestBody(body)];
  const kind = kindOf(bundle);
  return items
    .filter((item) => !kind || item.kind === kind)
    .map((item) => withImageFile(z, item));
};

// Samples for the Zap editor: the account's latest finished jobs for this event (and kind).
const performList = async (z, bundle) => {
  const params = { event: eventOf(bundle), limit: triggerLimit(bundle) };
  const kind = kindOf(bundle);
  if (kind) {
    params.kind = kind;
  }
  const items = await getData(z, '/triggers/jobs', params);
  return items.map((item) => withImageFile(z, item));
};

module.exports = {
  key: 'job_finished',
  noun: 'Job',
  display: {
    label: 'Job Finished',
    description:
      'Triggers instantly when a Pi job (brand extraction, image or campaign) completes or fails; optionally only one kind of job.',
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
