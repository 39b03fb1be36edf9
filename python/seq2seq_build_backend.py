"""PEP 517 build backend of the Python module: `pip install .` from the repository root.

It needs nothing from a package index (pyproject.toml's build-system requires nothing, so pip's
isolated build downloads nothing): it runs CMake with -DSEQ2SEQ_PYTHON=ON for the interpreter that
runs pip, builds the target seq2seq_python and packs the module into a wheel.

The build directory is build-python/ in the repository (kept, so a second install only rebuilds
what changed); SEQ2SEQ_BUILD_DIR overrides it, CMAKE_BUILD_PARALLEL_LEVEL sets the parallel jobs
(default 2), and SEQ2SEQ_CMAKE_ARGS adds CMake options (e.g. "-DSEQ2SEQ_NATIVE=OFF" for a module
that runs on other x86-64 machines than this one).
"""
import base64
import glob
import hashlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "seq2seq"


def _version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(seq2seq\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1)


def _tag():
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    abi = py + getattr(sys, "abiflags", "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{py}-{abi}-{plat}"


def _metadata():
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {_version()}\n"
        "Summary: The seq2seq C++ LSTM encoder-decoder (Sutskever et al. 2014) from Python\n"
        "License: MIT\n"
        "Requires-Python: >=3.8\n"
        "Requires-Dist: numpy\n"
    )


def _wheel_file():
    return f"Wheel-Version: 1.0\nGenerator: seq2seq_build_backend\nRoot-Is-Purelib: false\nTag: {_tag()}\n"


def _dist_info():
    return f"{NAME}-{_version()}.dist-info"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, _dist_info())
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(d, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file())
    return _dist_info()


def _build_module():
    build = os.environ.get("SEQ2SEQ_BUILD_DIR", os.path.join(ROOT, "build-python"))
    configure = [
        "cmake", "-S", ROOT, "-B", build,
        "-DCMAKE_BUILD_TYPE=Release", "-DSEQ2SEQ_PYTHON=ON", "-DSEQ2SEQ_BUILD_TESTS=OFF", "-DSEQ2SEQ_INSTALL=OFF",
        f"-DPython3_EXECUTABLE={sys.executable}",
    ] + shlex.split(os.environ.get("SEQ2SEQ_CMAKE_ARGS", ""))
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    for cmd in (configure, ["cmake", "--build", build, "--target", "seq2seq_python", "-j", jobs]):
        print("seq2seq_build_backend:", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    found = glob.glob(os.path.join(build, "python", NAME + suffix))
    if not found:
        raise RuntimeError(f"seq2seq_build_backend: no {NAME}{suffix} in {build}/python after the build")
    return found[0]


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    module = _build_module()
    wheel = f"{NAME}-{_version()}-{_tag()}.whl"
    files = {
        os.path.basename(module): open(module, "rb").read(),
        f"{_dist_info()}/METADATA": _metadata().encode(),
        f"{_dist_info()}/WHEEL": _wheel_file().encode(),
        f"{_dist_info()}/top_level.txt": f"{NAME}\n".encode(),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{_dist_info()}/RECORD,,")
    files[f"{_dist_info()}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel
