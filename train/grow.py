"""Deepen a trained model's DiT, keeping the function it computes.

A DiT of depth d becomes one of depth d' > d: old block i moves to position i * d' // d and the
blocks in between are new. A new block starts as the identity: its modulation (shift, scale and
the three gates) is zero, as adaLN-Zero initialises every block, and so is the output projection
of its cross-attention, the one residual branch without a gate. The deeper model therefore
computes exactly what the old one did; its new blocks' gates and cross-attention output get
gradients from the first step, so training grows them from there. Every other weight (text
encoder, autoencoder, patch and timestep embeddings, final layer) is shared unchanged.
"""
import torch
import torch.nn as nn

from train import model as M


@torch.no_grad()
def grow_depth(m, depth):
    """TavModel with DiT depth d -> a new TavModel with DiT depth `depth` (>= d), same function."""
    old = m.cfg.depth
    if depth == old:
        return m
    if depth < old:
        raise ValueError(f"depth {depth} is below the model's depth {old}: growing only adds blocks")
    d = m.cfg.to_dict()
    d["depth"] = depth
    new = M.TavModel(M.ModelConfig.from_dict(d), m.tok)
    placed = {i * depth // old: i for i in range(old)}
    sd = {k: v for k, v in m.state_dict().items() if not k.startswith("dit.blocks.")}
    for j, block in enumerate(new.dit.blocks):
        if j in placed:
            src = m.dit.blocks[placed[j]].state_dict()
        else:
            for lin in (block.mod, block.attn_c.o):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)
            src = block.state_dict()
        sd.update({f"dit.blocks.{j}.{k}": v.clone() for k, v in src.items()})
    new.load_state_dict(sd)
    return new
