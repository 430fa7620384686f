"""Export a trained model to the .tavm model file (docs/model-format.md), and read it back.

    python3 -m train.export [--stage tav] [--decoder train/checkpoints/ae_up.pt]
                            [--out assets/default.tavm] [--with-encoder]

--stage names a committed stage file train/checkpoints/<stage>.pt (fp16 weights); the export is
float32 (the int8 file is made from it by the quantiser). Tensor names are the PyTorch
state_dict names (docs/model.md lists them with shapes); linear weights are [out, in] and
convolution weights [out, in, 3, 3], so row = output channel. The autoencoder's encoder is
left out unless --with-encoder (the engine only decodes).

--decoder takes the autoencoder's decoder from another stage file (train.stage_ae_up's
ae_up.pt, a decoder with extra upsampling levels): text encoder and DiT come from --stage, the
decoder, the output image size and the extra levels from --decoder. The latent space must be
the same: equal latent statistics, ae_channels and latent channels, or the export is refused.

Metadata (all i64 unless noted):
  model.arch (str "tav-dit-1"), model.image_size, model.fps, model.latent_channels,
  model.ae_levels, model.ae_channels.<i>, model.dec_up_levels, model.dec_up_channels.<i>
  (the decoder's extra levels; written only when there are any, absent = 0), model.vocab_size, model.max_text, model.max_scenes,
  model.text_width, model.text_layers, model.text_heads, model.width, model.depth, model.heads,
  model.patch, model.mlp_ratio, model.sample_steps, model.cfg_scale (f64),
  model.frames_per_scene, model.text_scene_pos (1 when the text encoder has text.scene_pos;
  written only then, absent = 0), model.stage (str), tokenizer.vocab (string array, id = index),
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
    up = d.pop("dec_up_channels")
    if up:   # older readers never see the keys of a symmetric model: its file is unchanged
        meta["model.dec_up_levels"] = len(up)
        for i, c in enumerate(up):
            meta[f"model.dec_up_channels.{i}"] = int(c)
    if d.pop("text_scene_pos"):   # likewise: absent = off, so older files are unchanged
        meta["model.text_scene_pos"] = 1
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
    """-> (TavModel float32, meta). The encoder (training only) may be absent and keeps its
    init; any other missing tensor is an error, as in the C engine."""
    f = tavm.read(path)
    meta = f.meta
    if meta.get("model.arch") != ARCH:
        raise ValueError(f"{path}: model.arch {meta.get('model.arch')!r}, expected {ARCH!r}")
    fields = {k[len("model."):]: v for k, v in meta.items()
              if k.startswith("model.") and k.count(".") == 1 and k not in
              ("model.arch", "model.stage", "model.ae_levels", "model.dec_up_levels")}
    fields["ae_channels"] = tuple(meta[f"model.ae_channels.{i}"] for i in range(meta["model.ae_levels"]))
    fields["dec_up_channels"] = tuple(meta[f"model.dec_up_channels.{i}"]
                                      for i in range(meta.get("model.dec_up_levels", 0)))
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
    missing = [k for k in sd if k not in f.tensors and not k.startswith("ae.enc.")]
    if missing:
        raise ValueError(f"{path}: model file lacks tensor {missing[0]!r}"
                         + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    m.load_state_dict(sd)
    return m, meta


def with_decoder(m, ck):
    """-> a TavModel with m's text encoder and DiT and the autoencoder (config + weights) of the
    stage-file dict ck (torch.load of e.g. ae_up.pt). ValueError if the latent space differs."""
    dc = M.ModelConfig.from_dict(ck["cfg"])
    sd = {k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()}
    same = (tuple(dc.ae_channels) == tuple(m.cfg.ae_channels)
            and dc.latent_channels == m.cfg.latent_channels and dc.latent_size == m.cfg.latent_size)
    if not same:
        raise ValueError(f"decoder latent space {dc.latent_channels}x{dc.latent_size}^2 (ae_channels "
                         f"{list(dc.ae_channels)}) differs from the model's {m.cfg.latent_channels}x"
                         f"{m.cfg.latent_size}^2 ({list(m.cfg.ae_channels)})")
    for k in ("ae.latent_mean", "ae.latent_std"):
        if not torch.equal(sd[k], m.state_dict()[k]):
            raise ValueError(f"decoder {k} {sd[k].tolist()} differs from the model's "
                             f"{m.state_dict()[k].tolist()}: not the same latent space")
    d = m.cfg.to_dict()
    d.update(image_size=dc.image_size, dec_up_channels=list(dc.dec_up_channels))
    out = M.TavModel(M.ModelConfig.from_dict(d), m.tok)
    full = m.state_dict()
    full = {k: v for k, v in full.items() if not k.startswith("ae.")}
    full.update({k: v for k, v in sd.items() if k.startswith("ae.")})
    out.load_state_dict(full)
    return out


def main(argv=None):
    from train import common as Cm
    ap = argparse.ArgumentParser(description="export a committed stage to a .tavm file (fp32)")
    ap.add_argument("--stage", default="tav")
    ap.add_argument("--decoder", help="stage file whose autoencoder replaces the stage's "
                    "(e.g. train/checkpoints/ae_up.pt)")
    ap.add_argument("--out", default=os.path.join(Cm.ROOT, "assets", "default.tavm"))
    ap.add_argument("--with-encoder", action="store_true")
    a = ap.parse_args(argv)
    m, info = Cm.load_fp16(os.path.join(Cm.CKPT, f"{a.stage}.pt"))
    if a.decoder:
        try:
            m = with_decoder(m, torch.load(a.decoder, map_location="cpu"))
        except ValueError as e:
            raise SystemExit(f"export: {a.decoder}: {e}")
    n = export_model(m, a.out, stage=a.stage, with_encoder=a.with_encoder)
    print(f"wrote {a.out}: {n} tensors, {os.path.getsize(a.out)} bytes, stage {a.stage}, "
          f"{m.cfg.image_size}x{m.cfg.image_size} frames")


if __name__ == "__main__":
    main()
