"""Export a trained model to the .tavm model file (docs/model-format.md), and read it back.

    python3 -m train.export [--stage tav] [--out assets/default.tavm] [--with-encoder]

--stage names a committed stage file train/checkpoints/<stage>.pt (fp16 weights); the export is
float32 (the int8 file is made from it by the quantiser). Tensor names are the PyTorch
state_dict names (docs/model.md lists them with shapes); linear weights are [out, in] and
convolution weights [out, in, 3, 3], so row = output channel. The autoencoder's encoder is
left out unless --with-encoder (the engine only decodes).

Metadata (all i64 unless noted):
  model.arch (str "tav-dit-1"), model.image_size, model.fps, model.latent_channels,
  model.ae_levels, model.ae_channels.<i>, model.vocab_size, model.max_text, model.max_scenes,
  model.text_width, model.text_layers, model.text_heads, model.width, model.depth, model.heads,
  model.patch, model.mlp_ratio, model.sample_steps, model.cfg_scale (f64),
  model.frames_per_scene, model.stage (str), tokenizer.vocab (string array, id = index),
  tokenizer.pad / .unk / .sep / .bos (ids).
"""
import argparse
import os

import numpy as np
import torch

from train import model as M
from train import tavm

ARCH = "tav-dit-1"


def _meta(cfg, tok, stage):
    d = cfg.to_dict()
    meta = {"model.arch": ARCH, "model.stage": stage, "tokenizer.vocab": list(tok.itos),
            "tokenizer.pad": M.PAD, "tokenizer.unk": M.UNK, "tokenizer.sep": M.SEP,
            "tokenizer.bos": M.BOS, "model.ae_levels": len(d["ae_channels"])}
    for i, c in enumerate(d.pop("ae_channels")):
        meta[f"model.ae_channels.{i}"] = int(c)
    for k, v in d.items():
        meta[f"model.{k}"] = float(v) if k == "cfg_scale" else int(v)
    return meta


def write_tensors(path, meta, tensors, dtype="f32"):
    """meta: dict key -> int/float/str/list of str; tensors: dict name -> torch/numpy array."""
    w = tavm.Writer()
    for k in sorted(meta):
        v = meta[k]
        if isinstance(v, float):
            w.set_f64(k, v)
        else:
            w.set(k, v)
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
        if a.ndim == 0:
            a = a.reshape(1)
        w.add_tensor(name, a.astype(np.float16 if dtype == "f16" else np.float32), dtype)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    w.write(path)


def export_model(m, path, stage="tiny", with_encoder=False, dtype="f32"):
    tensors = {k: v for k, v in m.state_dict().items()
               if with_encoder or not k.startswith("ae.enc.")}
    write_tensors(path, _meta(m.cfg, m.tok, stage), tensors, dtype)
    return len(tensors)


def import_model(path):
    """-> (TavModel float32, meta). Tensors absent from the file (the encoder) keep their init."""
    f = tavm.read(path)
    meta = f.meta
    if meta.get("model.arch") != ARCH:
        raise ValueError(f"{path}: model.arch {meta.get('model.arch')!r}, expected {ARCH!r}")
    fields = {k[len("model."):]: v for k, v in meta.items()
              if k.startswith("model.") and k.count(".") == 1 and k not in
              ("model.arch", "model.stage", "model.ae_levels")}
    fields["ae_channels"] = tuple(meta[f"model.ae_channels.{i}"] for i in range(meta["model.ae_levels"]))
    cfg = M.ModelConfig(**fields)
    vocab = meta["tokenizer.vocab"]
    tok = M.Tokenizer([w for w in vocab if w not in M.SPECIALS])
    if tok.itos != vocab:
        raise ValueError(f"{path}: vocabulary is not in tokenizer order")
    m = M.TavModel(cfg, tok)
    sd = m.state_dict()
    for name, t in f.tensors.items():
        if name not in sd:
            raise ValueError(f"{path}: unexpected tensor {name!r}")
        a = torch.from_numpy(t.dequantize().copy()).reshape(sd[name].shape)
        sd[name] = a
    m.load_state_dict(sd)
    return m, meta


def main(argv=None):
    from train import common as Cm
    ap = argparse.ArgumentParser(description="export a committed stage to a .tavm file (fp32)")
    ap.add_argument("--stage", default="tav")
    ap.add_argument("--out", default=os.path.join(Cm.ROOT, "assets", "default.tavm"))
    ap.add_argument("--with-encoder", action="store_true")
    a = ap.parse_args(argv)
    m, info = Cm.load_fp16(os.path.join(Cm.CKPT, f"{a.stage}.pt"))
    n = export_model(m, a.out, stage=a.stage, with_encoder=a.with_encoder)
    print(f"wrote {a.out}: {n} tensors, {os.path.getsize(a.out)} bytes, stage {a.stage}")


if __name__ == "__main__":
    main()
