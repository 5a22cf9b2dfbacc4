'use strict';

// The image as a Zapier file, end to end against a LIVE connector (see live.test.js): the
// simulator says its images live on a local image host, Generate Image outputs a dehydrated
// file, and the hydrator downloads it (without the Pi key) and stashes it in a local stand-in
// of Zapier's file storage.

const { PNG, startImageHost, startFileStore } = require('./file_hosts');

const live = Boolean(process.env.CONNECTOR_URL && process.env.PI_TEST_KEY);
const describeLive = live ? describe : describe.skip;
const authData = { apiKey: process.env.PI_TEST_KEY };
const SAVED_ENV = ['ZAPIER_BASE_ENDPOINT', 'ZAPIER_DEPLOY_KEY'];

const simConfig = async (body) => {
  const response = await fetch(`${process.env.PISIM_URL}/_sim/config`, {
    method: body ? 'POST' : 'GET',
    headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  expect(response.status).toBe(200);
  return response.json();
};

// 'hydrate|||{...}|||hydrate' → {...} (unsigned: no _ZAPIER_ONE_TIME_SECRET in tests).
const pointer = (dehydrated) => {
  const found = /^hydrate\|\|\|(.*)\|\|\|hydrate$/.exec(dehydrated);
  expect(found).not.toBeNull();
  return JSON.parse(found[1]);
};

describeLive('the generated image as a file', () => {
  let App;
  let appTester;
  let imageHost;
  let fileStore;
  let savedEnv;
  let savedImageBase;

  beforeAll(async () => {
    imageHost = await startImageHost();
    fileStore = await startFileStore();
    savedEnv = Object.fromEntries(SAVED_ENV.map((name) => [name, process.env[name]]));
    // zapier-platform-core reads these when it is loaded: so load it only now.
    process.env.ZAPIER_BASE_ENDPOINT = fileStore.url;
    process.env.ZAPIER_DEPLOY_KEY = 'local-test-deploy-key';
    const zapier = require('zapier-platform-core');
    App = require('../index');
    appTester = zapier.createAppTester(App);
    savedImageBase = (await simConfig()).image_base_url;
    await simConfig({ image_base_url: `${imageHost.url}/images` });
  });

  afterAll(async () => {
    await simConfig({ image_base_url: savedImageBase });
    SAVED_ENV.forEach((name) => {
      if (savedEnv[name] === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = savedEnv[name];
      }
    });
    await imageHost.close();
    await fileStore.close();
  });

  it('Generate Image outputs the image URL and a file the next step can download', async () => {
    const result = await appTester(App.creates.generate_image.operation.perform, {
      authData,
      inputData: { prompt: 'a poster to attach', wait_for_result: false },
    });
    expect(result.status).toBe('completed');
    expect(result.image_url).toBe(`${imageHost.url}/images/${result.job_id}.png`);
    expect(pointer(result.image_file)).toEqual({
      type: 'file',
      method: 'hydrators.downloadImage',
      bundle: { url: result.image_url },
    });
    expect(imageHost.requests).toHaveLength(0); // nothing is downloaded until a step asks

    // What Zapier does when a later step uses the file (the user's authData is in the bundle).
    const stashed = await appTester(App.hydrators.downloadImage, {
      authData,
      inputData: pointer(result.image_file).bundle,
    });

    expect(stashed).toMatch(new RegExp(`^${fileStore.url}/bucket/stash/\\d+$`));
    expect(imageHost.requests).toHaveLength(1);
    const [download] = imageHost.requests;
    expect(download.path).toBe(`/images/${result.job_id}.png`);
    expect(download.headers.authorization).toBeUndefined();
    expect(JSON.stringify(download.headers)).not.toContain(authData.apiKey);
    const [upload] = fileStore.uploads;
    expect(upload.body.includes(PNG)).toBe(true);
    const form = upload.body.toString('latin1');
    expect(form).toContain(`filename="${result.job_id}.png"`);
    expect(form).toContain('image/png');
    expect(fileStore.rpcCalls[0].call.method).toBe('get_presigned_upload_post_data');
  });

  it('the image host refuses a download that carries the key (the check above has teeth)', async () => {
    const leaky = {
      ...App,
      beforeRequest: [
        (request, z, bundle) => {
          request.headers = { ...request.headers, Authorization: `Bearer ${bundle.authData.apiKey}` };
          return request;
        },
      ],
    };
    const leakyTester = require('zapier-platform-core').createAppTester(leaky);
    const url = `${imageHost.url}/images/leak.png`;
    await expect(
      leakyTester(leaky.hydrators.downloadImage, { authData, inputData: { url } }),
    ).rejects.toThrow(/Could not download the image \(HTTP 400\)/);
    expect(imageHost.requests.at(-1).headers.authorization).toBe(`Bearer ${authData.apiKey}`);
  });

  it('a missing image fails the step with a readable error', async () => {
    await expect(
      appTester(App.hydrators.downloadImage, {
        authData,
        inputData: { url: `${imageHost.url}/nothing-here` },
      }),
    ).rejects.toThrow(/Could not download the image \(HTTP 404\)/);
  });

  it('Find Job and Job Finished carry the file too; a brand job has none', async () => {
    const image = await appTester(App.creates.render_campaign.operation.perform, {
      authData,
      inputData: { prompt: 'a campaign to attach', wait_for_result: false },
    });
    const [found] = await appTester(App.searches.find_job.operation.perform, {
      authData,
      inputData: { job_id: image.job_id },
    });
    expect(pointer(found.image_file).bundle).toEqual({ url: image.image_url });
    const { image_file: file, ...hookBody } = found; // eslint-disable-line no-unused-vars
    const [delivered] = await appTester(App.triggers.job_finished.operation.perform, {
      authData,
      inputData: { event: 'job.completed' },
      cleanedRequest: { ...hookBody, event: 'job.completed', querystring: {} },
    });
    expect(pointer(delivered.image_file).bundle).toEqual({ url: image.image_url });
    const brand = await appTester(App.creates.extract_brand.operation.perform, {
      authData,
      inputData: { url: 'https://file-less.example', wait_for_result: false },
    });
    expect(brand.image_file).toBeUndefined(); // Extract Brand has no image output at all
    const [brandJob] = await appTester(App.searches.find_job.operation.perform, {
      authData,
      inputData: { job_id: brand.job_id },
    });
    expect(brandJob.image_file).toBeNull();
  });
});
