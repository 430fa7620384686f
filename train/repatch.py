"""Re-patch a trained model's DiT to a smaller patch size, carrying its weights over.

A DiT with patch p sees each frame's h x h latent as (h/p)^2 tokens of C*p*p values. Going to a
patch q that divides p gives r^2 = (p/q)^2 tokens for every old one. The new model starts as
nearly the old function on locally smooth latents:
  - patch_in sums the old weights over each r x r block of sub-positions, so a token whose
    r x r neighbours all hold the same values embeds as the old token did;
  - pos_s copies each old token's position to its r x r new tokens;
  - patch_out averages the old outputs over each r x r block.
Every other weight (text encoder, attention, MLPs, modulation) is shared unchanged. Attention
over r^2 equal copies of every key gives the same weights as over the originals, so the blocks
compute what they did. Training then teaches the new tokens to differ.
"""
import torch

from train import model as M


def _blocks(w, C, p, q):
    """[..., C*p*p] (order c, py, px) -> [..., C, q*q, r*r]: the r x r old sub-positions that
    fall in each new sub-position."""
    r = p // q
    w = w.reshape(*w.shape[:-1], C, q, r, q, r)
    w = w.movedim(-3, -2)                              # [..., C, q, q, r, r]
    return w.reshape(*w.shape[:-5], C, q * q, r * r)


@torch.no_grad()
def repatch(m, q):
    """TavModel with patch p -> a new TavModel with patch q (q divides p)."""
    cfg = m.cfg
    p, C = cfg.patch, cfg.latent_channels
    if q == p:
        return m
    if q <= 0 or p % q:
        raise ValueError(f"patch {q} does not divide the model's patch {p}")
    r, g = p // q, cfg.latent_size // p
    d = cfg.to_dict()
    d["patch"] = q
    new = M.TavModel(M.ModelConfig.from_dict(d), m.tok)
    sd = {k: v for k, v in m.state_dict().items() if not k.startswith(("dit.patch_", "dit.pos_s"))}
    dit = m.dit
    sd["dit.patch_in.weight"] = _blocks(dit.patch_in.weight, C, p, q).sum(-1).reshape(-1, C * q * q)
    sd["dit.patch_in.bias"] = dit.patch_in.bias.clone()
    w_out = _blocks(dit.patch_out.weight.t(), C, p, q).mean(-1).reshape(-1, C * q * q).t()
    sd["dit.patch_out.weight"] = w_out.contiguous()
    sd["dit.patch_out.bias"] = _blocks(dit.patch_out.bias, C, p, q).mean(-1).reshape(C * q * q)
    pos = dit.pos_s.reshape(g, 1, g, 1, -1).expand(g, r, g, r, -1)
    sd["dit.pos_s"] = pos.reshape(g * r * g * r, -1).clone()
    new.load_state_dict(sd)
    return new
