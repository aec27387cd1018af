const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

module.exports = {
  output: { path: join(__dirname, '../../dist/apps/policy'), clean: true },
  devtool: 'source-map',
  plugins: [
    new NxAppWebpackPlugin({
      target: 'node',
      compiler: 'swc',
      skipTypeChecking: true, // type-checking runs once for the whole workspace in lint
      main: join(__dirname, 'src/main.ts'),
      tsConfig: join(__dirname, 'tsconfig.app.json'),
      outputHashing: 'none',
      externalDependencies: 'all',
      optimization: false,
      generatePackageJson: false,
      sourceMap: true,
    }),
  ],
};
