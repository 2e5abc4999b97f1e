#!/usr/bin/env python3
"""Train the example digit classifier and export it to ONNX.

Uses scikit-learn's bundled 8x8 handwritten digits (no download), a small
convolutional network in PyTorch, and writes:
  digits.onnx                 the model (input "image" [N,1,8,8] float32,
                              output "scores" [N,10])
  samples/digit_<label>.npy   one held-out test image per class
  samples/digit_<label>.txt   the same image as ASCII art
Run with Debian's python3 (python3-torch, python3-sklearn):
    /usr/bin/python3 examples/digits/train.py
"""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
                                        nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def ascii_art(img):
    shades = " .:-=+*#%@"
    return "\n".join("".join(shades[min(9, int(v * 10 / 16.01))] * 2 for v in row) for row in img) + "\n"


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    digits = load_digits()
    x = digits.images.astype(np.float32)  # values 0..16
    y = digits.target.astype(np.int64)
    order = rng.permutation(len(x))
    test_idx, train_idx = order[:300], order[300:]
    xt = torch.from_numpy(x[train_idx] / 16.0).unsqueeze(1)
    yt = torch.from_numpy(y[train_idx])
    model = DigitNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(30):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[b]), yt[b])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        xv = torch.from_numpy(x[test_idx] / 16.0).unsqueeze(1)
        acc = (model(xv).argmax(1).numpy() == y[test_idx]).mean()
    print(f"held-out accuracy: {acc:.3f} on {len(test_idx)} images")

    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), os.path.join(HERE, "digits.onnx"),
                      input_names=["image"], output_names=["scores"],
                      dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
                      opset_version=13)
    os.makedirs(os.path.join(HERE, "samples"), exist_ok=True)
    for label in range(10):
        i = next(j for j in test_idx if y[j] == label)
        img = (x[i] / 16.0).reshape(1, 1, 8, 8).astype(np.float32)
        np.save(os.path.join(HERE, "samples", f"digit_{label}.npy"), img)
        with open(os.path.join(HERE, "samples", f"digit_{label}.txt"), "w") as f:
            f.write(ascii_art(x[i]))


if __name__ == "__main__":
    main()
