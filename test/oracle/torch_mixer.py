# PyTorch reference for the oracle tests: timm's MlpMixer, its loss gradients and one torch.optim.AdamW step, driven by job directories.
#
# Usage: python3 torch_mixer.py <job-dir>...
#
# Each job directory holds job.json and its inputs; the result goes to <job-dir>/out.safetensors.
#   job.json: {mode, config, mean, std, batch, label_smoothing, dtype, adamw, lr, step, seed}
#   mode 'logits':          params.safetensors + pixels.bin            -> logits
#   mode 'grads':           params.safetensors + pixels.bin + labels.bin (or targets.bin, float32 [N,K]) -> loss, logits, <name>_grad
#   mode 'adamw':           params.safetensors + state.safetensors (<name>_grad, <name>.exp_avg, <name>.exp_avg_sq)
#                           -> <name>.updated, <name>.exp_avg.updated, <name>.exp_avg_sq.updated
#   mode 'timm_state_dict': pixels.bin -> state_dict.safetensors (a random timm state_dict, F32, no metadata)
#                           and out.safetensors with the logits of those weights
#
# N = batch, S = tokens, C = hidden channels, D_S / D_C = token / channel MLP widths, K = classes, p = patch.

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- safetensors: 8-byte LE header length, JSON header, raw little-endian data ----

DTYPES = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64, 'U8': np.uint8}
CODES = {np.dtype(v).str: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        start, end = e['data_offsets']
        dt = np.dtype(DTYPES[e['dtype']]).newbyteorder('<')
        out[name] = np.frombuffer(raw, dtype=dt, count=(end - start) // dt.itemsize, offset=8 + n + start).reshape(e['shape']).copy()
    return out


def write_safetensors(path, tensors, metadata=None):
    header = {} if metadata is None else {'__metadata__': metadata}
    blobs, offset = [], 0
    for name, a in tensors.items():
        a = np.asarray(a)
        a = np.array(a, dtype=a.dtype.newbyteorder('<'), order='C')
        b = a.tobytes()
        header[name] = {'dtype': CODES[a.dtype.str], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode('utf-8')
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- the model: timm.models.mlp_mixer.MlpMixer with the default MixerBlock, same module names ----

class PatchEmbed(nn.Module):
    """Conv with kernel = stride = p, then [N, C, H/p, W/p] -> [N, S, C]."""

    def __init__(self, p, in_chans, C):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, C, kernel_size=p, stride=p, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """fc1 -> exact (erf) GELU -> fc2."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MixerBlock(nn.Module):
    def __init__(self, S, C, DS, DC, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(C, eps=eps)
        self.mlp_tokens = Mlp(S, DS)
        self.norm2 = nn.LayerNorm(C, eps=eps)
        self.mlp_channels = Mlp(C, DC)
        self.masks = (None, None)  # stochastic depth: per-sample [N] scales of the two residual branches

    def forward(self, x):  # x: [N, S, C]
        mt, mc = self.masks
        t = self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + (t if mt is None else t * mt[:, None, None])
        c = self.mlp_channels(self.norm2(x))
        x = x + (c if mc is None else c * mc[:, None, None])
        return x


class MlpMixer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        p, C = cfg['patch_size'], cfg['hidden_dim']
        S = (cfg['image_size'] // p) ** 2
        eps = cfg['norm_eps']
        self.stem = PatchEmbed(p, cfg['in_chans'], C)
        self.blocks = nn.Sequential(*[MixerBlock(S, C, cfg['tokens_mlp_dim'], cfg['channels_mlp_dim'], eps) for _ in range(cfg['depth'])])
        self.norm = nn.LayerNorm(C, eps=eps)
        self.head = nn.Linear(C, cfg['num_classes'])

    def forward(self, x):  # x: [N, 3, H, W] normalized
        x = self.blocks(self.stem(x))
        x = self.norm(x)
        return self.head(x.mean(dim=1))


def preprocess(pixels, mean, std, dtype):
    """uint8 [N, H, W, 3] -> /255 -> (x - mean) / std per channel -> [N, 3, H, W]."""
    x = torch.from_numpy(pixels).to(dtype) / 255
    x = (x - torch.tensor(mean, dtype=dtype)) / torch.tensor(std, dtype=dtype)
    return x.permute(0, 3, 1, 2).contiguous()


# ---- jobs ----

def load_inputs(d, job):
    c = job['config']
    n, h = job['batch'], c['image_size']
    pixels = np.fromfile(os.path.join(d, 'pixels.bin'), dtype=np.uint8).reshape(n, h, h, 3)
    labels = None
    if os.path.exists(os.path.join(d, 'labels.bin')):
        labels = np.fromfile(os.path.join(d, 'labels.bin'), dtype='<i8').reshape(n)
    return pixels, labels


def model_with(job, params, dtype):
    m = MlpMixer(job['config'])
    sd = m.state_dict()
    missing = set(sd) ^ set(params)
    if missing:
        raise SystemExit(f'parameter names differ from the timm state_dict: {sorted(missing)}')
    m.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    return m.to(dtype)


def run_logits(d, job):
    dtype = torch.float64 if job.get('dtype', 'float64') == 'float64' else torch.float32
    m = model_with(job, read_safetensors(os.path.join(d, 'params.safetensors')), dtype)
    pixels, _ = load_inputs(d, job)
    with torch.no_grad():
        logits = m(preprocess(pixels, job['mean'], job['std'], dtype))
    return {'logits': logits.numpy()}


def run_grads(d, job):
    dtype = torch.float64 if job.get('dtype', 'float64') == 'float64' else torch.float32
    m = model_with(job, read_safetensors(os.path.join(d, 'params.safetensors')), dtype)
    pixels, labels = load_inputs(d, job)
    dp_path = os.path.join(d, 'drop_path.safetensors')
    if os.path.exists(dp_path):
        # stochastic depth masks drop_path.<block>.<tokens|channels>, float32 [N]
        masks = read_safetensors(dp_path)
        for i, blk in enumerate(m.blocks):
            get = lambda br: None if f'drop_path.{i}.{br}' not in masks else torch.from_numpy(masks[f'drop_path.{i}.{br}']).to(dtype)
            blk.masks = (get('tokens'), get('channels'))
    logits = m(preprocess(pixels, job['mean'], job['std'], dtype))
    targets_path = os.path.join(d, 'targets.bin')
    if os.path.exists(targets_path):
        # probability targets (MixUp / CutMix), float32 [N, K]
        k = job['config']['num_classes']
        targets = torch.from_numpy(np.fromfile(targets_path, dtype='<f4').reshape(job['batch'], k)).to(dtype)
        loss = F.cross_entropy(logits, targets, label_smoothing=job['label_smoothing'])
    else:
        loss = F.cross_entropy(logits, torch.from_numpy(labels), label_smoothing=job['label_smoothing'])
    loss.backward()
    out = {'loss': loss.detach().numpy(), 'logits': logits.detach().numpy()}
    for name, p in m.named_parameters():
        out[f'{name}_grad'] = p.grad.numpy()
    return out


def run_adamw(d, job):
    """One torch.optim.AdamW step (float32) from the given moments, as step number job['step']."""
    params = read_safetensors(os.path.join(d, 'params.safetensors'))
    state = read_safetensors(os.path.join(d, 'state.safetensors'))
    hp, t = job['adamw'], job['step']
    ps = {k: torch.nn.Parameter(torch.from_numpy(v.astype(np.float32))) for k, v in params.items()}
    decay = [p for p in ps.values() if p.ndim > 1]
    no_decay = [p for p in ps.values() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{'params': decay, 'weight_decay': hp['weight_decay']}, {'params': no_decay, 'weight_decay': 0.0}],
        lr=job['lr'], betas=(hp['beta1'], hp['beta2']), eps=hp['eps'],
    )
    for k, p in ps.items():
        p.grad = torch.from_numpy(state[f'{k}_grad'].astype(np.float32))
        # torch 1.13 keeps the step as a tensor and increments it before use: t - 1 here makes this step t.
        opt.state[p] = {
            'step': torch.tensor(float(t - 1)),
            'exp_avg': torch.from_numpy(state[f'{k}.exp_avg'].astype(np.float32)),
            'exp_avg_sq': torch.from_numpy(state[f'{k}.exp_avg_sq'].astype(np.float32)),
        }
    opt.step()
    out = {}
    for k, p in ps.items():
        s = opt.state[p]
        if int(s['step']) != t:
            raise SystemExit(f'AdamW ran step {int(s["step"])}, expected {t}')
        out[f'{k}.updated'] = p.detach().numpy()
        out[f'{k}.exp_avg.updated'] = s['exp_avg'].numpy()
        out[f'{k}.exp_avg_sq.updated'] = s['exp_avg_sq'].numpy()
    return out


def run_timm_state_dict(d, job):
    """A random timm-style state_dict (every tensor random) saved as plain safetensors, and its float64 logits."""
    torch.manual_seed(job.get('seed', 0))
    m = MlpMixer(job['config'])
    with torch.no_grad():
        for name, p in m.named_parameters():
            fan = p[0].numel() if p.ndim > 1 else 1
            scale = 0.3 if p.ndim == 1 else 0.5 / fan ** 0.5
            p.copy_(torch.randn_like(p) * scale + (1.0 if name.endswith('norm1.weight') or name.endswith('norm2.weight') or name == 'norm.weight' else 0.0))
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in m.state_dict().items()}
    write_safetensors(os.path.join(d, 'state_dict.safetensors'), sd)
    pixels, _ = load_inputs(d, job)
    m = m.double()
    with torch.no_grad():
        logits = m(preprocess(pixels, job['mean'], job['std'], torch.float64))
    return {'logits': logits.numpy()}


MODES = {'logits': run_logits, 'grads': run_grads, 'adamw': run_adamw, 'timm_state_dict': run_timm_state_dict}


def main(dirs):
    if not dirs:
        raise SystemExit('usage: torch_mixer.py <job-dir>...')
    torch.set_num_threads(1)
    for d in dirs:
        with open(os.path.join(d, 'job.json')) as f:
            job = json.load(f)
        if job['mode'] not in MODES:
            raise SystemExit(f'unknown mode {job["mode"]!r}. Should be one of: {", ".join(MODES)}')
        write_safetensors(os.path.join(d, 'out.safetensors'), MODES[job['mode']](d, job))
        print(f'{d}: {job["mode"]} ok')


if __name__ == '__main__':
    main(sys.argv[1:])
