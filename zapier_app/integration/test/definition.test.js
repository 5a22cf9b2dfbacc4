'use strict';

// Offline checks: Zapier's own schema accepts the definition, and it uses the generated specs.

const { compileApp, validateApp } = require('zapier-platform-core/src/tools/schema');
const App = require('../index');
const fields = require('../generated/fields.json');

describe('integration definition', () => {
  it('validates with zapier-platform-core', () => {
    expect(validateApp(compileApp(App))).toEqual([]);
  });

  it('pins zapier-platform-core exactly', () => {
    const pkg = require('../package.json');
    expect(pkg.dependencies['zapier-platform-core']).toMatch(/^19\.\d+\.\d+$/);
    expect(App.platformVersion).toBe(pkg.dependencies['zapier-platform-core']);
  });

  it('has a sample and output fields on every operation', () => {
    const operations = [
      ...Object.values(App.triggers),
      ...Object.values(App.creates),
      ...Object.values(App.searches),
    ];
    expect(operations).toHaveLength(7);
    operations.forEach((operation) => {
      const keys = operation.operation.outputFields.map((f) => f.key);
      expect(Object.keys(operation.operation.sample).sort()).toEqual([...keys].sort());
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
