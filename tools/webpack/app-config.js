const { NxAppWebpackPlugin } = require('@nx/webpack/app-plugin');
const { join } = require('path');

/**
 * Nx's swc loader compiles with `loose: true` and an ES5 target, which turns spreads of Map
 * iterators into broken code. Node 20 runs ES2022 natively, so compile for that, strictly.
 */
class Es2022SwcPlugin {
  apply(compiler) {
    for (const rule of compiler.options.module.rules) {
      if (rule && typeof rule.loader === 'string' && rule.loader.includes('swc-loader')) {
        rule.options.jsc.loose = false;
        rule.options.jsc.target = 'es2022';
        rule.options.jsc.keepClassNames = true;
        rule.options.jsc.transform.useDefineForClassFields = false;
        rule.options.sourceMaps = true;
      }
    }
  }
}

/** The webpack config of one govmesh app: a Node bundle at dist/apps/<app>/main.js. */
function govmeshAppConfig(appDir, appName) {
  return {
    output: { path: join(__dirname, '../../dist/apps', appName), clean: true },
    devtool: 'source-map',
    plugins: [
      new NxAppWebpackPlugin({
        target: 'node',
        compiler: 'swc',
        skipTypeChecking: true, // type-checking runs once for the whole workspace in lint
        main: join(appDir, 'src/main.ts'),
        tsConfig: join(appDir, 'tsconfig.app.json'),
        outputHashing: 'none',
        externalDependencies: 'all',
        optimization: false,
        generatePackageJson: false,
        sourceMap: true,
      }),
      new Es2022SwcPlugin(),
    ],
  };
}

module.exports = { govmeshAppConfig };
