'use strict';

// Offline checks: Zapier's own schema accepts the definition, and it uses the generated specs.

const { compileApp, validateApp } = require('zapier-platform-core/src/tools/schema');
const App = require('../index');
const fields = require('../generated/fields.json');
const { addBearerHeader, isConnectorUrl } = require('../lib/http');

const OUTPUT_TYPES = ['string', 'number', 'boolean', 'datetime', 'file', 'password', 'integer'];
const operations = () => [
  ...Object.values(App.triggers),
  ...Object.values(App.creates),
  ...Object.values(App.searches),
];

describe('integration definition', () => {
  it('validates with zapier-platform-core', () => {
    expect(validateApp(compileApp(App))).toEqual([]);
  });

  it('pins zapier-platform-core exactly', () => {
    const pkg = require('../package.json');
    expect(pkg.dependencies['zapier-platform-core']).toMatch(/^19\.\d+\.\d+$/);
    expect(App.platformVersion).toBe(pkg.dependencies['zapier-platform-core']);
  });

  it('declares a Node range that admits the tests\' Node and Zapier\'s runtime (22)', () => {
    const { engines } = require('../package.json');
    const minimum = Number(/^>=(\d+)$/.exec(engines.node)[1]);
    expect(minimum).toBeLessThanOrEqual(Number(process.versions.node.split('.')[0]));
    expect(minimum).toBeLessThanOrEqual(22);
  });

  it('has a sample and labelled, typed output fields on every operation', () => {
    expect(operations()).toHaveLength(8);
    operations().forEach((operation) => {
      const { outputFields, sample } = operation.operation;
      const keys = outputFields.map((f) => f.key);
      expect(Object.keys(sample).sort()).toEqual([...keys].sort());
      outputFields.forEach((field) => {
        expect(field.label).toBeTruthy();
        expect(OUTPUT_TYPES).toContain(field.type);
      });
    });
  });

  it('takes its input fields from the generated specs', () => {
    Object.values(App.creates).forEach((create) => {
      expect(create.operation.inputFields).toBe(fields.inputFields[create.key]);
      expect(create.operation.inputFields.map((f) => f.key)).toContain('wait_for_result');
    });
    const aspect = fields.inputFields.generate_image.find((f) => f.key === 'aspect_ratio');
    expect(aspect.choices).toContain('16:9');
  });

  it('stores the API key in a password field and labels the connection without it', () => {
    const [field] = App.authentication.fields;
    expect(field).toMatchObject({ key: 'apiKey', type: 'password', required: true });
  });
});

describe('the Brand dropdown', () => {
  it.each(['generate_image', 'render_campaign'])('%s picks brand_id from a hidden paging trigger', (key) => {
    const field = App.creates[key].operation.inputFields.find((f) => f.key === 'brand_id');
    const [triggerKey, valueKey, labelKey] = field.dynamic.split('.');
    const trigger = App.triggers[triggerKey];
    expect(trigger.display.hidden).toBe(true);
    expect(trigger.operation.canPaginate).toBe(true);
    const outputs = trigger.operation.outputFields.map((f) => f.key);
    expect(outputs).toEqual(expect.arrayContaining([valueKey, labelKey]));
    expect([valueKey, labelKey]).toEqual(['id', 'label']);
    const [searchKey, searchValue] = field.search.split('.');
    expect(App.searches[searchKey].operation.outputFields.map((f) => f.key)).toContain(searchValue);
  });
});

describe('Find or Extract Brand', () => {
  it('pairs the Find Brand search with the Extract Brand create under the search key', () => {
    const pair = App.searchOrCreates.find_brand;
    expect(pair.key).toBe(pair.search);
    const search = App.searches[pair.search];
    const create = App.creates[pair.create];
    expect(pair.create).toBe('extract_brand');
    expect(search.noun).toBe(create.noun);
    expect(search.operation.inputFields.map((f) => f.key)).toContain('domain');
    expect(pair.display.label).toBe('Find or Extract Brand');
  });

  it('is refused by the schema when its key is not the search key', () => {
    const broken = {
      ...App,
      searchOrCreates: {
        find_brand: { ...App.searchOrCreates.find_brand, key: 'extract_brand' },
      },
    };
    expect(validateApp(compileApp(broken)).length).toBeGreaterThan(0);
  });
});

describe('image files', () => {
  it('registers the hydrator and types image_file as a file where jobs are output', () => {
    expect(typeof App.hydrators.downloadImage).toBe('function');
    const withFile = operations().filter((op) =>
      op.operation.outputFields.some((f) => f.key === 'image_file'),
    );
    expect(withFile.map((op) => op.key).sort()).toEqual(
      ['find_job', 'generate_image', 'job_finished', 'render_campaign'].sort(),
    );
    withFile.forEach((op) => {
      const file = op.operation.outputFields.find((f) => f.key === 'image_file');
      const url = op.operation.outputFields.find((f) => f.key === 'image_url');
      expect([file.type, url.type]).toEqual(['file', 'string']);
    });
  });
});

describe('the Pi key goes to the connector only', () => {
  const saved = process.env.CONNECTOR_URL;
  beforeAll(() => {
    process.env.CONNECTOR_URL = 'https://connector.example.com/';
  });
  afterAll(() => {
    if (saved === undefined) {
      delete process.env.CONNECTOR_URL;
    } else {
      process.env.CONNECTOR_URL = saved;
    }
  });

  const sign = (url) =>
    addBearerHeader({ url, headers: {} }, {}, { authData: { apiKey: ' pi_test_key ' } }).headers;

  it('signs requests to the connector\'s /zapier/v1', () => {
    expect(sign('https://connector.example.com/zapier/v1/me')).toEqual({
      Authorization: 'Bearer pi_test_key',
    });
    expect(isConnectorUrl('https://CONNECTOR.example.com:443/zapier/v1/triggers/brands?page=1')).toBe(true);
  });

  it.each([
    'https://cdn.pisim.local/images/job.png',
    'https://connector.example.com.evil.test/zapier/v1/me',
    'http://connector.example.com/zapier/v1/me',
    'https://connector.example.com:8443/zapier/v1/me',
    'https://connector.example.com/zapier/v10/me',
    'https://connector.example.com/images/job.png',
    'https://connector.example.com/zapier/v1/../../images/job.png',
    'not a url',
    undefined,
  ])('does not sign %s', (url) => {
    expect(sign(url)).toEqual({});
  });

  it('signs nothing when CONNECTOR_URL is not set', () => {
    delete process.env.CONNECTOR_URL;
    expect(sign('https://connector.example.com/zapier/v1/me')).toEqual({});
    process.env.CONNECTOR_URL = 'https://connector.example.com/';
  });
});

describe('the schema check has teeth', () => {
  it('reports a broken definition', () => {
    // A create without a sample, and a field with a type Zapier does not know.
    const extract = App.creates.extract_brand;
    const bad = {
      ...extract,
      operation: {
        ...extract.operation,
        sample: undefined,
        inputFields: [{ key: 'url', type: 'url' }],
      },
    };
    const broken = { ...App, creates: { ...App.creates, extract_brand: bad } };
    expect(validateApp(compileApp(broken)).length).toBeGreaterThan(0);
  });
});
