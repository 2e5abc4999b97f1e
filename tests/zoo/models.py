"""Model definitions for the model zoo test and the CPU benchmark.

Each zoo entry builds a PyTorch module in eval mode with seeded random
weights, example inputs, and the export settings (input/output names and
dynamic axes). run_zoo.py exports them to ONNX; bench/cpu/bench_cpu.py
reuses the transformer classes at base size.

Run with /usr/bin/python3 (torch, torchvision, onnx, onnxruntime).
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.vision_transformer import VisionTransformer

OPSET = 14


def randomize_norm_stats(model, seed):
    """Give BatchNorm layers non-trivial running stats and affine params.

    Freshly initialised BN layers are identities in eval mode (mean 0,
    var 1, weight 1, bias 0), which would leave their folding untested.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


# ---------------------------------------------------------------------------
# Transformers written in torch
# ---------------------------------------------------------------------------

class BertEmbeddings(nn.Module):
    def __init__(self, vocab, hidden, max_pos, type_vocab, eps):
        super().__init__()
        self.word = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_pos, hidden)
        self.token_type = nn.Embedding(type_vocab, hidden)
        self.norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, input_ids, token_type_ids):
        seq = input_ids.shape[1]
        pos = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        x = self.word(input_ids) + self.position(pos) + self.token_type(token_type_ids)
        return self.norm(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention; the caller supplies an additive mask."""

    def __init__(self, hidden, heads):
        super().__init__()
        assert hidden % heads == 0
        self.heads = heads
        self.head_dim = hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x, additive_mask):
        b, t, h = x.shape
        q, k, v = self.qkv(x).split(h, dim=2)

        def heads(z):
            return z.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = heads(q), heads(k), heads(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + additive_mask, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, h)
        return self.out(ctx)


class BertLayer(nn.Module):
    """Post-LayerNorm encoder layer with an erf-GELU feed-forward block."""

    def __init__(self, hidden, heads, ffn, eps):
        super().__init__()
        self.attn = SelfAttention(hidden, heads)
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.ffn = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))
        self.norm2 = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, additive_mask):
        x = self.norm1(x + self.attn(x, additive_mask))
        return self.norm2(x + self.ffn(x))


class BertEncoder(nn.Module):
    """A BERT encoder: embeddings, N layers, and a tanh pooler on [CLS]."""

    def __init__(self, vocab=1000, hidden=128, layers=2, heads=4, ffn=512,
                 max_pos=512, type_vocab=2, eps=1e-12):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden, max_pos, type_vocab, eps)
        self.layers = nn.ModuleList(BertLayer(hidden, heads, ffn, eps) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        # [batch, seq] of 1/0 -> [batch, 1, 1, seq] of 0/-10000, as BERT does.
        mask = attention_mask[:, None, None, :].to(x.dtype)
        additive = (1.0 - mask) * -10000.0
        for layer in self.layers:
            x = layer(x, additive)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, pooled


class Gpt2Block(nn.Module):
    """Pre-LayerNorm decoder block with a tanh-approximated GELU MLP."""

    def __init__(self, hidden, heads, eps=1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = SelfAttention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * hidden, hidden))

    def forward(self, x, additive_mask):
        x = x + self.attn(self.norm1(x), additive_mask)
        return x + self.mlp(self.norm2(x))


class Gpt2(nn.Module):
    """GPT-2 style stack: causal attention, output head tied to wte."""

    def __init__(self, vocab=1000, hidden=128, layers=2, heads=4, max_pos=256):
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_pos, hidden)
        self.blocks = nn.ModuleList(Gpt2Block(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        causal = torch.tril(torch.ones(max_pos, max_pos))
        self.register_buffer("causal", causal, persistent=False)

    def forward(self, input_ids):
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        # Large negative (not -inf) above the diagonal, sliced to the sequence.
        additive = (1.0 - self.causal[:t, :t]) * -1e9
        for block in self.blocks:
            x = block(x, additive)
        x = self.norm(x)
        return torch.matmul(x, self.wte.weight.t())


# ---------------------------------------------------------------------------
# Recurrent models and a recommender
# ---------------------------------------------------------------------------

class LstmModel(nn.Module):
    def __init__(self, vocab=500, embed=64, hidden=96, classes=10):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens):
        y, _ = self.lstm(self.embed(tokens))
        return self.head(y)


class GruModel(nn.Module):
    def __init__(self, features=32, hidden=64, classes=8):
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.head(y)


def mlp(sizes, last_act=None):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last_act is not None:
        layers.append(last_act)
    return nn.Sequential(*layers)


class Dlrm(nn.Module):
    """DLRM: bottom MLP on dense features, EmbeddingBag tables (sum),
    pairwise dot interactions (strict upper triangle), top MLP, sigmoid."""

    def __init__(self, dense=13, dim=16, table_sizes=(100, 200, 50, 80), bottom=(64, 32),
                 top=(64, 32)):
        super().__init__()
        self.bottom = mlp([dense, *bottom, dim], nn.ReLU())
        self.tables = nn.ModuleList(nn.EmbeddingBag(n, dim, mode="sum") for n in table_sizes)
        f = len(table_sizes) + 1
        iu = torch.triu_indices(f, f, offset=1)
        self.register_buffer("iu_row", iu[0], persistent=False)
        self.register_buffer("iu_col", iu[1], persistent=False)
        self.top = mlp([dim + f * (f - 1) // 2, *top, 1], nn.Sigmoid())

    def forward(self, dense, *sparse):
        x = self.bottom(dense)
        feats = [x]
        for i, table in enumerate(self.tables):
            feats.append(table(sparse[2 * i], sparse[2 * i + 1]))
        t = torch.stack(feats, dim=1)                      # [B, F, D]
        z = torch.bmm(t, t.transpose(1, 2))                 # [B, F, F]
        inter = z[:, self.iu_row, self.iu_col]              # [B, F(F-1)/2]
        return self.top(torch.cat([x, inter], dim=1))


# ---------------------------------------------------------------------------
# The zoo
# ---------------------------------------------------------------------------

class ZooEntry:
    """What run_zoo.py needs to export and test one model."""

    def __init__(self, name, build, inputs, input_names, output_names, dynamic_axes):
        self.name = name
        self.build = build               # () -> nn.Module in eval mode
        # (rng, trace) -> tuple of numpy arrays. trace=True gives the example
        # the exporter traces with; its batch/sequence sizes differ from the
        # test's, so the dynamic axes are exercised.
        self.inputs = inputs
        self.input_names = input_names
        self.output_names = output_names
        self.dynamic_axes = dynamic_axes


def _image_entry(name, ctor, size, batch=1, seed=0):
    def build():
        torch.manual_seed(seed)
        return randomize_norm_stats(ctor(), seed).eval()

    def inputs(rng, trace=False):
        b = 1 if trace else batch
        return (rng.standard_normal((b, 3, size, size)).astype(np.float32),)

    return ZooEntry(name, build, inputs, ["input"], ["logits"],
                    {"input": {0: "batch"}, "logits": {0: "batch"}})


def _tokens(rng, batch, seq, vocab):
    return rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)


def _bert_entry():
    def build():
        torch.manual_seed(0)
        return BertEncoder(vocab=1000, hidden=128, layers=3, heads=4, ffn=512).eval()

    def inputs(rng, trace=False):
        b, t = (1, 8) if trace else (2, 24)
        ids = _tokens(rng, b, t, 1000)
        mask = np.ones((b, t), np.int64)
        mask[-1, t - 7:] = 0  # padding at the end of the last sequence
        types = np.zeros((b, t), np.int64)
        types[:, t // 2:] = 1
        return ids, mask, types

    dyn = {n: {0: "batch", 1: "sequence"} for n in ("input_ids", "attention_mask", "token_type_ids",
                                                     "last_hidden_state")}
    dyn["pooler_output"] = {0: "batch"}
    return ZooEntry("bert", build, inputs, ["input_ids", "attention_mask", "token_type_ids"],
                    ["last_hidden_state", "pooler_output"], dyn)


def _gpt2_entry():
    def build():
        torch.manual_seed(0)
        return Gpt2(vocab=1000, hidden=128, layers=3, heads=4).eval()

    def inputs(rng, trace=False):
        return (_tokens(rng, 1, 8, 1000) if trace else _tokens(rng, 2, 20, 1000),)

    return ZooEntry("gpt2", build, inputs, ["input_ids"], ["logits"],
                    {"input_ids": {0: "batch", 1: "sequence"},
                     "logits": {0: "batch", 1: "sequence"}})


def _lstm_entry():
    def build():
        torch.manual_seed(0)
        return LstmModel().eval()

    def inputs(rng, trace=False):
        return (_tokens(rng, 2, 5, 500) if trace else _tokens(rng, 3, 16, 500),)

    return ZooEntry("lstm", build, inputs, ["tokens"], ["logits"],
                    {"tokens": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}})


def _gru_entry():
    def build():
        torch.manual_seed(0)
        return GruModel().eval()

    def inputs(rng, trace=False):
        shape = (2, 5, 32) if trace else (3, 16, 32)
        return (rng.standard_normal(shape).astype(np.float32),)

    return ZooEntry("gru", build, inputs, ["features"], ["logits"],
                    {"features": {0: "batch", 1: "sequence"},
                     "logits": {0: "batch", 1: "sequence"}})


DLRM_TABLES = (100, 200, 50, 80)


def _dlrm_entry():
    def build():
        torch.manual_seed(0)
        return Dlrm(table_sizes=DLRM_TABLES).eval()

    def inputs(rng, trace=False):
        b = 2 if trace else 5
        arrays = [rng.standard_normal((b, 13)).astype(np.float32)]
        for n in DLRM_TABLES:
            # 0..3 lookups per sample (an empty bag sums to zero).
            counts = rng.integers(0, 4, size=b)
            offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            indices = rng.integers(0, n, size=int(counts.sum())).astype(np.int64)
            arrays += [indices, offsets]
        return tuple(arrays)

    names = ["dense"]
    dyn = {"dense": {0: "batch"}, "click": {0: "batch"}}
    for i in range(len(DLRM_TABLES)):
        names += [f"indices_{i}", f"offsets_{i}"]
        dyn[f"indices_{i}"] = {0: f"lookups_{i}"}
        dyn[f"offsets_{i}"] = {0: "batch"}
    return ZooEntry("dlrm", build, inputs, names, ["click"], dyn)


def _vgg11_bn():
    """VGG11-BN with a global-pool head for small inputs.

    torchvision's head pools to 7x7 and flattens into a 25088x4096 Linear
    (400 MB of weights); the exporter also rejects that adaptive pool unless
    the input is 224. The conv/BN stack is unchanged."""
    m = tvm.vgg11_bn(num_classes=10)
    m.avgpool = nn.AdaptiveAvgPool2d(1)
    m.classifier = nn.Sequential(nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(),
                                 nn.Linear(512, 10))
    return m


def _vit():
    m = VisionTransformer(image_size=32, patch_size=8, num_layers=4, num_heads=4,
                          hidden_dim=64, mlp_dim=128, num_classes=10)
    # torchvision zero-initialises the head, which would make every logit 0.
    nn.init.normal_(m.heads.head.weight, std=0.1)
    nn.init.normal_(m.heads.head.bias, std=0.1)
    return m


def zoo():
    """All zoo entries, in test order."""
    return [
        _image_entry("resnet18", tvm.resnet18, 64, batch=2),
        _image_entry("mobilenet_v2", tvm.mobilenet_v2, 64),
        _image_entry("efficientnet_b0", tvm.efficientnet_b0, 64),
        _image_entry("vgg11_bn", _vgg11_bn, 64),
        _image_entry("densenet121", tvm.densenet121, 64),
        _image_entry("squeezenet1_1", tvm.squeezenet1_1, 64),
        _image_entry("shufflenet_v2_x1_0", tvm.shufflenet_v2_x1_0, 64),
        # init_weights=False: PyTorch's default init keeps activations in
        # range (Inception's own truncated-normal init grows them to ~1e9).
        _image_entry("googlenet", lambda: tvm.googlenet(aux_logits=False, init_weights=False), 64),
        # 75x75 is the smallest input Inception-v3's stem accepts.
        _image_entry("inception_v3",
                     lambda: tvm.inception_v3(aux_logits=False, init_weights=False), 75),
        _image_entry("mnasnet1_0", tvm.mnasnet1_0, 64),
        _image_entry("vit", _vit, 32, batch=2),
        _bert_entry(),
        _gpt2_entry(),
        _lstm_entry(),
        _gru_entry(),
        _dlrm_entry(),
    ]
