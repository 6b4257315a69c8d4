// Every emitted model passes onnx.checker (full_check) in one python3-onnx run, and parses back as opset 17, IR 8, default domain only.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  buildInferenceModel,
  defaultSpec,
  initParams,
  type PresetName,
  preset,
  specMetadata,
} from '../../src/model/index.js';
import { buildFlipTtaModel } from '../../src/model/tta.js';
import { IR_VERSION, OPSET, parseModel } from '../../src/onnx/index.js';
import { onnx } from '../../src/onnx/proto.js';
import { buildQuantizedModel, quantizedLayers } from '../../src/quant/graph.js';
import { buildArtifacts } from '../../src/train/artifacts.js';
import { CHECK_SCRIPT, python, requirePython } from '../fixtures/oracle/torch.js';

const PRESETS: PresetName[] = ['tiny', 'cifar10-s4'];

if (requirePython(t, ['onnx'])) {
  t.test('onnx.checker full_check and opset / IR / domain', async (t) => {
    const dir = t.testdir();
    const models = new Map<string, Uint8Array>();
    for (const name of PRESETS) {
      const spec = defaultSpec(preset(name));
      models.set(`${name}.inference.onnx`, buildInferenceModel(spec, initParams(spec.config, 0)));
      const a = buildArtifacts(spec, { labelSmoothing: 0.1 });
      models.set(`${name}.training_model.onnx`, a.training);
      models.set(`${name}.eval_model.onnx`, a.eval);
      models.set(`${name}.optimizer_model.onnx`, a.optimizer);
      models.set(`${name}.train_step.onnx`, a.trainStep);
      const params = initParams(spec.config, 0);
      models.set(
        `${name}.int8-dynamic.onnx`,
        buildQuantizedModel(
          spec,
          params,
          { activations: 'dynamic', perChannel: true, tokens: true, gelu: 'tanh' },
          specMetadata(spec),
        ),
      );
      const ranges = new Map(quantizedLayers(spec, true).map((l) => [l, [-3, 4] as const]));
      models.set(
        `${name}.int8-static.onnx`,
        buildQuantizedModel(
          spec,
          params,
          { activations: 'static', perChannel: false, tokens: true, gelu: 'tanh', ranges },
          specMetadata(spec),
        ),
      );
    }
    // Recipe variants: soft targets + drop-path masks, and the flip-TTA inference graph.
    const tiny = defaultSpec(preset('tiny'));
    const v = buildArtifacts(tiny, { labelSmoothing: 0.1, softTargets: true, dropPath: 0.1 });
    models.set('tiny.soft_droppath.training_model.onnx', v.training);
    models.set('tiny.soft_droppath.train_step.onnx', v.trainStep);
    models.set('tiny.tta_flip.onnx', buildFlipTtaModel(tiny, initParams(tiny.config, 0)));

    for (const [file, bytes] of models) {
      const m = parseModel(bytes);
      const proto = onnx.ModelProto.decode(bytes);
      const opsets = proto.opsetImport.map((o) => `${o.domain ?? ''}:${String(o.version)}`);
      const domains = [...new Set((proto.graph?.node ?? []).map((n) => n.domain ?? ''))];
      t.equal(m.irVersion, IR_VERSION, `${file}: IR version 8`);
      t.equal(IR_VERSION, 8);
      t.equal(m.opset, OPSET, `${file}: opset 17`);
      t.equal(OPSET, 17);
      t.same(opsets, [':17'], `${file}: only the default-domain opset is imported`);
      t.same(domains, [''], `${file}: every node is in the default domain`);
      t.ok(
        m.metadata['mixer.config'] && m.metadata['mixer.labels'] && m.metadata['mixer.mean'] && m.metadata['mixer.std'],
        `${file}: carries the mixer.* metadata`,
      );
      writeFileSync(join(dir, file), bytes);
    }

    const started = Date.now();
    let stdout: string;
    try {
      stdout = await python([CHECK_SCRIPT, ...[...models.keys()].map((f) => join(dir, f))]);
    } catch (e) {
      stdout = (e as Error).message;
    }
    t.comment(`onnx.checker full_check on ${models.size} models took ${Date.now() - started} ms`);
    for (const file of models.keys()) {
      const line = stdout.split('\n').find((l) => l.includes(join(dir, file)));
      if (line?.startsWith('OK ')) {
        const info = JSON.parse(line.slice(line.indexOf('{'))) as {
          ir_version: number;
          opset_import: Record<string, number>;
          node_domains: string[];
          nodes: number;
        };
        t.same(
          { ir: info.ir_version, opsets: info.opset_import, domains: info.node_domains },
          { ir: 8, opsets: { '': 17 }, domains: [''] },
          `${file}: onnx.checker full_check OK (${info.nodes} nodes)`,
        );
      } else {
        t.fail(`${file}: onnx.checker full_check: ${line ?? 'no result'}`);
      }
    }
  });
}
