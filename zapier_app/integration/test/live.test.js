'use strict';

// Runs every trigger, create, search and the auth test with Zapier's appTester against a
// LIVE connector (web + worker + Redis + Pi simulator) that tests/zapier_app/test_node.py
// starts; it passes CONNECTOR_URL, PI_TEST_KEY and PISIM_URL. Without them (a plain
// `npm test`) this file is skipped, unless PIC_LIVE=1 demands it.

const fs = require('fs');
const zapier = require('zapier-platform-core');
const App = require('../index');
const fields = require('../generated/fields.json');
const { startReceiver } = require('./receiver');

const live = Boolean(process.env.CONNECTOR_URL && process.env.PI_TEST_KEY);
if (process.env.PIC_LIVE === '1' && !live) {
  throw new Error('PIC_LIVE=1 but CONNECTOR_URL / PI_TEST_KEY are not set');
}
const describeLive = live ? describe : describe.skip;

const appTester = zapier.createAppTester(App);
const authData = { apiKey: process.env.PI_TEST_KEY };
const keysOf = (name) => fields.outputFields[name].map((f) => f.key);
const outputKeys = keysOf('object');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Tell the Pi simulator to answer the next matching requests with an error. (Global fetch:
// zapier-platform-core patches the http module for its own request logging.)
const simFail = async (route, status, count) => {
  const response = await fetch(`${process.env.PISIM_URL}/_sim/config`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ fail_next: { route, status, count } }),
  });
  expect(response.status).toBe(200);
};

const jobsCreated = async () => {
  const response = await fetch(`${process.env.PISIM_URL}/_sim/stats`);
  return (await response.json()).jobs_created;
};

describeLive('against a live connector', () => {
  let brand; // the object extract_brand returned

  describe('authentication', () => {
    it('tests the key with /me and labels the connection without the key', async () => {
      const me = await appTester(App.authentication.test, { authData });
      expect(me.account_id).toMatch(/^[0-9a-f]{32}$/);
      const label = await appTester(App.authentication.connectionLabel, {
        authData,
        inputData: me,
      });
      expect(label).toBe(me.label);
      expect(label).toMatch(/^Pi account …[0-9a-f]{4}$/);
      expect(label).not.toContain(authData.apiKey);
    });

    it('asks the user to reconnect when the key is not accepted', async () => {
      await expect(
        appTester(App.authentication.test, { authData: { apiKey: 'not a key!' } }),
      ).rejects.toMatchObject({ name: 'ExpiredAuthError' });
      await expect(appTester(App.authentication.test, { authData: {} })).rejects.toMatchObject({
        name: 'ExpiredAuthError',
      });
    });
  });

  describe('creates (short wait)', () => {
    it('extract_brand returns the finished brand', async () => {
      brand = await appTester(App.creates.extract_brand.operation.perform, {
        authData,
        inputData: { url: 'https://zapier-live.example', wait_for_result: 'false' },
      });
      expect(Object.keys(brand)).toEqual(outputKeys);
      expect(brand).toMatchObject({ status: 'completed', kind: 'brand_extraction' });
      expect(brand.id).toBe(brand.job_id);
      expect(brand.brand_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(brand.domain).toBe('zapier-live.example');
    });

    it.each(['generate_image', 'render_campaign'])('%s returns the image', async (key) => {
      const result = await appTester(App.creates[key].operation.perform, {
        authData,
        inputData: {
          prompt: `a poster for ${key}`,
          brand_id: brand.brand_id,
          aspect_ratio: '16:9',
          resolution: '1K',
          thinking_intensity: 'minimal',
          reference_images: ['https://cdn.example.com/ref.png', ''],
          wait_for_result: false,
        },
      });
      expect(Object.keys(result)).toEqual(keysOf('job'));
      expect(result.status).toBe('completed');
      expect(result.image_url).toMatch(/^https?:\/\//);
      expect(result.image_file).toMatch(/^hydrate\|\|\|/);
    });

    it('fails the step with Pi\'s reason when the job fails', async () => {
      await expect(
        appTester(App.creates.extract_brand.operation.perform, {
          authData,
          inputData: { url: 'https://fail-live.example', wait_for_result: false },
        }),
      ).rejects.toThrow(/Pi could not finish the job/);
    });

    it('shows the connector\'s message naming the bad field', async () => {
      const tooLong = appTester(App.creates.generate_image.operation.perform, {
        authData,
        inputData: { prompt: 'x'.repeat(5001), wait_for_result: false },
      });
      await expect(tooLong).rejects.toMatchObject({ name: 'AppError' });
      await expect(tooLong).rejects.toThrow(/prompt/);
      await expect(
        appTester(App.creates.render_campaign.operation.perform, {
          authData,
          inputData: {
            prompt: 'ok',
            reference_images: Array(7).fill('https://cdn.example.com/r.png'),
            wait_for_result: false,
          },
        }),
      ).rejects.toThrow(/reference_images/);
      await expect(
        appTester(App.creates.extract_brand.operation.perform, {
          authData,
          inputData: { url: 'not a url', wait_for_result: false },
        }),
      ).rejects.toThrow(/url/);
    });

    it('turns a 429 into a ThrottledError with the Retry-After delay', async () => {
      // The connector's Pi client does not repeat a create POST, so one 429 reaches Zapier.
      await simFail('POST /api/v1/brands/extract', 429, 1);
      const error = await appTester(App.creates.extract_brand.operation.perform, {
        authData,
        inputData: { url: 'https://throttled-live.example', wait_for_result: false },
      }).catch((err) => err);
      expect(error.name).toBe('ThrottledError');
      const { message, delay } = JSON.parse(error.message);
      expect(message).toMatch(/rate limit/i);
      expect(Number.isInteger(delay) && delay >= 1).toBe(true);
      // Pi's 429 holds this account's creates for the delay: wait it out, as Zapier would.
      await new Promise((resolve) => setTimeout(resolve, delay * 1000 + 100));
    });
  });

  describe('creates (callback)', () => {
    it('performResume returns the callback body the connector POSTed', async () => {
      const body = JSON.parse(fs.readFileSync(process.env.CALLBACK_BODY_FILE, 'utf8'));
      const outputData = JSON.parse(fs.readFileSync(process.env.CALLBACK_OUTPUT_FILE, 'utf8'));
      expect(outputData.status).not.toBe('completed'); // perform answered at once
      const resumed = await appTester(App.creates.extract_brand.operation.performResume, {
        authData,
        outputData,
        cleanedRequest: { ...body, querystring: {} },
      });
      expect(resumed).toEqual(body);
      expect(resumed.status).toBe('completed');
    });
  });

  describe('searches', () => {
    it('find_job finds a job and answers [] for an unknown one', async () => {
      const [job] = await appTester(App.searches.find_job.operation.perform, {
        authData,
        inputData: { job_id: brand.job_id },
      });
      expect(job).toEqual({ ...brand, image_file: null });
      const none = await appTester(App.searches.find_job.operation.perform, {
        authData,
        inputData: { job_id: '00000000-0000-4000-8000-000000000000' },
      });
      expect(none).toEqual([]);
    });

    it('find_brand finds by id and by domain', async () => {
      const [byId] = await appTester(App.searches.find_brand.operation.perform, {
        authData,
        inputData: { brand_id: brand.brand_id },
      });
      expect(byId).toMatchObject({ id: brand.brand_id, brand_id: brand.brand_id });
      const [byDomain] = await appTester(App.searches.find_brand.operation.perform, {
        authData,
        inputData: { domain: 'www.zapier-live.example', brand_id: '' },
      });
      expect(byDomain.id).toBe(brand.brand_id);
    });
  });

  describe('Brand dropdown (hidden trigger brand_list)', () => {
    const list = (meta) => appTester(App.triggers.brand_list.operation.perform, { authData, meta });

    it('lists the brands newest first, labelled with name and domain', async () => {
      const page = await list({ page: 0 });
      expect(page.length).toBeGreaterThan(0);
      expect(Object.keys(page[0])).toEqual(keysOf('brand'));
      const mine = page.find((item) => item.id === brand.brand_id);
      expect(mine.label).toBe(`${brand.brand_name} (zapier-live.example)`);
      const finished = page.map((item) => item.finished_at);
      expect([...finished].sort().reverse()).toEqual(finished);
      expect(await list({})).toEqual(page); // no page yet = the first page
    });

    it('asks for bundle.meta.page: past the last brand the page is empty', async () => {
      // Fewer than one page of brands exist, so page 1 is empty; ignoring meta.page would
      // answer the first page again.
      expect(await list({ page: 1 })).toEqual([]);
      expect(await list({ page: fields.brandPages.maxPage + 1 })).toEqual([]);
    });
  });

  describe('Find or Extract Brand (searchOrCreate)', () => {
    // What Zapier runs for the step: the search, and the create only when it found nothing.
    const findOrExtract = async (domain) => {
      const pair = App.searchOrCreates.find_brand;
      const found = await appTester(App.searches[pair.search].operation.perform, {
        authData,
        inputData: { domain },
      });
      if (found.length) {
        return { created: false, result: found[0] };
      }
      const result = await appTester(App.creates[pair.create].operation.perform, {
        authData,
        inputData: { url: domain, wait_for_result: false },
        meta: { withSearch: pair.search },
      });
      return { created: true, result };
    };

    it('extracts an unknown domain once, and finds it from then on', async () => {
      const before = await jobsCreated();
      const first = await findOrExtract('soc-live.example');
      expect(first.created).toBe(true);
      expect(first.result).toMatchObject({ status: 'completed', domain: 'soc-live.example' });
      const again = await findOrExtract('https://www.soc-live.example/about');
      expect(again.created).toBe(false);
      expect(again.result).toMatchObject({
        id: first.result.brand_id,
        brand_id: first.result.brand_id,
        label: `${first.result.brand_name} (soc-live.example)`,
      });
      expect(Object.keys(again.result)).toEqual(keysOf('brand'));
      expect(await jobsCreated()).toBe(before + 1);
    });
  });

  describe('Job Finished: the Kind filter', () => {
    const performList = (inputData) =>
      appTester(App.triggers.job_finished.operation.performList, {
        authData,
        inputData,
        meta: { limit: 20 },
      });

    it('performList asks the connector for one kind', async () => {
      const all = await performList({ event: 'job.completed' });
      expect(new Set(all.map((item) => item.kind)).size).toBeGreaterThan(1);
      const images = await performList({ event: 'job.completed', kind: 'image_generation' });
      expect(images.length).toBeGreaterThan(0);
      images.forEach((item) => expect(item.kind).toBe('image_generation'));
      expect(Object.keys(images[0])).toEqual(keysOf('event'));
    });

    it('perform drops hook deliveries of another kind', async () => {
      const delivery = { ...brand, event: 'job.completed', querystring: {} };
      const run = (kind) =>
        appTester(App.triggers.job_finished.operation.perform, {
          authData,
          inputData: { event: 'job.completed', kind },
          cleanedRequest: delivery,
        });
      expect(await run('image_generation')).toEqual([]);
      expect(await run('brand_extraction')).toHaveLength(1);
      expect(await run('')).toHaveLength(1);
    });

    it('a kind the connector does not know fails with its message naming kind', async () => {
      await expect(performList({ event: 'job.completed', kind: 'video' })).rejects.toThrow(/kind/);
    });
  });

  describe('triggers', () => {
    it('new_brand lists brands newest first with brand_id as id', async () => {
      const items = await appTester(App.triggers.new_brand.operation.perform, {
        authData,
        meta: { limit: 10 },
      });
      expect(items.length).toBeGreaterThan(0);
      expect(items.map((i) => i.id)).toContain(brand.brand_id);
      items.forEach((item) => expect(item.id).toBe(item.brand_id));
      expect(Object.keys(items[0])).toEqual(keysOf('brand'));
    });

    it('job_finished performList gives samples for the chosen event', async () => {
      const items = await appTester(App.triggers.job_finished.operation.performList, {
        authData,
        inputData: { event: 'brand.extracted' },
        meta: { isLoadingSample: true },
      });
      expect(items.length).toBeGreaterThan(0);
      expect(items.length).toBeLessThanOrEqual(3);
      items.forEach((item) => expect(item).toMatchObject({ event: 'brand.extracted', kind: 'brand_extraction' }));
    });

    it('job_finished: subscribe, deliver, unsubscribe, no more deliveries', async () => {
      const receiver = await startReceiver();
      const subscribe = (path) =>
        appTester(App.triggers.job_finished.operation.performSubscribe, {
          authData,
          targetUrl: `${receiver.url}${path}`,
          inputData: { event: 'job.completed' },
        });
      const submit = (url) =>
        appTester(App.creates.extract_brand.operation.perform, {
          authData,
          inputData: { url, wait_for_result: false },
        });
      try {
        const zap = await subscribe('/zap');
        const control = await subscribe('/control'); // proves deliveries still flow
        expect(zap.id).toBeTruthy();

        const first = await submit('https://hook-one.example');
        const [delivery] = await receiver.waitFor('/zap', 1);
        await receiver.waitFor('/control', 1);
        const items = await appTester(App.triggers.job_finished.operation.perform, {
          authData,
          cleanedRequest: { ...delivery.body, querystring: {} },
        });
        expect(items).toHaveLength(1);
        expect(items[0]).toMatchObject({ id: first.job_id, event: 'job.completed', status: 'completed' });
        expect(Object.keys(items[0])).toEqual(fields.outputFields.event.map((f) => f.key));

        await appTester(App.triggers.job_finished.operation.performUnsubscribe, {
          authData,
          subscribeData: zap,
        });
        const second = await submit('https://hook-two.example');
        const control2 = await receiver.waitFor('/control', 2);
        expect(control2[1].body.id).toBe(second.job_id);
        await sleep(1500); // a stray delivery would have arrived with the control one
        expect(receiver.on('/zap')).toHaveLength(1);

        // Unsubscribing twice is harmless (the hook may already be gone after a 410).
        await appTester(App.triggers.job_finished.operation.performUnsubscribe, {
          authData,
          subscribeData: zap,
        });
        await appTester(App.triggers.job_finished.operation.performUnsubscribe, {
          authData,
          subscribeData: control,
        });
      } finally {
        await receiver.close();
      }
    });
  });
});
