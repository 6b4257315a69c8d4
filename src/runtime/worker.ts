// Worker-thread entry for WorkerPool: owns one ORT session and answers run requests off the main event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { type HostTensor, Session, type SessionOptions } from './session.js';

export interface WorkerInit {
  model: string | Uint8Array;
  options: SessionOptions;
}

export interface RunRequest {
  id: number;
  feeds: Record<string, HostTensor>;
  outputs?: readonly string[];
}

/** First message: the session opened (or not). */
export type StartReply =
  | { type: 'ready'; provider: 'cpu' | 'cuda'; inputNames: string[]; outputNames: string[] }
  | { type: 'failed'; name: string; code: string; message: string };

export type RunReply =
  | { id: number; outputs: Record<string, HostTensor>; ms: number }
  | { id: number; error: string; code: string };

const port = parentPort!;
const init = workerData as WorkerInit;

async function main(): Promise<void> {
  let session: Session;
  try {
    session = await Session.create(init.model, init.options);
  } catch (e) {
    const err = e as Error & { code?: unknown };
    const reply: StartReply = {
      type: 'failed',
      name: err.name,
      code: typeof err.code === 'string' ? err.code : 'BAD_MODEL',
      message: err.message,
    };
    port.postMessage(reply);
    return;
  }
  const ready: StartReply = {
    type: 'ready',
    provider: session.provider,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
  };
  port.on('message', (req: RunRequest) => {
    const t0 = performance.now();
    session.run(req.feeds, req.outputs).then(
      (outputs) => port.postMessage({ id: req.id, outputs, ms: performance.now() - t0 } satisfies RunReply),
      (e: unknown) =>
        port.postMessage({
          id: req.id,
          error: (e as Error).message ?? String(e),
          code: 'RUN_FAILED',
        } satisfies RunReply),
    );
  });
  port.postMessage(ready);
}

void main();
