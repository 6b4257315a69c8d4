// Container HEALTHCHECK: exits 0 when the service in this container answers GET /readyz with 2xx (no curl needed).
const port = process.env.PORT || '3000';
const timer = setTimeout(() => process.exit(1), 2500);
try {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
} finally {
  clearTimeout(timer);
}
