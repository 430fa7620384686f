"""tav-edge model: tokenizer, text encoder, per-frame video autoencoder, latent DiT,
rectified-flow objective, Euler sampler with classifier-free guidance, and the
portable noise generator the C engine mirrors.

The exact forward definition (shapes, op order, epsilons, formulas) is written out
in docs/model.md; the C engine (core/) mirrors this file. Keep the two in step.

Shapes used below:
  B batch, T frames, L text tokens, D width, C latent channels,
  H x W latent grid, p patch size, S = (H/p)*(W/p) tokens per frame.
"""
import math
import re
from dataclasses import dataclass, asdict, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- configuration


@dataclass
class ModelConfig:
    # frames
    image_size: int = 64          # square RGB frames, H = W = image_size
    fps: int = 8
    # autoencoder (per frame, no temporal compression so cuts stay sharp)
    ae_channels: tuple = (32, 64, 64)   # widths at full, /2, /4 ... resolution (one per downsample)
    # extra decoder-only 2x upsampling levels after the mirror of ae_channels (an asymmetric
    # autoencoder: the encoder sees image_size >> len(dec_up_channels), the decoder writes
    # image_size). Empty = the symmetric autoencoder of every older checkpoint and model file.
    dec_up_channels: tuple = ()
    latent_channels: int = 4      # C
    # text
    vocab_size: int = 0           # filled from the tokenizer
    max_text: int = 112           # L, including <bos> and <sep>s
    max_scenes: int = 6
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    # 1: every text token also carries its scene's place in the prompt (scene k of n, as
    # sincos(64 (k + 1/2) / n) through text.scene_pos), on the scale of the frames'
    # sincos(64 t / T), so cross-attention can match frame t to the caption whose share of the
    # clip it lies in. The cut positions are still never given. 0: off (every older model).
    text_scene_pos: int = 0
    # denoiser
    width: int = 128              # D
    depth: int = 4
    heads: int = 4
    patch: int = 2                # p
    mlp_ratio: int = 4
    # sampler defaults stored in the model file
    sample_steps: int = 16
    cfg_scale: float = 3.0
    # default clip length: frames per scene (the engine uses n_scenes * this)
    frames_per_scene: int = 12

    @property
    def enc_image_size(self):     # H = W of the encoder's input frames
        return self.image_size >> len(self.dec_up_channels)

    @property
    def latent_size(self):        # H = W of the latent grid
        return self.enc_image_size // (2 ** len(self.ae_channels))

    @property
    def tokens_per_frame(self):   # S
        return (self.latent_size // self.patch) ** 2

    def to_dict(self):
        d = asdict(self)
        d["ae_channels"] = list(self.ae_channels)
        d["dec_up_channels"] = list(self.dec_up_channels)
        return d

    @staticmethod
    def from_dict(d):
        """Config from a to_dict() dict; dicts written before dec_up_channels existed load
        as the symmetric autoencoder (no extra decoder levels)."""
        d = dict(d)
        d["ae_channels"] = tuple(d["ae_channels"])
        d["dec_up_channels"] = tuple(d.get("dec_up_channels", ()))
        return ModelConfig(**d)


# ---------------------------------------------------------------- tokenizer

PAD, UNK, SEP, BOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<sep>", "<bos>"]  # <unk> is reserved: unknown words are an error
SEP_TEXT = "|"   # the multi-scene prompt format of docs/data.md: "caption 1 | caption 2 | ..."


class UnknownWordError(ValueError):
    """A prompt used words that are not in the vocabulary; .words names them."""

    def __init__(self, words):
        self.words = list(words)
        super().__init__("unknown word(s) in prompt: " + ", ".join(repr(w) for w in self.words)
                         + " (use words from the caption vocabulary)")


def split_words(text):
    """Words of one scene caption, by the tokenizer rule of docs/data.md: ASCII A-Z are
    lower-cased, a word is a maximal run of bytes in [a-z0-9], every other byte separates."""
    b = text.encode("utf-8")
    words, cur = [], bytearray()
    for ch in b:
        if 65 <= ch <= 90:
            ch += 32
        if 48 <= ch <= 57 or 97 <= ch <= 122:
            cur.append(ch)
        elif cur:
            words.append(cur.decode("ascii"))
            cur = bytearray()
    if cur:
        words.append(cur.decode("ascii"))
    return words


def split_prompt(prompt):
    """A prompt string "c1 | c2 | ..." -> scene captions (split on '|', ASCII whitespace trimmed,
    empty parts dropped). A part of only non-ASCII whitespace is kept and then fails as a scene
    with no words. A list is taken as the scenes."""
    if isinstance(prompt, str):
        ws = " \t\n\r\x0b\x0c"   # ASCII whitespace only, as the C tokenizer
        return [p.strip(ws) for p in prompt.split(SEP_TEXT) if p.strip(ws)]
    return list(prompt)


class Tokenizer:
    """Word-level tokenizer over the caption vocabulary.

    ids: 0 <pad>, 1 <unk> (never produced: unknown words raise UnknownWordError naming them),
    2 <sep>, 3 <bos>, then the vocabulary words sorted.
    A prompt of n scenes becomes  <bos> w(scene 1) <sep> w(scene 2) ... <sep> w(scene n),
    padded with <pad> to the batch's longest prompt (at most max_text). Each token also carries
    its scene index (0 for <bos> and scene 1's words; a <sep> belongs to the scene it opens).
    Padding is masked out of every attention, so the padded length does not change results."""

    def __init__(self, words):
        words = sorted(set(w for w in words if w not in SPECIALS))
        self.itos = SPECIALS + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def unknown_words(self, prompt):
        unk = []
        for s in split_prompt(prompt):
            for w in split_words(s):
                if w not in self.stoi and w not in unk:
                    unk.append(w)
        return unk

    def encode(self, prompt, max_text, max_scenes=6):
        """prompt: "c1 | c2 | ..." or a list of captions -> (ids list, scene index list)."""
        scenes = split_prompt(prompt)
        if not 1 <= len(scenes) <= max_scenes:
            raise ValueError(f"{len(scenes)} scenes; the model takes 1..{max_scenes}")
        unk = self.unknown_words(scenes)
        if unk:
            raise UnknownWordError(unk)
        ids, sc = [BOS], [0]
        for k, s in enumerate(scenes):
            w = split_words(s)
            if not w:
                raise ValueError(f"scene {k + 1} has no words")
            if k > 0:
                ids.append(SEP)
                sc.append(k)
            ids += [self.stoi[x] for x in w]
            sc += [k] * len(w)
        if len(ids) > max_text:
            raise ValueError(f"prompt is {len(ids)} tokens; the model takes at most {max_text}")
        return ids, sc

    def encode_batch(self, prompts, max_text, max_scenes=6, pad_to=None):
        """prompts: list of prompts -> (ids[B,L], scene_idx[B,L]) torch int64, L = the longest
        prompt (or pad_to)."""
        out = [self.encode(p, max_text, max_scenes) for p in prompts]
        L = pad_to or max(len(o[0]) for o in out)
        ids = torch.zeros(len(out), L, dtype=torch.long)
        sc = torch.zeros(len(out), L, dtype=torch.long)
        for i, (a, b) in enumerate(out):
            ids[i, :len(a)] = torch.tensor(a)
            sc[i, :len(b)] = torch.tensor(b)
        return ids, sc

    def null_batch(self, B, L=1):
        """The unconditional prompt for classifier-free guidance: <bos> alone (then padding)."""
        ids = torch.zeros(B, L, dtype=torch.long)
        ids[:, 0] = BOS
        return ids, torch.zeros_like(ids)


# ---------------------------------------------------------------- shared pieces


def sincos(v, dim, max_period=10000.0):
    """Sinusoidal embedding: v [...] -> [..., dim] = [cos(v f_0..f_{h-1}), sin(v f_0..f_{h-1})],
    h = dim/2, f_i = exp(-ln(max_period) * i / h). Computed in float32."""
    h = dim // 2
    f = torch.exp(-math.log(max_period) * torch.arange(h, dtype=torch.float32) / h)
    a = v.float()[..., None] * f
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class Attention(nn.Module):
    """Multi-head softmax attention: q from x, k/v from ctx (self-attention when ctx is x).
    x [N, Lq, D], ctx [N, Lk, Dc], mask [N, Lk] bool (True = attend) or None -> [N, Lq, D].
    scores = q k^T / sqrt(head_dim); masked scores are set to -inf before softmax
    (every row has at least one unmasked key: <bos> is never masked)."""

    def __init__(self, dim, heads, ctx_dim=None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(ctx_dim or dim, dim)
        self.v = nn.Linear(ctx_dim or dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, ctx=None, mask=None):
        ctx = x if ctx is None else ctx
        N, Lq, D = x.shape
        Lk = ctx.shape[1]
        h, dh = self.heads, D // self.heads
        q = self.q(x).view(N, Lq, h, dh).transpose(1, 2)
        k = self.k(ctx).view(N, Lk, h, dh).transpose(1, 2)
        v = self.v(ctx).view(N, Lk, h, dh).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
        if mask is not None:
            s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
        a = torch.softmax(s, dim=-1)
        y = (a @ v).transpose(1, 2).reshape(N, Lq, D)
        return self.o(y)


class MLP(nn.Module):
    def __init__(self, dim, ratio):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * ratio)
        self.fc2 = nn.Linear(dim * ratio, dim)

    def forward(self, x):
        return self.fc2(gelu_tanh(self.fc1(x)))


# ---------------------------------------------------------------- text encoder


class TextBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = Attention(dim, heads)
        self.ln2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = MLP(dim, 4)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.mlp(self.ln2(x))


def scene_position(scene_idx, mask):
    """Each token's relative place in the prompt: 64 (k + 1/2) / n for a token of scene k
    (from 0) in a prompt of n scenes (n = the largest scene index of its unpadded tokens + 1),
    float32, [B, L]."""
    n = (scene_idx * mask).max(dim=1).values + 1
    return 64.0 * (scene_idx.float() + 0.5) / n[:, None].float()


class TextEncoder(nn.Module):
    """ids [B,L], scene_idx [B,L] -> emb [B,L,Dt], mask [B,L] (True where ids != <pad>).
    x = tok_emb[ids] + pos_emb[0..L-1] + scene_emb[scene_idx]; pre-LN blocks; final LN;
    with cfg.text_scene_pos, + scene_pos(sincos(scene_position, Dt)) (a linear map without bias,
    zero at initialisation so a model gaining it starts as the one without)."""

    def __init__(self, cfg):
        super().__init__()
        Dt = cfg.text_width
        self.tok_emb = nn.Embedding(cfg.vocab_size, Dt)
        self.pos_emb = nn.Parameter(torch.randn(cfg.max_text, Dt) * 0.02)
        self.scene_emb = nn.Parameter(torch.randn(cfg.max_scenes, Dt) * 0.02)
        self.blocks = nn.ModuleList([TextBlock(Dt, cfg.text_heads) for _ in range(cfg.text_layers)])
        self.ln_f = nn.LayerNorm(Dt, eps=1e-5)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        self.scene_pos = None
        if cfg.text_scene_pos:
            self.scene_pos = nn.Linear(Dt, Dt, bias=False)
            nn.init.zeros_(self.scene_pos.weight)

    def forward(self, ids, scene_idx):
        mask = ids != PAD
        L = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb[:L] + self.scene_emb[scene_idx]
        for b in self.blocks:
            x = b(x, mask)
        x = self.ln_f(x)
        if self.scene_pos is not None:
            x = x + self.scene_pos(sincos(scene_position(scene_idx, mask), x.shape[-1]))
        return x, mask


# ---------------------------------------------------------------- autoencoder (per frame)


class Encoder(nn.Module):
    """frames [N,3,R,R] in [-1,1] (R = cfg.enc_image_size) -> latents [N,C,R/2^k,R/2^k]
    (unnormalised), k = len(ae_channels).
    conv3x3(3->c0) SiLU, then per level i: conv3x3 stride 2 (c_{i-1}->c_i) SiLU, conv3x3 SiLU;
    then conv3x3 (c_last -> C)."""

    def __init__(self, cfg):
        super().__init__()
        ch = cfg.ae_channels
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = ch[0]
        for c in ch:
            self.down.append(nn.ModuleList([nn.Conv2d(prev, c, 3, stride=2, padding=1),
                                            nn.Conv2d(c, c, 3, padding=1)]))
            prev = c
        self.conv_out = nn.Conv2d(prev, cfg.latent_channels, 3, padding=1)

    def forward(self, x):
        x = F.silu(self.conv_in(x))
        for a, b in self.down:
            x = F.silu(a(x))
            x = F.silu(b(x))
        return self.conv_out(x)


class Decoder(nn.Module):
    """latents [N,C,h,h] (unnormalised) -> frames [N,3,R,R], roughly in [-1,1].
    Level widths: reversed(ae_channels) followed by dec_up_channels (R = h * 2^levels).
    conv3x3 (C -> first width) SiLU; per level: nearest 2x upsample,
    conv3x3 (c_prev -> c_i) SiLU, conv3x3 SiLU; conv3x3 (last width -> 3). No output activation:
    the engine maps y to bytes as clamp(round((y + 1) * 127.5), 0, 255)."""

    def __init__(self, cfg):
        super().__init__()
        ch = list(cfg.ae_channels)[::-1] + list(cfg.dec_up_channels)
        self.conv_in = nn.Conv2d(cfg.latent_channels, ch[0], 3, padding=1)
        self.up = nn.ModuleList()
        prev = ch[0]
        for c in ch:
            self.up.append(nn.ModuleList([nn.Conv2d(prev, c, 3, padding=1),
                                          nn.Conv2d(c, c, 3, padding=1)]))
            prev = c
        self.conv_out = nn.Conv2d(prev, 3, 3, padding=1)

    def forward(self, z):
        x = F.silu(self.conv_in(z))
        for a, b in self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.silu(a(x))
            x = F.silu(b(x))
        return self.conv_out(x)


class AutoEncoder(nn.Module):
    """Per-frame autoencoder. The DiT works on normalised latents
    zn = (z - latent_mean[c]) / latent_std[c]; decode() takes normalised latents."""

    def __init__(self, cfg):
        super().__init__()
        self.enc = Encoder(cfg)
        self.dec = Decoder(cfg)
        C = cfg.latent_channels
        self.register_buffer("latent_mean", torch.zeros(C))
        self.register_buffer("latent_std", torch.ones(C))

    def encode(self, x):
        """x [...,3,R,R] in [-1,1] -> normalised latents [...,C,h,h]."""
        lead = x.shape[:-3]
        z = self.enc(x.reshape(-1, *x.shape[-3:]))
        z = (z - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]
        return z.reshape(*lead, *z.shape[1:])

    def decode(self, zn):
        lead = zn.shape[:-3]
        z = zn.reshape(-1, *zn.shape[-3:])
        z = z * self.latent_std[:, None, None] + self.latent_mean[:, None, None]
        y = self.dec(z)
        return y.reshape(*lead, *y.shape[1:])


def to_bytes(y):
    """Decoder output in [-1,1] -> uint8, exactly as the engine does it."""
    return torch.clamp(torch.round((y + 1.0) * 127.5), 0, 255).to(torch.uint8)


# ---------------------------------------------------------------- DiT


class DiTBlock(nn.Module):
    """x [B,T,S,D], c [B,D] (timestep), text [B,L,D], mask [B,L] -> [B,T,S,D].
    mod = Linear(SiLU(c)) split into 9 chunks of D:
      (shift_s, scale_s, gate_s, shift_t, scale_t, gate_t, shift_m, scale_m, gate_m)
    x = x + gate_s * SpatialAttn(LN(x) * (1 + scale_s) + shift_s)      over S within a frame
    x = x + gate_t * TemporalAttn(LN(x) * (1 + scale_t) + shift_t)     over T at each position
    x = x + CrossAttn(LN_c(x), text, mask)
    x = x + gate_m * MLP(LN(x) * (1 + scale_m) + shift_m)
    LN has no affine parameters (eps 1e-6); LN_c has affine parameters (eps 1e-6)."""

    def __init__(self, D, heads, mlp_ratio):
        super().__init__()
        self.mod = nn.Linear(D, 9 * D)
        self.attn_s = Attention(D, heads)
        self.attn_t = Attention(D, heads)
        self.ln_c = nn.LayerNorm(D, eps=1e-6)
        self.attn_c = Attention(D, heads)
        self.mlp = MLP(D, mlp_ratio)

    def forward(self, x, c, text, mask):
        B, T, S, D = x.shape
        m = self.mod(F.silu(c))[:, None, None, :].chunk(9, dim=-1)

        def ln(v):
            return F.layer_norm(v, (D,), eps=1e-6)

        h = ln(x) * (1 + m[1]) + m[0]
        x = x + m[2] * self.attn_s(h.reshape(B * T, S, D)).view(B, T, S, D)
        h = ln(x) * (1 + m[4]) + m[3]
        h = h.transpose(1, 2).reshape(B * S, T, D)
        x = x + m[5] * self.attn_t(h).view(B, S, T, D).transpose(1, 2)
        h = self.ln_c(x).reshape(B, T * S, D)
        x = x + self.attn_c(h, text, mask).view(B, T, S, D)
        h = ln(x) * (1 + m[7]) + m[6]
        return x + m[8] * self.mlp(h)


class DiT(nn.Module):
    """Velocity predictor. z [B,T,C,H,W] (normalised latents at noise level tau),
    tau [B] in [0,1] (1 = pure noise), text [B,L,Dt], mask [B,L] -> v [B,T,C,H,W].

    tokens: patchify each frame into S patches of p*p*C values (order c, py, px),
            x = patch_in(patch) + pos_s[s] + temporal(t, T)
    temporal(t, T) = concat(sincos(t, D/2), sincos(64 * t / T, D/2))
    c = t_fc2(SiLU(t_fc1(sincos(1000 * tau, 256))))
    text' = text_proj(text)            (Dt -> D, once per generation)
    blocks, then final: LN(x)*(1+scale_f)+shift_f with (shift_f, scale_f) = Linear(SiLU(c)),
    patch_out (D -> p*p*C), unpatchify."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, C, p = cfg.width, cfg.latent_channels, cfg.patch
        self.patch_in = nn.Linear(C * p * p, D)
        self.pos_s = nn.Parameter(torch.randn(cfg.tokens_per_frame, D) * 0.02)
        self.t_fc1 = nn.Linear(256, D)
        self.t_fc2 = nn.Linear(D, D)
        self.text_proj = nn.Linear(cfg.text_width, D)
        self.blocks = nn.ModuleList([DiTBlock(D, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.final_mod = nn.Linear(D, 2 * D)
        self.patch_out = nn.Linear(D, C * p * p)
        # adaLN-Zero: every residual branch and the output start at zero
        for b in self.blocks:
            nn.init.zeros_(b.mod.weight)
            nn.init.zeros_(b.mod.bias)
        nn.init.zeros_(self.final_mod.weight)
        nn.init.zeros_(self.final_mod.bias)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)

    def patchify(self, z):
        B, T, C, H, W = z.shape
        p = self.cfg.patch
        z = z.reshape(B, T, C, H // p, p, W // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return z.reshape(B, T, (H // p) * (W // p), C * p * p)

    def unpatchify(self, x, H, W):
        B, T, S, _ = x.shape
        p, C = self.cfg.patch, self.cfg.latent_channels
        x = x.reshape(B, T, H // p, W // p, C, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, T, C, H, W)

    def temporal(self, T):
        D = self.cfg.width
        t = torch.arange(T, dtype=torch.float32)
        return torch.cat([sincos(t, D // 2), sincos(64.0 * t / T, D // 2)], dim=-1)  # [T,D]

    def cond(self, tau):
        return self.t_fc2(F.silu(self.t_fc1(sincos(1000.0 * tau, 256))))

    def forward(self, z, tau, text, mask, trace=None):
        B, T, C, H, W = z.shape
        x = self.patch_in(self.patchify(z)) + self.pos_s + self.temporal(T)[None, :, None, :]
        c = self.cond(tau)
        txt = self.text_proj(text)
        if trace is not None:
            trace["dit.tokens_in"] = x
            trace["dit.c"] = c
            trace["dit.text"] = txt
        for i, b in enumerate(self.blocks):
            x = b(x, c, txt, mask)
            if trace is not None:
                trace[f"dit.block{i}"] = x
        sh, sc = self.final_mod(F.silu(c))[:, None, None, :].chunk(2, dim=-1)
        x = F.layer_norm(x, (x.shape[-1],), eps=1e-6) * (1 + sc) + sh
        return self.unpatchify(self.patch_out(x), H, W)


# ---------------------------------------------------------------- the whole model


class TavModel(nn.Module):
    def __init__(self, cfg, tokenizer):
        super().__init__()
        cfg.vocab_size = len(tokenizer)
        self.cfg = cfg
        self.tok = tokenizer
        self.text = TextEncoder(cfg)
        self.ae = AutoEncoder(cfg)
        self.dit = DiT(cfg)

    def encode_text(self, prompts):
        ids, sc = self.tok.encode_batch(prompts, self.cfg.max_text, self.cfg.max_scenes)
        return self.text(ids, sc)

    def null_text(self, B):
        ids, sc = self.tok.null_batch(B)
        return self.text(ids, sc)


def flow_error(dit, z0, text, mask, tau=None, noise=None, generator=None):
    """Rectified flow: z_tau = (1 - tau) z0 + tau * eps, target v = eps - z0; returns the
    squared error of the DiT's v, [B,T,C,h,w]. tau ~ logit-normal(0, 1) (sigmoid of a standard
    normal) unless given."""
    B = z0.shape[0]
    if tau is None:
        tau = torch.sigmoid(torch.randn(B, generator=generator))
    if noise is None:
        noise = torch.randn(z0.shape, generator=generator)
    t = tau.view(B, 1, 1, 1, 1)
    zt = (1 - t) * z0 + t * noise
    return (dit(zt, tau, text, mask) - (noise - z0)) ** 2


def flow_loss(dit, z0, text, mask, tau=None, noise=None, generator=None):
    """The rectified-flow training loss: the mean of flow_error."""
    return flow_error(dit, z0, text, mask, tau, noise, generator).mean()


def weighted_mean(err, weight):
    """Mean of err weighted by weight (broadcastable to err, e.g. [B,T,1,h,w])."""
    w = weight.expand_as(err)
    return (w * err).sum() / w.sum()


def sample_taus(steps):
    """Euler schedule: tau_i = 1 - i / steps, i = 0..steps (tau_0 = 1 noise, tau_steps = 0)."""
    return [1.0 - i / steps for i in range(steps + 1)]


@torch.no_grad()
def sample(dit, noise, text, mask, null_text=None, null_mask=None, steps=16, cfg_scale=1.0,
           trace=None):
    """Euler sampler from tau=1 to 0 with classifier-free guidance:
       v = v_u + w (v_c - v_u)   (w = cfg_scale; w == 1 or no null text -> v = v_c only)
       z <- z + (tau_{i+1} - tau_i) * v
    noise [B,T,C,H,W] -> z0 [B,T,C,H,W]."""
    z = noise
    taus = sample_taus(steps)
    B = z.shape[0]
    use_cfg = null_text is not None and cfg_scale != 1.0
    for i in range(steps):
        tau = torch.full((B,), taus[i])
        tr = {} if (trace is not None and i == 0) else None
        vc = dit(z, tau, text, mask, trace=tr)
        if tr is not None:
            trace.update({f"step0.cond.{k}": v for k, v in tr.items()})
            trace["step0.v_cond"] = vc
        if use_cfg:
            tru = {} if (trace is not None and i == 0) else None
            vu = dit(z, tau, null_text, null_mask, trace=tru)
            if tru is not None:
                trace.update({f"step0.uncond.{k}": v for k, v in tru.items()})
                trace["step0.v_uncond"] = vu
            v = vu + cfg_scale * (vc - vu)
        else:
            v = vc
        z = z + (taus[i + 1] - taus[i]) * v
        if trace is not None:
            trace[f"latents.step{i + 1}"] = z
    return z


# ---------------------------------------------------------------- portable noise


_M64 = (1 << 64) - 1


def splitmix64(x):
    """x: numpy uint64 array -> uint64 array (Vigna's splitmix64 finaliser of x + golden gamma)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def portable_noise(seed, n):
    """n standard-normal float32 values the C engine reproduces exactly:
    for i in 0..n-1: r = splitmix64(seed * 0x100000000 + i)   (uint64 wrap-around)
      u1 = ((r >> 40) + 1) / 2^24   in (0, 1]     (top 24 bits)
      u2 = ((r >> 16) & 0xFFFFFF) / 2^24 in [0, 1) (next 24 bits)
      x_i = (float) ( sqrt(-2 ln u1) * cos(2 pi u2) )   computed in double, rounded to float.
    (C: use double log/sqrt/cos from libm; results agree to the last float bit in practice,
    the golden test tolerates 1 ulp.)"""
    with np.errstate(over="ignore"):
        idx = np.uint64(seed & _M64) * np.uint64(1 << 32) + np.arange(n, dtype=np.uint64)
    r = splitmix64(idx)
    u1 = ((r >> np.uint64(40)).astype(np.float64) + 1.0) / 16777216.0
    u2 = ((r >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float64) / 16777216.0
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def count_params(m):
    return sum(p.numel() for p in m.parameters())
