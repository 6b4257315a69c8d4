// The load test's bare-route baseline, run as a child process: a Fastify POST /classify that reads the multipart body and answers a constant; prints its port as JSON.
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.addContentTypeParser('multipart/form-data', (_req, payload, done) => {
  payload.on('data', () => {});
  payload.on('end', () => done(null, null));
  payload.on('error', done);
});
app.post('/classify', async () => ({
  model: { name: 'bare', sha256: '0' },
  results: [{ filename: 'x', predictions: [{ label: 'x', index: 0, probability: 1 }] }],
}));
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
