"""dtype names as in ``torch`` (``sr.float32``, ``sr.float64``, ...): plain NumPy dtypes."""
import numpy as np

float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int64 = long = np.dtype("int64")
int32 = int = np.dtype("int32")
bool = np.dtype("bool")

FLOAT_DTYPES = (float32, float64)
