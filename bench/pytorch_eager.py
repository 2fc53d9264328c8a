#!/usr/bin/python3
"""PyTorch eager reference for bench/run_vs_pytorch.sh: the same models, inputs, optimizer, loss,
batch, threads and memory format as `tomograd bench train|infer`, timed the same way.

The models mirror tomograd's registry (src/models/): torchvision's ResNet-18/50 (tomograd's are
torchvision-compatible by construction), and Python definitions of tomograd's SimpleCNN and 3D
ResNet-18 (MONAI/MedicalNet stem: conv 7x7x7 stride (1,2,2), max pool), each with a one-output
regression head `fc`.

The step is what a careful PyTorch user writes: zero_grad(set_to_none=True), forward, loss
(output.float().pow(2).mean(), as tomograd's benchmark), backward, AdamW(lr=1e-4).step();
inference under torch.inference_mode(). Prints one JSON line.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torchvision


class SimpleCNN(nn.Module):
    """tomograd's simple_cnn: conv(3x3, bias)-BN-ReLU-maxpool(2) blocks, flatten, fc1 + ReLU, fc."""

    def __init__(self, in_channels=1, widths=(32, 64, 128, 256), size=256, hidden=512):
        super().__init__()
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = w
        self.blocks = nn.Sequential(*layers)
        flat = widths[-1] * (size // 2 ** len(widths)) ** 2
        self.fc1 = nn.Linear(flat, hidden)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc(torch.relu(self.fc1(torch.flatten(self.blocks(x), 1))))


class BasicBlock3d(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet3d(nn.Module):
    """tomograd's resnet3d_18 (MONAI's ResNet with BasicBlock, shortcut B)."""

    def __init__(self, in_channels=3, layers=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, 64, (7, 7, 7), (1, 2, 2), (3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.maxpool = nn.MaxPool3d(3, 2, 1)
        blocks, inplanes = [], 64
        for planes, n, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
            stage = []
            for i in range(n):
                stage.append(BasicBlock3d(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes
            blocks.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.fc = nn.Linear(512, 1)

    def forward(self, x):
        y = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        y = self.layer4(self.layer3(self.layer2(self.layer1(y))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool3d(y, 1), 1))


def build(name, channels):
    if name in ("resnet18", "resnet50"):
        m = getattr(torchvision.models, name)(num_classes=1)
        if channels != 3:
            m.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
        return m, 2
    if name == "simple_cnn":
        return SimpleCNN(channels), 2
    if name == "resnet3d_18":
        return ResNet3d(channels), 3
    raise SystemExit(f"pytorch_eager.py: unknown model {name} (resnet18, resnet50, simple_cnn, resnet3d_18)")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--mode", choices=("train", "infer"), default="train")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = PyTorch's default)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    device = torch.device(a.device)
    model, dims = build(a.model, a.channels)
    shape = [a.batch, a.channels] + ([a.depth] if dims == 3 else []) + [a.size, a.size]
    x = torch.randn(shape)
    model = model.to(device)
    x = x.to(device)
    if a.channels_last and dims == 2:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    if a.mode == "train":
        model.train()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = model(x).float().pow(2).mean()
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    s = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"tool": "pytorch", "mode": a.mode, "model": a.model, "batch": a.batch, "size": a.size,
                      "channels_last": a.channels_last, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "samples_per_s": a.steps * a.batch / s,
                      "peak_memory_mb": peak}))


if __name__ == "__main__":
    main()
