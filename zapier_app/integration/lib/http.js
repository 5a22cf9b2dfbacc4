'use strict';

// Talking to the Pi Connector: its base URL, the Bearer header, and readable errors.

const fields = require('../generated/fields.json');

const TRUE_WORDS = ['true', 'yes', 'y', '1', 'on'];

const connectorApi = () => {
  const url = process.env.CONNECTOR_URL;
  return url ? `${url.replace(/\/+$/, '')}/zapier/v1` : null;
};

const baseUrl = () => {
  const url = connectorApi();
  if (!url) {
    throw new Error(
      'CONNECTOR_URL is not set: run `zapier-platform env:set <version> CONNECTOR_URL=https://your-connector`',
    );
  }
  return url;
};

// True only for URLs under the connector's /zapier/v1 (same origin, same path prefix): a
// look-alike host such as connector.example.com.evil.test never matches.
const isConnectorUrl = (url) => {
  const api = connectorApi();
  if (!api || !url) {
    return false;
  }
  try {
    const target = new URL(url);
    const base = new URL(api);
    return target.origin === base.origin && `${target.pathname}/`.startsWith(`${base.pathname}/`);
  } catch (err) {
    return false;
  }
};

// beforeRequest: calls to the connector carry the user's Pi API key; nothing else does (the
// image hydrator downloads from Pi's image host, which must never see the key).
const addBearerHeader = (request, z, bundle) => {
  const apiKey = bundle.authData && bundle.authData.apiKey;
  if (apiKey && isConnectorUrl(request.url)) {
    request.headers = request.headers || {};
    request.headers.Authorization = `Bearer ${String(apiKey).trim()}`;
  }
  // Let handleErrors see 429s, so the user reads the connector's own message.
  request.throwForThrottlingEarly = false;
  return request;
};

// GET a connector endpoint (path under /zapier/v1) and return its JSON.
const getData = async (z, path, params) => {
  const response = await z.request({ url: `${baseUrl()}${path}`, params });
  return response.data;
};

const connectorError = (response) => {
  let body = response.data;
  if (body === undefined) {
    try {
      body = JSON.parse(response.content);
    } catch (err) {
      body = undefined;
    }
  }
  const error = body && typeof body === 'object' ? body.error : undefined;
  return {
    message:
      (error && error.message) ||
      `The Pi Connector answered HTTP ${response.status}`,
    code: (error && error.code) || `http_${response.status}`,
  };
};

// afterResponse: 401 asks the user to reconnect, 429 retries later, other errors say why.
const handleErrors = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) {
    return response;
  }
  const { message, code } = connectorError(response);
  if (response.status === 401) {
    throw new z.errors.ExpiredAuthError(message);
  }
  if (response.status === 429) {
    const seconds = parseInt(response.getHeader('retry-after'), 10);
    throw new z.errors.ThrottledError(
      message,
      Number.isNaN(seconds) ? undefined : seconds,
    );
  }
  throw new z.errors.Error(message, code, response.status);
};

const isTrue = (value, fallback) => {
  if (value === undefined || value === null || value === '') {
    return fallback;
  }
  return value === true || TRUE_WORDS.includes(String(value).toLowerCase());
};

// Drop empty values (Zapier sends '' for unfilled optional fields).
const cleanInput = (input) => {
  const out = {};
  Object.entries(input || {}).forEach(([key, value]) => {
    if (value === undefined || value === null || value === '') {
      return;
    }
    if (Array.isArray(value)) {
      const kept = value.filter((v) => v !== undefined && v !== null && v !== '');
      if (kept.length) {
        out[key] = kept;
      }
      return;
    }
    out[key] = value;
  });
  return out;
};

// A polling trigger asks for what Zapier wants, within the connector's limit.
const triggerLimit = (bundle) => {
  const wanted = bundle.meta && bundle.meta.limit;
  const { default: fallback, max } = fields.triggerLimit;
  if (bundle.meta && bundle.meta.isLoadingSample) {
    return Math.min(3, max);
  }
  return Number.isInteger(wanted) && wanted > 0 ? Math.min(wanted, max) : fallback;
};

// Zapier adds the callback's query string to cleanedRequest: it is not part of the object.
const requestBody = (cleanedRequest) => {
  if (!cleanedRequest || typeof cleanedRequest !== 'object') {
    return {};
  }
  const { querystring, ...body } = cleanedRequest; // eslint-disable-line no-unused-vars
  return body;
};

module.exports = {
  addBearerHeader,
  baseUrl,
  getData,
  isConnectorUrl,
  cleanInput,
  handleErrors,
  isTrue,
  requestBody,
  triggerLimit,
};
