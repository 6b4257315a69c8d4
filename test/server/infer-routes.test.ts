// Parking's view of the routes: the infer routes are the ones whose config says `infer` (plugin flags and prefixes included), matched on method and path.
import Fastify from 'fastify';
import t from 'tap';
import { InferRoutes } from '../../src/server/http/infer-routes.js';
import '../../src/server/http/route-flags.js';

t.test('infer routes come from the route config flags, as the plugins leave them', async (t) => {
  const routes = new InferRoutes();
  const app = Fastify();
  routes.watch(app);
  const ok = async () => ({});
  app.post('/classify', { config: { infer: true } }, ok);
  app.post('/classify/other', ok);
  app.get('/healthz', { config: { public: true } }, ok);
  await app.register(
    async (v2) => {
      v2.addHook('onRoute', (r) => {
        r.config = { ...r.config, triton: true };
      });
      v2.post('/models/:name/infer', { config: { infer: true } }, ok);
      v2.post('/models/:name/versions/:version/infer', { config: { infer: true } }, ok);
      v2.post('/models/:name/load', ok);
    },
    { prefix: '/v2' },
  );
  t.equal(routes.match('POST', '/classify'), null, 'nothing is known before the app is ready');
  await app.ready();
  t.match(routes.match('POST', '/classify?top=3'), { url: '/classify', triton: false });
  t.match(routes.match('POST', '/v2/models/m.onnx/infer'), { url: '/v2/models/:name/infer', triton: true });
  t.match(routes.match('POST', '/v2/models/m/versions/2/infer?x=1'), {
    url: '/v2/models/:name/versions/:version/infer',
    triton: true,
  });
  for (const [method, url] of [
    ['GET', '/classify'],
    ['POST', '/classify/other'],
    ['POST', '/classifyx'],
    ['POST', '/v2/models/m/load'],
    ['POST', '/v2/models/a/b/infer'],
    ['POST', '/x/v2/models/m/infer'],
    ['GET', '/healthz'],
    [undefined, '/classify'],
  ] as const)
    t.equal(routes.match(method, url), null, `${method} ${url} is no infer route`);
  await app.close();
});
