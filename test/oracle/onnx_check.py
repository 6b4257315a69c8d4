# Runs onnx.checker (full_check) on each model file given; prints one line per file and exits non-zero if any fails.
#
# Usage: python3 onnx_check.py <model.onnx>...
# Each line: "OK <path> <json>" or "FAIL <path> <error>", the JSON giving ir_version, opset imports and node domains.

import json
import sys

import onnx


def main(paths):
    if not paths:
        raise SystemExit('usage: onnx_check.py <model.onnx>...')
    failed = 0
    for path in paths:
        try:
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            info = {
                'ir_version': model.ir_version,
                'opset_import': {o.domain: o.version for o in model.opset_import},
                'node_domains': sorted({n.domain for n in model.graph.node}),
                'nodes': len(model.graph.node),
            }
            print(f'OK {path} {json.dumps(info)}', flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure, keep checking the rest
            failed += 1
            msg = str(e).replace('\n', ' ')
            print(f'FAIL {path} {type(e).__name__}: {msg}', flush=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main(sys.argv[1:])
