const { govmeshAppConfig } = require('../../tools/webpack/app-config');

module.exports = govmeshAppConfig(__dirname, 'telemetry');
