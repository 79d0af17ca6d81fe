"""The four tagger networks of Won et al. (SMC 2020), for inference and input gradients.

FCN (Choi et al. 2016), CRNN (Choi et al. 2017), Musicnn (Pons et al. 2018) and HarmonicCNN
(Won et al. 2020), written from the papers and the published architecture so that the
published state dicts load strictly: attribute names are the checkpoints' key names. Every
network maps audio ``[W, window]`` at 16 kHz to logits ``[W, n_class]``; dropout is left out
because the taggers only ever run in eval mode here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tagbox_gui.core.dsp.spectral import HarmonicSTFT, MelSpectrogram, amplitude_to_db

Pool = int | tuple[int, int]


class ConvBlock2d(nn.Module):
    """3x3 convolution, batch norm, ReLU, max pooling (keys ``conv``, ``bn``)."""

    def __init__(self, cin: int, cout: int, pool: Pool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        # In place: the activations are hundreds of MB for a long clip, and every fresh one
        # costs page faults; the values (and gradients) are the same.
        return F.max_pool2d(F.relu(self.bn(self.conv(x)), inplace=True), self.pool)


class ResBlock2d(nn.Module):
    """Two 3x3 convolutions with an identity shortcut, then ReLU and max pooling."""

    def __init__(self, channels: int, pool: Pool) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn_1 = nn.BatchNorm2d(channels)
        self.conv_2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn_2 = nn.BatchNorm2d(channels)
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn_2(self.conv_2(F.relu(self.bn_1(self.conv_1(x)), inplace=True)))
        return F.max_pool2d(F.relu(x + out, inplace=True), self.pool)


class ConvBlock1d(nn.Module):
    """1-D convolution ('same' padding), batch norm, ReLU (Musicnn's back end)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class TimbreConv(nn.Module):
    """Musicnn's vertical filter: spans ``height`` mel bands, max over frequency after."""

    def __init__(self, cout: int, height: int, width: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, cout, (height, width), padding=(0, width // 2))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        windows, _, bands, frames = x.shape
        width = self.conv.kernel_size[1]
        # The same sums as conv2d(x, weight), laid out frame by frame: a 1-D convolution along
        # frequency whose input channels are the time taps. On CPU, mkldnn's input gradient of
        # a one-channel conv2d with a 67x7 kernel is 5-10 times slower than this.
        taps = F.pad(x[:, 0], (width // 2, width // 2)).unfold(2, width, 1)  # [W, F, T, taps]
        taps = taps.permute(0, 2, 3, 1).reshape(windows * frames, width, bands)
        # relu(batch norm) is monotonic per channel (decreasing where the norm's scale is
        # negative), so its max over frequency is relu(bn(max of sign * output) * sign): the
        # same values, with the norm run on F times fewer elements. Negating a channel's
        # weights negates its sums exactly, so the sign folds into the convolution.
        sign = torch.where(self.bn.weight < 0, -1.0, 1.0)
        weight = self.conv.weight[:, 0].transpose(1, 2) * sign[:, None, None]
        out = F.conv1d(taps, weight, self.conv.bias * sign)  # [W*T, C, F']
        extreme = out.max(dim=2).values * sign
        out = F.relu(self.bn(extreme[:, :, None, None]))
        return out.reshape(windows, frames, -1).transpose(1, 2)


class TemporalConv(nn.Module):
    """Musicnn's horizontal filter: a long 1-D convolution on the band-averaged spectrogram."""

    def __init__(self, cout: int, length: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, cout, length, padding=length // 2)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: Tensor) -> Tensor:
        mean = F.avg_pool2d(x, (x.shape[2], 1)).squeeze(2)
        return F.relu(self.bn(self.conv(mean)))


class MelFrontEnd(nn.Module):
    """Shared start of FCN, CRNN and Musicnn: mel dB spectrogram and a 1-channel batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.spec = MelSpectrogram(n_fft=512, n_mels=96)
        self.spec_bn = nn.BatchNorm2d(1)

    def melspec(self, x: Tensor) -> Tensor:
        """``[W, samples] -> [W, 1, 96, frames]``, normalised."""
        return self.spec_bn(amplitude_to_db(self.spec(x)).unsqueeze(1))


class FCN(MelFrontEnd):
    """Five conv blocks pooling a 29 s mel spectrogram down to one 64-vector."""

    def __init__(self, n_class: int = 50) -> None:
        super().__init__()
        self.layer1 = ConvBlock2d(1, 64, (2, 4))
        self.layer2 = ConvBlock2d(64, 128, (2, 4))
        self.layer3 = ConvBlock2d(128, 128, (2, 4))
        self.layer4 = ConvBlock2d(128, 128, (3, 5))
        self.layer5 = ConvBlock2d(128, 64, (4, 4))
        self.dense = nn.Linear(64, n_class)

    def forward(self, x: Tensor) -> Tensor:
        x = self.melspec(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = layer(x)
        return self.dense(x.flatten(1))


class CRNN(MelFrontEnd):
    """Four conv blocks, then a 2-layer GRU over time whose last state is classified."""

    def __init__(self, n_class: int = 50) -> None:
        super().__init__()
        self.layer1 = ConvBlock2d(1, 64, (2, 2))
        self.layer2 = ConvBlock2d(64, 128, (3, 3))
        self.layer3 = ConvBlock2d(128, 128, (4, 4))
        self.layer4 = ConvBlock2d(128, 128, (4, 4))
        self.layer5 = nn.GRU(128, 32, 2, batch_first=True)
        self.dense = nn.Linear(32, n_class)

    def forward(self, x: Tensor) -> Tensor:
        x = self.melspec(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
        seq, _ = self.layer5(x.squeeze(2).transpose(1, 2))
        return self.dense(seq[:, -1])


class Musicnn(MelFrontEnd):
    """Timbre and temporal filters, a dense residual 1-D back end, max+mean pooled over time.

    The MSD model of the upstream training code is wider (512 back-end channels, 500 dense
    units); the other datasets use 64 and 200.
    """

    def __init__(self, n_class: int = 50, wide: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [
                TimbreConv(204, int(0.7 * 96)),
                TimbreConv(204, int(0.4 * 96)),
                TemporalConv(51, 129),
                TemporalConv(51, 65),
                TemporalConv(51, 33),
            ]
        )
        front, back, dense = 561, (512 if wide else 64), (500 if wide else 200)
        self.layer1 = ConvBlock1d(front, back, 7)
        self.layer2 = ConvBlock1d(back, back, 7)
        self.layer3 = ConvBlock1d(back, back, 7)
        self.dense1 = nn.Linear((front + 3 * back) * 2, dense)
        self.bn = nn.BatchNorm1d(dense)
        self.dense2 = nn.Linear(dense, n_class)

    def forward(self, x: Tensor) -> Tensor:
        x = self.melspec(x)
        front = torch.cat([layer(x) for layer in self.layers], dim=1)
        res1 = self.layer1(front)
        res2 = self.layer2(res1) + res1
        res3 = self.layer3(res2) + res2
        feats = torch.cat([front, res1, res2, res3], dim=1)
        length = feats.shape[2]
        pooled = torch.cat([F.max_pool1d(feats, length), F.avg_pool1d(feats, length)], dim=1)
        pooled = pooled.squeeze(2)
        return self.dense2(F.relu(self.bn(self.dense1(pooled))))


class HarmonicCNN(nn.Module):
    """Harmonic filterbank front end, then a short-chunk CNN with residual blocks."""

    def __init__(self, n_class: int = 50, channels: int = 128, n_harmonic: int = 6) -> None:
        super().__init__()
        self.hstft = HarmonicSTFT(n_harmonic=n_harmonic)
        self.hstft_bn = nn.BatchNorm2d(n_harmonic)
        self.layer1 = ConvBlock2d(n_harmonic, channels, 2)
        self.layer2 = ResBlock2d(channels, 2)
        self.layer3 = ResBlock2d(channels, 2)
        self.layer4 = ResBlock2d(channels, 2)
        self.layer5 = ConvBlock2d(channels, 2 * channels, 2)
        self.layer6 = ResBlock2d(2 * channels, (2, 3))
        self.layer7 = ResBlock2d(2 * channels, (2, 3))
        self.dense1 = nn.Linear(2 * channels, 2 * channels)
        self.bn = nn.BatchNorm1d(2 * channels)
        self.dense2 = nn.Linear(2 * channels, n_class)

    def forward(self, x: Tensor) -> Tensor:
        x = self.hstft_bn(self.hstft(x))
        for index in range(1, 8):
            x = getattr(self, f"layer{index}")(x)
        x = x.squeeze(2).amax(dim=2)  # global max over the frames left
        return self.dense2(F.relu(self.bn(self.dense1(x))))


NETWORKS: dict[str, type[nn.Module]] = {
    "fcn": FCN,
    "crnn": CRNN,
    "musicnn": Musicnn,
    "hcnn": HarmonicCNN,
}


def build_network(arch: str, dataset: str) -> nn.Module:
    """A fresh (untrained) network of ``arch`` shaped for ``dataset``'s checkpoints."""
    if arch == "musicnn":
        return Musicnn(wide=dataset == "msd")
    return NETWORKS[arch]()
