"""Import Open3D robustly.

Open3D's wheels link against ``libusb-1.0.so.0``, which minimal Linux images lack. The
``libusb-package`` wheel ships that library; it is preloaded globally (without importing the
``libusb_package`` module itself, which needs ``importlib_resources``) and the import retried.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
from pathlib import Path
from types import ModuleType


def _preload_libusb() -> Path | None:
    """Load libusb_package's ``libusb-1.0.so`` with RTLD_GLOBAL; returns its path or None."""
    spec = importlib.util.find_spec("libusb_package")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("libusb-1.0.so*")):
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return path
    return None


def import_open3d() -> ModuleType:
    """Return the ``open3d`` module, preloading libusb when the plain import fails.

    Raises ImportError with install instructions when Open3D still cannot be imported.
    """
    try:
        return importlib.import_module("open3d")
    except ImportError as first:
        if "libusb" not in str(first):
            raise ImportError(
                f"open3d could not be imported ({first}); install it with `pip install open3d-cpu`"
            ) from first
        lib = _preload_libusb()
        if lib is None:
            raise ImportError(
                f"open3d needs libusb-1.0.so.0 ({first}); install `libusb-package` (pip) "
                "or the system package libusb-1.0-0"
            ) from first
        try:
            return importlib.import_module("open3d")
        except ImportError as second:
            raise ImportError(f"open3d failed to import even after loading {lib}: {second}") from second
