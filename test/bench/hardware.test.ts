// Benchmark labels: the /proc/cpuinfo parser and header, the AMX note, and the int8 roofline graph's product against JS.
import t from 'tap';
import { amxNote, CPU_FLAGS, hardware, hardwareHeader, int8Kernels, parseCpuinfo } from '../../src/bench/hardware.js';
import { int8RooflineModel } from '../../src/bench/measure.js';
import { Session } from '../../src/runtime/session.js';

/** Two processors of a Sapphire Rapids guest, trimmed (the second repeats the first, as the kernel prints it). */
const SPR = (n: number) => `processor\t: ${n}
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep avx2 bmi2 avx512f avx512dq avx512_bf16 avx512_vnni avx_vnni amx_bf16 avx512_fp16 amx_tile amx_int8
bugs\t\t: spectre_v1

`;

/** An older AVX2-only part: no AVX-512, VNNI or AMX. */
const HASWELL = `processor\t: 0
model name\t: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz
flags\t\t: fpu sse4_2 avx fma avx2 bmi2
`;

t.test('parseCpuinfo reads the model name, the flags that matter and the processor count', async (t) => {
  const info = parseCpuinfo(SPR(0) + SPR(1));
  t.equal(info.model, 'Intel(R) Xeon(R) Platinum 8480+');
  t.equal(info.logicalCpus, 2);
  t.same(info.flags, Object.fromEntries(CPU_FLAGS.map((f) => [f, true])));
  const old = parseCpuinfo(HASWELL);
  t.same(old.flags, {
    amx_int8: false,
    amx_bf16: false,
    amx_tile: false,
    avx512_vnni: false,
    avx_vnni: false,
    avx512f: false,
    avx2: true,
  });
  // "avx512_vnni" in the line must not count as "avx512f" or "avx_vnni": whole words only.
  const partial = parseCpuinfo('processor : 0\nflags : avx512_vnni avx512_bf16\n');
  t.equal(partial.flags?.avx512_vnni, true);
  t.equal(partial.flags?.avx512f, false);
  t.equal(partial.flags?.avx_vnni, false);
  const none = parseCpuinfo('');
  t.same(none, { model: null, flags: null, logicalCpus: null });
});

t.test('the header names the CPU, each flag, cores, ORT and Node versions and threads; the AMX note', async (t) => {
  const spr = hardware('1,2', SPR(0));
  const h = hardwareHeader(spr);
  t.match(h, /^cpu: Intel\(R\) Xeon\(R\) Platinum 8480\+; \d+ cores usable of 1 logical CPUs$/m);
  t.match(
    h,
    /^cpu flags: amx_int8 yes, amx_bf16 yes, amx_tile yes, avx512_vnni yes, avx_vnni yes, avx512f yes, avx2 yes$/m,
  );
  t.match(h, /^onnxruntime-node \d+\.\d+\.\d+, Node v\d+\.\d+\.\d+; threads: 1,2$/m);
  t.equal(amxNote(spr), null, 'no note where AMX is present');
  t.equal(int8Kernels(spr), 'AMX');

  const hsw = hardware('2', HASWELL);
  t.match(hardwareHeader(hsw), /amx_int8 no, .* avx512f no, avx2 yes/);
  t.equal(amxNote(hsw), 'amx_int8 absent: the int8 roofline runs on AVX2 kernels');
  const vnni = hardware('2', SPR(0).replace(/ amx_\w+/g, ''));
  t.equal(amxNote(vnni, 'the int8 model'), 'amx_int8 absent: the int8 model runs on AVX512-VNNI kernels');

  const elsewhere = hardware('1', '');
  t.equal(elsewhere.flags, 'unknown');
  t.match(hardwareHeader(elsewhere), /^cpu flags: unknown/m);
  t.match(amxNote(elsewhere), /CPU flags unknown/);
  t.equal(hardware('1').node, process.version);
});

t.test('the int8 roofline graph (MatMulInteger u8 × s8 with zero points) returns the exact product', async (t) => {
  const n = 64;
  const m = int8RooflineModel(n);
  const s = await Session.create(m.bytes, { threads: 1 });
  const out = await s.run(m.feeds);
  const c = Object.values(out)[0]!;
  t.equal(c.dtype, 'int32');
  t.same(c.dims, [n, n]);
  const want = new Int32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += (m.a[i * n + k]! - m.aZero) * (m.b[k * n + j]! - m.bZero);
      want[i * n + j] = acc;
    }
  t.same(Array.from(c.data as Int32Array), Array.from(want));
  t.ok(
    want.some((x) => x < 0) && want.some((x) => x > 0),
    'the reference has both signs (zero points and int8 signs matter)',
  );
  await s.release();
});
