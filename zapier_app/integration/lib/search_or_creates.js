'use strict';

// "Find or Extract Brand": Zapier runs the Find Brand search (by domain or Brand ID) and only
// when it answers [] runs Extract Brand, with the same wait/callback choice as on its own.
// Zapier requires the key to be the search's key, and both halves share the noun "Brand".

module.exports = [
  {
    key: 'find_brand',
    display: {
      label: 'Find or Extract Brand',
      description:
        'Finds a brand you already extracted by its domain; if there is none, extracts it from the website.',
    },
    search: 'find_brand',
    create: 'extract_brand',
  },
];
