"""``steprnn.nn.modules.conv``: as ``torch.nn.modules.conv``."""
from ..unsupported import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d"]
