'use strict';

module.exports = {
  testEnvironment: 'node',
  testTimeout: 60000,
};
